"""Safe image decoding and the one letterbox step shared by the cache, training and inference.

Every failure becomes an :class:`ImageError` with a short reason, so a batch can record it and
go on. Torch-free: the service imports this.

Memory (issue 13): a decoded frame costs ``width x height x bytes per pixel`` (4 for RGB, RGBA, 32-bit
modes), and converting it naively costs several times that again. So conversion to RGB runs in strips of
about a megapixel (never a float copy of the whole image), :func:`load_reduced` shrinks each strip while
converting and lets libjpeg decode at 1/2, 1/4 or 1/8 scale (``draft``), and ``max_decode_bytes`` refuses an
image whose decoded frame would not fit a memory budget, from its header, before decoding it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import io
import math
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from fashiontag.data.formats import register_image_plugins

ImageSource = str | Path | bytes | bytearray | memoryview | Image.Image | np.ndarray

#: Pixels above this count are refused as a decompression bomb (about 8k x 8k).
MAX_PIXELS = 64_000_000
#: Reduced decodes keep at least this many times the target size before the final bilinear resize, so the
#: result stays close to resizing the full image (Pillow's ``reducing_gap`` argument, same idea).
REDUCE_GAP = 3.0
#: Pixels converted at once: bounds the temporary copies of the strip-wise conversion.
STRIP_PIXELS = 1 << 20
#: Decodes that held more than this are followed by ``malloc_trim`` so the process hands the memory back.
TRIM_AFTER_BYTES = 32 << 20

_ORIENTATION = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_ALPHA_MODES = ("RGBA", "LA", "PA", "RGBa", "La")


class ImageError(ValueError):
    """An input that is not a usable image; ``reason`` is short and user-facing."""

    def __init__(self, reason: str, source: str | None = None) -> None:
        super().__init__(f"{source}: {reason}" if source else reason)
        self.reason = reason
        self.source = source


def _open(source: ImageSource) -> Image.Image:
    register_image_plugins()  # HEIC through pillow-heif: every decoder opens files here (cached, once)
    if isinstance(source, Image.Image):
        return source
    if isinstance(source, np.ndarray):
        return _from_array(source)
    if isinstance(source, (bytes, bytearray, memoryview)):
        if not len(source):
            raise ImageError("empty file (0 bytes)")
        return Image.open(io.BytesIO(source))
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


def bytes_per_pixel(mode: str) -> int:
    """How many bytes Pillow stores per pixel of ``mode`` (3-channel modes are padded to 4)."""
    if mode in ("1", "L", "P"):
        return 1
    if mode.startswith("I;16"):
        return 2
    return 4


def decode_bytes(image: Image.Image) -> int:
    """Memory the decoded frame of an opened (not yet loaded) image takes, after any ``draft`` scaling."""
    width, height = image.size
    return width * height * bytes_per_pixel(image.mode)


def _prepare_decode(image: Image.Image, size: int | None, max_decode_bytes: int | None) -> None:
    """Checks on an opened, not yet decoded image: the announced size (bomb, zero), then the JPEG draft scale
    for ``size``, then the decoded frame against ``max_decode_bytes``."""
    width, height = image.size
    if width * height > MAX_PIXELS:
        raise ImageError(f"decompression bomb: {width}x{height} pixels exceeds {MAX_PIXELS}")
    if width == 0 or height == 0:
        raise ImageError("image has zero width or height")
    if size is not None:
        _draft(image, size)
    needed = decode_bytes(image)
    if max_decode_bytes is not None and needed > max_decode_bytes:
        raise ImageError(
            f"image too large to decode: {width}x{height} {image.mode} needs {needed / 2**20:.0f} MiB, "
            f"the limit is {max_decode_bytes / 2**20:.0f} MiB"
        )


def _draft(image: Image.Image, size: int) -> None:
    """Let libjpeg decode at 1/2, 1/4 or 1/8 scale while the long side stays >= ``REDUCE_GAP * size``."""
    if image.format != "JPEG":
        return
    width, height = image.size
    scale = REDUCE_GAP * size / max(width, height)
    if scale < 0.5:
        image.draft(None, (math.ceil(width * scale), math.ceil(height * scale)))


def _extrema(image: Image.Image) -> tuple[float, float] | None:
    """Whole-image value range of the modes whose conversion scales by it (so every strip scales alike)."""
    if image.mode == "F" or image.mode == "I" or image.mode.startswith("I;16"):
        low, high = image.getextrema()
        return float(low), float(high)
    return None


def _strip_to_rgb(strip: Image.Image, extrema: tuple[float, float] | None) -> Image.Image:
    """One strip to 8-bit RGB: 16/32-bit scaled to 0-255, float stretched, alpha composited on white."""
    mode = strip.mode
    if mode == "RGB":
        return strip
    if extrema is not None:
        low, high = extrema
        array = np.asarray(strip, dtype=np.float32)
        if mode == "F":  # stretched to 0-255, truncated
            array = np.floor((array - low) * (255.0 / ((high - low) or 1.0)))
        else:  # 16-bit data scaled to 8 bits, rounded
            array = np.round(array * (255.0 / (65535.0 if high > 255 else 255.0)))
        return Image.fromarray(np.clip(array, 0, 255).astype(np.uint8)).convert("RGB")
    if mode in _ALPHA_MODES or (mode == "P" and "transparency" in strip.info):
        rgba = strip.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return strip.convert("RGB")


def _convert(image: Image.Image, factor: int = 1) -> Image.Image:
    """RGB copy of ``image``, shrunk by an integer box ``factor``, built strip by strip: the temporaries
    are strip-sized whatever the image size, and each strip is converted before it is averaged (alpha on
    white first, then the mean, as if the whole image had been converted)."""
    extrema = _extrema(image)
    width, height = image.size
    if image.mode == "RGB" and factor == 1:
        return image
    if factor == 1 and height * width <= STRIP_PIXELS:
        return _strip_to_rgb(image, extrema)
    out = Image.new("RGB", (math.ceil(width / factor), math.ceil(height / factor)))
    rows = max(factor, STRIP_PIXELS // max(1, width) // factor * factor)
    for top in range(0, height, rows):
        strip = _strip_to_rgb(image.crop((0, top, width, min(height, top + rows))), extrema)
        out.paste(strip.reduce(factor) if factor > 1 else strip, (0, top // factor))
    return out


def _orient(image: Image.Image, source: Image.Image) -> Image.Image:
    """Apply the source's EXIF orientation (read from the source: the converted copy has no EXIF)."""
    method = _ORIENTATION.get(source.getexif().get(0x0112, 1))
    return image.transpose(method) if method is not None else image


def to_rgb(image: Image.Image) -> Image.Image:
    """Any PIL mode to 8-bit RGB: greyscale, CMYK, palette, alpha (on white) and 16-bit included."""
    return _convert(image)


@contextmanager
def _reasons(label: str | None) -> Iterator[None]:
    """Every decoder failure inside becomes an :class:`ImageError` with a short reason naming ``label``."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            yield
    except ImageError as exc:
        raise ImageError(exc.reason, label) from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageError(f"decompression bomb: {exc}", label) from None
    except UnidentifiedImageError:
        raise ImageError("not an image file (unrecognised format or corrupt header)", label) from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        text = str(exc)
        reason = "truncated or corrupt image" if "truncat" in text.lower() else f"cannot decode image: {text}"
        raise ImageError(reason, label) from None


def _decode(source: ImageSource, name: str | None, size: int | None, max_decode_bytes: int | None) -> Image.Image:
    label = name or (str(source) if isinstance(source, (str, Path)) else None)
    opened: Image.Image | None = None
    result: Image.Image | None = None
    try:
        with _reasons(label):
            opened = _open(source)
            # never re-scale a caller's own Image object: draft only what we opened
            _prepare_decode(opened, size if opened is not source else None, max_decode_bytes)
            opened.load()
            factor = 1 if size is None else max(1, int(max(opened.size) / (REDUCE_GAP * size)))
            result = _orient(_convert(opened, factor), opened)
            return result
    finally:  # free the full-size frame now, not at the next garbage collection, and hand it back to the OS
        if opened is not None and opened is not source and opened is not result:
            held = decode_bytes(opened)
            opened.close()
            if held > TRIM_AFTER_BYTES:
                release_memory()


def load_image(source: ImageSource, name: str | None = None, max_decode_bytes: int | None = None) -> Image.Image:
    """Decode ``source`` fully into an upright RGB image or raise :class:`ImageError`.

    Args:
        source: a path, encoded bytes, a PIL image or an HxW[xC] array.
        name: how errors name the source (default: the path).
        max_decode_bytes: refuse, from the header, an image whose decoded frame needs more memory.

    Example:
        >>> load_image(np.zeros((4, 4, 3), np.uint8)).size
        (4, 4)
    """
    return _decode(source, name, None, max_decode_bytes)


def load_reduced(
    source: ImageSource, size: int, name: str | None = None, max_decode_bytes: int | None = None
) -> Image.Image:
    """Like :func:`load_image`, for a consumer that needs only ``size`` px: the result keeps the aspect ratio
    and a long side of at least ``REDUCE_GAP * size`` (or the original, if smaller).

    JPEGs decode at reduced scale (libjpeg ``draft``); other formats decode in full, then each strip is
    converted and box-averaged, so the memory held is the decoded frame plus strip-sized temporaries.

    Example:
        >>> load_reduced(np.zeros((3000, 1500, 3), np.uint8), 100).size
        (150, 300)
    """
    return _decode(source, name, size, max_decode_bytes)


def load_letterboxed(
    source: ImageSource, size: int, fill: int = 255, name: str | None = None, max_decode_bytes: int | None = None
) -> np.ndarray:
    """What a model takes: :func:`load_reduced` then :func:`letterbox`, HxWx3 uint8 (raises ``ImageError``)."""
    return letterbox(load_reduced(source, size, name, max_decode_bytes), size, fill)


def check_decodable(
    data: bytes, size: int | None = None, max_decode_bytes: int | None = None, name: str | None = None
) -> None:
    """Raise :class:`ImageError` when ``data``'s header announces a bomb or a frame over ``max_decode_bytes``
    (at the JPEG draft scale a ``size`` decode would use). Reads the header only: cheap, before queueing."""
    with _reasons(name), _open(data) as image:
        _prepare_decode(image, size, max_decode_bytes)


def release_memory() -> None:
    """Return freed heap memory to the OS (glibc ``malloc_trim``; a no-op elsewhere).

    Large frames are freed into glibc's arenas, which keep them: without this the process stays at its peak
    resident size after a burst of big images (issue 13: 1.2 GB after three 64 MP PNGs).
    """
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)


def _malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):
        return None


_MALLOC_TRIM = _malloc_trim()


def letterbox(image: Image.Image, size: int, fill: int = 255) -> np.ndarray:
    """Fit inside ``size`` x ``size`` keeping aspect ratio, pad with ``fill``; returns HxWx3 uint8.

    Product packshots sit on white, so white padding adds no edge the model could learn from.

    Kept hand-written rather than ``PIL.ImageOps.pad(image, (size, size), method=BILINEAR, color=fill)``:
    measured on Pillow 13 over 600 random sizes, the two agree on the resized pixels but differ on about a
    fifth of images. (1) Offset: ``pad`` places the image at ``round(padding / 2)`` (round half to even), we
    at ``padding // 2``, so whenever the total padding is 3 mod 4 (61x80 -> 80, 300x200 -> 224) the picture
    sits one pixel later. (2) Very thin images (243x3 -> 18) round to a 0-pixel side, and ``pad`` returns a
    blank canvas where we keep a 1-pixel strip. The training cache, int8 calibration and inference (which
    letterbox before the ONNX graph) must see the same pixels, and changing them would invalidate every
    existing cache, so ours stays; tests/data/test_letterbox.py pins both differences.
    """
    width, height = image.size
    scale = size / max(width, height)
    new_w, new_h = max(1, round(width * scale)), max(1, round(height * scale))
    resized = image.resize((new_w, new_h), Image.Resampling.BILINEAR, reducing_gap=None)
    canvas = Image.new("RGB", (size, size), (fill, fill, fill))
    canvas.paste(resized, ((size - new_w) // 2, (size - new_h) // 2))
    return np.asarray(canvas, dtype=np.uint8)
