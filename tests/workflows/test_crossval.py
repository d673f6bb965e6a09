"""k-fold cross-validation end to end on a tiny generated dataset (smallcnn, probe mode, 3 folds)."""

import csv
import json
import shutil

import numpy as np
import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

from fashiontag.cli.main import app
from fashiontag.config import build_config
from fashiontag.data.splits import load_split
from fashiontag.data.synthetic import make_synthetic_dataset
from fashiontag.train import TrainConfig, _probe
from fashiontag.workflows.crossval import cross_validate, crossval_table, fold_table

FOLDS = 3
TRAIN_KEYS = {"pretrained": False, "image_size": 32, "input_size": 32, "probe_steps": 20, "progress_bar": False}


@pytest.fixture(autouse=True, scope="module")
def _few_threads():
    torch.set_num_threads(1)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """60 synthetic images plus 6 byte-identical copies (6 duplicate groups of 2)."""
    root = tmp_path_factory.mktemp("cv_data")
    manifest, taxonomy = make_synthetic_dataset(root, per_leaf=15, size=32)
    with open(manifest, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    copies = []
    for row in rows[::10]:
        copy = dict(row, path=row["path"].replace(".png", "_copy.png"))
        shutil.copyfile(root / row["path"], root / copy["path"])
        copies.append(copy)
    with open(manifest, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows + copies)
    return manifest, taxonomy


def _config(dataset):
    manifest, taxonomy = dataset
    return build_config(TrainConfig, data=str(manifest), taxonomy=str(taxonomy), reader="manifest", source="manifest",
                       backbone="smallcnn", probe=True, **TRAIN_KEYS)  # fmt: skip


@pytest.fixture(scope="module")
def cv_run(dataset, tmp_path_factory):
    out = tmp_path_factory.mktemp("cv") / "run"
    lines = []
    real = _probe.extract_features
    with pytest.MonkeyPatch.context() as patch:

        def counted(net, images, batch_size=None):
            EXTRACTED.append(len(images))
            return real(net, images, batch_size)

        patch.setattr(_probe, "extract_features", counted)
        result = cross_validate(_config(dataset), FOLDS, out, seed=1, echo=lines.append)
    return out, result, lines


EXTRACTED: list[int] = []  # images per probe feature extraction during cv_run


def test_probe_features_extracted_once_for_all_folds(cv_run):
    assert EXTRACTED == [66]


def test_folds_partition_items_and_keep_dup_groups(cv_run):
    out, result, lines = cv_run
    assert len(lines) == FOLDS and all("training on" in line for line in lines)
    assignment = load_split(out / "split.csv").table
    assert len(assignment) == 66 and set(assignment["fold"]) == set(range(FOLDS))
    cache_index = pd.read_csv(out / "cache_32" / "index.csv", dtype=str)
    group_of = dict(zip(cache_index["item_id"], cache_index["dup_group"], strict=True))
    assert cache_index["dup_group"].value_counts().max() == 2  # the copies were grouped
    tested = []
    for fold in range(FOLDS):
        assert (out / f"fold_{fold}" / "model" / "fashiontag.json").exists()
        assert (out / f"fold_{fold}" / "eval" / "metrics.json").exists()
        assert not (out / f"fold_{fold}" / "cache_32").exists()  # one decoded cache, shared
        table = load_split(out / "splits" / f"fold_{fold}.csv").table
        assert table["split"].value_counts().to_dict().keys() == {"train", "val", "test"}
        assert set(table.loc[table["split"] == "val", "fold"]) == {(fold + 1) % FOLDS}
        groups = table.assign(group=table["item_id"].map(group_of)).groupby("group")["split"].nunique()
        assert groups.max() == 1  # no duplicate group straddles train/val/test
        test_ids = table.loc[table["split"] == "test", "item_id"].tolist()
        metrics = json.loads((out / f"fold_{fold}" / "eval" / "metrics.json").read_text())
        assert metrics["data"]["count"] == len(test_ids)
        tested += test_ids
    assert sorted(tested) == sorted(assignment["item_id"])  # disjoint, and every item tested exactly once


def test_summary_is_mean_and_sample_std_of_folds(cv_run):
    out, result, _ = cv_run
    saved = json.loads((out / "crossval.json").read_text())
    per_fold = json.loads((out / "folds.json").read_text())
    assert [f["fold"] for f in per_fold] == list(range(FOLDS))
    values = [f["metrics"]["heads"]["group"]["accuracy"] for f in per_fold]
    cell = saved["summary"]["heads"]["group"]["accuracy"]
    assert cell["n"] == FOLDS and cell["values"] == pytest.approx(values)
    assert cell["mean"] == pytest.approx(np.mean(values))
    assert cell["std"] == pytest.approx(np.std(values, ddof=1))
    assert saved["summary"]["hierarchy"]["full_path_accuracy"]["n"] == FOLDS
    assert saved["split"]["sha256"] == load_split(out / "split.csv").meta["sha256"]
    assert saved["train_config"]["model"]["backbone"] == "smallcnn" and saved["folds"] == FOLDS
    table = (out / "crossval.md").read_text()
    assert table.strip() == crossval_table(result)
    for name in ("group accuracy", "type macro F1", "colour accuracy", "full-path accuracy"):
        assert f"| {name} |" in table


def test_cli_rerun_skips_finished_folds(cv_run, dataset):
    out, _, _ = cv_run
    manifest, taxonomy = dataset
    (out / "fold_1" / "fold.json").unlink()  # as if the run had stopped during fold 1
    kept = {f: (out / f"fold_{f}" / "model" / "model.safetensors").stat().st_mtime_ns for f in (0, 2)}
    args = ["crossval", "--data", str(manifest), "--taxonomy", str(taxonomy), "--reader", "manifest",
            "--source", "manifest", "--backbone", "smallcnn", "--probe", "--folds", str(FOLDS), "--seed", "1",
            "--out", str(out), *[f"{k}={str(v).lower()}" for k, v in TRAIN_KEYS.items()]]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output + repr(result.exception)
    assert result.output.count("skipping") == 2 and "fold 1/3: training on" in result.output
    assert "| group accuracy |" in result.output and "| full-path accuracy |" in result.output
    for fold, mtime in kept.items():
        assert (out / f"fold_{fold}" / "model" / "model.safetensors").stat().st_mtime_ns == mtime
    assert (out / "fold_1" / "fold.json").exists()


def test_changed_fold_assignment_and_bad_folds_are_refused(cv_run, dataset):
    out, _, _ = cv_run
    with pytest.raises(ValueError, match="another fold assignment"):
        cross_validate(_config(dataset), FOLDS, out, seed=2, echo=lambda _: None)
    with pytest.raises(ValueError, match="at least 3"):
        cross_validate(_config(dataset), 2, out / "two", echo=lambda _: None)


def test_fold_table_rotates_val_fold():
    table = pd.DataFrame({"item_id": list("abcd"), "split": "train", "fold": [0, 1, 2, 3]})
    assert fold_table(table, 3, 4)["split"].tolist() == ["val", "train", "train", "test"]
