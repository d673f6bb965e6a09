"""Per-head targets and metrics, as pure functions of (probabilities, targets)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from fashiontag.data.taxonomy import Taxonomy


def head_targets(taxonomy: Taxonomy, leaves: Sequence[Any], attributes: dict[str, Sequence[Any]]) -> np.ndarray:
    """``[N, len(taxonomy.heads)]`` label indices per head (-1: no label, e.g. a ragged leaf's deeper level)."""
    columns = []
    for depth, level in enumerate(taxonomy.levels):
        lookup = {n: i for i, n in enumerate(taxonomy.head_labels(level))}
        col = []
        for leaf in leaves:
            path = taxonomy.ancestors(leaf) if isinstance(leaf, str) else []
            col.append(lookup[path[depth]] if depth < len(path) else -1)
        columns.append(col)
    for name, values in taxonomy.attributes.items():
        lookup = {v: i for i, v in enumerate(values)}
        columns.append([lookup.get(v, -1) if isinstance(v, str) else -1 for v in attributes[name]])
    return np.asarray(columns, dtype=np.int64).T.reshape(len(leaves), len(columns))


def head_metrics(probs: dict[str, Tensor], targets: Tensor, heads: list[str]) -> dict[str, float]:
    """Accuracy and macro-F1 per head (ignoring -1) plus ``macro_f1`` = mean over the tree levels."""
    from torchmetrics.functional.classification import multiclass_accuracy, multiclass_f1_score

    out: dict[str, float] = {}
    for i, head in enumerate(heads):
        t = targets[:, i]
        keep = t >= 0
        if not bool(keep.any()):
            continue
        p, t = probs[head][keep], t[keep]
        n = p.shape[1]
        out[f"acc_{head}"] = float(multiclass_accuracy(p, t, n, average="micro"))
        present = torch.unique(t)  # macro over classes present in the targets, like sklearn on y_true
        f1 = multiclass_f1_score(p, t, n, average="none")
        out[f"f1_{head}"] = float(f1[present].mean())
    return out


def mean_level_f1(metrics: dict[str, float], levels: list[str]) -> float:
    values = [metrics[f"f1_{lv}"] for lv in levels if f"f1_{lv}" in metrics]
    return float(np.mean(values)) if values else 0.0
