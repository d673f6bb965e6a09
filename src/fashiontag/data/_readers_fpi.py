"""The Kaggle Fashion Product Images layout: ``styles.csv`` + ``images/<id>.jpg``."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pandas as pd

from fashiontag.data.readers import Problem, ReadResult, empty_to_none, register_reader

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


@register_reader("fpi")
def read_fpi(root: Path, images_dir: str = "images", csv_name: str = "styles.csv") -> ReadResult:
    """Fashion Product Images; rows whose image file is absent are reported, not kept."""
    rows, problems = parse_styles_csv(root / csv_name)
    present = {p.name for p in (root / images_dir).iterdir()} if (root / images_dir).is_dir() else set()
    kept, seen = [], set()
    for row in rows:
        item_id = str(row.get("id") or "").strip()
        path = root / images_dir / f"{item_id}.jpg"
        if not item_id:
            problems.append(Problem(str(root / csv_name), "row without an id"))
            continue
        if item_id in seen:
            problems.append(Problem(str(path), "duplicate id in styles.csv", item_id))
            continue
        seen.add(item_id)
        if path.name not in present:
            problems.append(Problem(str(path), "row without an image file", item_id))
            continue
        row = dict(row)
        row.pop("id", None)
        row.update(item_id=item_id, path=str(path), year=_year(row.get("year")), crop=None)
        kept.append(row)
    columns = ["item_id", "path", "year", "crop"] + [c for c in FPI_COLUMNS if c not in ("id", "year")]
    items = pd.DataFrame(kept, columns=columns)
    items = items.astype(object).where(items.notna(), None)
    return ReadResult(items, problems)
