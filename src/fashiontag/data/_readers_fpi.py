"""The Kaggle Fashion Product Images layout: ``styles.csv`` + ``images/<id>.jpg``."""

from __future__ import annotations

import csv
import os
import posixpath
from pathlib import Path
from typing import Any

import pandas as pd

from fashiontag.data.readers import Problem, ReadResult, empty_to_none, inside, register_reader

FPI_COLUMNS = [
    "id", "gender", "masterCategory", "subCategory", "articleType",
    "baseColour", "season", "year", "usage", "productDisplayName",
]  # fmt: skip


def parse_styles_csv(path: Path) -> tuple[list[dict[str, Any]], list[Problem]]:
    """Rows of styles.csv; the original Kaggle file has unquoted commas in the last field, so the
    first nine fields are fixed and everything after them is re-joined into the product name."""
    rows: list[dict[str, Any]] = []
    problems: list[Problem] = []
    with open(path, newline="", encoding="utf-8", errors="replace") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None:
            return rows, [Problem(str(path), "empty styles.csv")]
        header = [h.strip() for h in header]
        fixed = len(header) - 1
        for line_no, fields in enumerate(reader, start=2):
            if not fields:
                continue
            if len(fields) < fixed:
                problems.append(Problem(f"{path}:{line_no}", f"only {len(fields)} of {len(header)} fields"))
                continue
            if len(fields) > len(header):
                fields = [*fields[:fixed], ",".join(fields[fixed:])]
            rows.append({name: empty_to_none(value) for name, value in zip(header, fields, strict=False)})
    return rows, problems


def _year(value: Any) -> int | None:
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return None


def _normalise_id(raw: str) -> tuple[str, str | None]:
    """``./15970`` -> ``15970``; an id that names a path outside the images folder gets a refusal reason.

    Ids become file names (``images/<id>.jpg``), so ``../../../outside/15970`` or ``/abs/outside/15970`` would
    read files outside the dataset root; the manifest reader refuses such paths, and so does this one.
    """
    text = raw.strip().replace("\\", "/")
    if text.startswith("/") or (len(text) > 1 and text[1] == ":"):
        return text, "id is an absolute path (outside the dataset root)"
    norm = posixpath.normpath(text)
    if norm == ".." or norm.startswith("../"):
        return text, "id resolves outside the dataset root"
    if "/" in norm or norm in (".", ""):
        return norm, "id is a path, not a file name"
    return norm, None


@register_reader("fpi")
def read_fpi(root: Path, images_dir: str = "images", csv_name: str = "styles.csv") -> ReadResult:
    """Fashion Product Images; rows whose image file is absent, or whose id is a path, are reported, not kept."""
    rows, problems = parse_styles_csv(root / csv_name)
    images = root / images_dir
    entries = list(os.scandir(images)) if images.is_dir() else []
    present = {entry.name for entry in entries}
    links = {entry.name for entry in entries if entry.is_symlink()}  # only these can lead out of images/
    kept, seen = [], set()
    for row in rows:
        raw_id = str(row.get("id") or "").strip()
        if not raw_id:
            problems.append(Problem(str(root / csv_name), "row without an id"))
            continue
        item_id, refused = _normalise_id(raw_id)
        path = images / f"{item_id}.jpg"
        if refused:
            problems.append(Problem(str(root / csv_name), refused, item_id))
            continue
        if item_id in seen:
            problems.append(Problem(str(path), "duplicate id in styles.csv", item_id))
            continue
        seen.add(item_id)
        if path.name not in present:
            problems.append(Problem(str(path), "row without an image file", item_id))
            continue
        if path.name in links and not inside(images, path):
            problems.append(Problem(str(path), "image is a symlink out of the dataset root", item_id))
            continue
        row = dict(row)
        row.pop("id", None)
        row.update(item_id=item_id, path=str(path), year=_year(row.get("year")), crop=None)
        kept.append(row)
    columns = ["item_id", "path", "year", "crop"] + [c for c in FPI_COLUMNS if c not in ("id", "year")]
    items = pd.DataFrame(kept, columns=columns)
    items = items.astype(object).where(items.notna(), None)
    return ReadResult(items, problems)
