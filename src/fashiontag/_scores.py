"""The classification scores training and evaluation share, so early stopping, tuning and the report
optimise and show the same number.

Macro-F1 is scikit-learn's: the unweighted mean of per-class F1 over the classes present in the targets
*or* the predictions (a class the model predicts but that never occurs scores 0 and counts), with
``zero_division=0``. Training used to average over the target classes only, so it selected checkpoints by a
number that was higher than the one the report then showed.

Example:
    >>> import numpy as np
    >>> round(f1_scores(np.array([0, 0, 1]), np.array([0, 2, 1]))["macro_f1"], 4)
    0.5556
"""

from __future__ import annotations

import numpy as np


def f1_scores(targets: np.ndarray, predictions: np.ndarray) -> dict[str, float]:
    """``macro_f1`` and support-``weighted_f1`` of class-index ``predictions`` against ``targets`` (NaN when
    empty); rows with a negative target (no label for this head) are ignored."""
    from sklearn.metrics import f1_score

    targets, predictions = np.asarray(targets, dtype=np.int64), np.asarray(predictions, dtype=np.int64)
    keep = targets >= 0
    targets, predictions = targets[keep], predictions[keep]
    if not len(targets):
        return {"macro_f1": float("nan"), "weighted_f1": float("nan")}
    return {
        "macro_f1": float(f1_score(targets, predictions, average="macro", zero_division=0)),
        "weighted_f1": float(f1_score(targets, predictions, average="weighted", zero_division=0)),
    }


def accuracy(targets: np.ndarray, predictions: np.ndarray) -> float:
    """Top-1 accuracy over rows with a target (NaN when none)."""
    targets, predictions = np.asarray(targets, dtype=np.int64), np.asarray(predictions, dtype=np.int64)
    keep = targets >= 0
    return float(np.mean(predictions[keep] == targets[keep])) if keep.any() else float("nan")
