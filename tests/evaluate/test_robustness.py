import numpy as np
import pytest

from fashiontag.evaluate.robustness import DEFAULT_SEVERITIES, apply_corruption, list_corruptions, robustness_sweep


def _images():
    img = np.full((2, 32, 32, 3), 255, np.uint8)
    img[:, 8:24, 8:24] = (200, 30, 30)
    return img


@pytest.mark.parametrize("name", list_corruptions())
def test_corruption_keeps_shape_and_changes_image(name):
    images = _images()
    out = apply_corruption(images, name, DEFAULT_SEVERITIES[name][-1])
    assert out.shape == images.shape and out.dtype == np.uint8
    assert not np.array_equal(out, images)


def test_corruptions_do_what_they_say():
    images = _images()
    assert apply_corruption(images, "gaussian_noise", 0.2).std() > images.std() * 0.9
    assert apply_corruption(images, "brightness", 0.5).mean() < images.mean()
    low = apply_corruption(images, "contrast", 0.2)
    assert np.ptp(low) < np.ptp(images)
    padded = apply_corruption(images, "padding", 0.5)
    assert (padded[:, 8:24, 8:24] == 255).mean() > (images[:, 8:24, 8:24] == 255).mean()  # product shrank
    cropped = apply_corruption(images, "crop", 0.5)
    assert (cropped == 255).mean() < (images == 255).mean()  # product fills the frame
    assert np.abs(apply_corruption(images, "blur", 3).astype(int) - images).max() > 50
    assert np.array_equal(
        apply_corruption(images, "gaussian_noise", 0.1, seed=3), apply_corruption(images, "gaussian_noise", 0.1, seed=3)
    )


def test_sweep_rows():
    images = _images()
    targets = {"head": np.array([0, 0])}
    rows = robustness_sweep(
        lambda x: {"head": np.c_[x.mean((1, 2, 3)) > 100, x.mean((1, 2, 3)) <= 100] * 1.0},
        images,
        targets,
        corruptions=["brightness"],
        severities={"brightness": (0.1, 1.0)},
    )
    assert [r["accuracy"]["head"] for r in rows] == [1.0, 0.0, 1.0]
