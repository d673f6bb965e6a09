"""Per-head classification metrics: pure functions from (probabilities, targets) to values.

``probs`` is ``[N, C]`` (probabilities or scores, one column per label in head order) and ``targets`` is
``[N]`` integer class indices; a target of ``-1`` means "no label for this head" (a ragged level or a
missing attribute) and such rows are dropped by :func:`valid_rows` before scoring.

Example:
    >>> import numpy as np
    >>> accuracy(np.array([[0.9, 0.1], [0.2, 0.8]]), np.array([0, 0]))
    0.5
"""

from __future__ import annotations

from typing import Any

import numpy as np


def valid_rows(probs: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Keep rows whose target is a class index (drop ``-1``)."""
    probs, targets = np.asarray(probs, dtype=np.float64), np.asarray(targets, dtype=np.int64)
    keep = targets >= 0
    return probs[keep], targets[keep]


def accuracy(probs: np.ndarray, targets: np.ndarray) -> float:
    """Top-1 accuracy (NaN when no row is labelled); training's ``acc_<head>`` is the same function."""
    from fashiontag._scores import accuracy as shared_accuracy

    probs, targets = valid_rows(probs, targets)
    return shared_accuracy(targets, probs.argmax(1)) if len(targets) else float("nan")


def top_k_accuracy(probs: np.ndarray, targets: np.ndarray, k: int = 5) -> float:
    """Fraction of rows whose target is among the ``k`` highest scores (k is capped at the class count)."""
    probs, targets = valid_rows(probs, targets)
    if not len(targets):
        return float("nan")
    k = min(k, probs.shape[1])
    top = np.argsort(-probs, axis=1, kind="stable")[:, :k]
    return float(np.mean((top == targets[:, None]).any(1)))


def confusion_matrix(probs: np.ndarray, targets: np.ndarray, normalize: bool = False) -> np.ndarray:
    """``[C, C]`` counts, rows = true class, columns = predicted; ``normalize`` divides each row by its support."""
    probs, targets = valid_rows(probs, targets)
    num_classes = probs.shape[1]
    matrix = np.zeros((num_classes, num_classes), dtype=np.float64)
    np.add.at(matrix, (targets, probs.argmax(1)), 1)
    if normalize:
        support = matrix.sum(1, keepdims=True)
        matrix = np.divide(matrix, support, out=np.zeros_like(matrix), where=support > 0)
    return matrix


def per_class_table(probs: np.ndarray, targets: np.ndarray, labels: list[str], k: int = 5) -> list[dict[str, Any]]:
    """Seed 001's per-class table: precision, recall, F1, support, top-1 and top-k accuracy per class.

    Classes without test images get ``None`` accuracies (seed 001 once showed them as 100%, then 0%).
    """
    probs_v, targets_v = valid_rows(probs, targets)
    counts = confusion_matrix(probs_v, targets_v)
    true_pos, predicted, support = np.diag(counts), counts.sum(0), counts.sum(1)
    top = np.argsort(-probs_v, axis=1, kind="stable")[:, : min(k, probs_v.shape[1])]
    in_top = (top == targets_v[:, None]).any(1)
    rows = []
    for c, label in enumerate(labels):
        precision = true_pos[c] / predicted[c] if predicted[c] else 0.0
        recall = true_pos[c] / support[c] if support[c] else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        mask = targets_v == c
        rows.append(
            {
                "label": label,
                "precision": float(precision),
                "recall": float(recall),
                "f1": float(f1),
                "support": int(support[c]),
                "accuracy": float(recall) if support[c] else None,
                f"top{k}_accuracy": float(in_top[mask].mean()) if support[c] else None,
            }
        )
    return rows


def f1_scores(probs: np.ndarray, targets: np.ndarray) -> dict[str, float]:
    """Macro and support-weighted F1 over the classes present in targets or predictions (scikit-learn's
    definition, shared with training's early stopping: :func:`fashiontag._scores.f1_scores`)."""
    from fashiontag._scores import f1_scores as shared_f1

    probs_v, targets_v = valid_rows(probs, targets)
    return shared_f1(targets_v, probs_v.argmax(1) if len(probs_v) else np.zeros(0, np.int64))


def average_precision(scores: np.ndarray, positives: np.ndarray) -> float:
    """Area under the precision-recall step curve (scikit-learn's ``average_precision_score``)."""
    order = np.argsort(-scores, kind="mergesort")
    scores, positives = scores[order], positives[order].astype(np.float64)
    distinct = np.r_[np.where(np.diff(scores))[0], len(scores) - 1]  # last index of each tied score
    tp = np.cumsum(positives)[distinct]
    fp = (distinct + 1) - tp
    precision = tp / (tp + fp)
    recall = tp / tp[-1]
    recall_steps = np.diff(np.r_[0.0, recall])
    return float(np.sum(recall_steps * precision))


def mean_average_precision(probs: np.ndarray, targets: np.ndarray) -> float:
    """Macro mAP: one-vs-rest average precision averaged over classes present in ``targets`` (seed 002)."""
    probs_v, targets_v = valid_rows(probs, targets)
    present = np.unique(targets_v)
    if not len(present):
        return float("nan")
    return float(np.mean([average_precision(probs_v[:, c], targets_v == c) for c in present]))


def most_confused(matrix: np.ndarray, labels: list[str], top: int = 10, min_count: float = 1) -> list[dict[str, Any]]:
    """Largest off-diagonal cells of a count matrix (fastai ``most_confused``): readable when C is large."""
    off = np.array(matrix, dtype=np.float64)
    np.fill_diagonal(off, 0)
    flat = np.argsort(-off, axis=None, kind="stable")[:top]
    rows = []
    for index in flat:
        true, pred = np.unravel_index(index, off.shape)
        if off[true, pred] < min_count:
            break
        support = float(np.sum(matrix[true]))
        rows.append(
            {
                "true": labels[true],
                "predicted": labels[pred],
                "count": int(off[true, pred]),
                "rate": float(off[true, pred] / support) if support else 0.0,
            }
        )
    return rows


def negative_log_likelihood(probs: np.ndarray, targets: np.ndarray, eps: float = 1e-12) -> float:
    """Mean ``-log p(target)``."""
    probs_v, targets_v = valid_rows(probs, targets)
    return float(-np.mean(np.log(np.clip(probs_v[np.arange(len(targets_v)), targets_v], eps, 1.0))))


def reliability_bins(probs: np.ndarray, targets: np.ndarray, bins: int = 15) -> dict[str, list[float]]:
    """Equal-width confidence bins: mean confidence, accuracy and count per bin (empty bins skipped)."""
    probs_v, targets_v = valid_rows(probs, targets)
    confidence = probs_v.max(1) if len(probs_v) else np.zeros(0)
    correct = probs_v.argmax(1) == targets_v if len(probs_v) else np.zeros(0, bool)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    out: dict[str, list[float]] = {"lower": [], "upper": [], "confidence": [], "accuracy": [], "count": []}
    for b in range(bins):
        mask = which == b
        if mask.any():
            out["lower"].append(float(edges[b]))
            out["upper"].append(float(edges[b + 1]))
            out["confidence"].append(float(confidence[mask].mean()))
            out["accuracy"].append(float(correct[mask].mean()))
            out["count"].append(int(mask.sum()))
    return out


def expected_calibration_error(probs: np.ndarray, targets: np.ndarray, bins: int = 15) -> float:
    """ECE: count-weighted mean ``|accuracy - confidence|`` over equal-width confidence bins."""
    table = reliability_bins(probs, targets, bins)
    total = sum(table["count"])
    if not total:
        return float("nan")
    gaps = np.abs(np.array(table["accuracy"]) - np.array(table["confidence"]))
    return float(np.sum(gaps * np.array(table["count"])) / total)


def head_metrics(
    probs: np.ndarray, targets: np.ndarray, labels: list[str], k: int = 5, bins: int = 15, top_confused: int = 10
) -> dict[str, Any]:
    """Every per-head number the report shows, as a JSON-ready dict."""
    probs_v, targets_v = valid_rows(probs, targets)
    counts = confusion_matrix(probs_v, targets_v)
    return {
        "count": int(len(targets_v)),
        "accuracy": accuracy(probs_v, targets_v),
        f"top{k}_accuracy": top_k_accuracy(probs_v, targets_v, k),
        **f1_scores(probs_v, targets_v),
        "mAP": mean_average_precision(probs_v, targets_v),
        "nll": negative_log_likelihood(probs_v, targets_v) if len(targets_v) else float("nan"),
        "ece": expected_calibration_error(probs_v, targets_v, bins),
        "reliability": reliability_bins(probs_v, targets_v, bins),
        "per_class": per_class_table(probs_v, targets_v, labels, k),
        "confusion": counts.astype(int).tolist(),
        "most_confused": most_confused(counts, labels, top_confused),
    }
