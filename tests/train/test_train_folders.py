"""`fashiontag train --data photos/ --out run` on a bare class-per-folder tree: no taxonomy, no reader."""

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from fashiontag.cli.main import app, main
from fashiontag.data.synthetic import make_class_folders
from fashiontag.data.taxonomy import load_taxonomy

runner = CliRunner()
FAST = [
    "--probe",
    "backbone=smallcnn",
    "pretrained=false",
    "image_size=32",
    "input_size=32",
    "probe_steps=20",
    "progress_bar=false",
]


def test_train_on_split_folders_infers_taxonomy(tmp_path: Path) -> None:
    photos = make_class_folders(
        tmp_path / "photos",
        {"tops/tee": 10, "tops/shirt": 10, "shoes/boot": 10},
        {"train": 0.6, "val": 0.2, "test": 0.2},
    )
    result = runner.invoke(app, ["train", "--data", str(photos), "--out", str(tmp_path / "run"), *FAST])
    assert result.exit_code == 0, result.output + repr(result.exception)
    run = tmp_path / "run"
    tax = load_taxonomy(run / "taxonomy.yaml")
    assert tax.levels == ["group", "class"] and len(tax.leaves) == 3
    sidecar = json.loads((run / "model" / "fashiontag.json").read_text())
    assert sidecar["taxonomy"]["levels"] == ["group", "class"] and sidecar["heads"]["group"] == ["shoes", "tops"]
    split = pd.read_csv(run / "split.csv").set_index("item_id")["split"]
    assert split.groupby(split).size().to_dict() == {"test": 6, "train": 18, "val": 6}
    assert split["val/tops/tee/006.png"] == "val"  # the folders decide, not the hash


def test_image_size_left_open_follows_the_photos(tmp_path: Path) -> None:
    """Thumbnails keep the quick 64 px cache; photos get 224 px (64 px loses what tells their classes apart)."""
    from fashiontag.train._data import auto_image_size

    thumbs = make_class_folders(tmp_path / "thumbs", {"tee": 4, "hat": 4}, size=80)
    photos = make_class_folders(tmp_path / "photos", {"tee": 4, "hat": 4}, size=200)
    assert auto_image_size(str(thumbs)) == (64, "thumbnails: median longer side 80 px")
    assert auto_image_size(str(photos)) == (224, "photos: median longer side 200 px")
    fast = [a for a in FAST if not a.startswith(("image_size", "input_size"))] + ["input_size=32"]
    result = runner.invoke(
        app, ["train", "--data", str(photos), "--out", str(tmp_path / "run"), *fast, "min_class_count=2"]
    )
    assert result.exit_code == 0, result.output + repr(result.exception)
    assert "image_size: 224 (photos: median longer side 200 px" in result.output
    sidecar = json.loads((tmp_path / "run" / "model" / "fashiontag.json").read_text())
    assert sidecar["training"]["data"]["image_size"] == 224 and (tmp_path / "run" / "cache_224").is_dir()


def _run_main(monkeypatch, capsys, args: list[str]) -> tuple[int, str]:
    monkeypatch.setattr("sys.argv", ["fashiontag", *args])
    with pytest.raises(SystemExit) as exit_info:
        main()
    return exit_info.value.code, capsys.readouterr().err


def test_small_class_stops_with_the_fix(tmp_path: Path, monkeypatch, capsys) -> None:
    photos = make_class_folders(tmp_path / "photos", {"tee": 12, "hat": 3})
    code, err = _run_main(monkeypatch, capsys, ["train", "--data", str(photos), "--out", str(tmp_path / "r"), *FAST])
    assert code == 2 and "error: DataError" in err and "class 'hat' has 3 images" in err
    assert "set min_class_count=3" in err and not (tmp_path / "r" / "model").exists()


def test_unmapped_folders_stop_instead_of_training_on_nothing(tmp_path: Path, monkeypatch, capsys) -> None:
    photos = make_class_folders(tmp_path / "photos", {"sock": 6, "glove": 6})
    args = ["train", "--data", str(photos), "--reader", "folder", "--taxonomy", "fpi", "--out", str(tmp_path / "r")]
    code, err = _run_main(monkeypatch, capsys, [*args, *FAST])
    assert code == 2 and "none of the 12 items mapped onto taxonomy 'fpi'" in err and "drop --taxonomy" in err
    assert not (tmp_path / "r" / "model").exists()


@pytest.mark.slow
def test_train_on_real_clothing_photos(shared_data: Path, tmp_path: Path) -> None:
    photos = shared_data / "clothing_photos" / "train"
    result = runner.invoke(
        app, ["train", "--data", str(photos), "--out", str(tmp_path / "run"), *FAST, "image_size=24", "input_size=24"]
    )
    assert result.exit_code == 0, result.output + repr(result.exception)
    sidecar = json.loads((tmp_path / "run" / "model" / "fashiontag.json").read_text())
    assert len(sidecar["heads"]["class"]) == 10 and sidecar["metrics"]["acc_class"] > 0.1
