"""int8 export with a dataset + split file: calibrate on train, report the accuracy change on val."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from fashiontag._threads import onnxruntime_threads
from fashiontag.artifact import read_sidecar
from fashiontag.data.synthetic import make_synthetic_dataset
from fashiontag.data.taxonomy import load_taxonomy
from fashiontag.export import Int8Options, export_model, format_int8_report

HEADS = ("group", "type", "colour")


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path | int]:
    """32 synthetic items (manifest reader) and a split file: 24 train, 8 val."""
    from fashiontag.data.config import DataConfig
    from fashiontag.data.mapped import load_mapped
    from fashiontag.data.splits import make_split, write_split

    root = tmp_path_factory.mktemp("split_data")
    manifest, taxonomy = make_synthetic_dataset(root, per_leaf=8, size=32)
    config = DataConfig(root=str(root), reader="manifest", taxonomy=str(taxonomy))
    _, mapping, _ = load_mapped(config, hash_files=False)
    table = make_split(mapping.mapped, "stratified", 0, val_fraction=0.25, test_fraction=0.0)
    write_split(table, root / "split.csv", {"method": "stratified"})
    counts = table["split"].value_counts()
    return {
        "root": root,
        "taxonomy": taxonomy,
        "split": root / "split.csv",
        "train": int(counts["train"]),
        "val": int(counts["val"]),
    }


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory, dataset: dict) -> Path:
    from fashiontag.models._testing import make_tiny_model

    path = tmp_path_factory.mktemp("m") / "tiny"
    make_tiny_model(path, load_taxonomy(str(dataset["taxonomy"])))
    return path


def _copy(model: Path, tmp_path: Path) -> Path:
    shutil.copytree(model, tmp_path / "m")
    return tmp_path / "m"


def test_split_file_reports_val_accuracy(model: Path, dataset: dict, tmp_path: Path) -> None:
    path = _copy(model, tmp_path)
    report = export_model(
        path,
        int8=True,
        data=dataset["root"],
        split_file=dataset["split"],
        reader="manifest",
        exporter="torchscript",
        speed_images=16,
    )
    int8 = report["int8"]
    assert int8["method"] == "static-qdq" and int8["split"] == "val" and int8["calibration_split"] == "train"
    assert int8["disjoint"] is True and int8["options"] == Int8Options().to_dict()
    assert int8["calibration_images"] == dataset["train"] and int8["report_images"] == int8["images"] == dataset["val"]
    for head in HEADS:
        entry = int8["heads"][head]
        assert entry["n"] == dataset["val"] and 0.0 <= entry["top1_agreement"] <= 1.0
        assert entry["accuracy_change"] == pytest.approx(entry["accuracy_int8"] - entry["accuracy_fp32"])
    assert int8["speed"]["threads"] == onnxruntime_threads() and int8["speed"]["speedup"] > 0  # the process's count
    assert read_sidecar(path)["export"]["onnx"]["int8"]["report_images"] == dataset["val"]
    table = format_int8_report(int8)
    assert "acc fp32" in table and all(head in table for head in HEADS)
    assert f"reported on {dataset['val']} val images" in table


def _images(data: dict, split: str, calibration_size: int) -> tuple[object, set[bytes], set[bytes]]:
    from fashiontag.export._int8_data import load_int8_data

    sidecar = read_sidecar(data["model"])
    sets = load_int8_data(data["root"], sidecar, data["split"], split, "manifest", calibration_size, None)
    return sets, {image.tobytes() for image in sets.calibration}, {image.tobytes() for image in sets.images}


def test_calibration_and_report_images_are_disjoint(model: Path, dataset: dict) -> None:
    sets, calibration, report = _images({**dataset, "model": model}, "val", 300)
    assert len(calibration) == dataset["train"] and len(report) == dataset["val"]  # synthetic images are unique
    assert not calibration & report
    assert set(sets.targets) == set(HEADS) and all(len(t) == dataset["val"] for t in sets.targets.values())
    assert all((t >= 0).all() for t in sets.targets.values())


def test_train_split_carves_calibration_out_of_itself(model: Path, dataset: dict) -> None:
    sets, calibration, report = _images({**dataset, "model": model}, "train", 5)
    assert sets.info["calibration_split"] == "train" and len(calibration) == 5
    assert len(report) == dataset["train"] - 5 and not calibration & report


def test_reader_without_split_file_is_refused(model: Path, dataset: dict) -> None:
    from fashiontag.export._int8_data import load_int8_data

    with pytest.raises(ValueError, match="--split-file"):
        load_int8_data(dataset["root"], read_sidecar(model), reader="manifest")


def test_exclude_groups(model: Path, tmp_path: Path) -> None:
    from fashiontag.export._int8 import excluded_nodes

    path = _copy(model, tmp_path)
    export_model(path, exporter="torchscript")
    heads = excluded_nodes(path / "model.onnx", ["heads"])
    stem = excluded_nodes(path / "model.onnx", ["stem"])
    assert heads and len(stem) == 1 and not set(heads) & set(stem)
    with pytest.raises(ValueError, match="unknown exclude group"):
        excluded_nodes(path / "model.onnx", ["stemm"])


def test_cli_split_file_prints_table(model: Path, dataset: dict, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from fashiontag.cli.main import app

    path = _copy(model, tmp_path)
    args = [
        "export",
        str(path),
        "--int8",
        "--data",
        str(dataset["root"]),
        "--split-file",
        str(dataset["split"]),
        "--reader",
        "manifest",
        "--exporter",
        "torchscript",
        "--calibration-size",
        "8",
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "calibrated on 8 train images, reported on 8 val images" in result.output
    assert "acc fp32" in result.output and "colour" in result.output
    bad = CliRunner().invoke(
        app,
        [
            "export",
            str(path),
            "--int8",
            "--data",
            str(dataset["root"]),
            "--reader",
            "manifest",
            "--exporter",
            "torchscript",
        ],
    )
    assert bad.exit_code != 0 and "--split-file" in bad.output
