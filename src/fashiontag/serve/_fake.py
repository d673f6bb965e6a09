"""A model-free Predictor for tests, the web-page demo and the load benchmark.

It returns well-formed Labeller results derived from a hash of the image bytes, so the same photo
always gets the same labels. ``delay_s`` simulates model time per batch; ``load_gate`` (a
``threading.Event``) holds ``load`` until set, to test the not-ready state.
"""

from __future__ import annotations

import hashlib
import threading
import time
from typing import Any

from fashiontag.data.images import load_image
from fashiontag.data.taxonomy import Taxonomy, load_taxonomy


class FakePredictor:
    """Deterministic stand-in for a Labeller.

    Example:
        >>> fake = FakePredictor(); fake.load(); fake.predict([b"x"])[0]["error"] is None
        True
    """

    def __init__(self, taxonomy: Taxonomy | str = "slowfashion", delay_s: float = 0.0,
                 load_gate: threading.Event | None = None, threshold: float = 0.6) -> None:
        self._taxonomy = load_taxonomy(taxonomy) if isinstance(taxonomy, str) else taxonomy
        self.delay_s = delay_s
        self.load_gate = load_gate
        self.threshold = threshold
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
        load_image(data)
        return data

    def predict(self, images: list[bytes], top_k: int = 3) -> list[dict[str, Any]]:
        self.batches.append(len(images))
        if self.delay_s:
            time.sleep(self.delay_s)
        return [self._one(data, top_k) for data in images]

    def _one(self, data: bytes, top_k: int) -> dict[str, Any]:
        digest = hashlib.sha256(data).digest()
        tax = self._taxonomy
        leaf = tax.leaves[digest[0] % len(tax.leaves)]
        path = tax.ancestors(leaf)
        labels: dict[str, Any] = {}
        parent_ok, reached = True, None
        for depth, level in enumerate(tax.levels):
            if depth >= len(path):
                break
            confidence = 0.45 + 0.55 * digest[depth + 1] / 255
            choices = [path[depth], *[n for n in tax.head_labels(level) if n != path[depth]]]
            accepted = parent_ok and confidence >= self.threshold
            labels[level] = _head(tax.nodes[path[depth]].name, path[depth], confidence, accepted,
                                  [(tax.nodes[c].name, c) for c in choices], top_k)
            parent_ok = accepted
            reached = level if accepted else reached
        for i, (attribute, values) in enumerate(tax.attributes.items()):
            value = values[digest[10 + i] % len(values)]
            confidence = 0.45 + 0.55 * digest[20 + i] / 255
            choices = [value, *[v for v in values if v != value]]
            labels[attribute] = _head(value, value, confidence, confidence >= self.threshold,
                                      [(v, v) for v in choices], top_k)
        needs_review = not all(head["accepted"] for head in labels.values())
        return {"source": None, "labels": labels, "level_reached": reached, "needs_review": needs_review,
                "error": None}


def _head(label: str, node_id: str, confidence: float, accepted: bool,
          choices: list[tuple[str, str]], top_k: int) -> dict[str, Any]:
    rest = (1.0 - confidence) / max(1, len(choices) - 1)
    top = [{"label": name, "id": cid, "confidence": round(confidence if j == 0 else rest, 4)}
           for j, (name, cid) in enumerate(choices[:top_k])]
    return {"label": label, "id": node_id, "confidence": round(confidence, 4), "accepted": accepted, "top_k": top}
