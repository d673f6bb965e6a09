"""Per-head targets and metrics, as pure functions of (probabilities, targets)."""

from __future__ import annotations

import numpy as np
from torch import Tensor


def head_metrics(probs: dict[str, Tensor], targets: Tensor, heads: list[str]) -> dict[str, float]:
    """``acc_<head>`` and ``f1_<head>`` (macro-F1) per head, ignoring ``-1`` targets.

    Both come from :mod:`fashiontag._scores`, the definitions the evaluation report uses, so the number
    early stopping and tuning optimise is the number the report shows for the same predictions.
    """
    from fashiontag._scores import accuracy, f1_scores

    out: dict[str, float] = {}
    for i, head in enumerate(heads):
        t = targets[:, i].cpu().numpy()
        if not (t >= 0).any():
            continue
        predicted = probs[head].argmax(1).cpu().numpy()
        out[f"acc_{head}"] = accuracy(t, predicted)
        out[f"f1_{head}"] = f1_scores(t, predicted)["macro_f1"]
    return out


def mean_level_f1(metrics: dict[str, float], levels: list[str]) -> float:
    values = [metrics[f"f1_{lv}"] for lv in levels if f"f1_{lv}" in metrics]
    return float(np.mean(values)) if values else 0.0
