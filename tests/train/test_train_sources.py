"""Two sources in one model: a manifest with colours and class folders without, one taxonomy, masked heads."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from fashiontag.cli.main import app
from fashiontag.config import ConfigError, build_config, updated
from fashiontag.data.checks import DataError
from fashiontag.data.readers import read_dataset
from fashiontag.data.splits import write_split
from fashiontag.data.synthetic import TAXONOMY_YAML, make_class_folders, make_synthetic_dataset
from fashiontag.train import TrainConfig
from fashiontag.train._data import _apply_split_file
from fashiontag.train._sources import parse_sources, reweight, selection_split

runner = CliRunner()


def test_reweight_draws_shares_by_weight_times_size() -> None:
    labels = pd.DataFrame({"source": ["a"] * 10 + ["b"] * 30 + ["a", "b"], "split": ["train"] * 40 + ["val"] * 2})
    same = reweight(labels, {"a": 1.0, "b": 1.0})
    assert same.tolist() == list(range(42))
    order = reweight(labels, {"a": 3.0, "b": 1.0}, seed=0)
    drawn = labels.iloc[order]
    train = drawn[drawn["split"] == "train"]["source"].value_counts().to_dict()
    assert train == {"a": 20, "b": 20} and (drawn["split"] == "val").sum() == 2
    assert (pd.Series(order[order < 10]).value_counts() == 2).all()  # every "a" photo twice, none left out
    upweighted = reweight(labels, {"a": 2.5, "b": 1.0}, seed=0)
    assert set(range(10)) <= set(upweighted.tolist())  # 18 draws of 10 photos: each at least once


def test_parse_sources_checks_keys_names_and_weights() -> None:
    extra = ({"data": "fpi", "reader": "fpi", "weight": 0.5},)
    specs = parse_sources(build_config(TrainConfig, data="shop", sources=extra))
    assert [(s.name, s.weight) for s in specs] == [("main", 1.0), ("fpi_1", 0.5)]
    with pytest.raises(ConfigError, match="sources\\[0\\].wieght"):
        parse_sources(build_config(TrainConfig, data="shop", sources=({"data": "fpi", "wieght": 0.5},)))
    with pytest.raises(ConfigError, match="weight must be > 0"):
        parse_sources(build_config(TrainConfig, data="shop", sources=({"data": "fpi", "weight": 0},)))
    split = parse_sources(
        build_config(TrainConfig, data="shop", split="s.csv", sources=({"data": "fpi", "split": "f.csv"},))
    )
    assert [s.split for s in split] == ["s.csv", "f.csv"]
    with pytest.raises(ConfigError, match=r"monitor_source='shop': no such source .*\['main', 'fpi'\], or 'all'"):
        parse_sources(
            build_config(TrainConfig, data="shop", monitor_source="shop", sources=({"data": "fpi", "name": "fpi"},))
        )


def test_the_kept_epoch_is_chosen_on_the_main_sources_val_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    """A big packshot set's val rows must not outvote the shop's own when picking the epoch to keep."""
    from fashiontag.data.taxonomy import parse_taxonomy
    from fashiontag.train import _fit, _modes
    from fashiontag.train._data import TrainData

    labels = pd.DataFrame(
        {
            "source": ["main"] * 4 + ["fpi"] * 4,
            "leaf": ["Tops > Tshirts", "Shoes > Heels"] * 4,
            "split": ["train", "val", "test", "val", "train", "val", "val", "test"],
        }
    )
    assert selection_split(labels, "main").tolist() == [
        "train",
        "val",
        "test",
        "val",
        "train",
        "unused",
        "unused",
        "test",
    ]
    assert selection_split(labels, "fpi").tolist()[:4] == ["train", "unused", "test", "unused"]
    assert selection_split(labels, "all").tolist() == labels["split"].tolist()
    assert selection_split(labels.drop(columns="source"), "main").tolist() == labels["split"].tolist()
    with pytest.raises(ConfigError, match="has no val rows to select an epoch on"):
        selection_split(labels.assign(split=["train"] * 4 + ["val"] * 4), "main")
    seen = {}

    def capture(job):  # noqa: ANN001, ANN202
        seen.update(train=job.train_rows.tolist(), val=job.val_rows.tolist())
        return {}

    monkeypatch.setattr(_modes.MODES, "get", lambda name: lambda: capture)
    taxonomy = parse_taxonomy(TAXONOMY_YAML)
    from fashiontag.models import create_network, default_preprocess

    net = create_network(taxonomy, "smallcnn", "flat", default_preprocess("smallcnn", 32, 32), pretrained=False)
    data = TrainData(
        np.zeros((8, 32, 32, 3), np.uint8), labels.assign(**{a: None for a in taxonomy.attributes}), taxonomy
    )
    _fit.train_network(net, data, build_config(TrainConfig, data="shop", probe=True), Path("unused"))
    assert seen == {"train": [0, 4], "val": [1, 3]}
    _fit.train_network(
        net, data, build_config(TrainConfig, data="shop", probe=True, monitor_source="all"), Path("unused")
    )
    assert seen["val"] == [1, 3, 5, 6]


def test_split_file_must_name_every_item(tmp_path: Path) -> None:
    index = pd.DataFrame({"item_id": ["a", "b", "c"], "row": [0, 1, 2], "split": ["train", "train", "train"]})
    covering = tmp_path / "covering.csv"  # bench_shop's plain item_id,split CSV: no fold, no sidecar
    covering.write_text("item_id,split\na,train\nb,test\nc,val\nz,test\n", encoding="utf-8")
    assert _apply_split_file(index, str(covering), "shop")["split"].tolist() == ["train", "test", "val"]
    partial = tmp_path / "partial.csv"
    table = pd.DataFrame({"item_id": ["a", "b", "z"], "split": ["train", "test", "val"]})
    write_split(table.assign(fold=pd.array([pd.NA] * 3, dtype="Int64")), partial, {"method": "test"})
    with pytest.raises(
        DataError,
        match=r"partial.csv: 1 of the 3 items of shop are not in it \(the file has 3 rows; "
        r"e.g. c\)",
    ):
        _apply_split_file(index, str(partial), "shop")
    with pytest.raises(DataError, match="missing.csv"):
        _apply_split_file(index, str(tmp_path / "missing.csv"), "shop")


@pytest.mark.slow
def test_train_on_two_sources(tmp_path: Path) -> None:
    manifest, _ = make_synthetic_dataset(tmp_path / "syn", per_leaf=8, size=32)
    taxonomy = tmp_path / "taxonomy.yaml"
    taxonomy.write_text(TAXONOMY_YAML + "  folder:\n    path_columns: [parent, label]\n", encoding="utf-8")
    folders = make_class_folders(
        tmp_path / "shop", {"Tops/Tshirts": 8, "Tops/Shirts": 8, "Shoes/Heels": 8, "Shoes/Flats": 8}
    )
    shop_items = read_dataset("folder", folders, hash_files=False).items  # the shop's own split file
    shop_split = pd.DataFrame(
        {
            "item_id": shop_items["item_id"].astype(str),
            "split": [["test", "val", "train", "train"][i % 4] for i in range(len(shop_items))],
        }
    )
    shop_split.to_csv(tmp_path / "shop_split.csv", index=False)
    config = tmp_path / "run.yaml"
    config.write_text(
        f"sources:\n  - {{data: {folders}, reader: folder, source: folder, weight: 2.0, name: shop, "
        f"split: {tmp_path / 'shop_split.csv'}}}\n"
    )
    result = runner.invoke(
        app,
        [
            "train",
            "--data",
            str(manifest),
            "--reader",
            "manifest",
            "--source",
            "manifest",
            "--taxonomy",
            str(taxonomy),
            "--out",
            str(tmp_path / "run"),
            "--probe",
            "--config",
            str(config),
            "backbone=smallcnn",
            "pretrained=false",
            "image_size=32",
            "input_size=32",
            "probe_steps=20",
            "progress_bar=false",
        ],
    )
    assert result.exit_code == 0, result.output + repr(result.exception)
    sidecar = json.loads((tmp_path / "run" / "model" / "fashiontag.json").read_text())
    per_source = sidecar["metrics"]["sources"]
    assert set(per_source) == {"main", "shop"}
    assert "acc_colour" in per_source["main"] and "acc_colour" not in per_source["shop"]  # shop has no colours
    assert "acc_type" in per_source["shop"]
    split = pd.read_csv(tmp_path / "run" / "split.csv")
    assert split["item_id"].str.startswith("shop:").any() and not split["item_id"].str.startswith("main:").any()
    shop_rows = split[split["item_id"].str.startswith("shop:")].drop_duplicates("item_id")  # weight 2: redrawn
    given = dict(zip("shop:" + shop_split["item_id"], shop_split["split"], strict=True))
    assert len(shop_rows) == len(given)  # weight 2 repeats photos, it leaves none out
    assert all(given[i] == s for i, s in zip(shop_rows["item_id"], shop_rows["split"], strict=True))


def test_max_per_class_draws_a_class_balanced_sample(tmp_path: Path) -> None:
    """A big packshot source capped per class keeps its rare classes whole (a plain ``max_items`` draw would
    keep them in proportion: 20 skirts among 3,500 FPI packshots)."""
    from fashiontag.data.taxonomy import load_taxonomy
    from fashiontag.train._data import load_train_data

    manifest, taxonomy_file = make_synthetic_dataset(tmp_path / "syn", per_leaf=12, size=32)
    taxonomy = load_taxonomy(taxonomy_file)
    config = build_config(
        TrainConfig,
        data=str(manifest),
        reader="manifest",
        source="manifest",
        taxonomy=str(taxonomy_file),
        out=str(tmp_path / "run"),
        image_size=32,
        progress_bar=False,
    )
    full = load_train_data(config, taxonomy).labels["leaf"].value_counts()
    assert (full == 12).all()
    capped = load_train_data(updated(config, max_per_class=5), taxonomy)
    counts = capped.labels["leaf"].value_counts()
    assert (counts == 5).all() and set(counts.index) == set(full.index)
    both = load_train_data(updated(config, max_per_class=5, max_items=8), taxonomy).labels
    assert len(both) == 8 and both["leaf"].value_counts().max() <= 5
    again = load_train_data(updated(config, max_per_class=5), taxonomy).labels
    assert again["item_id"].tolist() == capped.labels["item_id"].tolist()  # the same draw for the same seed
    spec = parse_sources(
        build_config(
            TrainConfig,
            data="shop",
            max_per_class=9,
            sources=({"data": "fpi", "max_per_class": 300, "max_items": 3500},),
        )
    )
    assert [(s.max_items, s.max_per_class) for s in spec] == [(None, None), (3500, 300)]
    with pytest.raises(ConfigError, match="sources: 'fpi_1' max_per_class must be at least 1"):
        parse_sources(build_config(TrainConfig, data="shop", sources=({"data": "fpi", "max_per_class": 0},)))
    with pytest.raises(ConfigError, match="max_items must be at least 1"):
        load_train_data(updated(config, max_items=-3), taxonomy)


def test_a_bad_source_spec_writes_nothing(tmp_path: Path) -> None:
    from fashiontag.data.taxonomy import parse_taxonomy
    from fashiontag.train._sources import load_sources

    config = build_config(
        TrainConfig,
        data="shop",
        out=str(tmp_path / "run"),
        monitor_source="shopp",
        sources=({"data": "fpi", "name": "fpi"},),
    )
    with pytest.raises(ConfigError, match="monitor_source='shopp'"):
        load_sources(config, parse_taxonomy(TAXONOMY_YAML), load_one=None)
    assert not (tmp_path / "run").exists()
