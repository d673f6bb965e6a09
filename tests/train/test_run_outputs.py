"""What a training run leaves behind: the user's split file untouched, a named model with its model card,
normal file permissions, and validation macro-F1 equal to the number the evaluation report computes."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fashiontag._io import file_mode
from fashiontag.cli.main import app
from fashiontag.data.mapping import map_items
from fashiontag.data.readers import read_dataset
from fashiontag.data.splits import load_split, make_split, write_split
from fashiontag.data.taxonomy import load_taxonomy

runner = CliRunner()


@pytest.fixture()
def user_split(synthetic, tmp_path: Path) -> Path:
    """A split file as `fashiontag data split` writes it, inside the run folder the user then trains into."""
    manifest, taxonomy = synthetic
    items = map_items(read_dataset("manifest", manifest).items, load_taxonomy(str(taxonomy)), "manifest").mapped
    path = tmp_path / "run" / "split.csv"
    write_split(make_split(items, "stratified", seed=0, val_fraction=0.25, test_fraction=0.25), path, {})
    return path


def _train(args: list[str]) -> dict:
    result = runner.invoke(app, ["train", *args])
    assert result.exit_code == 0, result.output + repr(result.exception)
    return json.loads((Path(args[args.index("--out") + 1]) / "model" / "fashiontag.json").read_text())


def test_probe_run_keeps_split_names_model_and_matches_report(synthetic, tiny_args, user_split, tmp_path) -> None:
    from fashiontag.evaluate import EvaluateConfig, evaluate_model

    manifest, taxonomy = synthetic
    before = user_split.read_bytes(), user_split.with_suffix(".json").read_bytes()
    run = tmp_path / "run"
    sidecar = _train(
        [
            *tiny_args(manifest, taxonomy, run),
            "--backbone",
            "smallcnn",
            "--probe",
            "--split",
            str(user_split),
            "name=tiny-probe",
        ]
    )
    assert (user_split.read_bytes(), user_split.with_suffix(".json").read_bytes()) == before  # never overwritten
    assert sidecar["split"] == {"path": str(user_split.resolve()), "sha256": load_split(user_split).meta["sha256"]}
    assert sidecar["name"] == "tiny-probe"
    # docs/train.md "Outputs, by mode": a probe run writes no curves, checkpoints, logs or TensorBoard events
    written = sorted(p.name for p in run.iterdir() if p.name not in {"split.csv", "split.json"})  # the user's
    assert written == ["cache_32", "model", "taxonomy.yaml"]

    model = run / "model"
    card = (model / "README.md").read_text()
    for section in (
        "# tiny-probe",
        "## Data",
        "## Taxonomy",
        "## Metrics",
        "## Thresholds",
        "## Intended use",
        "## Limits",
    ):
        assert section in card
    assert f"{sidecar['metrics']['f1_type']:.4f}" in card
    for name in ("fashiontag.json", "model.safetensors", "README.md"):
        assert stat.S_IMODE((model / name).stat().st_mode) == file_mode(), name  # not mkstemp's 0600

    metrics = evaluate_model(model, manifest, "val", tmp_path / "eval", EvaluateConfig(robustness=False,
                             gradcam=False), reader="manifest", split_file=user_split)  # fmt: skip
    assert metrics["model"]["name"] == "tiny-probe"
    assert "tiny-probe" in (tmp_path / "eval" / "report.html").read_text()
    for head in ("group", "type", "colour"):  # the training log's number is the report's, same predictions
        assert metrics["heads"][head]["macro_f1"] == pytest.approx(sidecar["metrics"][f"f1_{head}"], abs=1e-12)
        assert metrics["heads"][head]["accuracy"] == pytest.approx(sidecar["metrics"][f"acc_{head}"], abs=1e-12)


def test_run_without_split_writes_a_checked_split_beside_a_users_file(synthetic, tiny_args, user_split) -> None:
    manifest, taxonomy = synthetic
    before = user_split.read_bytes()
    sidecar = _train([*tiny_args(manifest, taxonomy, user_split.parent), "--backbone", "smallcnn", "--probe"])
    assert user_split.read_bytes() == before  # another split already at OUT/split.csv: left alone
    written = Path(sidecar["split"]["path"])
    assert written == (user_split.parent / "model" / "split.csv").resolve()
    assert load_split(written).meta["sha256"] == sidecar["split"]["sha256"]  # hash-checked like `data split`'s
