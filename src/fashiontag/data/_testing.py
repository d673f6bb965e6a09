"""Generated bad and awkward inputs, reusable by every stage's tests (inspect, cache, inference, serving).

Example:
    >>> expected = make_bad_image_corpus(tmp_path)  # doctest: +SKIP
    >>> expected["truncated.jpg"]  # doctest: +SKIP
    'truncated'
"""

from __future__ import annotations

import csv
import io
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

#: Value in the expected dict for inputs that must decode (possibly after RGB conversion or rotation).
OK = "ok"


def _noise(width: int, height: int, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))


def _png_bomb(width: int = 30000, height: int = 30000) -> bytes:
    """A PNG header claiming ``width x height`` pixels with no real data: refused before any decode."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")
    )


def _exif_rotated() -> bytes:
    """A 40x20 JPEG tagged orientation 6 (rotate 90): upright it is 20x40."""
    image = _noise(40, 20, seed=3)
    exif = Image.Exif()
    exif[0x0112] = 6
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif.tobytes())
    return out.getvalue()


def _save(image: Image.Image, fmt: str, **kwargs: object) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **kwargs)
    return out.getvalue()


def make_bad_image_corpus(folder: str | Path) -> dict[str, str]:
    """Write awkward inputs under ``folder/class_a/`` plus a ``manifest.csv`` (column ``path``, ``label``).

    Returns:
        ``{manifest path: expected}`` where expected is ``"ok"`` for inputs that must decode and otherwise
        a lower-case substring of the :class:`~fashiontag.data.images.ImageError` reason or reader problem
        (``"outside"`` for a path escaping the root, ``"file not found"`` for a missing file).
        ``class_a/exif_rotated.jpg`` must load as 20x40 (width x height), ``class_a/tiny.png`` is 4x4.
    """
    folder = Path(folder)
    (folder / "class_a").mkdir(parents=True, exist_ok=True)
    grey16 = Image.fromarray(np.arange(32 * 32, dtype=np.uint16).reshape(32, 32) * 60)
    rgba = Image.fromarray(np.random.default_rng(1).integers(0, 256, (32, 32, 4), dtype=np.uint8), "RGBA")
    good = _save(_noise(48, 64), "JPEG")
    files: dict[str, tuple[bytes, str]] = {
        "good.jpg": (good, OK),
        "grey.png": (_save(_noise(32, 32).convert("L"), "PNG"), OK),
        "cmyk.jpg": (_save(_noise(32, 32).convert("CMYK"), "JPEG"), OK),
        "palette.png": (_save(_noise(32, 32).convert("P"), "PNG"), OK),
        "alpha.png": (_save(rgba, "PNG"), OK),
        "grey16.png": (_save(grey16, "PNG"), OK),
        "tiny.png": (_save(_noise(4, 4), "PNG"), OK),
        "exif_rotated.jpg": (_exif_rotated(), OK),
        "not_image.jpg": (b"this is plain text, not a JPEG\n" * 4, "not an image"),
        "truncated.jpg": (_save(_noise(256, 256, seed=2), "JPEG", quality=95)[:3000], "truncated"),
        "empty.jpg": (b"", "empty file"),
        "bomb.png": (_png_bomb(), "decompression bomb"),
    }
    expected: dict[str, str] = {}
    for name, (data, outcome) in files.items():
        (folder / "class_a" / name).write_bytes(data)
        expected[f"class_a/{name}"] = outcome
    (folder.parent / "outside.jpg").write_bytes(good)
    expected["../outside.jpg"] = "outside"
    expected["class_a/missing.jpg"] = "file not found"
    with open(folder / "manifest.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "label"])
        writer.writerows([name, "class_a"] for name in expected)
    return expected
