"""Decoding per-head probabilities into Labeller results (pure numpy, no I/O, no torch).

The rule itself (top-down decoding, path acceptance, which heads set ``needs_review``) lives in
:mod:`fashiontag.review`, shared with ``evaluate`` and the service's fake predictor; this module only turns its
arrays into the result dicts (labels, names, ``top_k``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from fashiontag.data.taxonomy import Taxonomy
from fashiontag.review import Decision, decide, level_index


def _entry(label: str, node_id: str, confidence: float) -> dict[str, Any]:
    return {"label": label, "id": node_id, "confidence": confidence}


def _top_k(row: np.ndarray, columns: np.ndarray, names: list[str], ids: list[str], k: int) -> list[dict[str, Any]]:
    order = columns[np.argsort(-row[columns], kind="stable")[:k]]
    return [_entry(names[c], ids[c], float(row[c])) for c in order]


def _labels(
    probs: Mapping[str, np.ndarray], taxonomy: Taxonomy, decision: Decision, top_k: int, i: int
) -> dict[str, Any]:
    tree = level_index(taxonomy)
    labels: dict[str, Any] = {}
    parent = -1
    for depth, head in enumerate(taxonomy.levels):
        best = int(decision.index[head][i])
        if best < 0:  # ragged tree: the chosen parent is a leaf (or the head is missing)
            break
        ids, names = tree.labels[depth], tree.names[depth]
        row = np.asarray(probs[head][i], dtype=np.float64)
        labels[head] = {
            **_entry(names[best], ids[best], float(row[best])),
            "accepted": bool(decision.accepted[head][i]),
            "top_k": _top_k(row, tree.children[depth][parent], names, ids, top_k),
        }
        parent = best
    for head, values in taxonomy.attributes.items():
        if head not in decision.index:
            continue
        row = np.asarray(probs[head][i], dtype=np.float64)
        best = int(decision.index[head][i])
        labels[head] = {
            **_entry(values[best], values[best], float(row[best])),
            "accepted": bool(decision.accepted[head][i]),
            "top_k": _top_k(row, np.arange(len(values)), list(values), list(values), top_k),
        }
    return labels


def decode_batch(
    probs: Mapping[str, np.ndarray],
    taxonomy: Taxonomy,
    thresholds: Mapping[str, float] | None = None,
    top_k: int = 3,
    review_heads: Sequence[str] | None = None,
) -> list[dict[str, Any]]:
    """Turn ``{head: [B, n_labels]}`` probabilities into one result per image (:func:`fashiontag.review.decide`).

    Each result has ``labels`` ({head: {label, id, confidence, accepted, top_k}}), ``level_reached`` (deepest
    accepted level or None), ``needs_review`` (some *review head* decoded but not accepted; the levels unless
    ``review_heads`` names others) and ``uncertain_attributes`` (attributes not accepted, review heads or not).
    Heads missing from ``thresholds`` use 0.0. ``top_k`` of a level lists the chosen parent's children.

    Example:
        >>> tax = Taxonomy.from_dict({"name": "t", "levels": ["group"], "nodes": [
        ...     {"id": "A", "name": "A", "parent": None}, {"id": "B", "name": "B", "parent": None}]})
        >>> decode_batch({"group": np.array([[0.2, 0.8]])}, tax, {"group": 0.9})[0]["needs_review"]
        True
    """
    decision = decide(probs, taxonomy, thresholds, review_heads)
    reached = decision.level_reached(taxonomy)
    uncertain = decision.uncertain_attributes(taxonomy)
    return [
        {
            "labels": _labels(probs, taxonomy, decision, top_k, i),
            "level_reached": reached[i],
            "needs_review": bool(decision.needs_review[i]),
            "uncertain_attributes": uncertain[i],
        }
        for i in range(len(decision.needs_review))
    ]
