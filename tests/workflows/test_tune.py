"""``fashiontag tune``: a 2-3 trial search in probe mode on the generated dataset; results, seed, resume, CLI."""

import json

import pytest
from typer.testing import CliRunner

from fashiontag.artifact import read_sidecar
from fashiontag.cli.main import app
from fashiontag.config import build_config
from fashiontag.data.synthetic import manifest_cli_args
from fashiontag.train import TrainConfig, _probe
from fashiontag.workflows.tune import score, tune

runner = CliRunner()


def _config(synthetic, out, **kw):
    manifest, taxonomy = synthetic
    values = {
        "backbone": "smallcnn",
        "pretrained": False,
        "image_size": 32,
        "input_size": 32,
        "probe": True,
        "probe_steps": 5,
        "progress_bar": False,
        "seed": 3,
        **kw,
    }
    return build_config(
        TrainConfig,
        data=str(manifest),
        taxonomy=str(taxonomy),
        reader="manifest",
        source="manifest",
        out=str(out),
        **values,
    )


@pytest.fixture(scope="module")
def searched(synthetic, tmp_path_factory):
    out = tmp_path_factory.mktemp("tune") / "run"
    real = _probe.extract_features

    def counted(net, images, batch_size=None):
        EXTRACTED.append(len(images))
        return real(net, images, batch_size)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_probe, "extract_features", counted)
        best, table = tune(_config(synthetic, out), trials=3)
    return out, best, table


EXTRACTED: list[int] = []  # images per probe feature extraction during `searched`


def test_probe_features_extracted_once_for_all_trials(searched):
    assert len(EXTRACTED) == 1


def test_tune_writes_trials_and_best(searched):
    out, best, table = searched
    results = json.loads((out / "tune.json").read_text())
    trials = results["trials"]
    assert [t["trial"] for t in trials] == [0, 1, 2] and {t["state"] for t in trials} == {"COMPLETE"}
    assert all(set(t) >= {"lr", "weight_decay", "val_macro_f1", "model_dir"} for t in trials)
    assert all("augment" not in t for t in trials)  # probe mode: augmentation has no effect, not searched
    top = max(trials, key=lambda t: t["val_macro_f1"])
    assert results["best"]["val_macro_f1"] == top["val_macro_f1"]
    # the best trial's model exists and its sidecar holds the value the study recorded
    model_dir = results["best"]["model_dir"]
    assert score(read_sidecar(model_dir)["metrics"]) == results["best"]["val_macro_f1"]
    assert read_sidecar(model_dir)["training"]["optim"]["lr"] == results["best"]["params"]["lr"]
    params = results["best"]["params"]
    assert (best.optim.lr, best.optim.weight_decay) == (params["lr"], params["weight_decay"])
    assert best.out == str(out) and list(table["trial"])[0] == results["best"]["trial"]
    assert table["val_macro_f1"].is_monotonic_decreasing and len(table) == 3
    assert (out / "tune.db").exists() and len(list(out.glob("cache_*"))) == 1  # data decoded once, not per trial


def test_best_is_the_highest_validation_score(synthetic, tmp_path, monkeypatch):
    """Tiny probe runs tie on macro-F1; give each trial a distinct score (from its lr) to check the selection."""
    import fashiontag.artifact

    real = fashiontag.artifact.read_sidecar

    def scored(model_dir, verify=True):
        sidecar = real(model_dir, verify)
        return {**sidecar, "metrics": {"val_macro_f1": -abs(sidecar["training"]["optim"]["lr"] - 3e-3)}}

    monkeypatch.setattr(fashiontag.artifact, "read_sidecar", scored)
    best, table = tune(_config(synthetic, tmp_path / "run", probe_steps=1), trials=3)
    trials = json.loads((tmp_path / "run" / "tune.json").read_text())["trials"]
    closest = min(trials, key=lambda t: abs(t["lr"] - 3e-3))
    assert len({t["val_macro_f1"] for t in trials}) == 3
    assert best.optim.lr == closest["lr"] and table["trial"][0] == closest["trial"]
    assert json.loads((tmp_path / "run" / "tune.json").read_text())["best"]["trial"] == closest["trial"]


def test_same_seed_same_params(searched, synthetic, tmp_path):
    out, _, _ = searched
    first = json.loads((out / "tune.json").read_text())["trials"][:2]
    tune(_config(synthetic, tmp_path / "again"), trials=2)
    again = json.loads((tmp_path / "again" / "tune.json").read_text())["trials"]
    assert [(t["lr"], t["weight_decay"]) for t in again] == [(t["lr"], t["weight_decay"]) for t in first]


def test_rerun_continues_the_study(synthetic, tmp_path):
    cfg = _config(synthetic, tmp_path / "run", probe_steps=2)
    tune(cfg, trials=2)
    before = json.loads((tmp_path / "run" / "tune.json").read_text())["trials"]
    _, table = tune(cfg, trials=3)
    after = json.loads((tmp_path / "run" / "tune.json").read_text())["trials"]
    assert after[:2] == before and len(after) == 3 and len(table) == 3
    assert (after[2]["lr"], after[2]["weight_decay"]) not in {(t["lr"], t["weight_decay"]) for t in before}
    _, table = tune(cfg, trials=3)  # already done: nothing new runs
    assert len(json.loads((tmp_path / "run" / "tune.json").read_text())["trials"]) == 3
    with pytest.raises(ValueError, match="other settings"):
        tune(_config(synthetic, tmp_path / "run", probe_steps=7), trials=4)


def test_cascade_score_is_the_mean_over_parts():
    assert score({"val_macro_f1": 0.5}) == 0.5
    assert score({"router": {"val_macro_f1": 0.2}, "Tops": {"val_macro_f1": 0.6}}) == pytest.approx(0.4)
    with pytest.raises(ValueError, match="val_macro_f1"):
        score({"acc_colour": 1.0})


def test_cli_help_and_run(synthetic, tmp_path):
    result = runner.invoke(app, ["tune", "--help"], env={"COLUMNS": "240"})
    assert result.exit_code == 0 and "fashiontag tune --data" in result.output and "--trials" in result.output
    manifest, taxonomy = synthetic
    result = runner.invoke(
        app,
        [
            "tune",
            *manifest_cli_args(manifest, taxonomy),
            "--out",
            str(tmp_path / "run"),
            "--trials",
            "2",
            "--probe",
            "backbone=smallcnn",
            "pretrained=false",
            "image_size=32",
            "input_size=32",
            "probe_steps=2",
            "progress_bar=false",
        ],
    )
    assert result.exit_code == 0, result.output + repr(result.exception)
    assert "best: lr=" in result.output and "tune.json" in result.output
    results = json.loads((tmp_path / "run" / "tune.json").read_text())
    assert len(results["trials"]) == 2 and results["best"]["model_dir"] in result.output
