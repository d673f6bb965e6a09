"""Hierarchy-aware scores: top-down decoding, path and per-level accuracy, points, mistake severity,
selective prediction (stop at a coarser level or abstain), per-head threshold fitting (Learn-then-Test) and
what the review policy does on a split (auto-labelled share and its accuracy per head, ``needs_review`` share).

Inputs are arrays: ``probs[level]`` is ``[N, len(tax.head_labels(level))]`` and ``targets[level]`` is
``[N]`` label indices with ``-1`` where the true leaf has no node at that level (ragged trees).

Example:
    >>> tax = load_taxonomy("slowfashion")  # doctest: +SKIP
    >>> decoded = decode_top_down(tax, probs)  # doctest: +SKIP
    >>> hierarchy_metrics(tax, decoded, targets)["full_path_accuracy"]  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from fashiontag.data.taxonomy import Taxonomy
from fashiontag.evaluate.thresholds import ThresholdFit, ltt_threshold
from fashiontag.registry import UnknownNameError, unknown_name_message
from fashiontag.review import DEFAULT_DELTA, DEFAULT_TARGET, accept_levels, decide, decode_levels

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Decoded:
    """Top-down decoding: per level, chosen label index (``-1`` below a shallow leaf) and its probability."""

    index: dict[str, np.ndarray]
    confidence: dict[str, np.ndarray]


def decode_top_down(tax: Taxonomy, probs: dict[str, np.ndarray]) -> Decoded:
    """Argmax at the first level, then at each level argmax among the chosen parent's children.

    The one top-down decoding (:func:`fashiontag.review.decode_levels`), as the Labeller and the service use it.
    """
    index, confidence = decode_levels(tax, probs)
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


def accepted_levels(tax: Taxonomy, decoded: Decoded, thresholds: Mapping[str, float]) -> np.ndarray:
    """``[N, L]`` booleans: a level is accepted when its confidence clears its threshold and its parent's did."""
    accepted = accept_levels(tax, decoded.index, decoded.confidence, thresholds)
    return np.stack([accepted[level] for level in tax.levels], 1)


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


def resolve_targets(tax: Taxonomy, target_accuracy: float | Mapping[str, float]) -> dict[str, float]:
    """Target accuracy per head: one number for every head, or ``{head: target}`` (others: DEFAULT_TARGET)."""
    if not isinstance(target_accuracy, Mapping):
        return {head: float(target_accuracy) for head in tax.heads}
    for head in target_accuracy:
        if head not in tax.heads:
            raise UnknownNameError(unknown_name_message("head in target_accuracy", head, list(tax.heads)))
    return {head: float(target_accuracy.get(head, DEFAULT_TARGET)) for head in tax.heads}


def fit_thresholds(
    tax: Taxonomy,
    probs: dict[str, np.ndarray],
    targets: dict[str, np.ndarray],
    target_accuracy: float | Mapping[str, float] = DEFAULT_TARGET,
    delta: float = DEFAULT_DELTA,
) -> dict[str, ThresholdFit]:
    """Per-head Learn-then-Test thresholds (:mod:`~fashiontag.evaluate.thresholds`) on these calibration rows.

    Levels are fitted top-down among the rows whose parent level was accepted (path acceptance, as the
    Labeller decides); attributes on their own max probability. A head whose fit is refused (too few rows, or
    no threshold passes) gets :data:`fashiontag.review.NEVER` and a ``reason``, and a warning is logged.

    Example:
        >>> fits = fit_thresholds(tax, val_probs, val_targets, {"articleType": 0.98}, delta=0.1)  # doctest: +SKIP
        >>> {head: fit.threshold for head, fit in fits.items()}  # doctest: +SKIP
    """
    goals = resolve_targets(tax, target_accuracy)
    decoded = decode_top_down(tax, probs)
    fits: dict[str, ThresholdFit] = {}
    parent_ok, parent = targets[tax.levels[0]] >= 0, None
    for level in tax.levels:
        rows = parent_ok & (decoded.index[level] >= 0)
        correct = level_correct(decoded, targets, level)
        orphan = parent is not None and fits[parent].refused  # path acceptance: nothing below reaches this level
        fit = ltt_threshold(decoded.confidence[level][rows], correct[rows], goals[level], delta, suggest=not orphan)
        if orphan:
            root = fits[parent].blocked_by or parent  # the level whose own fit refused: refitting it frees this one
            fit = replace(fit, reason=f"its parent level {parent} is not auto-labelled", blocked_by=root)
        fits[level] = fit
        parent_ok, parent = rows & (decoded.confidence[level] >= fits[level].threshold), level
    for attribute in tax.attributes:
        p, t = np.asarray(probs[attribute], dtype=np.float64), np.asarray(targets[attribute])
        rows = t >= 0
        fits[attribute] = ltt_threshold(p[rows].max(1), p[rows].argmax(1) == t[rows], goals[attribute], delta)
    for head, fit in fits.items():
        if fit.refused:
            log.warning("%s not auto-labelled: %s", head, fit.reason)
    return fits


def review_summary(
    tax: Taxonomy,
    probs: dict[str, np.ndarray],
    targets: dict[str, np.ndarray],
    thresholds: Mapping[str, float],
    review_heads: Sequence[str] | None = None,
) -> dict[str, Any]:
    """What the review policy does on these rows: per head the auto-labelled share and its accuracy, and the
    share of photos with ``needs_review`` (the Labeller's rule, :func:`fashiontag.review.decide`).

    Shares are over the rows with a true label (levels: a true top-level node, so a label accepted where the
    true branch ends higher up counts as a mistake; attributes: a true value).
    """
    decision = decide(probs, tax, thresholds, review_heads)
    per_head: dict[str, dict[str, Any]] = {}
    for head in [*tax.levels, *tax.attributes]:
        if head not in decision.index or head not in targets:
            continue
        labelled = np.asarray(targets[tax.levels[0] if head in tax.levels else head]) >= 0
        accepted = decision.accepted[head] & labelled
        right = (decision.index[head] == targets[head]) & accepted
        per_head[head] = {
            "threshold": float(thresholds.get(head, 0.0)),
            "photos": int(labelled.sum()),
            "auto_labelled": float(accepted.sum() / labelled.sum()) if labelled.any() else math.nan,
            "accuracy": float(right.sum() / accepted.sum()) if accepted.any() else math.nan,
            "review_head": head in decision.review_heads,
        }
    return {
        "review_heads": list(decision.review_heads),
        "needs_review": float(decision.needs_review.mean()) if len(decision.needs_review) else math.nan,
        "per_head": per_head,
    }


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


def label_space_correct(
    tax: Taxonomy, probs: dict[str, np.ndarray], labels: list[str], accepts: list[list[str] | None]
) -> tuple[np.ndarray, dict[str, str]]:
    """Scoring in the target's own label space (e.g. a shop's 10 classes), as a shop would label with this model.

    Each node an accept rule names goes to the most specific target class accepting it (the smallest accept
    set; ties: the first label), so the mapping is many-to-one; a class scores the summed probability of its
    nodes at their own level (a node under another of the class's nodes is not counted twice), and the top
    class must be the item's label. Returns the per-row correctness and the node -> class mapping used.
    """
    rules: dict[str, list[str]] = {}
    for label, accept in zip(labels, accepts, strict=True):
        if accept:
            rules.setdefault(str(label), list(accept))
    classes = sorted(rules)
    owner: dict[str, str] = {}
    for label in sorted(classes, key=lambda c: (len(rules[c]), c)):
        for node in rules[label]:
            owner.setdefault(node, label)
    rows = len(labels)
    scores = np.zeros((rows, len(classes)))
    for node, label in owner.items():
        if any(owner.get(parent) == label for parent in tax.ancestors(node)[:-1]):
            continue  # its parent's probability already holds it
        level = tax.levels[tax.nodes[node].depth]
        scores[:, classes.index(label)] += probs[level][:, tax.head_labels(level).index(node)]
    truth = np.array([classes.index(str(label)) if str(label) in rules else -1 for label in labels])
    return (scores.argmax(1) == truth) & (truth >= 0), owner


def hierarchy_metrics(
    tax: Taxonomy,
    probs: dict[str, np.ndarray],
    targets: dict[str, np.ndarray],
    leaves: list[str | None],
    thresholds: Mapping[str, float] | None = None,
    review_heads: Sequence[str] | None = None,
) -> dict[str, Any]:
    """All hierarchy numbers for the report, JSON-ready; ``review`` (:func:`review_summary`) with thresholds."""
    decoded = decode_top_down(tax, probs)
    out: dict[str, Any] = {
        "full_path_accuracy": full_path_accuracy(tax, decoded, targets),
        "per_level_accuracy": per_level_accuracy(tax, decoded, targets),
        "points": points_score(tax, decoded, targets),
        "severity": mistake_severity(tax, decoded, leaves),
        "selective": selective_curve(tax, decoded, targets),
    }
    if thresholds:
        out["review"] = review_summary(tax, probs, targets, thresholds, review_heads)
    return out
