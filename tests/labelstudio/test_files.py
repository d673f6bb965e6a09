"""Label Studio files: the config, exported tasks with pre-annotations, and the export -> manifest import."""

from __future__ import annotations

import csv
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fashiontag.cli.main import app
from fashiontag.data.mapping import map_items
from fashiontag.data.readers import read_dataset
from fashiontag.data.taxonomy import Taxonomy, load_taxonomy
from fashiontag.labelstudio import (
    LabelConfigError,
    import_export,
    labelling_config,
    parse_config,
    prediction_from_result,
    tasks_from_predictions,
)

runner = CliRunner()


def _result(source: str, group: str, kind: str, colour: str, confidence: float, review: bool) -> dict:
    labels = {
        "group": {"label": group, "confidence": 0.99},
        "type": {"label": kind, "confidence": confidence},
        "colour": {"label": colour, "confidence": 0.9},
    }
    return {"source": source, "labels": labels, "needs_review": review, "error": None}


def test_config_has_the_tree_and_one_choices_per_attribute(taxonomy: Taxonomy) -> None:
    root = ET.fromstring(labelling_config(taxonomy))
    tree = root.find("Taxonomy")
    assert tree is not None and tree.get("leafsOnly") == "true"
    assert [c.get("value") for c in tree.findall("Choice")] == ["Tops", "Shoes"]
    assert [c.get("value") for c in tree.find("Choice").findall("Choice")] == ["Tshirts", "Shirts"]
    assert [c.get("value") for c in root.find("Choices[@name='colour']")] == ["Red", "Blue"]


def test_config_escapes_names_and_parses_back() -> None:
    tax = load_taxonomy("shop")  # has "Glasses & Sunglasses"
    xml = labelling_config(tax)
    assert "Glasses &amp; Sunglasses" in xml
    names = parse_config(xml, list(tax.attributes))
    assert names.taxonomy == "taxonomy" and names.image_key == "image"
    with pytest.raises(LabelConfigError, match="Taxonomy"):
        parse_config('<View><Image name="img" value="$url"/></View>')


def test_prediction_has_taxonomy_path_choices_and_min_score(taxonomy: Taxonomy) -> None:
    pred = prediction_from_result(_result("a.png", "Shoes", "Heels", "Red", 0.4, True), taxonomy)
    assert pred["score"] == pytest.approx(0.4)
    by_name = {r["from_name"]: r for r in pred["result"]}
    assert by_name["taxonomy"]["value"] == {"taxonomy": [["Shoes", "Heels"]]}
    assert by_name["colour"]["value"] == {"choices": ["Red"]} and by_name["colour"]["to_name"] == "image"


def test_tasks_put_needs_review_first_and_skip_errors(dataset: tuple[Path, Path], taxonomy: Taxonomy) -> None:
    root = dataset[0].parent
    images = sorted((root / "images").glob("*.png"))
    results = [
        _result(str(images[0]), "Tops", "Tshirts", "Red", 0.95, False),
        _result(str(images[1]), "Tops", "Shirts", "Blue", 0.7, True),
        _result(str(images[2]), "Tops", "Shirts", "Blue", 0.3, True),
        {"source": str(root / "broken.png"), "labels": {}, "needs_review": True, "error": "cannot decode"},
    ]
    tasks, skipped = tasks_from_predictions(results, taxonomy, root=root)
    assert [t["data"]["path"] for t in tasks] == [str(images[2]), str(images[1]), str(images[0])]
    assert tasks[0]["data"]["image"] == f"/data/local-files/?d=images/{images[2].name}"
    assert skipped == [(str(root / "broken.png"), "cannot decode")]
    with pytest.raises(ValueError, match="not under --root"):
        tasks_from_predictions(results[:1], taxonomy, root=root / "elsewhere")


def _annotation(path: list[str], colour: str | None, cancelled: bool = False, updated: str = "2026-01-01") -> dict:
    result = [{"from_name": "taxonomy", "to_name": "image", "type": "taxonomy", "value": {"taxonomy": [path]}}]
    if colour:
        result.append({"from_name": "colour", "to_name": "image", "type": "choices", "value": {"choices": [colour]}})
    return {
        "id": hash(updated) % 1000,
        "completed_by": 7,
        "result": result,
        "was_cancelled": cancelled,
        "updated_at": updated,
        "lead_time": 3.5,
    }


def test_import_writes_a_manifest_the_reader_and_mapping_accept(
    dataset: tuple[Path, Path], taxonomy: Taxonomy, tmp_path: Path
) -> None:
    root = dataset[0].parent
    images = sorted((root / "images").glob("*.png"))
    export = [
        {
            "id": 1,
            "data": {"image": "x", "path": str(images[0])},
            "annotations": [
                _annotation(["Tops", "Shirts"], "Blue", updated="2026-01-01"),
                _annotation(["Shoes", "Heels"], "Red", updated="2026-02-01"),
            ],
        },
        {
            "id": 2,
            "data": {"image": f"/data/local-files/?d=images/{images[1].name}"},
            "annotations": [_annotation(["Tops", "Tshirts"], None)],
        },
        {"id": 3, "data": {"path": str(images[2])}, "annotations": [_annotation(["Tops"], "Red", cancelled=True)]},
        {"id": 4, "data": {"path": str(images[3])}, "annotations": []},
        {"id": 5, "data": {"path": str(images[4])}, "annotations": [_annotation(["Tops"], "Red")]},
    ]
    export_file = tmp_path / "export.json"
    export_file.write_text(json.dumps(export), encoding="utf-8")
    out = root / "reviewed.csv"
    summary = import_export(export_file, taxonomy, out, root=root)
    assert summary.written == 2 and summary.source == "manifest"
    assert summary.skipped_by_reason == {
        "skipped (cancelled)": 1,
        "not annotated": 1,
        "category 'Tops' is not a leaf of taxonomy 'tiny'": 1,
    }
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert rows[0]["type"] == "Heels" and rows[0]["colour"] == "Red"  # the later answer wins
    assert rows[0]["annotator"] == "7" and rows[0]["lead_time_s"] == "3.5" and rows[0]["ls_task_id"] == "1"
    items = read_dataset("manifest", out).items
    mapped = map_items(items, taxonomy, "manifest")
    assert mapped.unmapped == {}
    assert mapped.items["leaf"].tolist() == ["Shoes > Heels", "Tops > Tshirts"]
    assert mapped.items["colour"].iloc[0] == "Red" and mapped.items["colour"].isna().iloc[1]


def test_import_refuses_outside_folder_and_non_export(
    dataset: tuple[Path, Path], taxonomy: Taxonomy, tmp_path: Path
) -> None:
    images = sorted((dataset[0].parent / "images").glob("*.png"))
    export_file = tmp_path / "export.json"
    export_file.write_text(
        json.dumps(
            [{"id": 1, "data": {"path": str(images[0])}, "annotations": [_annotation(["Tops", "Shirts"], "Blue")]}]
        )
    )
    summary = import_export(export_file, taxonomy, tmp_path / "sub" / "m.csv")
    assert summary.written == 0 and "outside the manifest's folder" in summary.skipped[0][1]
    (tmp_path / "min.json").write_text(json.dumps([{"image": "a.png", "taxonomy": [["Tops"]]}]))
    result = runner.invoke(
        app,
        [
            "labelstudio",
            "import",
            str(tmp_path / "min.json"),
            "--taxonomy",
            str(dataset[1]),
            "--out",
            str(tmp_path / "m.csv"),
        ],
    )
    assert result.exit_code == 2 and "JSON_MIN" in result.output


def test_cli_config_export_from_model(dataset: tuple[Path, Path], model_dir: Path, tmp_path: Path) -> None:
    root = dataset[0].parent
    result = runner.invoke(app, ["labelstudio", "config", str(dataset[1]), "--out", str(tmp_path / "c.xml")])
    assert result.exit_code == 0, result.output
    assert "<Taxonomy" in (tmp_path / "c.xml").read_text()
    out = tmp_path / "tasks.json"
    result = runner.invoke(
        app, ["labelstudio", "export", str(model_dir), str(root / "images"), "--root", str(root), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    tasks = json.loads(out.read_text())
    assert len(tasks) == 12
    scores = [t["predictions"][0]["score"] for t in tasks]
    assert all(0.0 <= s <= 1.0 for s in scores)
    assert tasks[0]["predictions"][0]["result"][0]["type"] == "taxonomy"


def test_cli_export_from_predictions_csv(dataset: tuple[Path, Path], model_dir: Path, tmp_path: Path) -> None:
    root = dataset[0].parent
    preds = tmp_path / "preds.csv"
    result = runner.invoke(app, ["predict", str(model_dir), str(root / "images"), "--out", str(preds), "--no-progress"])
    assert result.exit_code == 0, result.output
    out = tmp_path / "tasks.json"
    result = runner.invoke(app, ["labelstudio", "export", str(preds), "--out", str(out)])
    assert result.exit_code == 2 and "--taxonomy" in result.output
    result = runner.invoke(
        app,
        ["labelstudio", "export", str(preds), "--taxonomy", str(dataset[1]), "--root", str(root), "--out", str(out)],
    )
    assert result.exit_code == 0, result.output
    tasks = json.loads(out.read_text())
    assert len(tasks) == 12
    reviews = [t for t in tasks if t["predictions"][0]["score"] < 1]
    assert reviews, "a tiny random model is never fully sure"
