"""bench/bench_two_source.py end to end on generated FPI + shop folders: it trains, scores and records a row."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fashiontag.cli.main import app
from fashiontag.data.synthetic import make_class_folders, make_synthetic_fpi

BENCH = Path(__file__).resolve().parents[2] / "bench" / "bench_two_source.py"


@pytest.mark.slow
def test_bench_two_source_end_to_end(tmp_path: Path) -> None:
    fpi = make_synthetic_fpi(tmp_path / "fpi", per_class=10)
    ids = sorted(p.stem for p in (fpi / "images").glob("*.jpg"))
    fpi_split = tmp_path / "fpi_split.csv"
    fpi_split.write_text(
        "item_id,split\n"
        + "".join(f"{i},{['test', 'val', 'train', 'train', 'train'][n % 5]}\n" for n, i in enumerate(ids)),
        encoding="utf-8",
    )
    shop = make_class_folders(tmp_path / "shop", {"t-shirt": 8, "pants": 8, "shoes": 8, "hat": 8})
    photos = sorted(p.relative_to(shop).as_posix() for p in shop.rglob("*.png"))
    shop_split = tmp_path / "shop_split.csv"
    shop_split.write_text(
        "item_id,split\n" + "".join(f"{p},{['test', 'val', 'train', 'train'][n % 4]}\n" for n, p in enumerate(photos)),
        encoding="utf-8",
    )
    reference = tmp_path / "reference"
    result = CliRunner().invoke(
        app,
        [
            "train",
            "--data",
            str(fpi),
            "--reader",
            "fpi",
            "--taxonomy",
            "fpi",
            "--split",
            str(fpi_split),
            "--out",
            str(reference),
            "--probe",
            "backbone=smallcnn",
            "pretrained=false",
            "image_size=32",
            "input_size=32",
            "probe_steps=20",
            "progress_bar=false",
        ],
    )
    assert result.exit_code == 0, result.output + repr(result.exception)
    command = [
        sys.executable,
        str(BENCH),
        "--reference",
        str(reference / "model"),
        "--fpi-data",
        str(fpi),
        "--fpi-split",
        str(fpi_split),
        "--fpi-cache",
        str(reference / "cache_32"),
        "--shop-data",
        str(shop),
        "--shop-split",
        str(shop_split),
        "--shop-weight",
        "3",
        "--shop-baseline",
        "0.9 (given)",
        "--out",
        str(tmp_path / "bench"),
        "probe_steps=10",
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, env=os.environ.copy(), check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "| articleType |" in done.stdout and "| shop only (given) | 0.9 (given) |" in done.stdout
    assert "recipe from" in done.stdout and "probe=True" in done.stdout  # the reference's recipe, printed
    row = json.loads((tmp_path / "bench" / "results.jsonl").read_text().splitlines()[-1])
    fpi_test = row["fpi_test"]
    assert fpi_test["reference"]["n"] == fpi_test["two_source"]["n"] == 10  # the split's test rows, both models
    assert set(fpi_test["delta_pt"]) == {
        "masterCategory",
        "subCategory",
        "articleType",
        "gender",
        "baseColour",
        "season",
        "usage",
    }
    assert row["recipe"]["backbone"] == "smallcnn" and row["recipe"]["monitor"] in ("val_accuracy", "val_macro_f1")
    assert row["shop_test"]["two_source"]["count"] == row["shop_test"]["reference"]["count"] == 8
    assert 0.0 <= row["shop_test"]["two_source"]["label_space_accuracy"] <= 1.0
    assert set(row["val_per_source"]) == {"main", "shop"} and "acc_baseColour" not in row["val_per_source"]["shop"]
    assert (tmp_path / "bench" / "two_source_w3" / "cache_32").is_symlink()  # the reference's FPI cache, reused

    bad = tmp_path / "bad_split.csv"  # a shop split that misses photos stops the run with the file named
    bad.write_text("\n".join(shop_split.read_text().splitlines()[:-3]) + "\n", encoding="utf-8")
    command[command.index(str(shop_split))] = str(bad)
    failed = subprocess.run([*command, "--name", "bad"], capture_output=True, text=True, timeout=600, check=False)
    assert failed.returncode != 0 and "Traceback" not in failed.stderr
    assert "bad_split.csv: 3 of the 32 items" in failed.stderr
