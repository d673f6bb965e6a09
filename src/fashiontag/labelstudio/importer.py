"""A Label Studio JSON export -> a manifest CSV that ``train --reader manifest`` (and ``init_from``) read as is.

The manifest's label columns are named after the taxonomy's ``sources:`` entry that maps node names level
by level (``path_columns``), so ``--source`` that entry maps them without a new rule. Each row keeps who
answered and when (``annotator``, ``annotated_at``, ``lead_time_s``) and the Label Studio ids. Tasks that
give no training label (skipped/cancelled, never annotated, no category chosen, a path the taxonomy lacks)
are listed by reason in the summary, never dropped silently.

Example:
    >>> summary = import_export("export.json", load_taxonomy("fpi"), "photos/reviewed.csv")  # doctest: +SKIP
    >>> summary.written, summary.skipped_by_reason  # doctest: +SKIP
    (118, {'skipped (cancelled)': 2})
"""

from __future__ import annotations

import csv
import json
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

from fashiontag._io import atomic_open
from fashiontag.data.taxonomy import PATH_SEP, Taxonomy
from fashiontag.labelstudio.config import ConfigNames, default_names

EXTRA_COLUMNS = ["annotator", "annotated_at", "lead_time_s", "ls_task_id", "ls_annotation_id"]


class ExportFormatError(ValueError):
    """The file is not a Label Studio JSON export (``JSON`` format, a list of tasks with annotations)."""


@dataclass
class ImportSummary:
    """What an import wrote and what it left out, with why."""

    out: Path
    source: str | None
    written: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (task id, reason)

    @property
    def skipped_by_reason(self) -> dict[str, int]:
        return dict(Counter(reason for _, reason in self.skipped).most_common())


def manifest_columns(taxonomy: Taxonomy, source: str | None = None) -> tuple[str | None, list[str], dict[str, str]]:
    """``(source, level columns, {attribute: column})`` for the manifest, from a ``path_columns`` source.

    ``source`` None picks ``manifest`` if it maps by ``path_columns``, else the first source that does; with
    none, columns are the level and attribute names and the returned source is None (the caller says how to
    add one).

    Raises:
        ValueError: ``source`` is named but is not a ``path_columns`` source of the taxonomy.
    """
    sources = taxonomy.sources or {}
    usable = [name for name, spec in sources.items() if "path_columns" in (spec or {})]
    if source is not None and source not in usable:
        raise ValueError(
            f"--source {source!r} is not a path_columns source of taxonomy {taxonomy.name!r} "
            f"(usable: {usable or 'none'})"
        )
    chosen = source or ("manifest" if "manifest" in usable else (usable[0] if usable else None))
    if chosen is None:
        return None, list(taxonomy.levels), {a: a for a in taxonomy.attributes}
    spec = sources[chosen]
    levels = list(spec["path_columns"])
    if len(levels) != len(taxonomy.levels):
        raise ValueError(f"source {chosen!r}: path_columns {levels} do not cover the levels {taxonomy.levels}")
    columns = {a: str(c) for a, c in (spec.get("attributes") or {}).items()}
    return chosen, levels, {a: columns.get(a, a) for a in taxonomy.attributes}


def _read_export(path: Path) -> list[dict[str, Any]]:
    try:
        tasks = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ExportFormatError(f"{path}: not JSON ({exc})") from None
    if not isinstance(tasks, list) or any(not isinstance(t, dict) or "data" not in t for t in tasks):
        raise ExportFormatError(
            f"{path}: expected a list of tasks with 'data' (Label Studio export format 'JSON', not 'JSON_MIN' or CSV)"
        )
    return tasks


def _chosen_annotation(task: dict[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
    annotations = task.get("annotations") or []
    if not annotations:
        return None, "not annotated"
    kept = [a for a in annotations if not a.get("was_cancelled")]
    if not kept:
        return None, "skipped (cancelled)"
    # ground truth first, then the most recent answer: what a reviewer settled on last
    return max(
        kept,
        key=lambda a: (
            bool(a.get("ground_truth")),
            str(a.get("updated_at") or a.get("created_at") or ""),
            a.get("id") or 0,
        ),
    ), None


def _values(annotation: dict[str, Any], names: ConfigNames) -> tuple[list[str] | None, dict[str, str]]:
    path, attributes = None, {}
    by_control = {control: attribute for attribute, control in names.choices.items()}
    for item in annotation.get("result") or []:
        value = item.get("value") or {}
        if item.get("from_name") == names.taxonomy and value.get("taxonomy"):
            path = [str(n) for n in value["taxonomy"][0]]
        elif item.get("from_name") in by_control and value.get("choices"):
            attributes[by_control[item["from_name"]]] = str(value["choices"][0])
    return path, attributes


def _local_path(data: dict[str, Any], names: ConfigNames, root: Path | None) -> str | None:
    if data.get("path"):
        return str(data["path"])
    url = str(data.get(names.image_key) or "")
    if root is not None and "local-files" in url:
        rel = parse_qs(urlparse(url).query).get("d", [""])[0]
        return str(root / unquote(rel)) if rel else None
    return None


def _annotator(annotation: dict[str, Any]) -> str:
    who = annotation.get("completed_by")
    if isinstance(who, dict):
        return str(who.get("email") or who.get("id") or "")
    return "" if who is None else str(who)


def _row(
    task: dict[str, Any], taxonomy: Taxonomy, names: ConfigNames, root: Path | None, base: Path
) -> tuple[dict[str, Any] | None, str | None]:
    annotation, reason = _chosen_annotation(task)
    if annotation is None:
        return None, reason
    path, attributes = _values(annotation, names)
    if not path:
        return None, "no category chosen"
    node_id = PATH_SEP.join(path)
    if node_id not in taxonomy.nodes or not taxonomy.is_leaf(node_id):
        return None, f"category {node_id!r} is not a leaf of taxonomy {taxonomy.name!r}"
    local = _local_path(task.get("data") or {}, names, root)
    if local is None:
        return None, "no local image path (task without data.path; pass --root for local-files URLs)"
    rel = os.path.relpath(local, base)
    if rel.startswith(".."):
        return None, f"image outside the manifest's folder {base}"
    row = {
        "path": Path(rel).as_posix(),
        "levels": path,
        "attributes": attributes,
        "annotator": _annotator(annotation),
        "annotated_at": annotation.get("updated_at") or annotation.get("created_at") or "",
        "lead_time_s": annotation.get("lead_time") or "",
        "ls_task_id": task.get("id", ""),
        "ls_annotation_id": annotation.get("id", ""),
    }
    if (task.get("data") or {}).get("item_id"):
        row["item_id"] = str(task["data"]["item_id"])
    return row, None


def import_export(
    export: str | Path,
    taxonomy: Taxonomy,
    out: str | Path,
    source: str | None = None,
    root: str | Path | None = None,
    names: ConfigNames | None = None,
) -> ImportSummary:
    """Write the reviewed labels of a Label Studio JSON export as a manifest CSV at ``out`` (atomically).

    Args:
        export: the project's export in Label Studio's ``JSON`` format.
        taxonomy: the taxonomy the project's config was made from.
        out: manifest CSV to write; image paths are written relative to its folder, so it must sit in a folder
            that contains the images (the manifest reader refuses paths outside it).
        source: the taxonomy ``sources:`` entry to name columns after (default: see :func:`manifest_columns`).
        root: Label Studio's ``LOCAL_FILES_DOCUMENT_ROOT``, for tasks without ``data.path``.
        names: tag names of the project's config (default: those ``labelling_config`` writes).

    Raises:
        ExportFormatError: not a JSON export; ValueError: ``out`` is the export itself.
    """
    export, out = Path(export), Path(out)
    if out.resolve() == export.resolve():
        raise ValueError(f"--out {out} is the export file itself; choose another name")
    tasks = _read_export(export)
    chosen, level_columns, attribute_columns = manifest_columns(taxonomy, source)
    names = names or default_names(taxonomy)
    base = out.resolve().parent
    summary = ImportSummary(out, chosen)
    rows = []
    for task in tasks:
        row, reason = _row(task, taxonomy, names, Path(root).resolve() if root else None, base)
        if row is None:
            summary.skipped.append((str(task.get("id", "?")), str(reason)))
            continue
        flat = {"path": row["path"], "item_id": row.get("item_id", row["path"])}
        flat.update(
            {column: (row["levels"][i] if i < len(row["levels"]) else "") for i, column in enumerate(level_columns)}
        )
        flat.update({column: row["attributes"].get(a, "") for a, column in attribute_columns.items()})
        flat.update({k: row[k] for k in EXTRA_COLUMNS})
        rows.append(flat)
    columns = ["path", "item_id", *level_columns, *attribute_columns.values(), *EXTRA_COLUMNS]
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(out, "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(dict.fromkeys(columns)))
        writer.writeheader()
        writer.writerows(rows)
    summary.written = len(rows)
    return summary


def source_snippet(taxonomy: Taxonomy) -> str:
    """The ``sources:`` entry to add to a taxonomy that has no ``path_columns`` source."""
    attributes = ", ".join(f"{a}: {a}" for a in taxonomy.attributes)
    return (
        f"sources:\n  manifest:\n    path_columns: [{', '.join(taxonomy.levels)}]\n    attributes: {{{attributes}}}\n"
    )
