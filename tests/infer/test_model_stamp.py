"""Both backends refuse a model whose sidecar was edited outside fashiontag (issue 13, defect 9)."""

from __future__ import annotations

import json
from pathlib import Path

import onnx
import pytest

from fashiontag.artifact import ModelFileError, add_files, read_sidecar, write_sidecar
from fashiontag.infer import load


def _edit(model: Path, key: str, value: object) -> None:
    data = json.loads((model / "fashiontag.json").read_text())
    data[key] = value
    (model / "fashiontag.json").write_text(json.dumps(data))


@pytest.mark.parametrize("backend", ["torch", "onnx"])
def test_hand_set_thresholds_are_refused_by_both_backends(model_copy: Path, backend: str) -> None:
    _edit(model_copy, "thresholds", {"group": 0.0, "type": 0.0, "colour": 0.0})
    with pytest.raises(ModelFileError, match="thresholds differ from what model.safetensors was saved with"):
        load(model_copy, backend=backend)


@pytest.mark.parametrize(("key", "value", "message"), [
    ("files", {}, "files must list model.safetensors"),
    ("preprocess", {"size": 0, "input_size": 32, "mean": [0.5] * 3, "std": [0.2] * 3}, "preprocess.size"),
    ("thresholds", "abc", "thresholds: Input should be an object"),
])  # fmt: skip
def test_sidecar_edits_that_switched_checks_off_or_crashed_later(
    model_copy: Path, key: str, value: object, message: str
) -> None:
    _edit(model_copy, key, value)
    with pytest.raises(ModelFileError, match=message):
        load(model_copy, backend="torch")


def test_onnx_stays_valid_after_thresholds_but_not_after_temperature(model_copy: Path) -> None:
    add_files(model_copy, [], thresholds={"group": 0.3})  # runtime field: the graph is restamped
    assert load(model_copy, backend="onnx").thresholds["group"] == 0.3
    add_files(model_copy, [], temperature={"type": 2.0})  # baked into the graph at export: now stale
    assert load(model_copy, backend="torch").backend == "torch"
    with pytest.raises(ModelFileError, match=r"exported for other temperature.*re-run `fashiontag export"):
        load(model_copy, backend="onnx")


def test_onnx_graph_without_a_stamp_is_refused(model_copy: Path) -> None:
    graph = onnx.load(str(model_copy / "model.onnx"))
    del graph.metadata_props[:]
    onnx.save(graph, str(model_copy / "model.onnx"))
    write_sidecar(model_copy, read_sidecar(model_copy, verify=False))  # re-hash: as if exported by an old version
    with pytest.raises(ModelFileError, match="model.onnx: carries no digest"):
        load(model_copy, backend="onnx")


def test_load_network_checks_the_sidecar_it_is_given(model_dir: Path) -> None:
    from fashiontag.models import load_network

    sidecar = read_sidecar(model_dir)
    edited = {**sidecar, "preprocess": {**sidecar["preprocess"], "size": 64}}
    with pytest.raises(ModelFileError, match="preprocess differ"):
        load_network(model_dir, edited)
