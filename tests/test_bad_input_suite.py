"""The bad-input suite of issue 13 (non-service part): a generated corpus of hostile and careless inputs to
``predict``, the dataset readers and model loading, each with its exact outcome.

Every case asserts the exit code or error class and message, that no traceback is printed, and (for ``predict``)
that every expected path is in the output exactly once: no row lost, none duplicated. The service half of the
suite lives with the service tests.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fashiontag.artifact import ModelFileError, add_files
from fashiontag.data import formats as _formats
from fashiontag.data.checks import DataError
from fashiontag.data.readers import read_dataset
from fashiontag.data.synthetic import make_synthetic_dataset
from fashiontag.data.taxonomy import load_taxonomy
from fashiontag.infer import load
from fashiontag.infer._lock import OutputLock

FPI_HEADER = "id,gender,masterCategory,subCategory,articleType,baseColour,season,year,usage,productDisplayName\n"
FPI_ROW = ",Men,Apparel,Topwear,Shirts,Blue,Fall,2011,Casual,Shirt"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A tiny model (torch + ONNX) and one good photo; each case builds its own bad input beside them."""
    import torch

    from fashiontag.export import export_onnx
    from fashiontag.models._testing import make_tiny_model

    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("corpus")
    manifest, taxonomy = make_synthetic_dataset(root / "data", per_leaf=1, size=32)
    model = root / "model"
    make_tiny_model(model, load_taxonomy(str(taxonomy)))
    export_onnx(model, exporter="torchscript", speed_images=0)
    photo = sorted((manifest.parent / "images").glob("*.png"))[0]
    return {"model": model, "photo": photo, "taxonomy": taxonomy}


# ---------------------------------------------------------------- predict: inputs


def _save(path: Path, image: Image.Image, **kw: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, **kw)
    return path


def _photo(c: dict[str, Path]) -> Image.Image:
    return Image.open(c["photo"]).convert("RGB")


def _truncated_jpeg(d: Path, c: dict[str, Path]) -> None:
    _save(d / "cut.jpg", _photo(c).resize((64, 64)), format="JPEG")
    data = (d / "cut.jpg").read_bytes()
    (d / "cut.jpg").write_bytes(data[: len(data) // 2])


def _exif_rotated(d: Path, c: dict[str, Path]) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6
    _save(d / "rotated.jpg", _photo(c), format="JPEG", exif=exif)


def _animated_gif(d: Path, c: dict[str, Path]) -> None:
    frames = [_photo(c), _photo(c).rotate(90)]
    _save(d / "anim.gif", frames[0], format="GIF", save_all=True, append_images=frames[1:])


def _heic(d: Path, c: dict[str, Path]) -> None:
    _formats.register_image_plugins()
    _save(d / "phone.heic", _photo(c), format="HEIF")


def _broken_symlink(d: Path, c: dict[str, Path]) -> None:
    d.mkdir(parents=True, exist_ok=True)
    (d / "gone.jpg").symlink_to(d / "deleted.jpg")


def _dir_named_jpg(d: Path, c: dict[str, Path]) -> None:
    (d / "album.jpg").mkdir(parents=True)


def _write(name: str, data: bytes) -> Callable[[Path, dict[str, Path]], None]:
    def build(d: Path, c: dict[str, Path]) -> None:
        d.mkdir(parents=True, exist_ok=True)
        (d / name).write_bytes(data)

    return build


def _image(name: str, make: Callable[[Image.Image], Image.Image], **kw: object) -> Callable[..., None]:
    def build(d: Path, c: dict[str, Path]) -> None:
        _save(d / name, make(_photo(c)), **kw)

    return build


@dataclass(frozen=True)
class Folder:
    """A folder holding the good photo plus one bad file; ``outcome``: labelled / failed / skipped."""

    build: Callable[[Path, dict[str, Path]], None]
    outcome: str
    reason: str = ""  # regex on the failure or skip reason
    needs: str = ""  # "heif" or "avif": skipped when this install cannot decode the format


FOLDER_CASES = {
    "zero_byte_jpg": Folder(_write("empty.jpg", b""), "failed", r"empty file \(0 bytes\)"),
    "truncated_jpeg": Folder(_truncated_jpeg, "failed", r"truncat|corrupt|cannot decode"),
    "text_named_jpg": Folder(_write("fake.jpg", b"hello, not a photo\n"), "failed", r"not an image file"),
    "png_signature_garbage": Folder(
        _write("bad.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 40), "failed", r"truncat|corrupt|cannot decode|not an image"
    ),
    "html_named_webp": Folder(_write("page.webp", b"<!doctype html><html></html>"), "failed", r"not an image file"),
    "svg": Folder(_write("logo.svg", b"<svg xmlns='http://www.w3.org/2000/svg'/>"), "skipped", r"SVG is a vector"),
    "pdf": Folder(_write("sheet.pdf", b"%PDF-1.4\n"), "skipped", r"PDF is a document"),
    "no_extension": Folder(_write("README", b"x"), "skipped", r"not an image type \(no extension\)"),
    "broken_symlink": Folder(_broken_symlink, "skipped", r"broken symlink"),
    "folder_named_jpg": Folder(_dir_named_jpg, "skipped", r"a folder named like an image"),
    "heic_photo": Folder(_heic, "labelled", needs="heif"),
    "avif_image": Folder(_image("web.avif", lambda im: im, format="AVIF"), "labelled", needs="avif"),
    "png_16bit_grey": Folder(
        _image(
            "deep.png", lambda im: Image.fromarray((np.asarray(im.convert("L"), np.uint16) * 257).astype(np.uint16))
        ),
        "labelled",
    ),
    "cmyk_jpeg": Folder(_image("print.jpg", lambda im: im.convert("CMYK"), format="JPEG"), "labelled"),
    "palette_png_with_alpha": Folder(_image("pal.png", lambda im: im.convert("P"), transparency=0), "labelled"),
    "rgba_png": Folder(_image("alpha.png", lambda im: im.convert("RGBA")), "labelled"),
    "one_pixel": Folder(_image("dot.png", lambda im: im.resize((1, 1))), "labelled"),
    "exif_rotated_jpeg": Folder(_exif_rotated, "labelled"),
    "animated_gif": Folder(_animated_gif, "labelled"),
    "decompression_bomb": Folder(
        _image("bomb.png", lambda im: Image.new("1", (20000, 20000))), "failed", r"bomb|pixels|memory|too large"
    ),
    "uppercase_extension": Folder(_image("SHOUT.JPG", lambda im: im, format="JPEG"), "labelled"),
}


def _main(argv: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> tuple[int, str]:
    """Run the real entry point (``fashiontag ...``) in-process; returns exit code and stdout+stderr."""
    from fashiontag.cli.main import main

    monkeypatch.setattr(sys, "argv", ["fashiontag", *argv])
    try:
        main()
        code = 0
    except SystemExit as exit_info:
        code = exit_info.code if isinstance(exit_info.code, int) else 1
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def _rows(out: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.read_text().splitlines()]


@pytest.mark.parametrize("kind", list(FOLDER_CASES))
def test_predict_folder_with_a_bad_file(
    kind: str,
    corpus: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    case = FOLDER_CASES[kind]
    if case.needs == "heif" and not _formats.heif_available():
        pytest.skip("pillow-heif is not installed")
    if case.needs == "avif" and not _formats.avif_available():
        pytest.skip("this Pillow has no AVIF codec")
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(corpus["photo"], folder / "good.png")
    case.build(folder, corpus)
    out = tmp_path / "preds.jsonl"
    code, output = _main(
        ["predict", str(corpus["model"]), str(folder), "--out", str(out), "--no-progress"], capsys, monkeypatch
    )
    assert code == 0 and "Traceback" not in output, output
    counts = {"labelled": 1, "failed": 0, "skipped": 0}
    counts[case.outcome] += 1
    assert f"{counts['labelled']} labelled, {counts['failed']} failed, {counts['skipped']} skipped" in output
    rows = _rows(out)
    sources = [r["source"] for r in rows]
    assert len(sources) == len(set(sources)) == counts["labelled"] + counts["failed"]  # none lost, none twice
    bad = [r for r in rows if Path(str(r["source"])).name != "good.png"]
    if case.outcome == "failed":
        assert len(bad) == 1 and bad[0]["labels"] == {}
        assert re.search(case.reason, str(bad[0]["error"])), bad[0]["error"]
    elif case.outcome == "labelled":
        assert len(bad) == 1 and bad[0]["error"] is None and bad[0]["labels"]
    else:
        assert not bad and re.search(case.reason, output), output


# ---------------------------------------------------------------- predict: arguments and output files


def _setup_photos(tmp_path: Path, corpus: dict[str, Path]) -> Path:
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("a.png", "b.png"):
        shutil.copy(corpus["photo"], folder / name)
    return folder


def _out_other_columns(tmp_path: Path, folder: Path) -> list[str]:
    (tmp_path / "mine.csv").write_text("path,label\nx.jpg,y\n")
    return [str(folder), "--out", str(tmp_path / "mine.csv")]


def _out_not_utf8(tmp_path: Path, folder: Path) -> list[str]:
    (tmp_path / "p.jsonl").write_bytes(b'{"source": "\xff\xfe"}\n')
    return [str(folder), "--out", str(tmp_path / "p.jsonl")]


def _out_is_folder(tmp_path: Path, folder: Path) -> list[str]:
    (tmp_path / "p.csv").mkdir()
    return [str(folder), "--out", str(tmp_path / "p.csv")]


def _list_without_path_column(tmp_path: Path, folder: Path) -> list[str]:
    (tmp_path / "list.csv").write_text("file\na.png\n")
    return [str(tmp_path / "list.csv"), "--out", str(tmp_path / "p.csv")]


def _list_not_utf8(tmp_path: Path, folder: Path) -> list[str]:
    (tmp_path / "list.txt").write_bytes(b"in/\xe9t\xe9.png\n")
    return [str(tmp_path / "list.txt"), "--out", str(tmp_path / "p.csv")]


def _bad_out_suffix(tmp_path: Path, folder: Path) -> list[str]:
    return [str(folder), "--out", str(tmp_path / "p.txt")]


def _jsonl_not_predictions(tmp_path: Path, folder: Path) -> list[str]:
    (tmp_path / "manifest.jsonl").write_text('{"path": "a.png", "label": "x"}\n')
    return [str(folder), "--out", str(tmp_path / "manifest.jsonl")]


ARG_CASES = {  # kind: (build argv after MODEL, exit code, message regex, file that must be left unchanged)
    "out_with_other_columns": (_out_other_columns, 2, r"do not match this model's; write to a new file", "mine.csv"),
    "out_not_utf8": (_out_not_utf8, 2, r"not UTF-8 at byte", "p.jsonl"),
    "out_is_a_folder": (_out_is_folder, 2, r"is a folder", ""),
    "out_is_someone_elses_jsonl": (_jsonl_not_predictions, 2, r"line 1: not a prediction", "manifest.jsonl"),
    "path_list_without_path_column": (_list_without_path_column, 2, r"needs a 'path' column", ""),
    "path_list_not_utf8": (_list_not_utf8, 2, r"must be UTF-8", ""),
    "out_suffix_not_csv_or_jsonl": (_bad_out_suffix, 2, r"must end in .csv or .jsonl", ""),
}


@pytest.mark.parametrize("kind", list(ARG_CASES))
def test_predict_bad_arguments_and_outputs(
    kind: str,
    corpus: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    build, expected_code, message, unchanged = ARG_CASES[kind]
    folder = _setup_photos(tmp_path, corpus)
    monkeypatch.chdir(tmp_path)
    argv = build(tmp_path, folder)
    before = (tmp_path / unchanged).read_bytes() if unchanged else None
    code, output = _main(["predict", str(corpus["model"]), *argv, "--no-progress"], capsys, monkeypatch)
    text = " ".join(output.replace("│", " ").split())
    assert code == expected_code and "Traceback" not in output, output
    assert re.search(message, text), text
    if unchanged:
        assert (tmp_path / unchanged).read_bytes() == before  # a user's file is never rewritten


def test_predict_while_another_run_holds_the_output(
    corpus: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    folder, out = _setup_photos(tmp_path, corpus), tmp_path / "p.csv"
    with OutputLock(out):
        code, output = _main(["predict", str(corpus["model"]), str(folder), "--out", str(out)], capsys, monkeypatch)
    assert code == 3 and f"pid {os.getpid()}" in output and "Traceback" not in output


def test_predict_torn_output_then_rerun_loses_and_duplicates_nothing(
    corpus: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    folder, out = _setup_photos(tmp_path, corpus), tmp_path / "p.csv"
    argv = ["predict", str(corpus["model"]), str(folder), "--out", str(out), "--no-progress"]
    assert _main(argv, capsys, monkeypatch)[0] == 0
    out.write_bytes(out.read_bytes()[:-9])
    code, output = _main(argv, capsys, monkeypatch)
    assert code == 0 and "1 labelled, 0 failed, 0 skipped, 1 already" in output
    lines = out.read_text().splitlines()[1:]
    assert sorted(line.split(",")[0] for line in lines) == [str(folder / "a.png"), str(folder / "b.png")]


@pytest.mark.parametrize(("kind", "message"), [
    ("missing_model_dir", r"not a fashiontag model"),
    ("hand_edited_thresholds", r"thresholds differ"),
    ("files_emptied", r"files must list model.safetensors"),
])  # fmt: skip
def test_predict_refuses_a_bad_model_with_exit_2(
    kind: str,
    message: str,
    corpus: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    model = tmp_path / "m"
    if kind != "missing_model_dir":
        shutil.copytree(corpus["model"], model)
        data = json.loads((model / "fashiontag.json").read_text())
        data.update({"hand_edited_thresholds": {"thresholds": {"group": 0.0}}, "files_emptied": {"files": {}}}[kind])
        (model / "fashiontag.json").write_text(json.dumps(data))
    folder = _setup_photos(tmp_path, corpus)
    code, output = _main(["predict", str(model), str(folder), "--out", str(tmp_path / "p.csv")], capsys, monkeypatch)
    assert code == 2 and "Traceback" not in output
    assert re.search(message, " ".join(output.replace("│", " ").split()))
    assert not (tmp_path / "p.csv").exists()


# ---------------------------------------------------------------- readers


def _fpi(tmp_path: Path, ids: list[str], styles: bytes | None = None) -> Path:
    root = tmp_path / "a" / "b" / "fpi"
    (root / "images").mkdir(parents=True)
    Image.new("RGB", (8, 8)).save(root / "images" / "1.jpg")
    (tmp_path / "outside").mkdir()
    Image.new("RGB", (8, 8), (9, 9, 9)).save(tmp_path / "outside" / "1.jpg")
    text = styles if styles is not None else (FPI_HEADER + "".join(f"{i}{FPI_ROW}\n" for i in ids)).encode()
    (root / "styles.csv").write_bytes(text)
    return root


FPI_CASES = {  # kind: (ids, kept item_ids, problem reason)
    "fpi_id_dot_dot": (["1", "../../../outside/1"], ["1"], "id resolves outside the dataset root"),
    "fpi_id_absolute": (["1", "/abs/outside/1"], ["1"], "id is an absolute path (outside the dataset root)"),
    "fpi_id_dot_slash": (["1", "./1"], ["1"], "duplicate id in styles.csv"),
    "fpi_id_backslashes": (["1", "..\\..\\..\\outside\\1"], ["1"], "id resolves outside the dataset root"),
    "fpi_id_without_image": (["1", "2"], ["1"], "row without an image file"),
    "fpi_id_empty": (["1", ""], ["1"], "row without an id"),
}


@pytest.mark.parametrize("kind", list(FPI_CASES))
def test_fpi_reader_bad_rows(kind: str, tmp_path: Path) -> None:
    ids, kept, reason = FPI_CASES[kind]
    result = read_dataset("fpi", _fpi(tmp_path, ids), hash_files=False)
    assert result.items["item_id"].tolist() == kept
    assert [p.reason for p in result.problems] == [reason]


def test_fpi_reader_short_row_and_latin1_bytes(tmp_path: Path) -> None:
    styles = (FPI_HEADER + f"1{FPI_ROW}\n3,Men\n").encode() + f"1{FPI_ROW} f\xfcr\n".encode("latin-1")
    result = read_dataset("fpi", _fpi(tmp_path, [], styles), hash_files=False)
    assert result.items["item_id"].tolist() == ["1"]
    assert sorted(p.reason for p in result.problems) == ["duplicate id in styles.csv", "only 2 of 10 fields"]


def _manifest(tmp_path: Path, name: str, content: bytes) -> Path:
    Image.new("RGB", (8, 8)).save(tmp_path / "a.jpg")
    Image.new("RGB", (8, 8), (1, 2, 3)).save(tmp_path / "b.jpg")
    (tmp_path / name).write_bytes(content)
    return tmp_path / name


MANIFEST_ERRORS = {  # whole-file problems: one DataError line
    "manifest_latin1_csv": ("m.csv", "path,label\na.jpg,Mäntel\n".encode("latin-1"), r"not UTF-8 text"),
    "manifest_no_path_column": ("m.csv", b"image,label\na.jpg,x\n", r"no 'path' column"),
    "manifest_empty_file": ("m.csv", b"", r"empty manifest"),
    "manifest_unclosed_quote": ("m.csv", b'path,label\n"a.jpg,x\n', r"not a readable CSV"),
    "manifest_latin1_jsonl": ("m.jsonl", '{"path": "a.jpg", "label": "Mäntel"}\n'.encode("latin-1"), r"not UTF-8 text"),
}

MANIFEST_ROWS = {  # bad rows: reported, the good row kept
    "manifest_bad_jsonl_line": (
        "m.jsonl",
        b'{"path": "a.jpg", "label": "x"}\n{"path": "b.jpg",\n',
        ["a.jpg"],
        ["line 2: not valid JSON (Expecting property name enclosed in double quotes)"],
    ),
    "manifest_path_escapes": (
        "m.csv",
        b"path,label\na.jpg,x\n../../etc/passwd,y\n",
        ["a.jpg"],
        ["path resolves outside the dataset root"],
    ),
    "manifest_absolute_path": (
        "m.csv",
        b"path,label\na.jpg,x\n/etc/passwd,y\n",
        ["a.jpg"],
        ["path resolves outside the dataset root"],
    ),
    "manifest_missing_file": ("m.csv", b"path,label\na.jpg,x\nnope.jpg,y\n", ["a.jpg"], ["file not found"]),
    "manifest_conflicting_duplicate_ids": (
        "m.csv",
        b"item_id,path,label\n1,a.jpg,x\n1,b.jpg,y\n2,a.jpg,z\n",
        ["a.jpg"],
        ["duplicate item_id with conflicting labels (label); no row kept"] * 2,
    ),
}


@pytest.mark.parametrize("kind", list(MANIFEST_ERRORS))
def test_manifest_whole_file_errors(
    kind: str,
    corpus: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    name, content, message = MANIFEST_ERRORS[kind]
    file = _manifest(tmp_path, name, content)
    with pytest.raises(DataError, match=message):
        read_dataset("manifest", file)
    argv = ["data", "inspect", str(file), "--reader", "manifest", "--taxonomy", str(corpus["taxonomy"]), "--no-decode"]
    code, output = _main(argv, capsys, monkeypatch)
    assert code == 2 and output.startswith("error: DataError:") and "Traceback" not in output, output


@pytest.mark.parametrize("kind", list(MANIFEST_ROWS))
def test_manifest_bad_rows(kind: str, tmp_path: Path) -> None:
    name, content, kept, reasons = MANIFEST_ROWS[kind]
    result = read_dataset("manifest", _manifest(tmp_path, name, content), hash_files=False)
    assert [Path(p).name for p in result.items["path"]] == kept
    assert [p.reason for p in result.problems] == reasons


# ---------------------------------------------------------------- model loading


def _flip_last_byte(model: Path, name: str) -> None:
    data = bytearray((model / name).read_bytes())
    data[-1] ^= 0x01
    (model / name).write_bytes(bytes(data))


def _raw_sidecar(text: str) -> Callable[[Path], None]:
    return lambda model: (model / "fashiontag.json").write_text(text)


def _nan_threshold(model: Path) -> None:
    data = json.loads((model / "fashiontag.json").read_text())
    data["thresholds"] = {"group": float("nan")}
    (model / "fashiontag.json").write_text(json.dumps(data))  # Python writes NaN, which JSON readers accept


MODEL_CASES = {  # kind: (a function that tampers, or sidecar edits {key__sub: value}; backend; message)
    "threshold_nan": (_nan_threshold, "torch", r"thresholds.group: Input should be a finite number"),
    "thresholds_string": (dict(thresholds="abc"), "torch", r"thresholds: Input should be an object"),
    "threshold_zero": (dict(thresholds={"group": 0.0}), "torch", r"thresholds differ"),
    "threshold_zero_onnx": (dict(thresholds={"group": 0.0}), "onnx", r"thresholds differ"),
    "threshold_above_one": (dict(thresholds={"group": 7}), "torch", r"less than or equal to 1.01"),
    "files_emptied": (dict(files={}), "torch", r"files must list model.safetensors"),
    "files_path_traversal": ({"files__../../x": "0" * 64}, "torch", r"not a plain file name"),
    "preprocess_size_zero": (dict(preprocess__size=0), "onnx", r"preprocess.size: .*greater than 0"),
    "preprocess_size_edited": (dict(preprocess__size=64), "onnx", r"preprocess differ"),
    "temperature_zero": (dict(temperature={"type": 0}), "torch", r"temperature.type: .*greater than 0"),
    "heads_reordered": (dict(heads__group=["b", "a"]), "torch", r"heads differ"),
    "backbone_renamed": (dict(backbone__name="resnet50"), "torch", r"backbone differ"),
    "strategy_not_string": (dict(strategy=3), "torch", r"strategy: Input should be a valid string"),
    "cascade_part_outside": (
        dict(strategy="cascade", parts={"router": "../../other"}),
        "torch",
        r"not a plain folder name",
    ),
    "format_version_future": (dict(format_version=2), "torch", r"format_version 2"),
    "sidecar_not_json": (_raw_sidecar("{'strategy': 'flat'"), "torch", r"sidecar is not valid JSON"),
    "sidecar_a_list": (_raw_sidecar("[]"), "torch", r"sidecar must be a JSON object"),
    "sidecar_missing": (lambda m: (m / "fashiontag.json").unlink(), "torch", r"not a fashiontag model"),
    "weights_flipped_byte": (lambda m: _flip_last_byte(m, "model.safetensors"), "torch", r"sha256 does not match"),
    "weights_truncated": (lambda m: (m / "model.safetensors").write_bytes(b"12"), "torch", r"sha256 does not match"),
    "weights_missing": (lambda m: (m / "model.safetensors").unlink(), "onnx", r"model.safetensors: missing"),
    "onnx_flipped_byte": (lambda m: _flip_last_byte(m, "model.onnx"), "onnx", r"model.onnx: sha256 does not match"),
    "onnx_stale_after_temperature": (
        lambda m: add_files(m, [], temperature={"type": 2.0}),
        "onnx",
        r"exported for other temperature",
    ),
}


@pytest.mark.parametrize("kind", list(MODEL_CASES))
def test_tampered_model_is_refused(
    kind: str, corpus: dict[str, Path], tmp_path: Path, edit_sidecar: Callable[..., None]
) -> None:
    tamper, backend, message = MODEL_CASES[kind]
    model = tmp_path / "m"
    shutil.copytree(corpus["model"], model)
    if isinstance(tamper, dict):
        edit_sidecar(model, **tamper)
    else:
        tamper(model)
    with pytest.raises(ModelFileError, match=message):
        load(model, backend=backend)


def test_legitimate_changes_through_the_writer_still_load(corpus: dict[str, Path], tmp_path: Path) -> None:
    model = tmp_path / "m"
    shutil.copytree(corpus["model"], model)
    add_files(model, [], thresholds={"group": 0.5, "type": 0.25})
    for backend in ("torch", "onnx"):
        assert load(model, backend=backend).thresholds == {"group": 0.5, "type": 0.25}
