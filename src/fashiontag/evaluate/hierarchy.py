"""Hierarchy-aware scores: top-down decoding, path and per-level accuracy, points, mistake severity,
selective prediction (stop at a coarser level or abstain) and per-level threshold fitting.

Inputs are arrays: ``probs[level]`` is ``[N, len(tax.head_labels(level))]`` and ``targets[level]`` is
``[N]`` label indices with ``-1`` where the true leaf has no node at that level (ragged trees).

Example:
    >>> tax = load_taxonomy("slowfashion")  # doctest: +SKIP
    >>> decoded = decode_top_down(tax, probs)  # doctest: +SKIP
    >>> hierarchy_metrics(tax, decoded, targets)["full_path_accuracy"]  # doctest: +SKIP
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from fashiontag.data.taxonomy import Taxonomy

#: A threshold no probability reaches: the level is never auto-labelled.
NEVER = 1.0 + 1e-6


@dataclass(frozen=True)
class Decoded:
    """Top-down decoding: per level, chosen label index (``-1`` below a shallow leaf) and its probability."""

    index: dict[str, np.ndarray]
    confidence: dict[str, np.ndarray]


def targets_from_leaves(tax: Taxonomy, leaves: list[str | None]) -> dict[str, np.ndarray]:
    """Per-level target indices from true leaf ids (``-1`` for a missing leaf or an absent level)."""
    out = {}
    for depth, level in enumerate(tax.levels):
        position = {node: i for i, node in enumerate(tax.head_labels(level))}
        column = []
        for leaf in leaves:
            path = tax.ancestors(leaf) if leaf else []
            column.append(position[path[depth]] if depth < len(path) else -1)
        out[level] = np.array(column, dtype=np.int64)
    return out


def decode_top_down(tax: Taxonomy, probs: dict[str, np.ndarray]) -> Decoded:
    """Argmax at the first level, then at each level argmax among the chosen parent's children."""
    index: dict[str, np.ndarray] = {}
    confidence: dict[str, np.ndarray] = {}
    parents: list[str | None] | None = None
    for level in tax.levels:
        labels = tax.head_labels(level)
        position = {node: i for i, node in enumerate(labels)}
        level_probs = np.asarray(probs[level], dtype=np.float64)
        n = len(level_probs)
        chosen = np.full(n, -1, dtype=np.int64)
        if parents is None:
            chosen[:] = level_probs.argmax(1)
        else:
            for i, parent in enumerate(parents):
                children = [position[c] for c in tax.children(parent)] if parent else []
                if children:
                    chosen[i] = children[int(np.argmax(level_probs[i, children]))]
        index[level] = chosen
        confidence[level] = np.where(chosen >= 0, level_probs[np.arange(n), np.maximum(chosen, 0)], 0.0)
        parents = [labels[c] if c >= 0 else None for c in chosen]
    return Decoded(index, confidence)


def predicted_nodes(tax: Taxonomy, decoded: Decoded) -> list[list[str]]:
    """Each row's predicted path (node ids, top first)."""
    columns = [[tax.head_labels(level)[i] if i >= 0 else None for i in decoded.index[level]] for level in tax.levels]
    return [[node for node in row if node is not None] for row in zip(*columns, strict=False)]


def level_correct(decoded: Decoded, targets: dict[str, np.ndarray], level: str) -> np.ndarray:
    """Boolean per row: the decoded node equals the true node at ``level`` (False where no true node)."""
    return (decoded.index[level] == targets[level]) & (targets[level] >= 0)


def full_path_accuracy(tax: Taxonomy, decoded: Decoded, targets: dict[str, np.ndarray]) -> float:
    """Share of rows whose whole predicted path equals the true path (ragged depths must match too)."""
    labelled = targets[tax.levels[0]] >= 0
    same = np.ones(len(labelled), dtype=bool)
    for level in tax.levels:
        same &= decoded.index[level] == targets[level]
    return float(same[labelled].mean()) if labelled.any() else float("nan")


def per_level_accuracy(tax: Taxonomy, decoded: Decoded, targets: dict[str, np.ndarray]) -> dict[str, float]:
    """Accuracy of the consistent top-down decoding at each level, over rows with a true node there."""
    out = {}
    for level in tax.levels:
        has = targets[level] >= 0
        out[level] = float(level_correct(decoded, targets, level)[has].mean()) if has.any() else float("nan")
    return out


def points_score(tax: Taxonomy, decoded: Decoded, targets: dict[str, np.ndarray]) -> dict[str, Any]:
    """Seed 004's score: one point per level whose predicted node *name* equals the true one.

    Names, not ids, as in the seed: a correct type under a wrong gender still scores its type point.
    """
    points, maximum = 0, 0
    for level in tax.levels:
        labels = tax.head_labels(level)
        names = np.array([tax.nodes[n].name for n in labels] + [""], dtype=object)  # index -1 -> ""
        has = targets[level] >= 0
        maximum += int(has.sum())
        points += int((names[decoded.index[level]][has] == names[targets[level]][has]).sum())
    return {"points": points, "max_points": maximum, "fraction": points / maximum if maximum else float("nan")}


def tree_distance(tax: Taxonomy, a: str, b: str) -> int:
    """Hops between two nodes through their lowest common ancestor (the virtual root counts)."""
    path_a, path_b = tax.ancestors(a), tax.ancestors(b)
    common = 0
    while common < min(len(path_a), len(path_b)) and path_a[common] == path_b[common]:
        common += 1
    return (len(path_a) - common) + (len(path_b) - common)


def mistake_severity(tax: Taxonomy, decoded: Decoded, leaves: list[str | None]) -> dict[str, Any]:
    """Tree distance between the deepest predicted node and the true leaf, over the mistakes."""
    pairs = zip(predicted_nodes(tax, decoded), leaves, strict=True)
    distances = [tree_distance(tax, path[-1], leaf) for path, leaf in pairs if leaf and path and path[-1] != leaf]
    histogram: dict[str, int] = {}
    for d in sorted(distances):
        histogram[str(d)] = histogram.get(str(d), 0) + 1
    return {
        "mistakes": len(distances),
        "mean_hops": float(np.mean(distances)) if distances else 0.0,
        "histogram": histogram,
    }


def accepted_levels(tax: Taxonomy, decoded: Decoded, thresholds: dict[str, float]) -> np.ndarray:
    """``[N, L]`` booleans: a level is accepted when its confidence clears its threshold and its parent's did."""
    n = len(decoded.index[tax.levels[0]])
    accepted = np.zeros((n, len(tax.levels)), dtype=bool)
    parent_ok = np.ones(n, dtype=bool)
    for depth, level in enumerate(tax.levels):
        ok = parent_ok & (decoded.index[level] >= 0) & (decoded.confidence[level] >= thresholds.get(level, 0.0))
        accepted[:, depth] = ok
        parent_ok = ok
    return accepted


def selective_curve(
    tax: Taxonomy, decoded: Decoded, targets: dict[str, np.ndarray], thresholds: np.ndarray | None = None
) -> dict[str, list[float]]:
    """Coverage vs accuracy as one threshold, shared by all levels, sweeps from 0 to 1.

    For each threshold: ``coverage_any`` / ``accuracy_any`` (rows that get at least one level; correct when
    the deepest accepted node is on the true path), ``coverage_full`` / ``accuracy_full`` (rows labelled down
    to a leaf) and ``mean_depth`` (levels given per row): the model stops at a coarser level or abstains.
    """
    grid = np.linspace(0.0, 1.0, 41) if thresholds is None else np.asarray(thresholds)
    out: dict[str, list[float]] = {
        k: [] for k in ("threshold", "coverage_any", "accuracy_any", "coverage_full", "accuracy_full", "mean_depth")
    }
    labelled = targets[tax.levels[0]] >= 0
    correct = np.stack([decoded.index[lv] == targets[lv] for lv in tax.levels], 1)[labelled]
    exists = np.stack([decoded.index[lv] >= 0 for lv in tax.levels], 1)[labelled]
    for t in grid:
        accepted = accepted_levels(tax, decoded, {lv: float(t) for lv in tax.levels})[labelled]
        depth = accepted.sum(1)
        any_level, full = depth > 0, depth == exists.sum(1)
        deepest_ok = correct[np.arange(len(depth)), np.maximum(depth - 1, 0)]
        out["threshold"].append(float(t))
        out["coverage_any"].append(float(any_level.mean()) if len(depth) else float("nan"))
        out["accuracy_any"].append(float(deepest_ok[any_level].mean()) if any_level.any() else float("nan"))
        out["coverage_full"].append(float(full.mean()) if len(depth) else float("nan"))
        out["accuracy_full"].append(float(deepest_ok[full].mean()) if full.any() else float("nan"))
        out["mean_depth"].append(float(depth.mean()) if len(depth) else float("nan"))
    return out


def threshold_for_target(confidence: np.ndarray, correct: np.ndarray, target: float) -> float:
    """Lowest threshold whose accepted rows (``confidence >= t``) reach ``target`` accuracy; NEVER if none."""
    if not len(confidence):
        return NEVER
    order = np.argsort(-confidence, kind="stable")
    conf, hits = confidence[order], correct[order].astype(np.float64)
    running = np.cumsum(hits) / np.arange(1, len(hits) + 1)
    boundary = np.r_[conf[1:] < conf[:-1], True]  # a cut may only fall between distinct confidences
    ok = np.where(boundary & (running >= target))[0]
    return float(conf[ok[-1]]) if len(ok) else NEVER


def fit_thresholds(
    tax: Taxonomy, probs: dict[str, np.ndarray], targets: dict[str, np.ndarray], target_accuracy: float = 0.99
) -> dict[str, float]:
    """Per-head thresholds so that what is auto-labelled reaches ``target_accuracy`` on these (validation) rows.

    Levels are fitted top-down among the rows whose parent level was accepted (as the Labeller decides);
    attributes are fitted on their own max probability.

    Example:
        >>> thresholds = fit_thresholds(tax, val_probs, val_targets, 0.99)  # doctest: +SKIP
    """
    decoded = decode_top_down(tax, probs)
    thresholds: dict[str, float] = {}
    parent_ok = targets[tax.levels[0]] >= 0
    for level in tax.levels:
        rows = parent_ok & (decoded.index[level] >= 0)
        correct = level_correct(decoded, targets, level)
        thresholds[level] = threshold_for_target(decoded.confidence[level][rows], correct[rows], target_accuracy)
        parent_ok = rows & (decoded.confidence[level] >= thresholds[level])
    for attribute in tax.attributes:
        p, t = np.asarray(probs[attribute], dtype=np.float64), np.asarray(targets[attribute])
        rows = t >= 0
        thresholds[attribute] = threshold_for_target(p[rows].max(1), p[rows].argmax(1) == t[rows], target_accuracy)
    return thresholds


def accept_correct(tax: Taxonomy, decoded: Decoded, accepts: list[list[str] | None]) -> np.ndarray:
    """Coarse-label scoring: the predicted node at the deepest level the accept set names is in the set."""
    paths = predicted_nodes(tax, decoded)
    out = np.zeros(len(accepts), dtype=bool)
    for i, (path, accept) in enumerate(zip(paths, accepts, strict=False)):
        if not accept or not path:
            continue
        depth = max(tax.nodes[n].depth for n in accept)
        out[i] = path[min(depth, len(path) - 1)] in set(accept)
    return out


def hierarchy_metrics(
    tax: Taxonomy,
    probs: dict[str, np.ndarray],
    targets: dict[str, np.ndarray],
    leaves: list[str | None],
    thresholds: dict[str, float] | None = None,
) -> dict[str, Any]:
    """All hierarchy numbers for the report, JSON-ready."""
    decoded = decode_top_down(tax, probs)
    out: dict[str, Any] = {
        "full_path_accuracy": full_path_accuracy(tax, decoded, targets),
        "per_level_accuracy": per_level_accuracy(tax, decoded, targets),
        "points": points_score(tax, decoded, targets),
        "severity": mistake_severity(tax, decoded, leaves),
        "selective": selective_curve(tax, decoded, targets),
    }
    if thresholds:
        accepted = accepted_levels(tax, decoded, thresholds)
        labelled = targets[tax.levels[0]] >= 0
        per_level = {}
        for depth, level in enumerate(tax.levels):
            rows = accepted[:, depth] & labelled
            acc = level_correct(decoded, targets, level)[rows].mean() if rows.any() else math.nan
            per_level[level] = {"coverage": float(rows.sum() / max(labelled.sum(), 1)), "accuracy": float(acc)}
        out["at_thresholds"] = {"thresholds": thresholds, "per_level": per_level}
    return out
