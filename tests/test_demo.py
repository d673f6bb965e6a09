"""Smoke test of the main job (`make demo`): every step on a 600-item slice of the real FPI data."""

from __future__ import annotations

import json
import shutil

import pytest

from fashiontag.infer import load
from fashiontag.workflows.demo import run_demo


def _fpi_slice(source, root, items: int = 600):
    """The first ``items`` rows of styles.csv (original bytes) with their images copied in (the fpi reader refuses
    images symlinked out of the dataset root), Kaggle layout."""
    (root / "images").mkdir(parents=True)
    lines = (source / "styles.csv").read_bytes().splitlines(keepends=True)
    kept = [lines[0]]
    for line in lines[1:]:
        image = source / "images" / f"{line.split(b',', 1)[0].decode()}.jpg"
        if image.exists():
            shutil.copyfile(image, root / "images" / image.name)
            kept.append(line)
        if len(kept) > items:
            break
    (root / "styles.csv").write_bytes(b"".join(kept))
    return root


@pytest.mark.slow
@pytest.mark.realdata
def test_demo_runs_every_step_and_leaves_a_usable_model(shared_data, tmp_path) -> None:
    data = _fpi_slice(shared_data / "fpi_small", tmp_path / "fpi")
    lines: list[str] = []
    metrics = run_demo(data, tmp_path / "run", overrides=["time_limit=3m"], echo=lines.append)
    assert [line for line in lines if line.startswith("\n== ")][-1].startswith("\n== 5/5")
    assert 0.5 < metrics["heads"]["masterCategory"]["accuracy"] <= 1.0  # pretrained features: far above chance
    model = tmp_path / "run" / "train" / "model"
    sidecar = json.loads((model / "fashiontag.json").read_text())
    assert {"model.safetensors", "model.onnx"} <= set(sidecar["files"]) and sidecar["thresholds"]
    plan = sidecar["training"]["plan"]  # the time budget chose a recipe and said why
    assert plan["recipe"] and plan["estimate_s"] <= plan["budget_s"] and any("chose" in x for x in plan["reasoning"])
    assert (tmp_path / "run" / "eval" / "report.html").stat().st_size > 10_000
    image = next((data / "images").iterdir())
    result = load(model, backend="onnx").predict([image])[0]
    assert result["error"] is None and result["labels"]["masterCategory"]["label"]
