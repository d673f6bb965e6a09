"""``fashiontag predict``: input expansion, CSV/JSONL output, resume, failures listed, atomic writes."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fashiontag.cli.main import app
from fashiontag.infer import collect_inputs


@pytest.fixture()
def photos(tmp_path: Path, images: list[Path]) -> Path:
    folder = tmp_path / "photos"
    (folder / "sub").mkdir(parents=True)
    for image in images[:3]:
        shutil.copy(image, folder / image.name)
    shutil.copy(images[3], folder / "sub" / images[3].name)
    (folder / "readme.txt").write_text("not an image, not collected")
    return folder


def test_collect_inputs(photos: Path, tmp_path: Path) -> None:
    files = sorted(str(p) for p in photos.rglob("*.png"))
    assert collect_inputs([str(photos)]) == files
    assert collect_inputs([str(photos / "*.png")]) == [f for f in files if "/sub/" not in f]
    assert collect_inputs([str(photos / "**" / "*.png")]) == sorted(files)
    listing = tmp_path / "list.csv"
    listing.write_text("path,other\n" + "\n".join(f"{Path(f).relative_to(tmp_path)},x" for f in files) + "\n")
    assert collect_inputs([str(listing)]) == files
    text = tmp_path / "list.txt"
    text.write_text("# comment\n" + "\n".join(files) + "\n\n")
    assert collect_inputs([str(text), files[0]]) == files  # duplicates dropped


def _text(output: str) -> str:
    """Error text without rich's box and line wrapping."""
    return " ".join(output.replace("│", " ").split())


def _run(*args: str) -> str:
    result = CliRunner().invoke(app, ["predict", *args, "--no-progress"])
    assert result.exit_code == 0, result.output
    return result.output


def test_cli_csv_resume(onnx_model_dir: Path, photos: Path, tmp_path: Path, images: list[Path]) -> None:
    out = tmp_path / "preds.csv"
    (photos / "broken.jpg").write_bytes(b"\xff\xd8\xff garbage")
    output = _run(str(onnx_model_dir), str(photos), "--out", str(out), "--batch-size", "2")
    assert "4 labelled, 1 failed, 1 skipped, 0 already in" in output  # readme.txt: skipped, by reason
    assert "broken.jpg: " in output and "not an image type (.txt): 1" in output
    with open(out, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == [
        "path",
        "group",
        "group_confidence",
        "type",
        "type_confidence",
        "colour",
        "colour_confidence",
        "level_reached",
        "needs_review",
        "uncertain_attributes",
        "error",
    ]
    assert len(rows) == 5 and sum(bool(r["error"]) for r in rows) == 1
    first = out.read_text()

    shutil.copy(images[5], photos / images[5].name)  # one new photo
    output = _run(str(onnx_model_dir), str(photos), "--out", str(out))
    assert "1 labelled, 0 failed, 1 skipped, 5 already" in output
    text = out.read_text()
    assert text.startswith(first) and len(text.splitlines()) == 7
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_cli_jsonl(onnx_model_dir: Path, photos: Path, tmp_path: Path) -> None:
    out = tmp_path / "preds.jsonl"
    _run(str(onnx_model_dir), str(photos), "--out", str(out), "--top-k", "1", "--backend", "torch")
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(lines) == 4 and all(r["error"] is None for r in lines)
    assert len(lines[0]["labels"]["type"]["top_k"]) == 1
    assert "0 labelled, 0 failed, 1 skipped, 4 already" in _run(str(onnx_model_dir), str(photos), "--out", str(out))


def test_cli_refuses_bad_model_and_mismatched_output(model_dir: Path, photos: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["predict", str(tmp_path), str(photos), "--out", str(tmp_path / "p.csv")])
    assert result.exit_code != 0 and "not a fashiontag model" in _text(result.output)
    other = tmp_path / "other.csv"
    other.write_text("path,label\nx.jpg,y\n")
    result = CliRunner().invoke(app, ["predict", str(model_dir), str(photos), "--out", str(other)])
    assert result.exit_code != 0 and "new file" in _text(result.output)


def test_predict_only_options_are_config_keys(onnx_model_dir: Path, photos: Path, tmp_path: Path) -> None:
    """``--tta``/``--engine``/``--address`` are shorthands for PredictConfig keys: flag, key=value, --config agree."""
    outputs = {}
    yaml_file = tmp_path / "predict.yaml"
    yaml_file.write_text("tta: flip\nengine: local\n")
    for name, extra in {"flag": ["--tta", "flip"], "key": ["tta=flip", "engine=local"],
                        "config": ["--config", str(yaml_file)], "plain": []}.items():  # fmt: skip
        out = tmp_path / f"{name}.jsonl"
        _run(str(onnx_model_dir), str(photos), "--out", str(out), *extra)
        rows = sorted((json.loads(line) for line in out.read_text().splitlines()), key=lambda r: r["source"])
        outputs[name] = [(r["source"], r["labels"]["type"]["confidence"]) for r in rows]
    assert outputs["flag"] == outputs["key"] == outputs["config"]
    assert outputs["flag"] != outputs["plain"]  # the flip views really were averaged in

    bad = CliRunner().invoke(app, ["predict", str(onnx_model_dir), str(photos), "--out", str(tmp_path / "b.csv"),
                                   "tta=flp"])  # fmt: skip
    assert bad.exit_code == 2 and "flip" in _text(bad.output)
    bad = CliRunner().invoke(app, ["predict", str(onnx_model_dir), str(photos), "--out", str(tmp_path / "b.csv"),
                                   "engine=spark"])  # fmt: skip
    assert bad.exit_code == 2 and "local" in _text(bad.output) and "ray" in _text(bad.output)
    assert not (tmp_path / "b.csv").exists()
