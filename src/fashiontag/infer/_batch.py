"""Batch prediction to a CSV or JSONL file: one locked writer, resume by resolved path, atomic checkpoints.

Safety rules (docs/predict.md): the output is locked while a run writes it (:mod:`._lock`); files already in
it are recognised by their resolved path, so ``photos/`` and ``/abs/photos/`` are the same files; a torn last
row (a crash mid-write of a file some other tool appended to) is not counted as done but re-labelled; and the
file is only ever replaced whole, via a temp file and a rename, so this writer never tears a row itself.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fashiontag._io import atomic_open
from fashiontag.infer._lock import OutputLock
from fashiontag.infer._scan import collect_inputs, resolved, scan_inputs

__all__ = ["BatchSummary", "collect_inputs", "csv_columns", "predict_files", "read_rows", "to_csv_row", "write_rows"]


@dataclass
class BatchSummary:
    """What a ``predict_files`` run did.

    ``labelled``: new rows with labels; ``failures``: (path, reason) of this run's unreadable images (written
    as rows with ``error``); ``skipped``: (path, reason) of files the folder/glob scan passed over (no row);
    ``already``: inputs whose rows were already in the output; ``repaired``: a torn last row dropped from the
    output and labelled again; ``took_over``: holder of a stale lock this run replaced.
    """

    output: Path
    labelled: int = 0
    already: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    repaired: list[str] = field(default_factory=list)
    took_over: str | None = None

    @property
    def processed(self) -> int:
        """Rows this run wrote (labelled + failed)."""
        return self.labelled + len(self.failures)


def csv_columns(heads: list[str]) -> list[str]:
    """``uncertain_attributes`` lists the attributes not accepted, joined by ``;`` (empty: all accepted)."""
    return [
        "path",
        *[c for h in heads for c in (h, f"{h}_confidence")],
        "level_reached",
        "needs_review",
        "uncertain_attributes",
        "error",
    ]


def to_csv_row(result: dict[str, Any], heads: list[str]) -> dict[str, Any]:
    row: dict[str, Any] = {"path": result["source"]}
    for head in heads:
        entry = result["labels"].get(head)
        row[head] = entry["label"] if entry else ""
        row[f"{head}_confidence"] = f"{entry['confidence']:.6f}" if entry else ""
    row["level_reached"] = result["level_reached"] or ""
    row["needs_review"] = str(bool(result["needs_review"])).lower()
    row["uncertain_attributes"] = ";".join(result.get("uncertain_attributes") or [])
    row["error"] = result["error"] or ""
    return row


def _is_jsonl(path: Path) -> bool:
    return path.suffix.lower() in (".jsonl", ".ndjson")


def _csv_row_problem(row: dict[str, Any], heads: list[str]) -> str | None:
    if None in row or any(value is None for value in row.values()):
        return "wrong number of fields"
    if not row.get("path"):
        return "no path"
    if row.get("needs_review") not in ("true", "false"):
        return f"needs_review is {row.get('needs_review')!r}"
    for head in heads:
        value = row.get(f"{head}_confidence", "")
        try:
            if value and not 0.0 <= float(value) <= 1.0 + 1e-6:
                return f"{head}_confidence {value!r} outside [0, 1]"
        except ValueError:
            return f"{head}_confidence {value!r} is not a number"
    return None


def _read_csv(text: str, path: Path, heads: list[str]) -> list[tuple[int, dict[str, Any], str | None]]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    if reader.fieldnames != csv_columns(heads):
        raise ValueError(f"{path}: existing columns {reader.fieldnames} do not match this model's; write to a new file")
    return [(reader.line_num, row, _csv_row_problem(row, heads)) for row in reader]


def _jsonl_problem(line: str) -> tuple[dict[str, Any] | None, str | None]:
    try:
        row = json.loads(line)
    except ValueError as exc:
        return None, f"not valid JSON ({exc.msg})"
    if not isinstance(row, dict) or not isinstance(row.get("source"), str) or "labels" not in row:
        return None, "not a prediction (needs 'source' and 'labels')"
    return row, None


def _read_jsonl(text: str) -> list[tuple[int, dict[str, Any], str | None]]:
    out = []
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            row, problem = _jsonl_problem(line)
            out.append((number, row or {}, problem))
    return out


def read_rows(path: Path, heads: list[str]) -> tuple[list[dict[str, Any]], list[str]]:
    """Rows already in an output file (for resume), and the torn last row dropped from them, if any.

    A last row cut short (no final newline) is what a crash mid-append leaves; it is dropped so that its image
    is labelled again. A bad row anywhere else, or a complete row that is not a prediction, means the file was
    edited or is not a prediction file: refused with its line number, never silently rewritten.
    """
    if not path.exists() or path.stat().st_size == 0:
        return [], []
    try:
        text = path.read_bytes().decode("utf-8")  # newlines kept as written: CSV rows end in \r\n
    except UnicodeDecodeError as exc:
        raise ValueError(
            f"{path}: not a fashiontag prediction file (not UTF-8 at byte {exc.start}); write to a new file"
        ) from None
    parsed = _read_jsonl(text) if _is_jsonl(path) else _read_csv(text, path, heads)
    repaired: list[str] = []
    if parsed and not text.endswith("\n") and _may_be_torn(parsed[-1][2]):
        number, row, problem = parsed.pop()
        repaired.append(f"line {number}: cut short ({problem or 'no final newline'}) ({row_path(row) or '?'})")
    for number, _, problem in parsed:
        if problem:
            raise ValueError(f"{path}: line {number}: {problem}; fix or remove that line, or write to a new file")
    return [row for _, row, _ in parsed], repaired


def _may_be_torn(problem: str | None) -> bool:
    """A write cut short leaves a prefix of a row: unparseable JSON or missing CSV fields, never a foreign row."""
    return problem is None or not problem.startswith("not a prediction")


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


def _label(
    labeller: Any,
    todo: list[str],
    rows: list[dict[str, Any]],
    summary: BatchSummary,
    top_k: int,
    batch_size: int,
    checkpoint_every: int,
    progress: bool,
) -> bool:
    """Label ``todo`` in batches, appending rows; True when rows were added since the last checkpoint."""
    from tqdm import tqdm

    output, heads = summary.output, list(labeller.heads)
    since_checkpoint = 0
    with tqdm(total=len(todo), unit="img", disable=not progress, desc="predict") as bar:
        for start in range(0, len(todo), batch_size):
            results = labeller.predict(todo[start : start + batch_size], top_k=top_k, batch_size=batch_size)
            for result in results:
                rows.append(result if _is_jsonl(output) else to_csv_row(result, heads))
                if result["error"]:
                    summary.failures.append((result["source"], result["error"]))
                else:
                    summary.labelled += 1
            since_checkpoint += len(results)
            bar.update(len(results))
            if since_checkpoint >= checkpoint_every:
                write_rows(output, rows, heads)
                since_checkpoint = 0
    return since_checkpoint > 0


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

    Inputs whose resolved path is already in ``output`` are not labelled again; new rows are appended and the
    file is rewritten atomically every ``checkpoint_every`` images, so an interrupted run loses at most one
    checkpoint's work. ``output`` is locked for the run: a second run on it raises
    :class:`~fashiontag.infer._lock.OutputLockedError` at once, naming the holder.

    Example:
        >>> predict_files(load("model"), ["photos/"], "preds.csv").labelled  # doctest: +SKIP
        120
    """
    output = Path(output)
    if output.is_dir():
        raise ValueError(f"{output}: is a folder; --out must name a .csv or .jsonl file")
    heads = list(labeller.heads)
    batch_size = max(1, batch_size)
    with OutputLock(output) as lock:
        rows, repaired = read_rows(output, heads)
        done = {resolved(row_path(r)) for r in rows}
        scan = scan_inputs(inputs)
        todo = [p for p in scan.paths if resolved(p) not in done]
        summary = BatchSummary(
            output,
            already=len(scan.paths) - len(todo),
            skipped=scan.skipped,
            repaired=repaired,
            took_over=lock.took_over,
        )
        pending = _label(labeller, todo, rows, summary, top_k, batch_size, checkpoint_every, progress)
        if pending or repaired or not output.exists():
            write_rows(output, rows, heads)
    return summary
