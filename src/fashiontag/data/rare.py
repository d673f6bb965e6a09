"""What a policy would do to leaf classes with fewer than ``min_count`` items: merge into their parent, or drop.

Only ``data inspect`` applies it, to report the effect; ``data prepare`` and ``train`` keep every class of the
taxonomy (to merge a rare class for training, move it into its parent in the taxonomy YAML).

A class with 3 images cannot be learned or measured; merging keeps its images for the upper levels
(a "Shoe Laces" item still teaches "Footwear > Shoe Accessories") instead of throwing them away.

Example:
    >>> items, actions = apply_min_count(mapped, tax, min_count=10, policy="merge")  # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any, Literal

import pandas as pd

from fashiontag.data.taxonomy import Taxonomy

RarePolicy = Literal["merge", "drop", "keep"]


def rare_leaves(items: pd.DataFrame, min_count: int) -> dict[str, int]:
    """Leaf ids with fewer than ``min_count`` items, with their counts (smallest first)."""
    counts = items["leaf"].dropna().value_counts()
    rare = counts[counts < min_count].sort_values(kind="stable")
    return {str(k): int(v) for k, v in rare.items()}


def apply_min_count(
    items: pd.DataFrame, taxonomy: Taxonomy, min_count: int, policy: RarePolicy = "merge"
) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """Apply ``policy`` to rare leaves; returns the new items and one action record per rare leaf.

    ``merge`` sets ``leaf`` to the parent node and clears the levels below it (a top-level rare leaf
    has no parent and is dropped); ``drop`` removes the rows; ``keep`` only reports.
    """
    rare = rare_leaves(items, min_count) if min_count > 0 else {}
    actions: list[dict[str, Any]] = []
    out = items.copy()
    drop_mask = pd.Series(False, index=out.index)
    for leaf, count in rare.items():
        parent = taxonomy.nodes[leaf].parent if leaf in taxonomy.nodes else None
        rows = out["leaf"] == leaf
        if policy == "keep":
            actions.append({"leaf": leaf, "count": count, "action": "kept"})
        elif policy == "merge" and parent is not None:
            out.loc[rows, "leaf"] = parent
            for level in taxonomy.levels[taxonomy.nodes[parent].depth + 1 :]:
                out.loc[rows, level] = None
            actions.append({"leaf": leaf, "count": count, "action": "merged", "into": parent})
        else:
            drop_mask |= rows
            actions.append({"leaf": leaf, "count": count, "action": "dropped"})
    return out[~drop_mask].reset_index(drop=True), actions
