"""Each registered reader on generated fixtures, plus FPI's original-Kaggle CSV quirk."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fashiontag.data.readers import BASE_COLUMNS, list_readers, read_dataset
from fashiontag.data.sources import load_item
from fashiontag.registry import UnknownNameError

HEADER = "id,gender,masterCategory,subCategory,articleType,baseColour,season,year,usage,productDisplayName\n"


def _jpeg(path: Path, colour: int, size: tuple[int, int] = (12, 16)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, (colour, 10, 10)).save(path, "JPEG")


@pytest.fixture()
def fpi_root(tmp_path: Path) -> Path:
    rows = [
        "1,Men,Apparel,Topwear,Shirts,Blue,Fall,2011,Casual,Plain shirt",
        "2,Women,Footwear,Shoes,Heels,,Summer,,Casual,Heels, red, with a bow",  # original Kaggle: unquoted commas
        '3,Men,Apparel,Topwear,Shirts,Blue,Fall,2012.0,Casual,"Quoted, name"',
        "4,Men,Apparel,Topwear,Shirts,Blue,Fall,2012,Casual,No image",
    ]
    (tmp_path / "styles.csv").write_text(HEADER + "\n".join(rows) + "\n", encoding="utf-8")
    for item_id, colour in (("1", 50), ("2", 90), ("3", 50)):
        _jpeg(tmp_path / "images" / f"{item_id}.jpg", colour)
    return tmp_path


def test_readers_registered() -> None:
    assert {"fpi", "folder", "manifest", "deepfashion2", "npz"} <= set(list_readers())
    with pytest.raises(UnknownNameError, match="fpi"):
        read_dataset("fpy", ".")


def test_fpi_reader_quirks(fpi_root: Path) -> None:
    result = read_dataset("fpi", fpi_root)
    items = result.items.set_index("item_id")
    assert list(result.items.columns[:5]) == BASE_COLUMNS
    assert items.loc["2", "productDisplayName"] == "Heels, red, with a bow"
    assert items.loc["3", "productDisplayName"] == "Quoted, name"
    assert items.loc["2", "baseColour"] is None and items.loc["2", "year"] is pd_na()
    assert items.loc["3", "year"] == 2012
    assert [(p.item_id, p.reason) for p in result.problems] == [("4", "row without an image file")]
    assert items.loc["1", "dup_group"] == items.loc["3", "dup_group"] == "1"  # byte-identical files
    assert items.loc["2", "dup_group"] == "2"
    assert Path(items.loc["1", "path"]).is_absolute()


def pd_na() -> object:
    import pandas as pd

    return pd.NA


def test_duplicate_groups_file_is_used(fpi_root: Path) -> None:
    (fpi_root / "duplicate_image_groups.txt").write_text("1 2\n", encoding="utf-8")
    items = read_dataset("fpi", fpi_root).items.set_index("item_id")
    assert set(items["dup_group"]) == {"1"}


def test_folder_reader(tmp_path: Path) -> None:
    _jpeg(tmp_path / "dress" / "a.jpg", 10)
    _jpeg(tmp_path / "hat" / "b.jpg", 20)
    (tmp_path / "hat" / "notes.txt").write_text("x")
    (tmp_path / "labels.csv").write_text("ignored")
    result = read_dataset("folder", tmp_path)
    assert sorted(result.items["label"]) == ["dress", "hat"]
    assert result.items.set_index("item_id").loc["dress/a.jpg", "label"] == "dress"
    assert len(result.problems) == 1 and "unsupported" in result.problems[0].reason


def test_manifest_reader_csv_and_jsonl(tmp_path: Path) -> None:
    _jpeg(tmp_path / "img" / "a.jpg", 10)
    _jpeg(tmp_path.parent / "escape.jpg", 10)
    (tmp_path / "m.csv").write_text(f"path,label\nimg/a.jpg,x\n../{tmp_path.parent.name}/../escape.jpg,y\n")
    result = read_dataset("manifest", tmp_path / "m.csv")
    assert result.items["label"].tolist() == ["x"]
    assert [p.reason for p in result.problems] == ["path resolves outside the dataset root"]
    lines = [
        json.dumps({"path": "img/a.jpg", "label": "x", "id": "k1"}),
        json.dumps({"path": "/etc/passwd", "label": "z"}),
    ]
    (tmp_path / "m.jsonl").write_text("\n".join(lines) + "\n")
    result = read_dataset("manifest", tmp_path / "m.jsonl")
    assert result.items["item_id"].tolist() == ["k1"] and len(result.problems) == 1


def test_deepfashion2_reader(tmp_path: Path) -> None:
    _jpeg(tmp_path / "image" / "000001.jpg", 30, size=(100, 80))
    anno = {
        "source": "shop",
        "item1": {"category_name": "short sleeve top", "category_id": 1, "bounding_box": [10, 5, 60, 50], "style": 1},
        "item2": {"category_name": "trousers", "category_id": 8, "bounding_box": [20, 40, 90, 80], "style": 0},
        "item3": {"category_name": "bad", "category_id": 9, "bounding_box": [5, 5, 5, 5]},
    }
    (tmp_path / "annos").mkdir()
    (tmp_path / "annos" / "000001.json").write_text(json.dumps(anno))
    (tmp_path / "annos" / "000002.json").write_text(json.dumps(anno))  # no image
    result = read_dataset("deepfashion2", tmp_path)
    items = result.items
    assert items["item_id"].tolist() == ["000001_item1", "000001_item2"]
    assert items["crop"][0] == [10.0, 5.0, 60.0, 50.0]
    assert items["dup_group"].nunique() == 1  # garments of one photo stay together
    assert load_item(items["path"][0], items["crop"][0]).size == (50, 45)
    assert len(result.problems) == 2


def test_npz_reader(tmp_path: Path) -> None:
    images = np.random.default_rng(0).integers(0, 255, (3, 8, 6, 3), dtype=np.uint8)
    images[2] = images[0]
    np.savez(tmp_path / "seed004.npz", images=images, labels=np.array([0, 1, 0]),
             label_names=np.array(["Tshirts", "Heels"]), genders=np.array(["Men", "Women", "Men"]))  # fmt: skip
    items = read_dataset("npz", tmp_path).items
    assert items["label"].tolist() == ["Tshirts", "Heels", "Tshirts"]
    assert items["path"][1].endswith("seed004.npz#1")
    assert items["dup_group"][2] == items["item_id"][0]
    assert np.array_equal(np.asarray(load_item(items["path"][1])), images[1])


def test_real_fpi_csv_level(shared_data: Path) -> None:
    result = read_dataset("fpi", shared_data / "fpi_small")
    assert len(result.items) == 37_462
    assert result.problem_counts() == {"row without an image file": 374}
    assert result.items["item_id"].is_unique
    assert (result.items.groupby("dup_group").size() > 1).sum() > 0


def test_real_clothing_photos(shared_data: Path) -> None:
    items = read_dataset("folder", shared_data / "clothing_photos" / "train", hash_files=False).items
    assert len(items) == 3068 and items["label"].nunique() == 10
