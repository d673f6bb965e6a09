"""Decoded cache round trip, bad-input corpus handling, inspection and the CLI on generated data."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from fashiontag.data._image_facts import near_duplicate_groups
from fashiontag.data._testing import OK, make_bad_image_corpus
from fashiontag.data.cache import open_cache, prepare_cache
from fashiontag.data.config import DataConfig
from fashiontag.data.images import ImageError, letterbox
from fashiontag.data.inspect import inspect_dataset
from fashiontag.data.sources import load_item
from fashiontag.data.synthetic import make_synthetic_dataset


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_synthetic_dataset(tmp_path_factory.mktemp("syn"), per_leaf=6, size=24)


def _config(manifest: Path, taxonomy: Path, **kw) -> DataConfig:
    return DataConfig(reader="manifest", root=str(manifest), taxonomy=str(taxonomy), size=16, workers=1, **kw)


def test_cache_round_trip(synthetic: tuple[Path, Path], tmp_path: Path) -> None:
    manifest, taxonomy = synthetic
    meta = prepare_cache(_config(manifest, taxonomy), tmp_path / "cache", progress=False)
    cache = open_cache(tmp_path / "cache", verify=True)
    assert cache.images.shape == (24, 16, 16, 3) and meta["count"] == 24 == len(cache.index)
    row = cache.index.iloc[5]
    expected = letterbox(load_item(row["path"]), 16, 255)
    assert np.array_equal(cache.images[row["row"]], expected)
    assert row["leaf"] in {"Tops > Tshirts", "Tops > Shirts", "Shoes > Heels", "Shoes > Flats"}
    assert {"group", "type", "colour", "dup_group"} <= set(cache.index.columns)
    assert cache.batch([3, 1]).shape == (2, 16, 16, 3)
    assert not list(tmp_path.glob(".cache.tmp-*"))


def test_bad_corpus_loads_or_reports(tmp_path: Path) -> None:
    expected = make_bad_image_corpus(tmp_path / "corpus")
    for name, outcome in expected.items():
        if outcome == OK:
            image = load_item(str(tmp_path / "corpus" / name))
            assert image.mode == "RGB", name
        elif name.startswith("class_a/") and outcome != "file not found":
            with pytest.raises(ImageError) as info:
                load_item(str(tmp_path / "corpus" / name))
            assert outcome in info.value.reason.lower(), name
    assert load_item(str(tmp_path / "corpus" / "class_a/exif_rotated.jpg")).size == (20, 40)


def test_bad_corpus_cache_and_inspect(tmp_path: Path) -> None:
    expected = make_bad_image_corpus(tmp_path / "corpus")
    taxonomy = tmp_path / "tax.yaml"
    taxonomy.write_text("name: one\nlevels: [kind]\ntree: [class_a, class_b]\nsources:\n  manifest:\n"
                        "    path_columns: [label]\n")  # fmt: skip
    config = _config(tmp_path / "corpus" / "manifest.csv", taxonomy)
    meta = prepare_cache(config, tmp_path / "cache", progress=False)
    bad = sum(1 for k, v in expected.items() if v != OK and k.startswith("class_a/") and v != "file not found")
    assert len(meta["failures"]) == bad == 4
    assert meta["count"] == sum(1 for k, v in expected.items() if v == OK and k.startswith("class_a/"))
    report = inspect_dataset(config, progress=False)
    assert report["rows"]["skipped_by_reason"] == {"path resolves outside the dataset root": 1, "file not found": 1}
    assert report["images"]["undecodable"] == 4
    assert {"grey", "cmyk", "palette", "alpha", "16-bit"} <= set(report["images"]["needs_rgb_conversion"])
    assert "class_a/tiny.png" in report["images"]["tiny"]["ids"]


def test_near_duplicate_groups_match_brute_force() -> None:
    rng = np.random.default_rng(0)
    base = rng.integers(0, 2**63, size=40, dtype=np.int64).astype(np.uint64)
    flips = np.uint64(1) << rng.integers(0, 64, size=40).astype(np.uint64)
    values = np.concatenate([base, base ^ flips]).tolist()
    pairs = [(f"{i:03d}", v) for i, v in enumerate(values)]
    groups = near_duplicate_groups(pairs, radius=1)
    assert len(groups) == 40 and all(len(g) == 2 for g in groups)
    assert near_duplicate_groups(pairs, radius=0) == []


def test_cli_inspect_split_prepare(synthetic: tuple[Path, Path], tmp_path: Path) -> None:
    from fashiontag.cli.main import app

    manifest, taxonomy = synthetic
    common = ["--reader", "manifest", "--taxonomy", str(taxonomy)]
    runner = CliRunner()
    result = runner.invoke(app, ["data", "inspect", str(manifest), *common, "--json", "--min-count", "7", "workers=1"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout[result.stdout.index("{") :])
    assert report["counts"]["type"]["Tops > Tshirts"] == 6 and len(report["rare"]["classes"]) == 4
    out = tmp_path / "split.csv"
    assert runner.invoke(app, ["data", "split", str(manifest), *common, "--out", str(out)]).exit_code == 0
    assert out.exists() and out.with_suffix(".json").exists()
    result = runner.invoke(
        app, ["data", "prepare", str(manifest), *common, "--size", "8", "--out", str(tmp_path / "c")]
    )
    assert result.exit_code == 0, result.output
    assert "images/s" in result.output


@pytest.mark.realdata
def test_inspect_real_fpi_subset(shared_data: Path) -> None:
    config = DataConfig(root=str(shared_data / "fpi_small"), workers=1)
    report = inspect_dataset(config, limit=400, progress=False)
    assert report["rows"]["skipped_by_reason"] == {"row without an image file": 374}
    assert report["images"]["decoded"] == 400 and report["mapping"]["unmapped"] == 0
    assert len(report["raw_counts"]["subCategory"]) > 10
    assert report["duplicates"]["byte_identical"]["groups"] >= 0
