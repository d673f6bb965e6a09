"""``ema_decay``: the kept model is the exponential moving average, and a resumed run continues the average."""

import json

import pytest
import torch
from safetensors.torch import load_file
from test_train import _Abort, _AbortAfter  # same folder: pytest puts it on sys.path
from typer.testing import CliRunner

from fashiontag.cli.main import app
from fashiontag.train import _lightning
from fashiontag.train._ema import ema_decay_at

runner = CliRunner()


def test_the_decay_warms_up_and_never_exceeds_the_setting():
    assert ema_decay_at(0.998, 0) == pytest.approx(0.1)  # the first update keeps 90% of the new weights
    assert ema_decay_at(0.998, 10) == pytest.approx(11 / 20)
    assert ema_decay_at(0.998, 100_000) == 0.998
    assert all(ema_decay_at(0.9, n) <= ema_decay_at(0.9, n + 1) for n in range(200))


def test_out_of_range_decay_stops_before_training(synthetic, tiny_args, tmp_path):
    manifest, taxonomy = synthetic
    result = runner.invoke(
        app, ["train", *tiny_args(manifest, taxonomy, tmp_path / "run"), "--backbone", "smallcnn", "ema_decay=1.5"]
    )
    assert result.exit_code == 2 and "ema_decay must be in (0, 1)" in result.output, result.output
    assert not (tmp_path / "run" / "model").exists()


@pytest.mark.parametrize("mode", ["full", "trunk"])
def test_the_saved_model_is_the_average_and_resume_continues_it(mode, synthetic, tiny_args, tmp_path, monkeypatch):
    manifest, taxonomy = synthetic
    args = [
        *tiny_args(manifest, taxonomy, tmp_path / "run"),
        "--backbone",
        "smallcnn",
        "epochs=2",
        "batch_size=4",
        f"mode={mode}",
        "trunk_cut=-1",
        "ema_decay=0.9",
        "lr=0.01",
    ]
    monkeypatch.setattr(_lightning, "_EXTRA_CALLBACKS", [_AbortAfter(3).callback])
    assert isinstance(runner.invoke(app, ["train", *args]).exception, _Abort)
    monkeypatch.setattr(_lightning, "_EXTRA_CALLBACKS", [])
    result = runner.invoke(app, ["train", *args])
    assert result.exit_code == 0, result.output + repr(result.exception)
    checkpoints = tmp_path / "run" / "checkpoints"
    last = torch.load(checkpoints / "last.ckpt", map_location="cpu", weights_only=True)
    # every optimiser step was averaged, the 3 before the interruption included (a lost average restarts at 0)
    assert int(last["averaging_state"]["n_averaged"]) == last["global_step"] > 3
    best = torch.load(checkpoints / "best.ckpt", map_location="cpu", weights_only=True)
    saved = load_file(tmp_path / "run" / "model" / "model.safetensors")
    trained = [
        k
        for k in best["state_dict"]
        if k.startswith("net.")
        and k.endswith("weight")
        and not torch.equal(best["state_dict"][k], best["current_model_state"][k])
    ]
    assert trained, "the average equals the raw weights: nothing was averaged"
    for key in trained:  # the model written is the average, not the optimiser's last weights
        name = key.removeprefix("net.")
        assert torch.equal(saved[name], best["state_dict"][key]), name
    sidecar = json.loads((tmp_path / "run" / "model" / "fashiontag.json").read_text())
    assert sidecar["training"]["optim"]["ema_decay"] == 0.9


def test_the_probe_says_it_does_not_average(synthetic, tiny_args, tmp_path):
    manifest, taxonomy = synthetic
    result = runner.invoke(
        app,
        [
            "train",
            *tiny_args(manifest, taxonomy, tmp_path / "run"),
            "--backbone",
            "smallcnn",
            "--probe",
            "ema_decay=0.99",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "ema_decay: not used by the probe" in result.output
