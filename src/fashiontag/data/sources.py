"""Item paths beyond plain files: ``/abs/data.npz#12`` is row 12 of the ``images`` array in that file.

Every later stage loads an item through :func:`load_item`, so a new container format needs one change
here and none in the cache, evaluation or inference.

Example:
    >>> split_npz_path("/d/train.npz#7")
    ('/d/train.npz', 7)
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from fashiontag.data.images import ImageError, letterbox, load_image

if TYPE_CHECKING:
    import pandas as pd

NPZ_MARK = ".npz#"


def npz_item_path(npz_file: str | Path, index: int) -> str:
    """The item path of row ``index`` of ``npz_file``."""
    return f"{Path(npz_file).resolve()}#{int(index)}"


def split_npz_path(path: str) -> tuple[str, int] | None:
    """``(file, row)`` for an npz item path, None for a plain file path."""
    if NPZ_MARK not in path:
        return None
    file, _, index = path.rpartition("#")
    if not index.isdigit():
        return None
    return file, int(index)


@functools.lru_cache(maxsize=4)
def _npz_images(file: str) -> np.ndarray:
    # Loaded once per process: npz members are compressed, so row access needs the whole array.
    with np.load(file, allow_pickle=False) as data:
        return np.asarray(data["images"])


def item_bytes(path: str) -> bytes:
    """Raw bytes of an item (the file, or the npz row's pixels), for duplicate hashing."""
    parts = split_npz_path(path)
    if parts is None:
        return Path(path).read_bytes()
    return _npz_images(parts[0])[parts[1]].tobytes()


def load_item(path: str, crop: Sequence[float] | None = None) -> Image.Image:
    """Decode an item path to an upright RGB image, cropped to ``crop`` [x1,y1,x2,y2] when given.

    Raises:
        ImageError: with a short reason, like :func:`fashiontag.data.images.load_image`.
    """
    parts = split_npz_path(str(path))
    if parts is None:
        image = load_image(path)
    else:
        try:
            array = _npz_images(parts[0])[parts[1]]
        except (OSError, KeyError, ValueError) as exc:
            raise ImageError(f"cannot read npz: {exc}", str(path)) from None
        except IndexError:
            raise ImageError(f"row {parts[1]} is outside the npz array", str(path)) from None
        image = load_image(array, name=str(path))
    return apply_crop(image, crop) if crop is not None else image


def apply_crop(image: Image.Image, crop: Sequence[float]) -> Image.Image:
    """Crop to a box clipped to the image; an empty box is an error, not a 1-pixel image."""
    x1, y1, x2, y2 = (float(v) for v in crop)
    width, height = image.size
    box = (max(0, int(x1)), max(0, int(y1)), min(width, int(round(x2))), min(height, int(round(y2))))
    if box[2] <= box[0] or box[3] <= box[1]:
        raise ImageError(f"crop box {list(crop)} is empty inside a {width}x{height} image")
    return image.crop(box)


def item_crops(items: pd.DataFrame) -> list[Sequence[float] | None]:
    """Each row's ``crop`` box for :func:`load_item`: a 4-number list, else None (no column, empty, NaN)."""
    column = items["crop"] if "crop" in items else [None] * len(items)
    return [box if isinstance(box, (list, tuple)) and len(box) == 4 else None for box in column]


def load_item_images(items: pd.DataFrame, size: int, fill: int = 255) -> tuple[np.ndarray, list[str | None]]:
    """Letterboxed uint8 ``[N, size, size, 3]`` for ``items.path`` (crop boxes honoured); errors per row.

    Every item goes through :func:`load_item`, the loader the cache and inspection
    use, so npz rows (``file.npz#7``) and crops decode here exactly as in training.
    """
    images = np.full((len(items), size, size, 3), fill, dtype=np.uint8)
    errors: list[str | None] = []
    for i, (path, crop) in enumerate(zip(items["path"], item_crops(items), strict=False)):
        try:
            images[i] = letterbox(load_item(str(path), crop), size, fill=fill)
            errors.append(None)
        except ImageError as exc:
            errors.append(exc.reason)
    return images, errors
