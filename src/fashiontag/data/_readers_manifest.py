"""The ``manifest`` reader: a CSV or JSONL file of image paths (relative to the file) and label columns.

Rules for hostile or careless manifests (docs/data.md):

* the whole file is refused with one :class:`~fashiontag.data.checks.DataError` line when it cannot be a
  manifest: not UTF-8, unparseable CSV, no ``path`` column;
* a bad row is reported as a :class:`Problem` and skipped, the rest is read: a JSONL line that is not a JSON
  object (its line number is in the problem), a path that is empty, outside the manifest's folder or missing;
* an ``item_id`` given to several rows: identical labels keep the first row; conflicting labels keep none of
  them (which one is right is unknowable, and both in ``split.csv`` would train on a contradiction).
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pandas as pd

from fashiontag.data.checks import DataError
from fashiontag.data.readers import Problem, ReadResult, empty_to_none, inside, register_reader


def _manifest_file(root: Path) -> Path:
    if root.is_file():
        return root
    for name in ("manifest.csv", "manifest.jsonl", "labels.csv"):
        if (root / name).exists():
            return root / name
    raise FileNotFoundError(f"{root}: no manifest.csv, manifest.jsonl or labels.csv; pass the manifest file")


def _text(file: Path) -> str:
    data = file.read_bytes()
    try:
        return data.decode("utf-8-sig")  # a BOM (Excel's "CSV UTF-8") is not part of the first column name
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise DataError(
            f"{file}: not UTF-8 text (byte 0x{data[exc.start]:02x} on line {line}); save it as UTF-8 "
            "(Excel: 'CSV UTF-8'; iconv -f latin1 -t utf-8)"
        ) from None


def _jsonl_records(file: Path, text: str) -> tuple[list[dict[str, Any]], list[Problem]]:
    records, problems = [], []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError as exc:
            problems.append(Problem(f"{file}:{number}", f"line {number}: not valid JSON ({exc.msg})"))
            continue
        if not isinstance(record, dict):
            problems.append(Problem(f"{file}:{number}", f"line {number}: not a JSON object"))
            continue
        records.append(record)
    return records, problems


def _manifest_rows(file: Path) -> tuple[pd.DataFrame, list[Problem]]:
    text = _text(file)
    if file.suffix.lower() in (".jsonl", ".ndjson"):
        records, problems = _jsonl_records(file, text)
        return pd.DataFrame.from_records(records), problems
    try:
        return pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False), []
    except pd.errors.EmptyDataError:
        raise DataError(f"{file}: empty manifest (no header row)") from None
    except pd.errors.ParserError as exc:
        raise DataError(f"{file}: not a readable CSV ({str(exc).strip()})") from None


def _cell(value: Any) -> str:
    value = empty_to_none(value)
    return "" if value is None else str(value).strip()


def _row(
    record: dict[str, Any], base: Path, file: Path, path_column: str, id_column: str | None
) -> tuple[dict[str, Any] | None, Problem | None]:
    rel = _cell(record.get(path_column))
    item_id = _cell(record.get(id_column)) if id_column else rel
    if not rel:
        return None, Problem(str(file), "row without a path", item_id or None)
    if not item_id:
        return None, Problem(rel, f"row without an {id_column}", None)
    try:
        path = (base / rel).resolve()
        escapes = not inside(base, base / rel)
    except (OSError, ValueError):  # e.g. an embedded NUL byte
        return None, Problem(repr(rel), "invalid path", item_id)
    if escapes:
        return None, Problem(rel, "path resolves outside the dataset root", item_id)
    if not path.is_file():
        return None, Problem(str(path), "file not found", item_id)
    row = {k: empty_to_none(v) for k, v in record.items() if k not in (path_column, id_column)}
    row.update(item_id=item_id, path=str(path), crop=row.get("crop"))
    row.setdefault("year", None)
    return row, None


def _drop_duplicate_ids(rows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[Problem]]:
    """One row per item_id: exact label copies keep the first, conflicting labels keep none (all reported)."""
    by_id: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_id.setdefault(row["item_id"], []).append(row)
    kept, problems = [], []
    for item_id, group in by_id.items():
        labels = [{k: v for k, v in row.items() if k not in ("item_id", "path")} for row in group]
        if len(group) == 1:
            kept.append(group[0])
        elif all(other == labels[0] for other in labels[1:]):
            kept.append(group[0])
            problems += [
                Problem(r["path"], "duplicate item_id (same labels; first row kept)", item_id) for r in group[1:]
            ]
        else:
            differ = sorted(
                {k for other in labels[1:] for k in set(other) | set(labels[0]) if other.get(k) != labels[0].get(k)}
            )
            reason = f"duplicate item_id with conflicting labels ({', '.join(differ)}); no row kept"
            problems += [Problem(r["path"], reason, item_id) for r in group]
    order = {id(row): i for i, row in enumerate(rows)}
    return sorted(kept, key=lambda row: order[id(row)]), problems


@register_reader("manifest")
def read_manifest(root: Path, path_column: str = "path", id_column: str | None = None) -> ReadResult:
    """A CSV/JSONL manifest; paths are relative to its folder and must stay inside it.

    Example:
        >>> read_dataset("manifest", "data/manifest.csv").items.columns[:5].tolist()  # doctest: +SKIP
        ['item_id', 'path', 'dup_group', 'year', 'crop']
    """
    file = _manifest_file(root)
    base = file.parent
    table, problems = _manifest_rows(file)
    if path_column not in table.columns:
        found = list(map(str, table.columns)) or "none"
        raise DataError(
            f"{file}: no {path_column!r} column (columns: {found}); name the image path column "
            f"{path_column!r} or pass path_column=..."
        )
    id_column = id_column or next((c for c in ("item_id", "id") if c in table.columns), None)
    rows = []
    for record in table.to_dict("records"):
        row, problem = _row(record, base, file, path_column, id_column)
        if problem is not None:
            problems.append(problem)
        else:
            rows.append(row)
    rows, duplicates = _drop_duplicate_ids(rows)
    return ReadResult(pd.DataFrame(rows), problems + duplicates)
