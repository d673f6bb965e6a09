"""``fashiontag predict`` under careless use: two runs on one --out, resume by another spelling of the same path,
a torn last row, and files a folder scan passes over. Each test failed before issue 13."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import socket
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from fashiontag.cli.main import app
from fashiontag.data import formats as _formats
from fashiontag.infer._lock import OutputLock, OutputLockedError, lock_path
from fashiontag.infer._scan import scan_inputs


@pytest.fixture()
def photos(tmp_path: Path, images: list[Path]) -> Path:
    folder = tmp_path / "photos"
    folder.mkdir()
    for image in images[:4]:
        shutil.copy(image, folder / image.name)
    return folder


def _predict(model: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["predict", str(model), *args, "--no-progress"])
    return result.exit_code, result.output


def _paths(out: Path) -> list[str]:
    if out.suffix == ".jsonl":
        return [json.loads(line)["source"] for line in out.read_text().splitlines()]
    return [row["path"] for row in csv.DictReader(io.StringIO(out.read_text()))]


def test_second_run_on_the_same_out_fails_at_once_naming_the_holder(
    model_dir: Path, photos: Path, tmp_path: Path
) -> None:
    out = tmp_path / "preds.csv"
    with OutputLock(out):
        code, output = _predict(model_dir, str(photos), "--out", str(out))
        with pytest.raises(OutputLockedError):
            with OutputLock(out):
                pass
    assert code == 3, output
    assert f"pid {os.getpid()} on host {socket.gethostname()}" in output and "another --out" in output
    assert not out.exists() and not lock_path(out).exists()  # released on exit


def test_stale_lock_of_a_dead_process_is_taken_over(model_dir: Path, photos: Path, tmp_path: Path) -> None:
    out = tmp_path / "preds.csv"
    lock_path(out).write_text(json.dumps({"pid": 4_000_000, "host": "gone-host", "started": 1}))  # no flock held
    code, output = _predict(model_dir, str(photos), "--out", str(out))
    assert code == 0, output
    assert "took over the lock" in output and "pid 4000000 on host gone-host" in output
    assert len(_paths(out)) == 4 and not lock_path(out).exists()


def test_resume_keys_on_the_resolved_path(
    model_dir: Path, photos: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "preds.csv"
    monkeypatch.chdir(tmp_path)
    assert _predict(model_dir, "photos", "--out", str(out))[0] == 0
    (tmp_path / "link").symlink_to(photos)
    for spelling in (str(photos.resolve()), f"{tmp_path}/photos/../photos/", "link", "photos/*.png"):
        code, output = _predict(model_dir, spelling, "--out", str(out))
        assert code == 0 and "0 labelled, 0 failed, 0 skipped, 4 already" in output, (spelling, output)
    assert len(_paths(out)) == 4 == len(set(_paths(out)))


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_torn_last_row_is_relabelled_not_counted_as_done(
    model_dir: Path, photos: Path, tmp_path: Path, suffix: str
) -> None:
    out = tmp_path / f"preds{suffix}"
    assert _predict(model_dir, str(photos), "--out", str(out))[0] == 0
    whole = out.read_bytes()
    last = whole.rstrip(b"\r\n").rsplit(b"\n", 1)[1]
    out.write_bytes(whole[: len(whole) - len(last) // 2 - 2])  # a crash halfway through the last row
    code, output = _predict(model_dir, str(photos), "--out", str(out))
    assert code == 0, output
    assert "dropped, that image is labelled again" in output and "1 labelled, 0 failed, 0 skipped, 3 already" in output
    assert sorted(_paths(out)) == sorted(str(p) for p in photos.iterdir())
    assert out.read_bytes()[: len(whole) - len(last)] == whole[: len(whole) - len(last)]  # earlier rows kept as is
    assert out.read_bytes().endswith(b"\n")  # the re-labelled row is whole (its floats may differ in the last digit)


def test_damage_before_the_last_row_is_refused_not_rewritten(model_dir: Path, photos: Path, tmp_path: Path) -> None:
    out = tmp_path / "preds.jsonl"
    assert _predict(model_dir, str(photos), "--out", str(out))[0] == 0
    lines = out.read_text().splitlines()
    lines[1] = lines[1][:20]
    out.write_text("\n".join(lines) + "\n")
    before = out.read_bytes()
    code, output = _predict(model_dir, str(photos), "--out", str(out))
    assert code == 2 and "line 2: not valid JSON" in " ".join(output.replace("│", " ").split())
    assert out.read_bytes() == before


def _odd_folder(folder: Path) -> None:
    (folder / "drawing.svg").write_text("<svg xmlns='http://www.w3.org/2000/svg'/>")
    (folder / "notes.txt").write_text("x")
    (folder / "gone.jpg").symlink_to(folder / "deleted.jpg")
    (folder / "album.jpg").mkdir()


def test_scan_reports_every_skipped_file_by_reason(photos: Path) -> None:
    _odd_folder(photos)
    scan = scan_inputs([str(photos)])
    assert len(scan.paths) == 4
    assert sorted((Path(p).name, r) for p, r in scan.skipped) == [
        ("album.jpg", "a folder named like an image"),
        ("drawing.svg", "SVG is a vector drawing, not a photo: export it to PNG"),
        ("gone.jpg", "broken symlink"),
        ("notes.txt", "not an image type (.txt)"),
    ]


def test_heic_without_the_plugin_is_skipped_with_the_fix(photos: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (photos / "IMG_0001.HEIC").write_bytes(b"\x00\x00\x00\x18ftypheic")
    monkeypatch.setattr(_formats, "heif_available", lambda: False)
    scan = scan_inputs([str(photos)])
    assert scan.skipped == [(str(photos / "IMG_0001.HEIC"), _formats.unsupported_reason(".heic"))]
    assert "pip install pillow-heif" in scan.skipped[0][1]


def test_summary_separates_labelled_failed_and_skipped(model_dir: Path, photos: Path, tmp_path: Path) -> None:
    _odd_folder(photos)
    (photos / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    out = tmp_path / "preds.csv"
    code, output = _predict(model_dir, str(photos), "--out", str(out))
    assert code == 0, output
    assert "4 labelled, 1 failed, 4 skipped, 0 already" in output
    assert "Skipped (no row written):" in output and "broken symlink: 1" in output
    assert len(_paths(out)) == 5  # 4 labelled + 1 failed row; skipped files have no row


@pytest.mark.skipif(not _formats.heif_available(), reason="pillow-heif is not installed")
def test_heic_and_avif_photos_are_labelled(model_dir: Path, photos: Path, tmp_path: Path) -> None:
    _formats.register_image_plugins()
    image = Image.open(next(photos.iterdir())).convert("RGB")
    image.save(photos / "phone.heic", format="HEIF")
    if _formats.avif_available():
        image.save(photos / "web.avif", format="AVIF")
    out = tmp_path / "preds.jsonl"
    code, output = _predict(model_dir, str(photos), "--out", str(out))
    expected = 6 if _formats.avif_available() else 5
    assert code == 0 and f"{expected} labelled, 0 failed, 0 skipped" in output, output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert {Path(r["source"]).suffix for r in rows} >= {".heic"} and all(r["error"] is None for r in rows)
