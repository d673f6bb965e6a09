"""The reduced, strip-wise decoder the service and ``predict`` use (``fashiontag.data.images``, issue 13):
same pixels as a full-size decode within rounding, every mode, JPEG draft scaling and the header-only budget."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from fashiontag.data.images import (
    STRIP_PIXELS,
    ImageError,
    check_decodable,
    letterbox,
    load_image,
    load_letterboxed,
    load_reduced,
)


def _encode(image: Image.Image, fmt: str = "PNG", **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def _gradient(size: tuple[int, int] = (700, 500)) -> np.ndarray:
    y, x = np.mgrid[0 : size[1], 0 : size[0]]
    return np.stack([x * 255 // size[0], y * 255 // size[1], (x + y) * 127 // sum(size)], -1).astype(np.uint8)


def _modes() -> dict[str, bytes]:
    rgb = Image.fromarray(_gradient())
    alpha = Image.fromarray(_gradient()[..., 0])
    rgba = rgb.copy()
    rgba.putalpha(alpha)
    palette = rgb.convert("P")
    exif = Image.Exif()
    exif[0x0112] = 6
    return {
        "RGB jpeg": _encode(rgb, "JPEG", quality=95),
        "RGBA": _encode(rgba),
        "LA": _encode(rgba.convert("LA")),
        "P transparent": _encode(palette, transparency=0),
        "L": _encode(alpha),
        "1": _encode(alpha.convert("1")),
        "I;16": _encode(Image.fromarray(_gradient()[..., 0].astype(np.uint16) * 257)),
        "F tiff": _encode(alpha.convert("F"), "TIFF"),
        "CMYK jpeg": _encode(rgb.convert("CMYK"), "JPEG", quality=95),
        "exif rotated": _encode(rgb, "JPEG", quality=95, exif=exif.tobytes()),
    }


@pytest.mark.parametrize("mode", list(_modes()))
@pytest.mark.parametrize("size", [32, 96])
def test_reduced_decode_matches_the_full_size_decode(mode, size):
    data = _modes()[mode]
    full = letterbox(load_image(data), size).astype(int)
    reduced = load_letterboxed(data, size).astype(int)
    assert reduced.shape == full.shape == (size, size, 3)
    difference = np.abs(full - reduced)
    # Dithered content (1-bit, palette) is pixel-level noise, where a box pre-reduction and one wide bilinear
    # filter legitimately disagree a little more; smooth content stays within rounding.
    worst, mean = (12, 1.0) if mode in ("1", "P transparent") else (3, 0.5)
    assert difference.max() <= worst and difference.mean() < mean, (difference.max(), difference.mean())


def test_conversion_composites_on_white_and_scales_sixteen_bits():
    rgba = Image.new("RGBA", (4, 2), (0, 0, 0, 0))
    rgba.putpixel((1, 0), (255, 0, 0, 255))
    assert np.asarray(load_image(_encode(rgba)))[0, :2].tolist() == [[255, 255, 255], [255, 0, 0]]
    grey16 = Image.fromarray(np.array([[0, 257 * 128, 65535]], dtype=np.uint16))
    assert np.asarray(load_image(_encode(grey16)))[0, :, 0].tolist() == [0, 128, 255]


def test_strip_wise_conversion_equals_a_whole_image_conversion():
    rows = STRIP_PIXELS // 1024 * 3 + 17  # several strips and a short last one
    grey = Image.fromarray((np.arange(1024 * rows) % 251).astype(np.uint8).reshape(rows, 1024))
    assert np.array_equal(np.asarray(load_image(_encode(grey))), np.asarray(grey.convert("RGB")))


def test_large_jpegs_decode_at_reduced_scale():
    data = _encode(Image.fromarray(_gradient((2400, 1800))), "JPEG")
    assert load_reduced(data, 100).size == (300, 225)  # libjpeg at 1/4 (600x450), then halved: >= 3 x 100 px
    assert load_reduced(data, 1000).size == (2400, 1800)  # nothing to gain: full size


def test_the_budget_is_checked_from_the_header():
    png = _encode(Image.new("RGBA", (1000, 1000)))  # 4 MB decoded
    check_decodable(png, max_decode_bytes=4_000_000)
    with pytest.raises(ImageError, match="image too large to decode: 1000x1000 RGBA needs 4 MiB"):
        check_decodable(png, max_decode_bytes=3_999_999)
    jpeg = _encode(Image.new("RGB", (1600, 1600)), "JPEG")  # 10 MB decoded at full size, 0.6 MB at 1/4
    with pytest.raises(ImageError):
        check_decodable(jpeg, max_decode_bytes=1_000_000)
    check_decodable(jpeg, size=100, max_decode_bytes=1_000_000)
    with pytest.raises(ImageError, match="image too large"):
        load_letterboxed(png, 64, max_decode_bytes=1_000_000)
