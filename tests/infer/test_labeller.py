"""Labeller.predict end to end: input types, a bad-input corpus, backends, model integrity, thresholds."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fashiontag.artifact import ModelFileError
from fashiontag.infer import load
from fashiontag.registry import UnknownNameError


@pytest.fixture(scope="module")
def labeller(onnx_model_dir: Path):
    return load(onnx_model_dir, backend="onnx")


def _png(image: Image.Image, **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=kwargs.pop("format", "PNG"), **kwargs)
    return buffer.getvalue()


def test_every_input_type(labeller, images: list[Path]) -> None:
    path = images[0]
    rgb = np.asarray(Image.open(path).convert("RGB"))
    sources = [
        str(path),
        path,
        path.read_bytes(),
        Image.open(path),
        rgb,
        rgb[..., 0],
        np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)]),
        rgb.astype(np.float32) / 255.0,
    ]
    results = labeller.predict(sources, batch_size=3)
    assert [r["error"] for r in results] == [None] * len(sources)
    assert results[0]["source"] == str(path) and results[2]["source"] == "<bytes #2>"
    reference = results[0]["labels"]["type"]["confidence"]
    for result in results[1:5] + results[6:]:  # same pixels (greyscale differs)
        assert result["labels"]["type"]["confidence"] == pytest.approx(reference, abs=1e-5)
    assert set(results[5]["labels"]) == {"group", "type", "colour"}


def test_result_format(labeller, images: list[Path]) -> None:
    result = labeller.predict([images[0]], top_k=2)[0]
    assert set(result) == {"source", "labels", "level_reached", "needs_review", "uncertain_attributes", "error"}
    entry = result["labels"]["type"]
    assert set(entry) == {"label", "id", "confidence", "accepted", "top_k"}
    assert entry["id"].endswith(" > " + entry["label"]) and len(entry["top_k"]) == 2
    assert entry["id"].startswith(result["labels"]["group"]["id"])
    json.dumps(result)  # plain JSON types only


def _bad_corpus(folder: Path, good: Path) -> dict[str, Path | bytes]:
    data = good.read_bytes()
    jpeg = _png(Image.open(good).convert("RGB"), format="JPEG", quality=90)
    (folder / "truncated.jpg").write_bytes(jpeg[: len(jpeg) // 2])
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "notes.jpg").write_text("not an image at all")
    (folder / "bomb.png").write_bytes(_png(Image.new("1", (9000, 9000))))
    return {
        "truncated": folder / "truncated.jpg",
        "zero-byte": folder / "empty.jpg",
        "non-image": folder / "notes.jpg",
        "bomb": folder / "bomb.png",
        "missing": folder / "nope.png",
        "folder": folder,
        "bytes-junk": b"\x89PNG\r\n" + data[8:40],
    }


def test_bad_inputs_give_per_image_errors(labeller, images: list[Path], tmp_path: Path) -> None:
    corpus = _bad_corpus(tmp_path, images[0])
    results = labeller.predict([images[0], *corpus.values(), images[1]], batch_size=4)
    assert results[0]["error"] is None and results[-1]["error"] is None
    reasons = dict(zip(corpus, [r["error"] for r in results[1:-1]], strict=True))
    assert all(reasons.values()), reasons
    assert "truncated" in reasons["truncated"] and "0 bytes" in reasons["zero-byte"]
    assert "bomb" in reasons["bomb"] and "not found" in reasons["missing"]
    for result in results[1:-1]:
        assert result["labels"] == {} and result["level_reached"] is None and result["needs_review"]


def test_odd_but_valid_images_are_labelled(labeller, images: list[Path], tmp_path: Path) -> None:
    rgb = Image.open(images[0]).convert("RGB")
    cmyk = _png(rgb.convert("CMYK"), format="JPEG")
    sixteen = _png(Image.fromarray(np.asarray(rgb.convert("L"), np.uint16) * 257).convert("I;16"))
    assert Image.open(io.BytesIO(sixteen)).mode.startswith("I")
    wide = rgb.resize((40, 20))
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways; viewers rotate 90 degrees clockwise
    rotated = _png(wide.transpose(Image.Transpose.ROTATE_90), format="JPEG", exif=exif, quality=100)
    results = labeller.predict([cmyk, sixteen, rotated, wide.transpose(Image.Transpose.ROTATE_90)])
    assert [r["error"] for r in results] == [None] * 4
    upright = labeller.predict([_png(wide, format="JPEG", quality=100), wide])
    # The EXIF-tagged file is labelled as its upright picture, not as the stored sideways pixels.
    assert results[2]["labels"]["type"]["confidence"] == pytest.approx(
        upright[0]["labels"]["type"]["confidence"], abs=2e-3
    )


def test_torch_and_onnx_backends_agree(onnx_model_dir: Path, images: list[Path]) -> None:
    torch_results = load(onnx_model_dir, backend="torch").predict(images)
    onnx_results = load(onnx_model_dir, backend="onnx").predict(images)
    for a, b in zip(torch_results, onnx_results, strict=True):
        for head in a["labels"]:
            assert a["labels"][head]["id"] == b["labels"][head]["id"]
            assert a["labels"][head]["confidence"] == pytest.approx(b["labels"][head]["confidence"], abs=1e-4)


def test_auto_backend(model_dir: Path, onnx_model_dir: Path) -> None:
    assert load(model_dir).backend == "torch"
    labeller = load(onnx_model_dir)
    assert labeller.backend == "onnx" and labeller.heads == ["group", "type", "colour"]
    assert labeller.taxonomy.levels == ["group", "type"] and labeller.sidecar["strategy"] == "flat"


def test_unknown_and_unexported_backends(model_dir: Path) -> None:
    with pytest.raises(UnknownNameError, match="onnx"):
        load(model_dir, backend="onxx")
    with pytest.raises(ModelFileError, match="fashiontag export"):
        load(model_dir, backend="onnx")


@pytest.mark.parametrize("name", ["model.safetensors", "model.onnx", "fashiontag.json"])
def test_tampered_model_is_refused(model_copy: Path, name: str) -> None:
    path = model_copy / name
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(ModelFileError):
        load(model_copy)


@pytest.mark.parametrize("name", ["model.safetensors", "model.onnx", "fashiontag.json"])
def test_incomplete_model_is_refused(model_copy: Path, name: str) -> None:
    (model_copy / name).unlink()
    with pytest.raises(ModelFileError, match="missing|not a fashiontag model"):
        load(model_copy, backend="onnx")


def test_thresholds_from_sidecar_end_to_end(model_copy: Path, images: list[Path]) -> None:
    from fashiontag.artifact import add_files

    add_files(model_copy, [], thresholds={"group": 0.0, "type": 0.0, "colour": 0.0})
    result = load(model_copy).predict([images[0]])[0]
    assert result["level_reached"] == "type" and result["needs_review"] is False
    add_files(model_copy, [], thresholds={"group": 0.0, "type": 0.99})  # colour: default 0.0
    result = load(model_copy).predict([images[0]])[0]
    assert result["level_reached"] == "group" and result["needs_review"] is True
    assert not result["labels"]["type"]["accepted"] and result["labels"]["colour"]["accepted"]
    add_files(model_copy, [], thresholds={"group": 1.01})
    result = load(model_copy).predict([images[0]])[0]
    assert result["level_reached"] is None and not result["labels"]["type"]["accepted"]


def test_onnx_path_never_imports_torch(onnx_model_dir: Path, images: list[Path]) -> None:
    code = (
        "import sys, fashiontag\n"
        f"lab = fashiontag.load({str(onnx_model_dir)!r}, backend='auto')\n"
        f"r = lab.predict([{str(images[0])!r}])\n"
        "assert lab.backend == 'onnx' and r[0]['error'] is None\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_torch_backend_runs_large_arrays_in_chunks(model_dir: Path):
    """The torch runner splits a big array into forward passes of ``max_batch`` (memory stays flat), with the
    same probabilities as one pass."""
    from fashiontag.infer._torch import TorchRunner

    runner = load(model_dir, backend="torch").runner
    assert isinstance(runner, TorchRunner)
    size = runner.network.preprocess.size
    images = np.random.default_rng(0).integers(0, 255, (7, size, size, 3), dtype=np.uint8)
    whole = runner.run(images)
    runner.max_batch = 3
    chunked = runner.run(images)
    assert set(chunked) == set(whole)
    for head, value in whole.items():
        assert chunked[head].shape == value.shape
        np.testing.assert_allclose(chunked[head], value, atol=1e-5)
