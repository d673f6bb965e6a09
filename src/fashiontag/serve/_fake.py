"""A model-free Predictor for tests, the web-page demo and the load benchmark.

It returns well-formed Labeller results derived from a hash of the image bytes, so the same photo
always gets the same labels: per-head probabilities are made from the hash, then decoded by the Labeller's
own ``decode_batch`` (one ``threshold`` for every head), so ``accepted``/``needs_review`` follow the real
rule. ``delay_s`` simulates model time per batch; ``load_gate`` (a ``threading.Event``) holds ``load``
until set, to test the not-ready state.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from fashiontag.data.images import load_reduced
from fashiontag.data.taxonomy import Taxonomy, load_taxonomy


class FakePredictor:
    """Deterministic stand-in for a Labeller.

    Example:
        >>> fake = FakePredictor(); fake.load(); fake.predict([b"x"])[0]["error"] is None
        True
    """

    def __init__(
        self,
        taxonomy: Taxonomy | str = "slowfashion",
        delay_s: float = 0.0,
        load_gate: threading.Event | None = None,
        threshold: float = 0.6,
        review_heads: Sequence[str] | None = None,
    ) -> None:
        self._taxonomy = load_taxonomy(taxonomy) if isinstance(taxonomy, str) else taxonomy
        self.review_heads = review_heads  # None: the levels, as a model without a fitted review policy
        self.delay_s = delay_s
        self.load_gate = load_gate
        self.threshold = threshold
        self.decode_size = 224  # decodes as a model with a 224 px letterbox would (memory benchmark)
        self.batches: list[int] = []  # sizes of the batches seen, to test micro-batching
        self._ready = False

    @property
    def ready(self) -> bool:
        return self._ready

    @property
    def taxonomy(self) -> Taxonomy:
        return self._taxonomy

    def info(self) -> dict[str, Any]:
        return {"model": "fake", "backend": "fake", "strategy": None, "backbone": None, "fashiontag_version": None}

    def load(self) -> None:
        if self.load_gate is not None:
            self.load_gate.wait()
        self._ready = True

    def prepare(self, data: bytes) -> bytes:
        """Full decode as a real model would (raises ``ImageError``); keeps the bytes for the hash."""
        load_reduced(data, self.decode_size)
        return data

    def predict(self, images: list[bytes], top_k: int = 3) -> list[dict[str, Any]]:
        from fashiontag.infer import decode_batch  # the Labeller's own decoding and review rule

        self.batches.append(len(images))
        if self.delay_s:
            time.sleep(self.delay_s)
        results = []
        for data in images:
            decoded = decode_batch(self.probabilities(data), self._taxonomy, self.thresholds, top_k, self.review_heads)
            results.append({"source": None, **decoded[0], "error": None})
        return results

    @property
    def thresholds(self) -> dict[str, float]:
        return {head: self.threshold for head in self._taxonomy.heads}

    def probabilities(self, data: bytes) -> dict[str, np.ndarray]:
        """``{head: [1, n_labels]}`` derived from the bytes' hash: a random leaf's path and attribute values win,
        with confidences in [0.45, 1] that never grow with depth (as a real model's marginals)."""
        digest = hashlib.sha256(data).digest()
        tax = self._taxonomy
        path = tax.ancestors(tax.leaves[digest[0] % len(tax.leaves)])
        probs: dict[str, np.ndarray] = {}
        confidence = 1.0
        for depth, level in enumerate(tax.levels):
            confidence = min(confidence, 0.45 + 0.55 * digest[depth + 1] / 255)
            labels = tax.head_labels(level)
            probs[level] = _one_hot(len(labels), labels.index(path[depth]) if depth < len(path) else None, confidence)
        for i, (attribute, values) in enumerate(tax.attributes.items()):
            value = digest[(10 + i) % len(digest)] % len(values)
            probs[attribute] = _one_hot(len(values), value, 0.45 + 0.55 * digest[(20 + i) % len(digest)] / 255)
        return probs


def _one_hot(size: int, winner: int | None, confidence: float) -> np.ndarray:
    """One row: ``confidence`` on ``winner``, the rest shared by the others but always below the winner."""
    row = np.zeros((1, size))
    if winner is not None:
        row[0, :] = min((1.0 - confidence) / max(1, size - 1), confidence / 2)
        row[0, winner] = confidence
    return np.round(row, 4)
