"""Labelling photos: ``load(path, backend) -> Labeller``, ``Labeller.predict``, batch prediction to files.

Torch-free at import; the torch backend imports torch only when chosen.

Example:
    >>> from fashiontag.infer import load
    >>> results = load("runs/fpi/model").predict(["a.jpg", "b.png"], top_k=3)  # doctest: +SKIP
"""

from __future__ import annotations

from fashiontag.infer._backends import BACKENDS, list_backends
from fashiontag.infer._batch import collect_inputs, predict_files
from fashiontag.infer._decode import decode_batch
from fashiontag.infer._labeller import Labeller, load

__all__ = ["BACKENDS", "Labeller", "collect_inputs", "decode_batch", "list_backends", "load",
           "predict_files"]
