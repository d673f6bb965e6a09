"""The review policy: top-down decoding with acceptance, and which heads decide ``needs_review`` (numpy only).

This is the one implementation of the rule that the Labeller (torch and ONNX backends), ``evaluate`` and the
service's fake predictor apply, so a photo gets the same ``accepted`` / ``needs_review`` everywhere. It imports
no torch: the ONNX path stays torch-free.

The rule:
  * Levels are decoded top-down: the first level is an argmax, each deeper level the best *child of the chosen
    parent*, so a label path is always a path of the tree; a ragged branch stops at its leaf (index ``-1`` below).
  * A level is accepted when its confidence reaches its threshold *and its parent was accepted* (path
    acceptance). Attributes are flat argmaxes accepted against their own threshold. A head without a threshold
    uses 0.0 (always accepted); :data:`NEVER` means "never auto-labelled".
  * ``needs_review`` = some *review head* present for the photo was not accepted. The review heads are the
    taxonomy's levels unless the model's sidecar ``review_policy.review_heads`` (``EvaluateConfig.review_heads``)
    names others: an uncertain colour then shows as that attribute's ``accepted: false`` without sending the
    photo to a person.

Example:
    >>> tax = Taxonomy.from_dict({"name": "t", "levels": ["group"], "attributes": {"colour": ["Red", "Blue"]},
    ...     "nodes": [{"id": "A", "name": "A", "parent": None}, {"id": "B", "name": "B", "parent": None}]})
    >>> probs = {"group": np.array([[0.1, 0.9]]), "colour": np.array([[0.6, 0.4]])}
    >>> d = decide(probs, tax, {"group": 0.8, "colour": 0.9})
    >>> bool(d.accepted["group"][0]), bool(d.accepted["colour"][0]), bool(d.needs_review[0])
    (True, False, False)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from fashiontag.data.taxonomy import Taxonomy
from fashiontag.registry import UnknownNameError, unknown_name_message

#: A threshold no probability reaches: the head is never auto-labelled.
NEVER = 1.0 + 1e-6
#: Default target accuracy of what is auto-labelled, per head (``EvaluateConfig.target_accuracy``).
DEFAULT_TARGET = 0.985
#: Default error probability of the threshold guarantee (``EvaluateConfig.delta``).
DEFAULT_DELTA = 0.1
#: Sidecar key holding the fitted policy (review heads, targets, delta, per-head fit results).
SIDECAR_KEY = "review_policy"


class LevelIndex:
    """Per level: for each column of the level above (``-1`` at the top), its children's columns in head order."""

    def __init__(self, taxonomy: Taxonomy) -> None:
        self.children: list[dict[int, np.ndarray]] = []
        self.labels: list[list[str]] = []
        self.names: list[list[str]] = []
        above: dict[str | None, int] = {None: -1}
        for level in taxonomy.levels:
            labels = taxonomy.head_labels(level)
            by_parent: dict[int, list[int]] = {}
            for column, node_id in enumerate(labels):
                by_parent.setdefault(above[taxonomy.nodes[node_id].parent], []).append(column)
            self.children.append({p: np.asarray(c, dtype=np.int64) for p, c in by_parent.items()})
            self.labels.append(labels)
            self.names.append([taxonomy.nodes[n].name for n in labels])
            above = {node_id: column for column, node_id in enumerate(labels)}


_INDEX_CACHE: dict[str, LevelIndex] = {}


def level_index(taxonomy: Taxonomy) -> LevelIndex:
    """Built once per taxonomy content (fingerprint), not per batch: FPI has ~150 labels per level."""
    key = taxonomy.fingerprint()
    if key not in _INDEX_CACHE:
        if len(_INDEX_CACHE) > 8:
            _INDEX_CACHE.clear()
        _INDEX_CACHE[key] = LevelIndex(taxonomy)
    return _INDEX_CACHE[key]


def decode_levels(
    taxonomy: Taxonomy, probs: Mapping[str, np.ndarray]
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Top-down decoding of every level: ``(index, confidence)``, each ``{level: [N]}``.

    ``index`` is the chosen column in ``taxonomy.head_labels(level)`` (``-1`` below a shallow leaf, or when the
    level's head is missing from ``probs``), ``confidence`` its probability (0.0 where ``index`` is ``-1``).
    Ties go to the first column in head order.
    """
    tree = level_index(taxonomy)
    n = len(next(iter(probs.values()))) if probs else 0
    index: dict[str, np.ndarray] = {}
    confidence: dict[str, np.ndarray] = {}
    parents = np.full(n, -1, dtype=np.int64)
    for depth, level in enumerate(taxonomy.levels):
        chosen = np.full(n, -1, dtype=np.int64)
        conf = np.zeros(n, dtype=np.float64)
        if level in probs and (depth == 0 or (parents >= 0).any()):
            p = np.asarray(probs[level], dtype=np.float64)
            for parent, columns in tree.children[depth].items():
                rows = np.flatnonzero(parents == parent)
                if len(rows):
                    chosen[rows] = columns[np.argmax(p[np.ix_(rows, columns)], axis=1)]
            rows = np.flatnonzero(chosen >= 0)
            conf[rows] = p[rows, chosen[rows]]
        index[level], confidence[level] = chosen, conf
        parents = chosen
    return index, confidence


def accept_levels(
    taxonomy: Taxonomy,
    index: Mapping[str, np.ndarray],
    confidence: Mapping[str, np.ndarray],
    thresholds: Mapping[str, float] | None = None,
) -> dict[str, np.ndarray]:
    """``{level: [N] bool}``: decoded, confidence >= the level's threshold (0.0 if none), parent accepted."""
    thresholds = thresholds or {}
    accepted: dict[str, np.ndarray] = {}
    parent_ok: np.ndarray | None = None
    for level in taxonomy.levels:
        ok = (index[level] >= 0) & (confidence[level] >= float(thresholds.get(level, 0.0)))
        accepted[level] = ok if parent_ok is None else ok & parent_ok
        parent_ok = accepted[level]
    return accepted


def resolve_review_heads(taxonomy: Taxonomy, review_heads: Sequence[str] | None = None) -> tuple[str, ...]:
    """The heads whose rejection sets ``needs_review``: ``review_heads`` checked, or the taxonomy's levels."""
    if review_heads is None:
        return tuple(taxonomy.levels)
    heads = tuple(review_heads)
    for head in heads:
        if head not in taxonomy.heads:
            raise UnknownNameError(unknown_name_message("review head", head, list(taxonomy.heads)))
    return heads


def threshold_tta_note(sidecar: Mapping[str, Any], tta: str) -> str | None:
    """A warning when labels come with another test-time augmentation than the thresholds were fitted on (the
    sidecar's ``review_policy.tta``; ``none`` for models fitted before it was recorded): averaged views are less
    confident, so the accuracy a threshold shows on one kind of probability says nothing certain of the other."""
    fitted = (sidecar.get(SIDECAR_KEY) or {}).get("tta", "none")
    if not sidecar.get("thresholds") or fitted == tta:
        return None
    return (
        f"{sidecar.get('name') or 'the model'}'s review thresholds were fitted with tta={fitted}, these labels "
        f"use tta={tta}: accepted labels may fall short of their target accuracy; refit them with `fashiontag "
        f"evaluate MODEL --data ... tta={tta} calibrate_split=val save_calibration=true`"
    )


def sidecar_review_heads(sidecar: Mapping[str, Any]) -> list[str] | None:
    """``review_heads`` stored in a model's sidecar (None: the default, the taxonomy's levels)."""
    heads = (sidecar.get(SIDECAR_KEY) or {}).get("review_heads")
    return list(heads) if heads is not None else None


@dataclass(frozen=True)
class Decision:
    """A batch decoded under a review policy; every array is ``[N]``.

    ``index``/``confidence``/``accepted`` hold every head found in the probabilities (levels first, then
    attributes); a level's ``index`` is ``-1`` where the photo's branch stopped above it.
    """

    index: dict[str, np.ndarray]
    confidence: dict[str, np.ndarray]
    accepted: dict[str, np.ndarray]
    needs_review: np.ndarray
    review_heads: tuple[str, ...]

    def level_reached(self, taxonomy: Taxonomy) -> list[str | None]:
        """Deepest accepted level per photo (None when not even the first level was accepted)."""
        reached: list[str | None] = [None] * len(self.needs_review)
        for level in taxonomy.levels:
            for i in np.flatnonzero(self.accepted.get(level, np.zeros(0, bool))):
                reached[i] = level
        return reached

    def uncertain_attributes(self, taxonomy: Taxonomy) -> list[list[str]]:
        """Per photo, the attributes whose label was not accepted (reported whether or not they are review heads)."""
        heads = [h for h in taxonomy.attributes if h in self.accepted]
        return [[h for h in heads if not self.accepted[h][i]] for i in range(len(self.needs_review))]


def decide(
    probs: Mapping[str, np.ndarray],
    taxonomy: Taxonomy,
    thresholds: Mapping[str, float] | None = None,
    review_heads: Sequence[str] | None = None,
) -> Decision:
    """Decode ``{head: [N, n_labels]}`` probabilities and apply the review policy (see the module docstring).

    Example:
        >>> decide(probs, tax, sidecar["thresholds"], sidecar_review_heads(sidecar)).needs_review  # doctest: +SKIP
    """
    thresholds = thresholds or {}
    heads = resolve_review_heads(taxonomy, review_heads)
    index, confidence = decode_levels(taxonomy, probs)
    accepted = accept_levels(taxonomy, index, confidence, thresholds)
    for head in taxonomy.attributes:
        if head in probs:
            p = np.asarray(probs[head], dtype=np.float64)
            index[head] = p.argmax(1) if p.shape[1] else np.full(len(p), -1, dtype=np.int64)
            confidence[head] = p.max(1) if p.shape[1] else np.zeros(len(p))
            accepted[head] = (index[head] >= 0) & (confidence[head] >= float(thresholds.get(head, 0.0)))
    n = len(next(iter(index.values()))) if index else 0
    needs_review = np.zeros(n, dtype=bool)
    for head in heads:
        if head in accepted:
            needs_review |= (index[head] >= 0) & ~accepted[head]
    return Decision(index, confidence, accepted, needs_review, heads)
