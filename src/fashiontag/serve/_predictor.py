"""The Predictor protocol the service codes against, and the adapter from ``fashiontag.infer``.

The service depends only on this protocol, so tests inject a fake and the service never imports
training code. ``LabellerPredictor`` imports ``fashiontag.infer`` inside ``load`` (run in the lifespan),
so importing the service stays cheap and a missing backend fails at start-up with a clear message.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from fashiontag.data.images import load_letterboxed
from fashiontag.data.taxonomy import Taxonomy

log = logging.getLogger(__name__)


@runtime_checkable
class Predictor(Protocol):
    """What the service needs from a model.

    ``load`` runs once, in a worker thread, during the app's lifespan; ``predict`` runs in a worker
    thread on a micro-batch of already validated image bytes and returns one result dict per image in
    the Labeller result format (docs/design.md), in input order.
    """

    @property
    def ready(self) -> bool: ...

    @property
    def taxonomy(self) -> Taxonomy: ...

    def info(self) -> dict[str, Any]: ...

    def load(self) -> None: ...

    def prepare(self, data: bytes) -> Any:
        """Decode one upload into what ``predict`` takes; raises ``ImageError`` for a bad image. The service
        calls it once per upload (in its bounded decode pool), so an image is decoded once, not checked then
        re-read. An optional ``decode_size`` attribute (pixels the model needs) lets the service apply its
        memory budget at the JPEG draft scale such a decode uses."""
        ...

    def predict(self, images: list[Any], top_k: int = 3) -> list[dict[str, Any]]: ...


class LabellerPredictor:
    """Adapts ``fashiontag.infer.load(path, backend) -> Labeller`` to :class:`Predictor`."""

    def __init__(self, model_path: str | Path, backend: str = "auto") -> None:
        self.model_path = Path(model_path)
        self.backend = backend
        self._labeller: Any = None

    @property
    def ready(self) -> bool:
        return self._labeller is not None

    @property
    def taxonomy(self) -> Taxonomy:
        if self._labeller is None:
            raise RuntimeError("model not loaded yet")
        return self._labeller.taxonomy

    def info(self) -> dict[str, Any]:
        sidecar = self._labeller.sidecar if self._labeller is not None else {}
        return {
            "model": sidecar.get("name") or self.model_path.name,  # train name=..., else the folder
            "backend": getattr(self._labeller, "backend", None),
            "strategy": sidecar.get("strategy"),
            "backbone": (sidecar.get("backbone") or {}).get("name"),
            "fashiontag_version": sidecar.get("fashiontag_version"),
        }

    def load(self) -> None:
        from fashiontag import infer  # lazy: keeps `import fashiontag.serve` light
        from fashiontag.review import threshold_tta_note

        self._labeller = infer.load(self.model_path, backend=self.backend)
        if note := threshold_tta_note(self._labeller.sidecar, "none"):  # the service labels without TTA
            log.warning(note)

    @property
    def decode_size(self) -> int | None:
        """The letterbox size: the service reads JPEG headers at the draft scale a decode for it would use."""
        return self._labeller.preprocess.size if self._labeller is not None else None

    def prepare(self, data: bytes) -> np.ndarray:
        """Letterboxed uint8 ``[S,S,3]`` at the model's size, decoded at reduced scale (raises ``ImageError``)."""
        pre = self._labeller.preprocess
        return load_letterboxed(data, pre.size, pre.fill)

    def predict(self, images: list[np.ndarray], top_k: int = 3) -> list[dict[str, Any]]:
        """Label the arrays ``prepare`` returned (the service decodes every upload once, before queueing)."""
        results = self._labeller.predict_arrays(np.stack(images), top_k=top_k)
        return [{"source": None, **result, "error": None} for result in results]
