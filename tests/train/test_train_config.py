"""TrainConfig's sections: one grammar (YAML nested, dotted, flat), clear errors, and model directories written
before the sections (a flat ``training`` record in the sidecar) still read: init_from, the model card, export's
calibration data, a rebuilt TrainConfig."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fashiontag.artifact import read_sidecar, training_settings
from fashiontag.cli.main import app
from fashiontag.config import ConfigError, build_config, from_dict, to_dict, updated
from fashiontag.train import TrainConfig

runner = CliRunner()


def test_yaml_nested_dotted_and_flat_keys_reach_their_sections(tmp_path: Path) -> None:
    path = tmp_path / "train.yaml"
    path.write_text("data: photos/\noptim: {lr: 2.0e-3, augment: strong}\nmodel:\n  backbone: smallcnn\nepochs: 3\n")
    cfg = build_config(TrainConfig, path, ["trainer.batch_size=16", "weight_decay=0.01", "data.split=s.csv"])
    assert (cfg.data.root, cfg.data.split, cfg.model.backbone) == ("photos/", "s.csv", "smallcnn")
    assert (cfg.optim.lr, cfg.optim.augment, cfg.optim.weight_decay) == (2e-3, "strong", 0.01)
    assert (cfg.trainer.epochs, cfg.trainer.batch_size) == (3, 16)
    assert build_config(TrainConfig, path, ["lr=0.5"]).optim.lr == 0.5  # a flat override beats the nested YAML
    changed = updated(cfg, lr=1e-4, probe=True, root="other/")
    assert (changed.optim.lr, changed.trainer.train_mode, changed.data.root, changed.optim.augment) == (
        1e-4,
        "probe",
        "other/",
        "strong",
    )
    with pytest.raises(ConfigError, match="expected float"):
        updated(cfg, lr="fast")


def test_unknown_key_names_the_closest_valid_keys(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="Did you mean 'lr'"):
        build_config(TrainConfig, overrides=["lrr=0.1"])
    with pytest.raises(ConfigError, match="Did you mean 'optim.lr'"):
        build_config(TrainConfig, overrides=["optim.lrr=0.1"])
    path = tmp_path / "bad.yaml"
    path.write_text("trainer: {epoch: 2}\n")
    with pytest.raises(ConfigError, match="Did you mean 'trainer.epochs'"):
        build_config(TrainConfig, path)


def test_every_flat_key_is_unambiguous() -> None:
    import dataclasses

    names = [
        g.name
        for f in dataclasses.fields(TrainConfig)
        if f.name in ("data", "model", "optim", "trainer")
        for g in dataclasses.fields(getattr(TrainConfig(), f.name))
    ]
    top = [f.name for f in dataclasses.fields(TrainConfig)]
    assert len(names) == len(set(names)) and not set(names) & set(top)


def test_cli_reports_a_bad_key_without_a_traceback(tmp_path: Path) -> None:
    result = runner.invoke(app, ["train", "--data", str(tmp_path), "--out", str(tmp_path / "run"), "epochz=2"])
    assert result.exit_code == 2 and "Did you mean 'epochs'" in result.output and "Traceback" not in result.output


# what `train` recorded before TrainConfig had sections: every key flat, the dataset under `data`
def _flat(training: dict) -> dict:
    flat = {k: v for k, v in training.items() if k not in ("data", "model", "optim", "trainer")}
    for section in ("model", "optim", "trainer", "data"):
        flat.update(training[section])
    flat["data"] = flat.pop("root")
    return flat


def test_old_model_directory_with_a_flat_training_record_still_reads(synthetic, tiny_args, tmp_path: Path) -> None:
    from fashiontag.export._int8_data import load_split_data
    from fashiontag.models import write_model_card

    manifest, taxonomy = synthetic
    source = tmp_path / "old"
    result = runner.invoke(app, ["train", *tiny_args(manifest, taxonomy, source), "--backbone", "smallcnn", "--probe"])
    assert result.exit_code == 0, result.output
    sidecar_path = source / "model" / "fashiontag.json"
    sidecar = json.loads(sidecar_path.read_text())
    nested = sidecar["training"]
    sidecar["training"] = _flat(nested)
    sidecar_path.write_text(json.dumps(sidecar))  # training settings are not among the digested model fields
    old = read_sidecar(source / "model")
    assert old["training"]["data"] == str(manifest) and old["training"]["lr"] == nested["optim"]["lr"]

    assert from_dict(TrainConfig, old["training"]) == from_dict(TrainConfig, nested)  # flat -> sections on read
    assert to_dict(from_dict(TrainConfig, old["training"]))["data"]["root"] == str(manifest)
    assert training_settings(old) == training_settings({"training": nested})
    assert training_settings(old)["root"] == str(manifest) and training_settings(old)["reader"] == "manifest"

    card = write_model_card(source / "model", old).read_text()
    assert f"dataset: `{manifest}` (reader `manifest`, mapping source `manifest`)" in card
    assert "training: probe" in card

    int8 = load_split_data(manifest, old, old["split"]["path"], "val", calibration_size=4, report_size=4)
    assert len(int8.calibration) and len(int8.images) and int8.info["reader"] == "manifest"

    adapted = tmp_path / "adapted"  # init_from an old model directory: its backbone, its heads
    result = runner.invoke(
        app, ["train", *tiny_args(manifest, taxonomy, adapted), "--init-from", str(source / "model"), "--probe"]
    )
    assert result.exit_code == 0, result.output
    new = read_sidecar(adapted / "model")
    assert new["backbone"]["name"] == "smallcnn" and new["training"]["model"]["init_from"] == str(source / "model")


def test_test_flip_reaches_the_network_it_builds() -> None:
    """``test_flip=true`` (model section) builds a network whose preprocessing averages the mirror image in."""
    from fashiontag.data.taxonomy import load_taxonomy
    from fashiontag.train._fit import build_net

    config = build_config(TrainConfig, overrides=["backbone=smallcnn", "pretrained=false", "test_flip=true"])
    assert config.model.test_flip is True
    assert build_net(config, load_taxonomy("shop")).preprocess.flip is True
    assert build_net(updated(config, test_flip=False), load_taxonomy("shop")).preprocess.flip is False
