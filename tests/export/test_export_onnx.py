"""ONNX export: dynamo exporter, dynamic batch, parity, sidecar registration, int8, registry, CLI."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from fashiontag.artifact import read_sidecar
from fashiontag.data.synthetic import make_synthetic_dataset
from fashiontag.data.taxonomy import load_taxonomy
from fashiontag.export import EXPORTERS, export_model, list_exporters


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_synthetic_dataset(tmp_path_factory.mktemp("data"), per_leaf=4, size=32)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory, data: tuple[Path, Path]) -> Path:
    from fashiontag.models._testing import make_tiny_model

    path = tmp_path_factory.mktemp("m") / "tiny"
    make_tiny_model(path, load_taxonomy(str(data[1])))
    return path


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory, tiny: Path, data: tuple[Path, Path]) -> tuple[Path, dict]:
    """Default exporter (dynamo) plus static int8 calibrated on the manifest's images with labels."""
    path = tmp_path_factory.mktemp("m") / "exported"
    shutil.copytree(tiny, path)
    report = export_model(path, "onnx", int8=True, data=data[0])
    return path, report


def test_registry() -> None:
    assert list_exporters() == ["onnx"] and "onnx" in EXPORTERS


def test_export_registers_files_and_report(exported: tuple[Path, dict]) -> None:
    path, report = exported
    sidecar = read_sidecar(path)  # verifies the new files' sha256
    assert {"model.safetensors", "model.onnx", "model.int8.onnx"} <= set(sidecar["files"])
    assert sidecar["export"]["onnx"] == json.loads(json.dumps(report))
    assert report["exporter"] == "dynamo" and report["parity_max_abs_diff"] <= 1e-4


def test_onnx_graph_contract_and_parity(exported: tuple[Path, dict]) -> None:
    import onnxruntime as ort
    import torch

    from fashiontag.models import load_network

    path, _ = exported
    session = ort.InferenceSession(str(path / "model.onnx"), providers=["CPUExecutionProvider"])
    (inp,) = session.get_inputs()
    assert inp.name == "images" and inp.type == "tensor(uint8)" and inp.shape[1:] == [32, 32, 3]
    assert isinstance(inp.shape[0], str)  # dynamic batch axis
    assert [o.name for o in session.get_outputs()] == ["group", "type", "colour"]
    net = load_network(path)
    for batch in (1, 7):
        images = np.random.default_rng(batch).integers(0, 256, (batch, 32, 32, 3), dtype=np.uint8)
        got = session.run(None, {"images": images})
        with torch.inference_mode():
            expected = net(torch.from_numpy(images))
        for head, value in zip(["group", "type", "colour"], got, strict=True):
            np.testing.assert_allclose(value, expected[head].numpy(), atol=1e-4)


def test_int8_report(exported: tuple[Path, dict]) -> None:
    path, report = exported
    int8 = report["int8"]
    assert int8["method"] == "static-qdq" and int8["images"] == 16
    for head in ("group", "type", "colour"):
        entry = int8["heads"][head]
        assert 0.0 <= entry["top1_agreement"] <= 1.0 and entry["n"] == 16
        assert "accuracy_fp32" in entry and "accuracy_int8" in entry
    from fashiontag.infer import load

    assert load(path, backend="onnx-int8").predict([np.zeros((32, 32, 3), np.uint8)])[0]["error"] is None


def test_dynamic_int8_without_data(tiny: Path, tmp_path: Path) -> None:
    path = tmp_path / "m"
    shutil.copytree(tiny, path)
    report = export_model(path, int8=True, exporter="torchscript")
    assert report["exporter"] == "torchscript" and report["int8"]["method"] == "dynamic"
    assert "model.int8.onnx" in read_sidecar(path)["files"]


def test_reexport_replaces_registered_files(exported: tuple[Path, dict], tmp_path: Path) -> None:
    path = tmp_path / "m"
    shutil.copytree(exported[0], path)
    export_model(path, exporter="torchscript")
    sidecar = read_sidecar(path)  # the new model.onnx hash verifies; the old int8 file is no longer vouched for
    assert "model.onnx" in sidecar["files"] and "model.int8.onnx" not in sidecar["files"]
    assert sidecar["export"]["onnx"]["exporter"] == "torchscript"


@pytest.mark.parametrize("exporter", ["dynamo", "torchscript"])
def test_test_flip_is_inside_the_exported_graph(data: tuple[Path, Path], tmp_path: Path, exporter: str) -> None:
    """A model with ``preprocess.flip`` exports the mirror-image average: ONNX equals torch at batch 1 and 5."""
    import onnxruntime as ort
    import torch

    from fashiontag.artifact import Preprocess
    from fashiontag.models import create_network, load_network, save_model

    torch.manual_seed(0)
    save_model(
        create_network(load_taxonomy(str(data[1])), "smallcnn", "flat", Preprocess(32, 32, flip=True)).eval(),
        tmp_path / "m",
    )
    report = export_model(tmp_path / "m", exporter=exporter)
    assert report["parity_max_abs_diff"] <= 1e-4
    session = ort.InferenceSession(str(tmp_path / "m" / "model.onnx"), providers=["CPUExecutionProvider"])
    net = load_network(tmp_path / "m")
    for batch in (1, 5):
        images = np.random.default_rng(batch).integers(0, 256, (batch, 32, 32, 3), dtype=np.uint8)
        got = session.run(None, {"images": images})
        with torch.inference_mode():
            plain = net.head.probabilities(net.forward_logits(net.to_input(torch.from_numpy(images))), net.temperature)
            expected = net(torch.from_numpy(images))
        for value, head in zip(got, net.heads, strict=True):
            np.testing.assert_allclose(value, expected[head].numpy(), atol=1e-5)
        assert any(not np.allclose(v, plain[h].numpy(), atol=1e-4) for v, h in zip(got, net.heads, strict=True))


def test_parity_failure_is_loud(tiny: Path, tmp_path: Path) -> None:
    from fashiontag.export._onnx import ExportError

    path = tmp_path / "m"
    shutil.copytree(tiny, path)
    before = sorted(p.name for p in path.iterdir())
    with pytest.raises(ExportError, match="differs from PyTorch"):
        export_model(path, exporter="torchscript", atol=-1.0)
    assert "model.onnx" not in read_sidecar(path)["files"]  # nothing registered on failure
    assert sorted(p.name for p in path.iterdir()) == before and "model.onnx" not in before  # nothing left behind


def test_cli_export(tiny: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from fashiontag.cli.main import app

    path = tmp_path / "m"
    shutil.copytree(tiny, path)
    result = CliRunner().invoke(app, ["export", str(path), "--format", "onnx", "--exporter", "torchscript"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["parity_max_abs_diff"] <= 1e-4  # progress goes to stderr
    assert "model.onnx" in read_sidecar(path)["files"]
    bad = CliRunner().invoke(app, ["export", str(path), "--format", "tflite"])
    assert bad.exit_code != 0
