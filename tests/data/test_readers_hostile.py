"""Hostile dataset rows: FPI ids that escape the root, and manifests that are not UTF-8, half-broken or contradict
themselves. Each case failed before issue 13 (read outside the root, traceback, or both rows kept)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from fashiontag.data.checks import DataError
from fashiontag.data.readers import read_dataset

HEADER = "id,gender,masterCategory,subCategory,articleType,baseColour,season,year,usage,productDisplayName\n"
ROW = ",Men,Apparel,Topwear,Shirts,Blue,Fall,2011,Casual,Shirt"


def _jpeg(path: Path, colour: int = 50) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (12, 16), (colour, 10, 10)).save(path, "JPEG")
    return path


@pytest.fixture()
def fpi_with_escapes(tmp_path: Path) -> Path:
    root = tmp_path / "deep" / "er" / "fpi"
    _jpeg(root / "images" / "15970.jpg")
    outside = _jpeg(tmp_path / "outside" / "15970.jpg", 200)  # what the escaping ids point at
    ids = ["15970", "../../../outside/15970", f"{outside.with_suffix('')}", "./15970", "sub/15970", "..\\..\\x"]
    (root / "styles.csv").write_text(HEADER + "".join(f"{i}{ROW}\n" for i in ids), encoding="utf-8")
    return root


def test_fpi_refuses_ids_outside_the_root_and_normalises_dot_slash(fpi_with_escapes: Path) -> None:
    result = read_dataset("fpi", fpi_with_escapes, hash_files=False)
    assert result.items["item_id"].tolist() == ["15970"]
    assert result.items["path"].tolist() == [str(fpi_with_escapes.resolve() / "images" / "15970.jpg")]
    reasons = [(p.item_id, p.reason) for p in result.problems]
    assert reasons == [
        ("../../../outside/15970", "id resolves outside the dataset root"),
        (reasons[1][0], "id is an absolute path (outside the dataset root)"),
        ("15970", "duplicate id in styles.csv"),  # ./15970 is the same item, not a second one
        ("sub/15970", "id is a path, not a file name"),
        ("../../x", "id resolves outside the dataset root"),
    ]
    assert result.problem_counts()["id resolves outside the dataset root"] == 2


def test_fpi_refuses_an_image_symlinked_out_of_the_root(tmp_path: Path) -> None:
    root = tmp_path / "fpi"
    (root / "images").mkdir(parents=True)
    (root / "images" / "7.jpg").symlink_to(_jpeg(tmp_path / "secret.jpg"))
    (root / "styles.csv").write_text(HEADER + f"7{ROW}\n", encoding="utf-8")
    result = read_dataset("fpi", root, hash_files=False)
    assert result.items.empty and result.problems[0].reason == "image is a symlink out of the dataset root"


def test_manifest_not_utf8_is_one_clear_error(tmp_path: Path) -> None:
    _jpeg(tmp_path / "a.jpg")
    (tmp_path / "m.csv").write_bytes("path,label\na.jpg,Jacke\na.jpg,Bluse für Damen\n".encode("latin-1"))
    with pytest.raises(DataError, match=r"not UTF-8 text \(byte 0xfc on line 3\).*CSV UTF-8"):
        read_dataset("manifest", tmp_path / "m.csv")


def test_manifest_with_bom_reads_the_path_column(tmp_path: Path) -> None:
    _jpeg(tmp_path / "a.jpg")
    (tmp_path / "m.csv").write_bytes("path,label\na.jpg,x\n".encode("utf-8-sig"))
    assert read_dataset("manifest", tmp_path / "m.csv", hash_files=False).items["label"].tolist() == ["x"]


def test_manifest_bad_jsonl_line_is_reported_with_its_number_and_the_rest_kept(tmp_path: Path) -> None:
    _jpeg(tmp_path / "a.jpg")
    _jpeg(tmp_path / "b.jpg", 90)
    lines = [
        json.dumps({"path": "a.jpg", "label": "x"}),
        '{"path": "b.jpg", "label": ',
        "[1, 2]",
        json.dumps({"path": "b.jpg", "label": "y"}),
    ]
    (tmp_path / "m.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = read_dataset("manifest", tmp_path / "m.jsonl", hash_files=False)
    assert result.items["label"].tolist() == ["x", "y"]
    assert [p.reason for p in result.problems] == [
        "line 2: not valid JSON (Expecting value)",
        "line 3: not a JSON object",
    ]
    assert result.problems[0].path.endswith("m.jsonl:2")


@pytest.mark.parametrize(("content", "message"), [
    ("file,label\na.jpg,x\n", r"no 'path' column \(columns: \['file', 'label'\]\)"),
    ("", r"empty manifest"),
    ('path,label\n"a.jpg,x\n', r"not a readable CSV"),
])  # fmt: skip
def test_manifest_whole_file_errors_are_data_errors(tmp_path: Path, content: str, message: str) -> None:
    (tmp_path / "m.csv").write_text(content, encoding="utf-8")
    with pytest.raises(DataError, match=message):
        read_dataset("manifest", tmp_path / "m.csv")


def test_manifest_duplicate_ids(tmp_path: Path) -> None:
    for name in ("a", "b", "c", "d"):
        _jpeg(tmp_path / f"{name}.jpg", ord(name))
    (tmp_path / "m.csv").write_text(
        "item_id,path,label\nk1,a.jpg,coat\nk1,b.jpg,dress\nk2,c.jpg,hat\nk2,c.jpg,hat\nk3,d.jpg,hat\n",
        encoding="utf-8",
    )
    result = read_dataset("manifest", tmp_path / "m.csv", hash_files=False)
    assert result.items["item_id"].tolist() == ["k2", "k3"]  # conflicting k1: neither copy goes to split.csv
    reasons = sorted((p.item_id, p.reason) for p in result.problems)
    assert reasons == [("k1", "duplicate item_id with conflicting labels (label); no row kept")] * 2 + [
        ("k2", "duplicate item_id (same labels; first row kept)")
    ]


def test_manifest_odd_rows_are_problems_not_tracebacks(tmp_path: Path) -> None:
    _jpeg(tmp_path / "a.jpg")
    lines = [
        {"path": "a.jpg", "label": "x", "id": "1"},
        {"path": "bad\u0000.jpg", "label": "x", "id": "2"},
        {"path": ["a.jpg"], "label": "x", "id": "3"},
        {"path": "a.jpg", "label": "x"},
        {"label": "x", "id": "5"},
    ]
    (tmp_path / "m.jsonl").write_text("\n".join(json.dumps(line) for line in lines) + "\n", encoding="utf-8")
    result = read_dataset("manifest", tmp_path / "m.jsonl", hash_files=False)
    assert result.items["item_id"].tolist() == ["1"]
    assert [p.reason for p in result.problems] == [
        "invalid path",
        "file not found",
        "row without an id",
        "row without a path",
    ]
