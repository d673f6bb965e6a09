"""`fashiontag adapt MODEL PHOTOS --out DIR`: a new model directory, the input untouched, bad input refused."""

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

from fashiontag._io import sha256_file
from fashiontag.cli.main import app
from fashiontag.data.folders import infer_folder_taxonomy
from fashiontag.data.synthetic import make_class_folders
from fashiontag.models import create_network, default_preprocess, load_network, save_model

runner = CliRunner()


def _text(result) -> str:  # noqa: ANN001
    return " ".join(result.output.replace("│", " ").split())  # the error box wraps long lines


@pytest.fixture()
def model_and_photos(tmp_path: Path) -> tuple[Path, Path]:
    photos = make_class_folders(tmp_path / "photos", {"tee": 20, "hat": 20}, size=32)
    torch.manual_seed(0)
    net = create_network(infer_folder_taxonomy(photos), "smallcnn", "flat", default_preprocess("smallcnn", 32, 32))
    save_model(
        net.eval(), tmp_path / "model", metrics={"acc_class": 0.5}, name="fpi-model", export={"onnx": {"opset": 17}}
    )  # an export report: its ONNX files do not come along
    return tmp_path / "model", photos


def test_adapt_writes_a_new_model_and_leaves_the_input_alone(model_and_photos, tmp_path: Path) -> None:
    model, photos = model_and_photos
    (photos / "tee" / "broken.jpg").write_bytes(b"not a jpeg")
    before = {p.name: sha256_file(p) for p in model.iterdir()}
    result = runner.invoke(app, ["adapt", str(model), str(photos), "--out", str(tmp_path / "shop")])
    assert result.exit_code == 0, result.output
    assert "adapted 2 BatchNorm layers on 40 photos; 1 unreadable" in result.output and "broken.jpg" in result.output
    assert {p.name: sha256_file(p) for p in model.iterdir()} == before
    sidecar = json.loads((tmp_path / "shop" / "fashiontag.json").read_text())
    adaptation = sidecar["adaptation"]
    assert adaptation["images"] == 40 and adaptation["unreadable"] == 1 and adaptation["method"] == "adabn"
    assert adaptation["metrics_before"] == {"acc_class": 0.5} and "metrics" not in sidecar
    assert sidecar["name"] == "fpi-model" and "## Adaptation" in (tmp_path / "shop" / "README.md").read_text()
    assert "export" not in sidecar and adaptation["from"] == str(model.resolve())
    old, new = load_file(str(model / "model.safetensors")), load_file(str(tmp_path / "shop" / "model.safetensors"))
    stats = [k for k in old if k.endswith("running_mean")]
    assert stats and all(not torch.equal(old[k], new[k]) for k in stats)  # the statistics moved ...
    assert all(torch.equal(old[k], new[k]) for k in old if "running" not in k and "num_batches" not in k)  # only
    load_network(tmp_path / "shop")  # a valid, stamped model directory


def test_adapt_refuses_its_input_an_existing_model_and_too_few_photos(model_and_photos, tmp_path: Path) -> None:
    model, photos = model_and_photos
    for out, message in ((model, "is the input model"), (f"{model.parent}/./model/", "is the input model")):
        result = runner.invoke(app, ["adapt", str(model), str(photos), "--out", str(out)])
        assert result.exit_code == 2 and message in _text(result)
    few = runner.invoke(app, ["adapt", str(model), str(photos / "tee"), "--out", str(tmp_path / "few")])
    assert few.exit_code == 2 and "too few" in _text(few) and not (tmp_path / "few").exists()
    assert runner.invoke(app, ["adapt", str(model), str(photos), "--out", str(tmp_path / "a")]).exit_code == 0
    again = runner.invoke(app, ["adapt", str(model), str(photos), "--out", str(tmp_path / "a")])
    assert again.exit_code == 2 and "already holds a model" in _text(again)
    twice = runner.invoke(app, ["adapt", str(tmp_path / "a"), str(photos), "--out", str(tmp_path / "b")])
    previous = json.loads((tmp_path / "b" / "fashiontag.json").read_text())["adaptation"]["previous"]
    assert twice.exit_code == 0 and previous["from"] == str(model.resolve())  # the first adaptation is kept
    sample = runner.invoke(app, ["adapt", str(model), str(photos), "--out", str(tmp_path / "c"), "--max-images", "8"])
    assert sample.exit_code == 2 and "32" in _text(sample)  # a sample too small to estimate anything
