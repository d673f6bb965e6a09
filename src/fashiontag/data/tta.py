"""Test-time augmentation: average a model's probabilities over views of each letterboxed image.

Phone photos are off-centre and at odd scales; averaging over a mirror image (and, with ``multiscale``,
centre zooms) steadies predictions at 2-4x the compute. Views are made on the letterboxed uint8 batch, so
every backend (torch, ONNX, int8) and every caller (``predict``, ``evaluate``) shares this one function.
Numpy only: the ONNX path stays torch-free.

Example:
    >>> run = tta_runner(labeller.runner, "flip")  # doctest: +SKIP
    >>> probs = run.run(images)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from PIL import Image

from fashiontag.registry import Registry

Predict = Callable[[np.ndarray], dict[str, np.ndarray]]
#: name -> the views of a batch: each view is ``(flip, zoom)``; zoom < 1 crops the centre and scales back up.
TTA_MODES: Registry[list[tuple[bool, float]]] = Registry("tta mode")
TTA_MODES.register("none")(lambda: [(False, 1.0)])
TTA_MODES.register("flip")(lambda: [(False, 1.0), (True, 1.0)])
TTA_MODES.register("multiscale")(lambda: [(False, 1.0), (True, 1.0), (False, 0.85), (True, 0.85)])


def list_tta_modes() -> list[str]:
    return TTA_MODES.names()


def _zoom(images: np.ndarray, zoom: float) -> np.ndarray:
    """Centre crop of side ``zoom * S`` resized back to ``S`` (bilinear), per image."""
    size = images.shape[1]
    side = max(1, round(size * zoom))
    start = (size - side) // 2
    crops = images[:, start : start + side, start : start + side]
    return np.stack([np.asarray(Image.fromarray(c).resize((size, size), Image.BILINEAR)) for c in crops])


def tta_views(images: np.ndarray, mode: str) -> list[np.ndarray]:
    """The uint8 ``[B,S,S,3]`` batches a mode averages over (the first is ``images`` itself)."""
    views = []
    for flip, zoom in TTA_MODES.create(mode):
        view = images if zoom == 1.0 else _zoom(images, zoom)
        views.append(np.ascontiguousarray(view[:, :, ::-1]) if flip else view)
    return views


def tta_predict(predict: Predict, images: np.ndarray, mode: str = "flip") -> dict[str, np.ndarray]:
    """Mean per-head probabilities of ``predict`` over the views of ``mode`` (``none``: one plain call)."""
    views = tta_views(images, mode)
    if len(views) == 1:
        return predict(images)
    total: dict[str, np.ndarray] = {}
    for view in views:
        for head, probs in predict(view).items():
            total[head] = total[head] + probs if head in total else np.asarray(probs, dtype=np.float64)
    return {head: (value / len(views)).astype(np.float32) for head, value in total.items()}


def with_tta(predict: Predict, mode: str) -> Predict:
    """``predict`` wrapped in :func:`tta_predict` (itself when ``mode`` is ``none``)."""
    TTA_MODES.get(mode)  # unknown modes fail here, before any image is decoded
    return predict if mode == "none" else (lambda images: tta_predict(predict, images, mode))


class TTARunner:
    """A backend runner (``.run(images) -> {head: probs}``) that averages over the views of ``mode``."""

    def __init__(self, runner: Any, mode: str) -> None:
        self.runner, self.mode = runner, mode
        self.run = with_tta(runner.run, mode)
