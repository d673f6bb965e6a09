"""``load(path, backend) -> Labeller`` and ``Labeller.predict``: the Python API behind the CLI and service."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from fashiontag.artifact import ModelFileError, Preprocess, read_sidecar, resolve_preprocess
from fashiontag.data.taxonomy import Taxonomy
from fashiontag.infer._backends import Runner, auto_backend, create_runner
from fashiontag.infer._decode import decode_batch
from fashiontag.infer._inputs import prepare_many, source_name
from fashiontag.review import resolve_review_heads, sidecar_review_heads

log = logging.getLogger(__name__)


class Labeller:
    """A loaded model: decodes inputs, runs a backend in batches and decodes the hierarchy.

    Attributes:
        sidecar: the verified ``fashiontag.json`` contents.
        taxonomy: the model's :class:`Taxonomy`.
        heads: output heads (levels, then attributes).
        backend: backend name (``torch``, ``onnx``, ``onnx-int8``).
        preprocess: letterbox size/fill from :func:`resolve_preprocess`.
        thresholds: per-head acceptance thresholds (missing heads: 0.0).
        review_heads: heads whose rejection sets ``needs_review`` (sidecar ``review_policy``; default the levels).
    """

    def __init__(
        self,
        runner: Runner,
        sidecar: dict[str, Any],
        backend: str,
        workers: int | None = None,
        review_heads: list[str] | None = None,
    ) -> None:
        self.runner = runner
        self.sidecar = sidecar
        self.backend = backend
        self.taxonomy = Taxonomy.from_dict(sidecar["taxonomy"])
        self.heads: list[str] = list(self.taxonomy.heads)
        self.preprocess: Preprocess = resolve_preprocess(sidecar)
        self.thresholds: dict[str, float] = {h: float(t) for h, t in (sidecar.get("thresholds") or {}).items()}
        if not self.thresholds:  # loudly: a silent "accept everything" reads as "nothing needs review"
            log.warning(
                "%s has no review thresholds: every label is accepted and needs_review is never set; fit "
                "them with `fashiontag evaluate MODEL --data ... calibrate_split=val save_calibration=true`",
                sidecar.get("name") or "this model",
            )
        self.workers = workers if workers is not None else min(4, os.cpu_count() or 1)
        _check_heads(sidecar, self.taxonomy)
        chosen = review_heads if review_heads is not None else sidecar_review_heads(sidecar)
        self.review_heads: tuple[str, ...] = resolve_review_heads(self.taxonomy, chosen)

    def predict(self, sources: Iterable[Any], top_k: int = 3, batch_size: int = 64) -> list[dict[str, Any]]:
        """Label images; one result per input, in order. A bad image gives ``error``, never an exception.

        Example:
            >>> labeller = load("runs/fpi/model")  # doctest: +SKIP
            >>> labeller.predict(["shoe.jpg"])[0]["labels"]["masterCategory"]["label"]  # doctest: +SKIP
            'Footwear'
        """
        sources = list(sources)
        results: list[dict[str, Any]] = []
        for start in range(0, len(sources), max(1, batch_size)):
            chunk = sources[start : start + batch_size]
            results.extend(self._predict_chunk(chunk, start, top_k))
        return results

    def predict_arrays(self, images: np.ndarray, top_k: int = 3) -> list[dict[str, Any]]:
        """Label already letterboxed uint8 ``[B, S, S, 3]`` images (no decoding)."""
        return decode_batch(self.runner.run(images), self.taxonomy, self.thresholds, top_k, self.review_heads)

    def probabilities(self, images: np.ndarray) -> dict[str, np.ndarray]:
        """Raw per-head probabilities for letterboxed uint8 ``[B, S, S, 3]`` images."""
        return self.runner.run(images)

    def label_prepared(
        self, names: list[str], prepared: list[np.ndarray | str], top_k: int = 3
    ) -> list[dict[str, Any]]:
        """Results for already decoded inputs (``prepare``'s output: an array, or the reason it is unusable).

        Shared by :meth:`predict` and the Ray engine, whose decode tasks run apart from the model.
        """
        good = [i for i, item in enumerate(prepared) if not isinstance(item, str)]
        decoded = self.predict_arrays(np.stack([prepared[i] for i in good]), top_k) if good else []
        by_index = dict(zip(good, decoded, strict=True))
        out = []
        for i, item in enumerate(prepared):
            result = by_index.get(i) or {
                "labels": {},
                "level_reached": None,
                "needs_review": True,
                "uncertain_attributes": [],
            }
            out.append({"source": names[i], **result, "error": item if isinstance(item, str) else None})
        return out

    def _predict_chunk(self, chunk: list[Any], offset: int, top_k: int) -> list[dict[str, Any]]:
        names = [source_name(source, offset + i) for i, source in enumerate(chunk)]
        return self.label_prepared(names, prepare_many(chunk, self.preprocess, self.workers), top_k)


def _check_heads(sidecar: dict[str, Any], taxonomy: Taxonomy) -> None:
    for head, labels in sidecar["heads"].items():
        if head in taxonomy.heads and list(labels) != taxonomy.head_labels(head):
            raise ModelFileError(f"sidecar heads[{head!r}] disagree with its taxonomy's label order")


def load(path: str | Path, backend: str = "auto", **kwargs: Any) -> Labeller:
    """Load a model directory for labelling, verifying its sidecar and every file's sha256.

    Args:
        path: model directory (holding ``fashiontag.json``).
        backend: ``auto`` (onnx when ``model.onnx`` is registered, else torch), ``torch``, ``onnx``,
            ``onnx-int8``. Nothing on any path unpickles.
        **kwargs: passed to the backend (``providers``/``threads`` for onnx, ``device`` for torch),
            ``workers`` (decode threads) and ``review_heads`` (overrides the sidecar's) to the Labeller.

    Example:
        >>> labeller = load("runs/fpi/model", backend="onnx")  # doctest: +SKIP
    """
    model_dir = Path(path)
    sidecar = read_sidecar(model_dir, verify=True)
    name = auto_backend(model_dir, sidecar) if backend == "auto" else backend
    workers, review_heads = kwargs.pop("workers", None), kwargs.pop("review_heads", None)
    runner = create_runner(name, model_dir, sidecar, **kwargs)
    return Labeller(runner, sidecar, name, workers=workers, review_heads=review_heads)
