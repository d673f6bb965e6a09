"""Safe image decoding and the one letterbox step shared by the cache, training and inference.

Every failure becomes an :class:`ImageError` with a short reason, so a batch can record it and
go on. Torch-free: the service imports this.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

ImageSource = str | Path | bytes | bytearray | memoryview | Image.Image | np.ndarray

#: Pixels above this count are refused as a decompression bomb (about 8k x 8k).
MAX_PIXELS = 64_000_000


class ImageError(ValueError):
    """An input that is not a usable image; ``reason`` is short and user-facing."""

    def __init__(self, reason: str, source: str | None = None) -> None:
        super().__init__(f"{source}: {reason}" if source else reason)
        self.reason = reason
        self.source = source


def _open(source: ImageSource) -> Image.Image:
    if isinstance(source, Image.Image):
        return source
    if isinstance(source, np.ndarray):
        return _from_array(source)
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        if not data:
            raise ImageError("empty file (0 bytes)")
        return Image.open(io.BytesIO(data))
    path = Path(source)
    if not path.exists():
        raise ImageError("file not found")
    if path.is_dir():
        raise ImageError("is a directory, not an image")
    if path.stat().st_size == 0:
        raise ImageError("empty file (0 bytes)")
    return Image.open(path)


def _from_array(array: np.ndarray) -> Image.Image:
    if array.ndim == 2:
        array = np.stack([array] * 3, axis=-1)
    if array.ndim != 3 or array.shape[-1] not in (1, 3, 4):
        raise ImageError(f"array of shape {array.shape} is not HxW, HxWx3 or HxWx4")
    if array.shape[-1] == 1:
        array = np.repeat(array, 3, axis=-1)
    if array.dtype != np.uint8:
        if np.issubdtype(array.dtype, np.floating) and array.size and array.max() <= 1.0:
            array = array * 255.0
        array = np.clip(array, 0, 255).astype(np.uint8)
    return Image.fromarray(array)


def to_rgb(image: Image.Image) -> Image.Image:
    """Any PIL mode to 8-bit RGB: greyscale, CMYK, palette, alpha (on white) and 16-bit included."""
    if image.mode == "RGB":
        return image
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        array = np.asarray(image, dtype=np.float64)
        top = 65535.0 if array.max() > 255 else 255.0
        return Image.fromarray((array / top * 255.0).round().astype(np.uint8)).convert("RGB")
    if image.mode == "F":
        array = np.asarray(image, dtype=np.float64)
        span = float(array.max() - array.min()) or 1.0
        return Image.fromarray(((array - array.min()) / span * 255).astype(np.uint8)).convert("RGB")
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def load_image(source: ImageSource, name: str | None = None) -> Image.Image:
    """Decode ``source`` fully into an upright RGB image or raise :class:`ImageError`.

    Example:
        >>> load_image(np.zeros((4, 4, 3), np.uint8)).size
        (4, 4)
    """
    label = name or (str(source) if isinstance(source, (str, Path)) else None)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = _open(source)
            width, height = image.size
            if width * height > MAX_PIXELS:
                raise ImageError(f"decompression bomb: {width}x{height} pixels exceeds {MAX_PIXELS}", label)
            if width == 0 or height == 0:
                raise ImageError("image has zero width or height", label)
            image.load()
            image = ImageOps.exif_transpose(image) or image
            return to_rgb(image)
    except ImageError as exc:
        raise ImageError(exc.reason, label) from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageError(f"decompression bomb: {exc}", label) from None
    except UnidentifiedImageError:
        raise ImageError("not an image file (unrecognised format)", label) from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        text = str(exc)
        reason = "truncated or corrupt image" if "truncat" in text.lower() else f"cannot decode image: {text}"
        raise ImageError(reason, label) from None


def letterbox(image: Image.Image, size: int, fill: int = 255) -> np.ndarray:
    """Fit inside ``size`` x ``size`` keeping aspect ratio, pad with ``fill``; returns HxWx3 uint8.

    Product packshots sit on white, so white padding adds no edge the model could learn from.
    """
    width, height = image.size
    scale = size / max(width, height)
    new_w, new_h = max(1, round(width * scale)), max(1, round(height * scale))
    resized = image.resize((new_w, new_h), Image.Resampling.BILINEAR, reducing_gap=None)
    canvas = Image.new("RGB", (size, size), (fill, fill, fill))
    canvas.paste(resized, ((size - new_w) // 2, (size - new_h) // 2))
    return np.asarray(canvas, dtype=np.uint8)
