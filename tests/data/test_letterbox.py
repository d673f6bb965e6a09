"""letterbox vs PIL.ImageOps.pad: where they agree and the two measured differences that keep ours."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageOps

from fashiontag.data.images import letterbox


def _random(width: int, height: int) -> Image.Image:
    rng = np.random.default_rng(width * 1000 + height)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))


def _pad(image: Image.Image, size: int) -> np.ndarray:
    padded = ImageOps.pad(image, (size, size), method=Image.Resampling.BILINEAR, color=(255,) * 3)
    return np.asarray(padded)


@pytest.mark.parametrize(
    ("width", "height", "size"),
    [(60, 80, 80), (80, 60, 80), (62, 80, 80), (63, 80, 80), (1, 1, 80), (2, 5, 224), (100, 100, 64),
     (224, 224, 224), (640, 480, 224), (333, 500, 384)],
)  # fmt: skip
def test_same_pixels_as_imageops_pad(width: int, height: int, size: int) -> None:
    image = _random(width, height)
    assert np.array_equal(letterbox(image, size), _pad(image, size))


@pytest.mark.parametrize(("width", "height", "size"), [(61, 80, 80), (300, 200, 224), (200, 301, 224), (10, 7, 224)])
def test_odd_padding_sits_one_pixel_earlier_than_pad(width: int, height: int, size: int) -> None:
    """Total padding 3 mod 4: ours floors the offset, ``pad`` rounds half to even; the resized pixels agree."""
    image = _random(width, height)
    ours, theirs = letterbox(image, size), _pad(image, size)
    assert not np.array_equal(ours, theirs)
    axis = 1 if width < height else 0
    assert np.array_equal(np.roll(ours, 1, axis=axis), theirs)  # the shifted-in column/row is padding on both


def test_thin_image_keeps_a_strip_where_pad_draws_nothing() -> None:
    image = _random(243, 3)
    ours, theirs = letterbox(image, 18), _pad(image, 18)
    assert (theirs == 255).all()
    assert (ours != 255).any(axis=-1).sum() == 18  # one 18-pixel row of picture
