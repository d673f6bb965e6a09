"""Pure numpy decoding of per-head probabilities into Labeller results (no I/O, no torch).

Levels are decoded top-down: at each level the best child *of the chosen parent* is picked, so a label
path is always a valid path in the tree; a ragged branch stops at its leaf (deeper levels are absent).
A level is ``accepted`` when its confidence (the marginal probability of the node, which never exceeds its
parent's) reaches the head's threshold and its parent was accepted. Attributes are flat argmaxes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from fashiontag.data.taxonomy import Taxonomy


class _LevelIndex:
    """Per level: for each parent (None at the top), the column indices of its children in head order."""

    def __init__(self, taxonomy: Taxonomy) -> None:
        self.columns: list[dict[str | None, np.ndarray]] = []
        self.labels: list[list[str]] = []
        self.names: list[list[str]] = []
        for head in taxonomy.levels:
            labels = taxonomy.head_labels(head)
            position = {node_id: i for i, node_id in enumerate(labels)}
            by_parent: dict[str | None, list[int]] = {}
            for node_id in labels:
                by_parent.setdefault(taxonomy.nodes[node_id].parent, []).append(position[node_id])
            self.columns.append({p: np.asarray(c, dtype=np.int64) for p, c in by_parent.items()})
            self.labels.append(labels)
            self.names.append([taxonomy.nodes[n].name for n in labels])


_INDEX_CACHE: dict[str, _LevelIndex] = {}


def _level_index(taxonomy: Taxonomy) -> _LevelIndex:
    """Built once per taxonomy content (fingerprint), not per image: FPI has ~150 labels per level."""
    key = taxonomy.fingerprint()
    if key not in _INDEX_CACHE:
        if len(_INDEX_CACHE) > 8:
            _INDEX_CACHE.clear()
        _INDEX_CACHE[key] = _LevelIndex(taxonomy)
    return _INDEX_CACHE[key]


def _entry(label: str, node_id: str, confidence: float) -> dict[str, Any]:
    return {"label": label, "id": node_id, "confidence": confidence}


def _top_k(row: np.ndarray, columns: np.ndarray, names: list[str], ids: list[str], k: int) -> list[dict[str, Any]]:
    order = columns[np.argsort(-row[columns], kind="stable")[:k]]
    return [_entry(names[c], ids[c], float(row[c])) for c in order]


def _decode_levels(
    probs: Mapping[str, np.ndarray], taxonomy: Taxonomy, index: _LevelIndex, thresholds: Mapping[str, float],
    top_k: int, i: int,
) -> tuple[dict[str, Any], str | None]:
    labels: dict[str, Any] = {}
    parent: str | None = None
    parent_accepted = True
    level_reached: str | None = None
    for depth, head in enumerate(taxonomy.levels):
        columns = index.columns[depth].get(parent)
        if columns is None or head not in probs:  # ragged tree: the chosen parent is a leaf
            break
        ids, names = index.labels[depth], index.names[depth]
        row = np.asarray(probs[head][i], dtype=np.float64)
        best = int(columns[int(np.argmax(row[columns]))])
        confidence = float(row[best])
        accepted = bool(parent_accepted and confidence >= float(thresholds.get(head, 0.0)))
        labels[head] = {**_entry(names[best], ids[best], confidence), "accepted": accepted,
                        "top_k": _top_k(row, columns, names, ids, top_k)}
        if accepted:
            level_reached = head
        parent, parent_accepted = ids[best], accepted
    return labels, level_reached


def decode_batch(
    probs: Mapping[str, np.ndarray], taxonomy: Taxonomy, thresholds: Mapping[str, float] | None = None, top_k: int = 3
) -> list[dict[str, Any]]:
    """Turn ``{head: [B, n_labels]}`` probabilities into one result per image.

    Each result has ``labels`` ({head: {label, id, confidence, accepted, top_k}}), ``level_reached``
    (deepest accepted level or None) and ``needs_review`` (some decoded head not accepted). Heads missing
    from ``thresholds`` use 0.0. ``top_k`` of a level lists the chosen parent's children, best first.

    Example:
        >>> tax = Taxonomy.from_dict({"name": "t", "levels": ["group"], "nodes": [
        ...     {"id": "A", "name": "A", "parent": None}, {"id": "B", "name": "B", "parent": None}]})
        >>> decode_batch({"group": np.array([[0.2, 0.8]])}, tax, {"group": 0.9})[0]["needs_review"]
        True
    """
    thresholds = thresholds or {}
    batch = len(next(iter(probs.values()))) if probs else 0
    index = _level_index(taxonomy)
    results = []
    for i in range(batch):
        labels, level_reached = _decode_levels(probs, taxonomy, index, thresholds, top_k, i)
        for head, values in taxonomy.attributes.items():
            if head not in probs:
                continue
            row = np.asarray(probs[head][i], dtype=np.float64)
            best = int(np.argmax(row))
            confidence = float(row[best])
            columns = np.arange(len(values))
            labels[head] = {**_entry(values[best], values[best], confidence),
                            "accepted": bool(confidence >= float(thresholds.get(head, 0.0))),
                            "top_k": _top_k(row, columns, list(values), list(values), top_k)}
        needs_review = not all(entry["accepted"] for entry in labels.values())
        results.append({"labels": labels, "level_reached": level_reached, "needs_review": needs_review})
    return results
