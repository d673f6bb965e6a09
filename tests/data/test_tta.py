"""Test-time augmentation: views, averaging, and the same function behind predict --tta and evaluate tta=."""

import numpy as np
import pytest

from fashiontag.data.tta import TTARunner, list_tta_modes, tta_predict, tta_views, with_tta
from fashiontag.registry import UnknownNameError


def _left_brightness(images: np.ndarray) -> dict[str, np.ndarray]:
    """A fake model whose 'probability' is the mean of the left half: flip-sensitive on purpose."""
    left = images[:, :, : images.shape[2] // 2].mean(axis=(1, 2, 3)) / 255.0
    return {"type": np.stack([left, 1 - left], axis=1)}


def test_views_per_mode() -> None:
    images = np.zeros((2, 16, 16, 3), np.uint8)
    images[:, :, :8] = 255  # left half white
    assert [len(tta_views(images, m)) for m in ("none", "flip", "multiscale")] == [1, 2, 4]
    flipped = tta_views(images, "flip")[1]
    assert flipped[:, :, :8].max() == 0 and flipped[:, :, 8:].min() == 255
    assert all(v.shape == images.shape and v.dtype == np.uint8 for v in tta_views(images, "multiscale"))
    assert set(list_tta_modes()) >= {"none", "flip", "multiscale"}


def test_flip_averages_a_mirror_sensitive_model() -> None:
    images = np.zeros((1, 16, 16, 3), np.uint8)
    images[:, :, :8] = 255
    assert _left_brightness(images)["type"][0, 0] == pytest.approx(1.0)
    assert tta_predict(_left_brightness, images, "flip")["type"][0, 0] == pytest.approx(0.5)
    assert with_tta(_left_brightness, "none") is _left_brightness
    with pytest.raises(UnknownNameError, match="tta mode"):
        with_tta(_left_brightness, "flipp")


def test_tta_runner_wraps_any_backend() -> None:
    class Runner:
        run = staticmethod(_left_brightness)

    images = np.zeros((3, 8, 8, 3), np.uint8)
    images[:, :, :4] = 200
    out = TTARunner(Runner(), "flip").run(images)
    assert out["type"].shape == (3, 2) and np.allclose(out["type"].sum(1), 1.0)


def test_predict_and_evaluate_take_tta(tmp_path) -> None:
    import csv

    import torch
    from typer.testing import CliRunner

    from fashiontag.cli.main import app
    from fashiontag.data.folders import infer_folder_taxonomy
    from fashiontag.data.synthetic import make_class_folders
    from fashiontag.evaluate import EvaluateConfig, evaluate_model
    from fashiontag.models import create_network, default_preprocess, save_model

    photos = make_class_folders(tmp_path / "photos", {"tee": 4, "hat": 4}, size=32)
    torch.manual_seed(0)
    net = create_network(infer_folder_taxonomy(photos), "smallcnn", "flat", default_preprocess("smallcnn", 32, 32))
    save_model(net.eval(), tmp_path / "model")
    out = tmp_path / "preds.csv"
    result = CliRunner().invoke(
        app,
        [
            "predict",
            str(tmp_path / "model"),
            str(photos),
            "--out",
            str(out),
            "--tta",
            "multiscale",
            "--backend",
            "torch",
            "--no-progress",
        ],
    )
    assert result.exit_code == 0, result.output + repr(result.exception)
    assert len(list(csv.DictReader(out.open()))) == 8
    config = EvaluateConfig(tta="flip", robustness=False, gradcam=False, split="all")
    metrics = evaluate_model(tmp_path / "model", photos, out_dir=tmp_path / "eval", config=config, reader="folder")
    assert metrics["heads"]["class"]["count"] == 8 and metrics["config"]["tta"] == "flip"
