"""The evaluation summary's headline: what the review policy does, per head, in one line each."""

from __future__ import annotations

from typing import Any

import numpy as np


def review_lines(metrics: dict[str, Any]) -> list[str]:
    """The headline: per head "X% auto-labelled at Y% accuracy", the needs_review share and fit warnings."""
    review = (metrics.get("hierarchy") or {}).get("review")
    warnings = (metrics.get("calibration") or {}).get("warnings") or []
    if not review:
        return [f"warning: {w}" for w in warnings]
    heads = review["review_heads"]
    lines = [f"Review policy: needs_review when {' / '.join(heads)} is not accepted"]
    for head, row in review["per_head"].items():
        target = f" (target {_pct(row.get('target'))})" if row.get("target") is not None else ""
        role = "" if row["review_head"] else "  [not a review head: its own flag only]"
        lines.append(
            f"  {head}: {_pct(row['auto_labelled'])} auto-labelled at {_pct(row['accuracy'])} accuracy{target}{role}"
        )
    count = (metrics.get("data") or {}).get("count")
    lines.append(f"  needs_review: {_pct(review['needs_review'])} of {count if count is not None else '?'} photos")
    return lines + [f"warning: {w}" for w in warnings] + [""]


def _pct(value: Any) -> str:
    return "–" if value is None or not np.isfinite(value) else f"{100 * float(value):.1f}%"
