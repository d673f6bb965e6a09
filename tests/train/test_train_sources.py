"""Two sources in one model: a manifest with colours and class folders without, one taxonomy, masked heads."""

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from fashiontag.cli.main import app
from fashiontag.config import ConfigError, build_config
from fashiontag.data.synthetic import TAXONOMY_YAML, make_class_folders, make_synthetic_dataset
from fashiontag.train import TrainConfig
from fashiontag.train._sources import parse_sources, reweight

runner = CliRunner()


def test_reweight_draws_shares_by_weight_times_size() -> None:
    labels = pd.DataFrame({"source": ["a"] * 10 + ["b"] * 30 + ["a", "b"], "split": ["train"] * 40 + ["val"] * 2})
    same = reweight(labels, {"a": 1.0, "b": 1.0})
    assert same.tolist() == list(range(42))
    order = reweight(labels, {"a": 3.0, "b": 1.0}, seed=0)
    drawn = labels.iloc[order]
    train = drawn[drawn["split"] == "train"]["source"].value_counts().to_dict()
    assert train == {"a": 20, "b": 20} and (drawn["split"] == "val").sum() == 2


def test_parse_sources_checks_keys_names_and_weights() -> None:
    extra = ({"data": "fpi", "reader": "fpi", "weight": 0.5},)
    specs = parse_sources(build_config(TrainConfig, data="shop", sources=extra))
    assert [(s.name, s.weight) for s in specs] == [("main", 1.0), ("fpi_1", 0.5)]
    with pytest.raises(ConfigError, match="sources\\[0\\].wieght"):
        parse_sources(build_config(TrainConfig, data="shop", sources=({"data": "fpi", "wieght": 0.5},)))
    with pytest.raises(ConfigError, match="weight must be > 0"):
        parse_sources(build_config(TrainConfig, data="shop", sources=({"data": "fpi", "weight": 0},)))


@pytest.mark.slow
def test_train_on_two_sources(tmp_path: Path) -> None:
    manifest, _ = make_synthetic_dataset(tmp_path / "syn", per_leaf=8, size=32)
    taxonomy = tmp_path / "taxonomy.yaml"
    taxonomy.write_text(TAXONOMY_YAML + "  folder:\n    path_columns: [parent, label]\n", encoding="utf-8")
    folders = make_class_folders(tmp_path / "shop", {"Tops/Tshirts": 8, "Tops/Shirts": 8, "Shoes/Heels": 8,
                                                      "Shoes/Flats": 8})
    config = tmp_path / "run.yaml"
    config.write_text(f"sources:\n  - {{data: {folders}, reader: folder, source: folder, weight: 2.0, name: shop}}\n")
    result = runner.invoke(app, ["train", "--data", str(manifest), "--reader", "manifest", "--source", "manifest",
                                 "--taxonomy", str(taxonomy), "--out", str(tmp_path / "run"), "--probe",
                                 "--config", str(config), "backbone=smallcnn", "pretrained=false", "image_size=32",
                                 "input_size=32", "probe_steps=20", "progress_bar=false"])
    assert result.exit_code == 0, result.output + repr(result.exception)
    sidecar = json.loads((tmp_path / "run" / "model" / "fashiontag.json").read_text())
    per_source = sidecar["metrics"]["sources"]
    assert set(per_source) == {"main", "shop"}
    assert "acc_colour" in per_source["main"] and "acc_colour" not in per_source["shop"]  # shop has no colours
    assert "acc_type" in per_source["shop"]
    split = pd.read_csv(tmp_path / "run" / "split.csv")
    assert split["item_id"].str.startswith("shop:").any() and not split["item_id"].str.startswith("main:").any()
