"""The contracts evaluate shares with the data stage: split files through ``load_split`` (hash-checked) and
item pixels through ``load_item`` (so an npz dataset evaluates)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from fashiontag.cli.main import app, main
from fashiontag.data.checks import DataError
from fashiontag.data.mapping import map_items
from fashiontag.data.readers import read_dataset
from fashiontag.data.splits import make_split, write_split
from fashiontag.data.synthetic import TAXONOMY_YAML
from fashiontag.evaluate import EvaluateConfig, evaluate_model

QUICK = ["robustness=false", "gradcam=false"]


@pytest.fixture()
def split_file(tiny_run, tmp_path: Path) -> Path:
    items = map_items(read_dataset("manifest", tiny_run["manifest"]).items, tiny_run["tax"], "manifest").mapped
    path = tmp_path / "split.csv"
    write_split(make_split(items, "stratified", seed=0, val_fraction=0.25, test_fraction=0.25), path, {})
    return path


def test_split_file_selects_rows(tiny_run, split_file: Path, tmp_path: Path) -> None:
    metrics = evaluate_model(
        tiny_run["root"] / "flat",
        tiny_run["manifest"],
        "test",
        tmp_path / "eval",
        EvaluateConfig(robustness=False, gradcam=False),
        reader="manifest",
        split_file=split_file,
    )
    expected = sum(line.split(",")[1] == "test" for line in split_file.read_text().splitlines()[1:])
    assert metrics["data"]["count"] == expected > 0


def test_tampered_split_file_is_refused(tiny_run, split_file: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    text = split_file.read_text()
    split_file.write_text(text.replace(",test,", ",train,", 1))  # one test item moved into train by hand
    with pytest.raises(DataError, match="sha256"):
        evaluate_model(
            tiny_run["root"] / "flat",
            tiny_run["manifest"],
            "test",
            tmp_path / "eval",
            EvaluateConfig(robustness=False),
            reader="manifest",
            split_file=split_file,
        )
    argv = [
        "fashiontag",
        "evaluate",
        str(tiny_run["root"] / "flat"),
        "--data",
        str(tiny_run["manifest"]),
        "--reader",
        "manifest",
        "--split-file",
        str(split_file),
        "--out",
        str(tmp_path / "cli"),
        *QUICK,
    ]
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(SystemExit) as exit_info:
        main()
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and "sha256" in err and "Traceback" not in err
    assert not (tmp_path / "cli" / "metrics.json").exists()


def _npz_dataset(tiny_run, folder: Path) -> tuple[Path, Path]:
    """The synthetic images as one ``.npz`` (``images``, ``labels`` = type names) and a taxonomy whose ``npz``
    source maps each type name onto its leaf."""
    items = read_dataset("manifest", tiny_run["manifest"]).items
    images = np.stack([np.asarray(Image.open(p).convert("RGB")) for p in items["path"]])
    folder.mkdir()
    np.savez(folder / "tiny.npz", images=images, labels=items["type"].to_numpy(dtype=str))
    rules = "\n".join(
        f"      - {{node: {g} > {t}, when: {{label: {t}}}}}"
        for g, ts in (("Tops", ("Tshirts", "Shirts")), ("Shoes", ("Heels", "Flats")))
        for t in ts
    )
    taxonomy = folder / "taxonomy.yaml"
    taxonomy.write_text(TAXONOMY_YAML + f"  npz:\n    rules:\n{rules}\n", encoding="utf-8")
    return folder / "tiny.npz", taxonomy


def test_npz_dataset_evaluates_end_to_end(tiny_run, tmp_path: Path) -> None:
    from fashiontag.data.taxonomy import load_taxonomy
    from fashiontag.models._testing import make_tiny_model

    npz, taxonomy = _npz_dataset(tiny_run, tmp_path / "npz")
    make_tiny_model(tmp_path / "model", load_taxonomy(str(taxonomy)))  # its sidecar's taxonomy knows the npz source
    out = tmp_path / "eval"
    result = CliRunner().invoke(
        app,
        [
            "evaluate",
            str(tmp_path / "model"),
            "--data",
            str(npz),
            "--reader",
            "npz",
            "--source",
            "npz",
            "--split",
            "all",
            "--out",
            str(out),
            *QUICK,
        ],
    )
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["data"]["count"] == 24 and metrics["data"]["unreadable"] == 0  # every npz row decoded
    assert metrics["heads"]["type"]["count"] == 24 and metrics["data"]["source"] == "npz:tiny.npz"
    assert str(out / "metrics.json") in result.output
