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


def mean_accuracy(metrics: dict[str, float]) -> float:
    """Mean top-1 accuracy over every scored head: the default selection metric. Macro-F1 over 140 article
    types with a few val images each moves by 4 points between epochs on FPI (one image of a rare master
    category flips its F1 by 0.1), so selecting on it kept an epoch whose every accuracy was lower."""
    values = [v for k, v in metrics.items() if k.startswith("acc_")]
    return float(np.mean(values)) if values else 0.0


def selection_metrics(metrics: dict[str, float], levels: list[str]) -> dict[str, float]:
    """``metrics`` plus ``val_macro_f1`` and ``val_accuracy``, the two metrics ``trainer.monitor`` may name."""
    return {**metrics, "val_macro_f1": mean_level_f1(metrics, levels), "val_accuracy": mean_accuracy(metrics)}
