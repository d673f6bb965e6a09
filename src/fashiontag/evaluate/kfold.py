"""k-fold cross-validation summary: mean and standard deviation of every number over per-fold metrics."""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def summarise_folds(folds: list[dict[str, Any]]) -> dict[str, Any]:
    """Same nesting as the fold dicts, each numeric leaf replaced by ``{mean, std, n, values}``.

    ``std`` is the sample standard deviation (ddof=1; 0 for one fold); NaNs are ignored; lists and strings
    (per-class tables, confusion matrices) are left out.

    Example:
        >>> summarise_folds([{"acc": 0.9}, {"acc": 0.8}])["acc"]["mean"]
        0.85
    """
    if not folds:
        return {}
    out: dict[str, Any] = {}
    keys = list(dict.fromkeys(k for fold in folds for k in fold))
    for key in keys:
        values = [fold[key] for fold in folds if key in fold]
        if all(isinstance(v, dict) for v in values):
            nested = summarise_folds(values)
            if nested:
                out[key] = nested
        elif all(_is_number(v) for v in values):
            finite = np.array([v for v in values if not math.isnan(v)], dtype=np.float64)
            mean = float(finite.mean()) if len(finite) else float("nan")
            std = float(finite.std(ddof=1)) if len(finite) > 1 else 0.0
            out[key] = {
                "mean": round(mean, 12),
                "std": std,
                "n": int(len(finite)),
                "values": [float(v) for v in values],
            }
    return out
