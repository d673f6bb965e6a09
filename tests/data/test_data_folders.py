"""Class-per-folder datasets: layout detection, inferred taxonomy, split folders, empty / small-class checks."""

from pathlib import Path

import pandas as pd
import pytest

from fashiontag.data.cache import prepare_cache
from fashiontag.data.checks import DataError, check_trainable
from fashiontag.data.config import DataConfig
from fashiontag.data.folders import (
    detect_reader,
    folder_splits,
    infer_folder_taxonomy,
    resolve_data,
    scan_layout,
)
from fashiontag.data.inspect import format_report, inspect_dataset
from fashiontag.data.mapped import load_mapped
from fashiontag.data.readers import read_dataset
from fashiontag.data.synthetic import make_class_folders
from fashiontag.data.taxonomy import TaxonomyError, load_taxonomy, save_taxonomy


def test_one_level_folders_infer_a_class_taxonomy(tmp_path: Path) -> None:
    root = make_class_folders(tmp_path / "photos", {"tee": 6, "hat": 6})
    (root / "labels.csv").write_text("ignored beside the class folders")
    tax = infer_folder_taxonomy(root)
    assert tax.levels == ["class"] and tax.leaves == ["hat", "tee"] and tax.name == "photos"
    _, mapping, mapped_tax = load_mapped(DataConfig(root=str(root)))
    assert mapped_tax.fingerprint() == tax.fingerprint()
    assert mapping.unmapped == {} and sorted(mapping.mapped["class"].unique()) == ["hat", "tee"]


def test_two_level_folders_infer_group_and_class(tmp_path: Path) -> None:
    root = make_class_folders(tmp_path / "p", {"tops/tee": 5, "tops/shirt": 5, "shoes/boot": 5})
    tax = infer_folder_taxonomy(root)
    assert tax.levels == ["group", "class"]
    assert tax.head_labels("group") == ["shoes", "tops"]
    assert sorted(tax.leaves) == ["shoes > boot", "tops > shirt", "tops > tee"]
    mapped = load_mapped(DataConfig(root=str(root)))[1].mapped
    row = mapped[mapped["item_id"] == "tops/tee/000.png"].iloc[0]
    assert (row["group"], row["class"], row["leaf"]) == ("tops", "tops > tee", "tops > tee")


def test_split_folders_are_honoured(tmp_path: Path) -> None:
    root = make_class_folders(tmp_path / "p", {"tee": 10, "hat": 10}, {"train": 0.6, "val": 0.2, "test": 0.2})
    layout = scan_layout(root)
    assert layout.splits == {"test": "test", "train": "train", "val": "val"} and layout.depth == 1
    items = read_dataset("folder", root).items
    assert items.groupby("split").size().to_dict() == {"test": 4, "train": 12, "val": 4}
    assert set(items["label"]) == {"tee", "hat"}  # the split folder is not a class
    assert infer_folder_taxonomy(root).leaves == ["hat", "tee"]


def test_folder_splits_carve_what_the_folders_leave_open() -> None:
    hashed = pd.Series(["train", "val", "test", "train", "val", "test"])
    only_train = pd.Series(["train"] * 6)
    assert folder_splits(only_train, hashed).tolist() == hashed.tolist()
    train_test = pd.Series(["train", "train", "train", "test", "test", "test"])
    assert folder_splits(train_test, hashed).tolist() == ["train", "val", "train", "test", "test", "test"]
    full = pd.Series(["train", "val", "val", "test", "train", "train"])
    assert folder_splits(full, hashed).tolist() == full.tolist()
    none = pd.Series([None] * 6, dtype=object)
    assert folder_splits(none, hashed).tolist() == hashed.tolist()


def test_bad_layouts_say_what_to_do(tmp_path: Path) -> None:
    mixed = make_class_folders(tmp_path / "mixed", {"tee": 3, "tops/shirt": 3})
    with pytest.raises(TaxonomyError, match="mixed folder depths"):
        infer_folder_taxonomy(mixed)
    (tmp_path / "flat").mkdir()
    (tmp_path / "flat" / "a.png").write_bytes(b"x")
    with pytest.raises(TaxonomyError, match="no images inside class folders"):
        infer_folder_taxonomy(tmp_path / "flat")
    deep = make_class_folders(tmp_path / "deep", {"a/b/c": 3})
    with pytest.raises(TaxonomyError, match="3 folders deep"):
        infer_folder_taxonomy(deep)
    with pytest.raises(FileNotFoundError):
        infer_folder_taxonomy(tmp_path / "missing")


def test_auto_detection(tmp_path: Path) -> None:
    root = make_class_folders(tmp_path / "p", {"tee": 3})
    assert detect_reader(root) == "folder"
    (tmp_path / "fpi").mkdir()
    (tmp_path / "fpi" / "styles.csv").write_text("id\n")
    assert detect_reader(tmp_path / "fpi") == "fpi"
    assert detect_reader(tmp_path / "x.npz") == "npz" and detect_reader(tmp_path / "m.csv") == "manifest"
    config, tax = resolve_data(DataConfig(root=str(root)))
    assert (config.reader, config.mapping_source, tax.levels) == ("folder", "folder", ["class"])
    config, tax = resolve_data(DataConfig(root=str(root), taxonomy="fpi"))  # a given taxonomy keeps its rules
    assert (config.reader, config.mapping_source, tax.name) == ("folder", "clothing_photos", "fpi")
    with pytest.raises(TaxonomyError, match="no default taxonomy"):
        resolve_data(DataConfig(root=str(tmp_path / "m.csv")))


def test_saved_taxonomy_loads_back(tmp_path: Path) -> None:
    tax = infer_folder_taxonomy(make_class_folders(tmp_path / "p", {"tops/tee": 3, "shoes/boot": 3}))
    again = load_taxonomy(save_taxonomy(tax, tmp_path / "taxonomy.yaml"))
    assert again.fingerprint() == tax.fingerprint() and again.sources == tax.sources


def test_small_class_stops_inferred_runs_and_inspect_says_so(tmp_path: Path) -> None:
    root = make_class_folders(tmp_path / "p", {"tee": 8, "hat": 2})
    items, _, tax = load_mapped(DataConfig(root=str(root)))[1].mapped, None, infer_folder_taxonomy(root)
    items = items.assign(split="train")
    with pytest.raises(DataError, match=r"class 'hat' has 2 images \(min_class_count=5\).*min_class_count=2"):
        check_trainable(items, tax, 5, strict=True)
    assert len(check_trainable(items, tax, 5, strict=False)) == 1  # a given taxonomy only warns
    assert check_trainable(items, tax, 2, strict=True) == []
    report = inspect_dataset(DataConfig(root=str(root)), decode=False, progress=False)
    assert report["dataset"]["taxonomy_inferred"] and not report["trainable"]["ok"]
    assert "error: class 'hat' has 2 images" in format_report(report)
    with pytest.raises(DataError, match="no image landed in the train split"):
        check_trainable(items.assign(split="val"), tax, 0, strict=True)


def test_empty_mapping_stops_prepare_and_inspect_names_the_fix(tmp_path: Path) -> None:
    root = make_class_folders(tmp_path / "p", {"sock": 3, "glove": 3})  # not in fpi's clothing_photos rules
    config = DataConfig(root=str(root), taxonomy="fpi", reader="folder", workers=1)
    report = inspect_dataset(config, decode=False, progress=False)
    assert report["mapping"]["mapped"] == 0 and not report["trainable"]["ok"]
    assert "drop --taxonomy to infer one" in report["trainable"]["errors"][0]
    with pytest.raises(DataError, match="none of the 6 items mapped onto taxonomy 'fpi'"):
        prepare_cache(config, tmp_path / "cache", progress=False)
    assert not (tmp_path / "cache").exists()


def test_real_clothing_photos_infer_ten_classes(shared_data: Path) -> None:
    tax = infer_folder_taxonomy(shared_data / "clothing_photos" / "train")
    assert tax.levels == ["class"] and len(tax.leaves) == 10 and "t-shirt" in tax.leaves
    assert detect_reader(shared_data / "clothing_photos" / "train") == "folder"
    assert detect_reader(shared_data / "fpi_small") == "fpi"
