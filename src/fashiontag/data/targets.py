"""Target encoding: label names -> label indices per head, the one rule every stage uses.

A head's label order is :meth:`Taxonomy.head_labels` (node ids for a level, values for an attribute); a label
that is missing, not a string or unknown to the head encodes as ``-1`` ("no label": losses and metrics skip
it). Training (loss and metric targets), the output strategies, evaluation, int8 calibration and the audit
all encode through these functions, so a change to the rule is made here once.

Example:
    >>> from fashiontag.data.taxonomy import load_taxonomy
    >>> tax = load_taxonomy("slowfashion")
    >>> {h: t.tolist() for h, t in head_targets(tax, ["Shoes > Heels", None], {}).items()}
    {'group': [1, -1], 'type': [5, -1]}
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from fashiontag.data.taxonomy import Taxonomy

if TYPE_CHECKING:
    import pandas as pd


def label_index(values: Sequence[Any], labels: Sequence[str], aliases: Mapping[str, int] | None = None) -> np.ndarray:
    """Index of each value in ``labels`` (int64; ``-1`` when missing, not a string or unknown).

    ``aliases`` maps further spellings (e.g. a label's short name) to an index, tried after the labels.
    """
    lookup = {label: i for i, label in enumerate(labels)}
    extra = aliases or {}
    return np.array(
        [lookup.get(v, extra.get(v, -1)) if isinstance(v, str) and v else -1 for v in values], dtype=np.int64
    )


def level_targets(tax: Taxonomy, leaves: Sequence[Any]) -> dict[str, np.ndarray]:
    """Per level, the index of each true leaf's ancestor at that depth (``-1``: no leaf, or a shallower leaf)."""
    paths = [tax.ancestors(leaf) if isinstance(leaf, str) and leaf else [] for leaf in leaves]
    return {
        level: label_index([path[depth] if depth < len(path) else None for path in paths], tax.head_labels(level))
        for depth, level in enumerate(tax.levels)
    }


def attribute_targets(
    tax: Taxonomy, attributes: Mapping[str, Sequence[Any]], names: Sequence[str] | None = None
) -> dict[str, np.ndarray]:
    """Per attribute in ``names`` (default: all of the taxonomy's), the index of each item's value."""
    return {
        name: label_index(attributes[name], tax.attributes[name])
        for name in (tax.attributes if names is None else names)
    }


def head_targets(
    tax: Taxonomy, leaves: Sequence[Any], attributes: Mapping[str, Sequence[Any]]
) -> dict[str, np.ndarray]:
    """Targets of every head (``tax.heads`` order): levels from the true leaves, attributes from their values."""
    return {**level_targets(tax, leaves), **attribute_targets(tax, attributes)}


def item_targets(tax: Taxonomy, items: pd.DataFrame) -> dict[str, np.ndarray]:
    """Targets of every head from a mapped item table's level/attribute columns (an absent column: all ``-1``)."""
    return {
        head: label_index(items[head].tolist() if head in items else [None] * len(items), tax.head_labels(head))
        for head in tax.heads
    }


def target_matrix(targets: Mapping[str, np.ndarray], heads: Sequence[str]) -> np.ndarray:
    """``[N, len(heads)]`` int64 stacking of per-head targets (the layout training batches carry)."""
    columns = [np.asarray(targets[head], dtype=np.int64) for head in heads]
    return np.stack(columns, axis=1) if columns else np.zeros((0, 0), dtype=np.int64)


def name_targets(
    labels: Mapping[str, Sequence[Any]], head_labels: Mapping[str, Sequence[str]]
) -> dict[str, np.ndarray]:
    """Per head, label ids *or* their short names (the part after the last ``" > "``) -> label indices.

    For hand-written label files (an int8 validation CSV), where a shop writes ``Boots`` for ``Shoes > Boots``.
    Heads without labels in ``head_labels`` are left out.
    """
    out = {}
    for head, values in labels.items():
        names = list(head_labels.get(head) or [])
        if names:
            short = {name.split(" > ")[-1]: i for i, name in enumerate(names)}
            out[head] = label_index([str(v) if v else None for v in values], names, short)
    return out
