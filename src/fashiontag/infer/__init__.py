"""Labelling photos: ``load(path, backend) -> Labeller``, ``Labeller.predict``, batch prediction to files.

Torch-free at import; the torch backend imports torch only when chosen.

Example:
    >>> from fashiontag.infer import load
    >>> results = load("runs/fpi/model").predict(["a.jpg", "b.png"], top_k=3)  # doctest: +SKIP
"""

from __future__ import annotations

from fashiontag._lazy import lazy_exports
from fashiontag.infer._backends import BACKENDS, list_backends
from fashiontag.infer._batch import BatchSummary, collect_inputs, predict_files
from fashiontag.infer._config import PredictConfig
from fashiontag.infer._decode import decode_batch
from fashiontag.infer._labeller import Labeller, load
from fashiontag.infer._lock import OutputLockedError

# Ray is optional and its driver imports pandas: these load on first use (PEP 562).
_LAZY = {"RayOptions": "_ray", "predict_ray": "_ray"}

__all__ = [
    "BACKENDS",
    "BatchSummary",
    "Labeller",
    "OutputLockedError",
    "PredictConfig",
    "RayOptions",
    "collect_inputs",
    "decode_batch",
    "list_backends",
    "load",
    "predict_files",
    "predict_ray",
]

__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
