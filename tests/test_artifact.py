"""Model directories: hashes, the sidecar schema, and the model-field digest stamped into the weights."""

import json
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

from fashiontag._stamp import DIGEST_KEY, safetensors_metadata
from fashiontag.artifact import ModelFileError, add_files, read_sidecar, restamp_model, write_sidecar

PREPROCESS = {"size": 32, "input_size": 32, "fill": 255, "mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25]}


def _model(tmp_path: Path) -> Path:
    save_file({"w": np.arange(6, dtype=np.float32).reshape(2, 3)}, str(tmp_path / "model.safetensors"))
    sidecar = {
        "strategy": "flat",
        "backbone": {"name": "smallcnn"},
        "taxonomy": {},
        "heads": {"type": ["a", "b"]},
        "preprocess": PREPROCESS,
        "thresholds": {"type": 0.4},
        "files": {"model.safetensors": ""},
    }
    write_sidecar(tmp_path, sidecar)
    return tmp_path


def test_round_trip_and_add_files(tmp_path):
    model = _model(tmp_path)
    assert read_sidecar(model)["files"]["model.safetensors"]
    (model / "model.onnx").write_bytes(b"onnx")
    assert set(add_files(model, ["model.onnx"])["files"]) == {"model.safetensors", "model.onnx"}


def test_tampered_and_incomplete_models_are_refused(tmp_path):
    model = _model(tmp_path)
    data = bytearray((model / "model.safetensors").read_bytes())
    data[-1] ^= 0x01
    (model / "model.safetensors").write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="sha256"):
        read_sidecar(model)
    (model / "model.safetensors").unlink()
    with pytest.raises(ModelFileError, match="missing"):
        read_sidecar(model)


def test_unknown_format_version_is_refused(tmp_path, edit_sidecar):
    model = _model(tmp_path)
    edit_sidecar(model, format_version=99)
    with pytest.raises(ModelFileError, match="format_version"):
        read_sidecar(model)


@pytest.mark.parametrize(("edit", "message"), [
    ({"thresholds": "abc"}, r"thresholds: Input should be an object"),
    ({"thresholds__type": "abc"}, r"thresholds.type: Input should be a valid number"),
    ({"thresholds__type": 1.5}, r"thresholds.type: Input should be less than or equal to 1.01"),
    ({"thresholds__type": True}, r"thresholds.type: Input should be a valid number"),
    ({"preprocess__size": 0}, r"preprocess.size: Input should be greater than 0"),
    ({"preprocess__size": "224"}, r"preprocess.size: Input should be a valid integer"),
    ({"preprocess__std": [0.2, 0.2, 0]}, r"preprocess.std.2: Input should be greater than 0"),
    ({"temperature": {"type": -1.0}}, r"temperature.type: Input should be greater than 0"),
    ({"files": {}}, r"files must list model.safetensors"),
    ({"files__model.safetensors": "00"}, r"not a sha256 hex digest"),
    ({"files__../../etc/passwd": "0" * 64}, r"not a plain file name"),
    ({"strategy": 5}, r"strategy: Input should be a valid string"),
    ({"heads": ["type"]}, r"heads: Input should be an object"),
    ({"backbone": {}}, r"backbone.name: Field required"),
])  # fmt: skip
def test_sidecar_schema_refuses_bad_types_and_ranges(tmp_path, edit_sidecar, edit, message):
    model = _model(tmp_path)
    edit_sidecar(model, **edit)
    with pytest.raises(ModelFileError, match=message):
        read_sidecar(model, verify=False)  # the schema holds even when hashes are not checked


def test_missing_key_and_non_object_sidecar(tmp_path):
    model = _model(tmp_path)
    data = json.loads((model / "fashiontag.json").read_text())
    del data["preprocess"]
    (model / "fashiontag.json").write_text(json.dumps(data))
    with pytest.raises(ModelFileError, match="preprocess: Field required"):
        read_sidecar(model)
    (model / "fashiontag.json").write_text("[1, 2]")
    with pytest.raises(ModelFileError, match="JSON object"):
        read_sidecar(model)


@pytest.mark.parametrize(("edit", "field"), [
    ({"thresholds__type": 0.0}, "thresholds"),
    ({"thresholds": {}}, "thresholds"),
    ({"preprocess__size": 64}, "preprocess"),
    ({"heads__type": ["b", "a"]}, "heads"),
    ({"temperature": {"type": 3.0}}, "temperature"),
    ({"backbone__name": "resnet50"}, "backbone"),
])  # fmt: skip
def test_hand_edited_model_fields_are_refused(tmp_path, edit_sidecar, edit, field):
    model = _model(tmp_path)
    edit_sidecar(model, **edit)
    read_sidecar(model, verify=False)  # valid by the schema ...
    with pytest.raises(ModelFileError, match=f"{field} differ from what model.safetensors was saved with"):
        read_sidecar(model)  # ... but not what the weights vouch for


def test_changes_through_the_writer_stay_valid(tmp_path):
    model = _model(tmp_path)
    before = safetensors_metadata(model / "model.safetensors")[DIGEST_KEY]
    add_files(model, [], thresholds={"type": 0.9})
    assert read_sidecar(model)["thresholds"] == {"type": 0.9}
    assert safetensors_metadata(model / "model.safetensors")[DIGEST_KEY] != before


def test_writer_refuses_invalid_values_without_touching_the_weights(tmp_path):
    model = _model(tmp_path)
    weights = (model / "model.safetensors").read_bytes()
    with pytest.raises(ModelFileError, match="refusing to write an invalid sidecar: thresholds.type"):
        add_files(model, [], thresholds={"type": 2.0})
    assert (model / "model.safetensors").read_bytes() == weights
    assert read_sidecar(model)["thresholds"] == {"type": 0.4}


def test_model_without_digest_is_refused_until_restamped(tmp_path):
    model = _model(tmp_path)
    save_file({"w": np.arange(6, dtype=np.float32).reshape(2, 3)}, str(model / "model.safetensors"))  # no stamp
    data = json.loads((model / "fashiontag.json").read_text())
    from fashiontag._io import sha256_file

    data["files"]["model.safetensors"] = sha256_file(model / "model.safetensors")  # an older fashiontag's save
    (model / "fashiontag.json").write_text(json.dumps(data))
    with pytest.raises(ModelFileError, match="older fashiontag.*restamp_model"):
        read_sidecar(model)
    restamp_model(model)
    assert read_sidecar(model)["thresholds"] == {"type": 0.4}
