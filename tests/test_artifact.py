import json

import pytest

from fashiontag.artifact import ModelFileError, add_files, read_sidecar, write_sidecar


def _model(tmp_path):
    (tmp_path / "model.safetensors").write_bytes(b"weights")
    sidecar = {"strategy": "flat", "taxonomy": {}, "heads": {}, "preprocess": {}, "files": {"model.safetensors": ""}}
    write_sidecar(tmp_path, sidecar)
    return tmp_path


def test_round_trip_and_add_files(tmp_path):
    model = _model(tmp_path)
    assert read_sidecar(model)["files"]["model.safetensors"]
    (model / "model.onnx").write_bytes(b"onnx")
    assert set(add_files(model, ["model.onnx"])["files"]) == {"model.safetensors", "model.onnx"}


def test_tampered_and_incomplete_models_are_refused(tmp_path):
    model = _model(tmp_path)
    (model / "model.safetensors").write_bytes(b"weightz")
    with pytest.raises(ModelFileError, match="sha256"):
        read_sidecar(model)
    (model / "model.safetensors").unlink()
    with pytest.raises(ModelFileError, match="missing"):
        read_sidecar(model)


def test_unknown_format_version_is_refused(tmp_path):
    model = _model(tmp_path)
    data = json.loads((model / "fashiontag.json").read_text())
    data["format_version"] = 99
    (model / "fashiontag.json").write_text(json.dumps(data))
    with pytest.raises(ModelFileError, match="format_version"):
        read_sidecar(model)
