"""Batch prediction to a CSV or JSONL file: input expansion, resume, periodic atomic checkpoints."""

from __future__ import annotations

import csv
import glob
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fashiontag._io import atomic_open

IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff"}
LIST_EXTENSIONS = {".csv", ".txt"}


@dataclass
class BatchSummary:
    """What a ``predict_files`` run did; ``failures`` are (path, reason) for this run's bad images."""

    output: Path
    processed: int = 0
    skipped: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)


def _from_list(path: Path) -> list[str]:
    if path.suffix.lower() == ".txt":
        lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
        entries = [line for line in lines if line and not line.startswith("#")]
    else:
        with open(path, newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            if "path" not in (reader.fieldnames or []):
                raise ValueError(f"{path}: a path list CSV needs a 'path' column (has {reader.fieldnames})")
            entries = [row["path"] for row in reader if row["path"]]
    return [e if Path(e).is_absolute() else str(path.parent / e) for e in entries]


def collect_inputs(inputs: list[str]) -> list[str]:
    """Expand files, folders (recursive, image extensions), globs and .csv/.txt path lists; keeps order,
    drops duplicates. A path that does not exist is kept, so it is reported as a failure."""
    out: list[str] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            out.extend(str(p) for p in sorted(path.rglob("*")) if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file())
        elif path.is_file() and path.suffix.lower() in LIST_EXTENSIONS:
            out.extend(_from_list(path))
        elif not path.exists() and glob.has_magic(item):
            out.extend(sorted(p for p in glob.glob(item, recursive=True) if Path(p).is_file()))
        else:
            out.append(str(path))
    return list(dict.fromkeys(out))


def csv_columns(heads: list[str]) -> list[str]:
    return ["path", *[c for h in heads for c in (h, f"{h}_confidence")], "level_reached", "needs_review", "error"]


def to_csv_row(result: dict[str, Any], heads: list[str]) -> dict[str, Any]:
    row: dict[str, Any] = {"path": result["source"]}
    for head in heads:
        entry = result["labels"].get(head)
        row[head] = entry["label"] if entry else ""
        row[f"{head}_confidence"] = f"{entry['confidence']:.6f}" if entry else ""
    row["level_reached"] = result["level_reached"] or ""
    row["needs_review"] = str(bool(result["needs_review"])).lower()
    row["error"] = result["error"] or ""
    return row


def _is_jsonl(path: Path) -> bool:
    return path.suffix.lower() in (".jsonl", ".ndjson")


def read_rows(path: Path, heads: list[str]) -> list[dict[str, Any]]:
    """Rows already in an output file (for resume); refuses a CSV written by a model with other heads."""
    if not path.exists() or path.stat().st_size == 0:
        return []
    if _is_jsonl(path):
        lines = path.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines if line.strip()]
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        if reader.fieldnames != csv_columns(heads):
            raise ValueError(f"{path}: existing columns {reader.fieldnames} do not match this model's; "
                             "write to a new file")
        return list(reader)


def row_path(row: dict[str, Any]) -> str:
    return row.get("path") or row.get("source") or ""


def write_rows(path: Path, rows: list[dict[str, Any]], heads: list[str]) -> None:
    """Write all rows to a temp file and rename it over ``path`` (never a half-written output)."""
    with atomic_open(path, "w", encoding="utf-8", newline="") as handle:
        if _is_jsonl(path):
            for row in rows:
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
        else:
            writer = csv.DictWriter(handle, fieldnames=csv_columns(heads))
            writer.writeheader()
            writer.writerows(rows)


def predict_files(
    labeller: Any,
    inputs: list[str],
    output: str | Path,
    top_k: int = 3,
    batch_size: int = 64,
    checkpoint_every: int = 2048,
    progress: bool = True,
) -> BatchSummary:
    """Label every image named by ``inputs`` into ``output`` (.csv or .jsonl), resuming a previous run.

    Paths already in ``output`` are skipped; new rows are appended and the file is rewritten atomically
    every ``checkpoint_every`` images, so an interrupted run loses at most one checkpoint's work.

    Example:
        >>> predict_files(load("model"), ["photos/"], "preds.csv")  # doctest: +SKIP
    """
    from tqdm import tqdm

    output = Path(output)
    heads = list(labeller.heads)
    rows = read_rows(output, heads)
    done = {row_path(r) for r in rows}
    paths = collect_inputs(inputs)
    todo = [p for p in paths if p not in done]
    summary = BatchSummary(output, skipped=len(paths) - len(todo))
    since_checkpoint = 0
    with tqdm(total=len(todo), unit="img", disable=not progress, desc="predict") as bar:
        for start in range(0, len(todo), batch_size):
            results = labeller.predict(todo[start : start + batch_size], top_k=top_k, batch_size=batch_size)
            for result in results:
                rows.append(result if _is_jsonl(output) else to_csv_row(result, heads))
                if result["error"]:
                    summary.failures.append((result["source"], result["error"]))
            summary.processed += len(results)
            since_checkpoint += len(results)
            bar.update(len(results))
            if since_checkpoint >= checkpoint_every:
                write_rows(output, rows, heads)
                since_checkpoint = 0
    if since_checkpoint or not output.exists():
        write_rows(output, rows, heads)
    return summary
