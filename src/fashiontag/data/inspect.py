"""``fashiontag data inspect``: everything about a dataset a trainer should know before the first epoch.

Label counts per level and attribute, unreadable files with reasons, images needing RGB conversion,
tiny images, byte-identical and near-duplicate groups with their label conflicts, rare classes and what
the rare policy does to them, and rows that did not map.

Example:
    >>> report = inspect_dataset(DataConfig(root="../shared/data/fpi_small"))  # doctest: +SKIP
    >>> report["images"]["checked"]  # doctest: +SKIP
    37462
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pandas as pd

from fashiontag.data._image_facts import MODE_KINDS, near_duplicate_groups, probe_items
from fashiontag.data.checks import class_count_problems, empty_mapping_message
from fashiontag.data.config import DataConfig
from fashiontag.data.folders import resolve_data
from fashiontag.data.mapped import load_mapped
from fashiontag.data.rare import apply_min_count
from fashiontag.data.taxonomy import Taxonomy

#: Lists in the report are cut to this many entries; counts are always complete.
MAX_LISTED = 1000


def _counts(series: pd.Series) -> dict[str, int]:
    return {str(k): int(v) for k, v in series.dropna().value_counts().items()}


def label_counts(items: pd.DataFrame, taxonomy: Taxonomy) -> dict[str, dict[str, int]]:
    """Items per node for each level and per value for each attribute, every label listed (0 included)."""
    out: dict[str, dict[str, int]] = {}
    for head in taxonomy.heads:
        counts = _counts(items[head]) if head in items else {}
        out[head] = {label: counts.get(label, 0) for label in taxonomy.head_labels(head)}
    return out


def raw_counts(items: pd.DataFrame, max_values: int = 500) -> dict[str, dict[str, int]]:
    """The source's own label columns as read (e.g. FPI's 45 subCategories), before any mapping."""
    skip = {"item_id", "path", "dup_group", "crop", "productDisplayName"}
    out = {}
    for column in items.columns:
        if column not in skip and items[column].dtype == object and items[column].nunique() <= max_values:
            out[column] = _counts(items[column])
    return out


def _conflicts(groups: list[list[str]], leaf_of: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for ids in groups:
        leaves = sorted({str(leaf_of.get(i)) for i in ids})
        if len(leaves) > 1:
            out.append({"ids": ids, "leaves": leaves})
    return out


def duplicate_report(items: pd.DataFrame, near: list[list[str]] | None, radius: int) -> dict[str, Any]:
    """Byte-identical groups (``dup_group``) and perceptual near-duplicates, with label conflicts."""
    leaf_of = dict(zip(items["item_id"], items["leaf"], strict=True))
    sizes = items.groupby("dup_group")["item_id"].apply(list)
    exact = [sorted(ids) for ids in sizes if len(ids) > 1]
    exact_conflicts = _conflicts(exact, leaf_of)
    report: dict[str, Any] = {
        "byte_identical": {
            "groups": len(exact), "items": sum(len(g) for g in exact),
            "groups_with_label_conflict": len(exact_conflicts),
            "conflicts": exact_conflicts[:MAX_LISTED], "groups_listed": exact[:MAX_LISTED],
        },
    }  # fmt: skip
    if near is not None:
        group_of = dict(zip(items["item_id"], items["dup_group"], strict=True))
        near = [g for g in near if len({group_of[i] for i in g}) > 1]  # more than plain byte copies
        near_conflicts = _conflicts(near, leaf_of)
        report["near_duplicate"] = {
            "method": f"phash, Hamming distance <= {radius}", "groups": len(near), "items": sum(len(g) for g in near),
            "groups_with_label_conflict": len(near_conflicts), "conflicts": near_conflicts[:MAX_LISTED],
        }  # fmt: skip
    return report


def image_report(items: pd.DataFrame, probes: list[dict[str, Any]], tiny_side: int) -> dict[str, Any]:
    """Undecodable files by reason, modes needing conversion, tiny images, common sizes."""
    bad = [
        {"item_id": i, "path": p, "reason": r["reason"]}
        for i, p, r in zip(items.item_id, items.path, probes, strict=True)
        if not r["ok"]
    ]
    good = [r for r in probes if r["ok"]]
    modes = Counter(MODE_KINDS.get(r["mode"], r["mode"]) for r in good if r["mode"] != "RGB")
    tiny = [
        i for i, r in zip(items.item_id, probes, strict=True) if r["ok"] and min(r["width"], r["height"]) < tiny_side
    ]
    sizes = Counter(f"{r['width']}x{r['height']}" for r in good)
    return {
        "checked": len(probes), "decoded": len(good), "undecodable": len(bad),
        "undecodable_by_reason": dict(Counter(b["reason"] for b in bad).most_common()),
        "undecodable_files": bad[:MAX_LISTED], "needs_rgb_conversion": dict(modes.most_common()),
        "tiny": {"min_side": tiny_side, "count": len(tiny), "ids": tiny[:MAX_LISTED]},
        "common_sizes": dict(sizes.most_common(5)),
    }  # fmt: skip


def _reader_report(read: Any) -> dict[str, Any]:
    by_reason: dict[str, list[str]] = {}
    for problem in read.problems:
        by_reason.setdefault(problem.reason, []).append(problem.item_id or problem.path)
    return {
        "items": len(read.items), "skipped": len(read.problems),
        "skipped_by_reason": {k: len(v) for k, v in by_reason.items()},
        "skipped_ids": {k: v[:MAX_LISTED] for k, v in by_reason.items()},
    }  # fmt: skip


def inspect_dataset(
    config: DataConfig, limit: int | None = None, decode: bool = True, progress: bool = True
) -> dict[str, Any]:
    """The full inspection report as a JSON-ready dict; ``decode=False`` skips the per-image pass."""
    config, _ = resolve_data(config)  # reader/taxonomy "auto" -> what training would use
    read, mapping, taxonomy = load_mapped(config, limit=limit)
    items = mapping.items
    mapped = mapping.mapped
    report: dict[str, Any] = {
        "dataset": {"reader": config.reader, "root": str(config.root), "taxonomy": taxonomy.name,
                    "taxonomy_inferred": config.taxonomy == "auto" and config.reader == "folder",
                    "levels": list(taxonomy.levels), "source": config.mapping_source, "limit": limit,
                    "folder_splits": _folder_splits(read.items)},
        "rows": _reader_report(read),
        "mapping": {"mapped": len(mapped), "unmapped": len(items) - len(mapped),
                    "unmapped_by_reason": mapping.unmapped},
        "counts": label_counts(mapped, taxonomy),
        "raw_counts": raw_counts(read.items),
    }  # fmt: skip
    near = None
    if decode:
        pairs = list(zip(items["path"], items["crop"], strict=True))
        probes = probe_items(pairs, workers=config.workers, progress=progress)
        report["images"] = image_report(items, probes, config.tiny_side)
        hashes = [(i, r["phash"]) for i, r in zip(items["item_id"], probes, strict=True) if r["ok"]]
        near = near_duplicate_groups(hashes, radius=config.near_dup_radius)
    report["duplicates"] = duplicate_report(items, near, config.near_dup_radius)
    _, actions = apply_min_count(mapped, taxonomy, config.min_count, config.rare)
    report["rare"] = {"min_count": config.min_count, "policy": config.rare, "classes": actions}
    report["trainable"] = trainable_report(read, mapping, taxonomy, config)
    return report


def _folder_splits(items: pd.DataFrame) -> dict[str, int] | None:
    """Items per split folder (train/ val/ test/) when the folder reader found any."""
    return _counts(items["split"]) or None if "split" in items else None


def trainable_report(read: Any, mapping: Any, taxonomy: Taxonomy, config: DataConfig) -> dict[str, Any]:
    """What ``fashiontag train`` would stop on (``errors``) or warn about, with the same messages."""
    errors, warnings = [], []
    if mapping.mapped.empty:
        errors.append(
            empty_mapping_message(
                str(config.root), config.reader, taxonomy, config.mapping_source, mapping.unmapped, len(read.items)
            )
        )
    strict = config.taxonomy == "auto" and config.reader == "folder"
    small = [p["message"] for p in class_count_problems(mapping.mapped, taxonomy, config.min_class_count, strict)]
    (errors if strict else warnings).extend(small)
    return {"ok": not errors, "min_class_count": config.min_class_count, "errors": errors, "warnings": warnings}


def format_report(report: dict[str, Any]) -> str:
    """A short human-readable summary of :func:`inspect_dataset` output."""
    rows, mapping = report["rows"], report["mapping"]
    lines = [f"items: {rows['items']}  skipped rows: {rows['skipped']} {rows['skipped_by_reason']}",
             f"mapped: {mapping['mapped']}  unmapped: {mapping['unmapped']} "
             f"{mapping['unmapped_by_reason']}"]  # fmt: skip
    if "images" in report:
        img = report["images"]
        lines.append(f"images: {img['checked']} checked, {img['decoded']} decoded, {img['undecodable']} undecodable "
                     f"{img['undecodable_by_reason']}; needs RGB: {img['needs_rgb_conversion']}; "
                     f"tiny: {img['tiny']['count']}")  # fmt: skip
    dup = report["duplicates"]
    exact = dup["byte_identical"]
    lines.append(
        f"byte-identical groups: {exact['groups']} ({exact['items']} items, "
        f"{exact['groups_with_label_conflict']} with label conflicts)"
    )
    if "near_duplicate" in dup:
        near = dup["near_duplicate"]
        lines.append(
            f"near-duplicate groups: {near['groups']} ({near['items']} items, "
            f"{near['groups_with_label_conflict']} conflicts)"
        )
    for head, counts in report["counts"].items():
        lines.append(f"{head}: {len(counts)} labels, {sum(1 for c in counts.values() if c)} present")
    trainable = report.get("trainable") or {"errors": [], "warnings": []}
    lines.extend(f"error: {m}" for m in trainable["errors"])
    lines.extend(f"warning: {m}" for m in trainable["warnings"][:10])
    if len(trainable["warnings"]) > 10:
        lines.append(f"warning: ... and {len(trainable['warnings']) - 10} more classes below min_class_count (--json)")
    rare = report["rare"]
    lines.append(
        f"rare (< {rare['min_count']}): {len(rare['classes'])} classes; what --rare {rare['policy']} would do "
        "(training keeps every class of the taxonomy):"
    )
    lines.extend(
        f"  {a['leaf']}: {a['count']} -> {a['action']} {a.get('into', '')}".rstrip() for a in rare["classes"][:10]
    )
    if len(rare["classes"]) > 10:
        lines.append(f"  ... and {len(rare['classes']) - 10} more (--json lists every class)")
    return "\n".join(lines)
