"""Edges of evaluation: reading images for an item table and running a network over uint8 batches."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from fashiontag.data.images import ImageError, letterbox
from fashiontag.data.sources import load_item


def load_item_images(items: pd.DataFrame, size: int, fill: int = 255) -> tuple[np.ndarray, list[str | None]]:
    """Letterboxed uint8 ``[N, size, size, 3]`` for ``items.path`` (crop boxes honoured); errors per row.

    Every item goes through :func:`fashiontag.data.sources.load_item`, the loader the cache and inspection
    use, so npz rows (``file.npz#7``) and crops decode here exactly as in training.
    """
    images = np.full((len(items), size, size, 3), fill, dtype=np.uint8)
    errors: list[str | None] = []
    crops = items["crop"] if "crop" in items else [None] * len(items)
    for i, (path, box) in enumerate(zip(items["path"], crops, strict=False)):
        try:
            crop = box if isinstance(box, (list, tuple)) and len(box) == 4 else None
            images[i] = letterbox(load_item(str(path), crop), size, fill=fill)
            errors.append(None)
        except ImageError as exc:
            errors.append(exc.reason)
    return images, errors


def network_predictor(network: Any, batch_size: int = 64) -> Callable[[np.ndarray], dict[str, np.ndarray]]:
    """``images -> {head: probs}`` for a torch network taking uint8 NHWC (no grad, batched)."""
    import torch

    def predict(images: np.ndarray) -> dict[str, np.ndarray]:
        chunks: dict[str, list[np.ndarray]] = {}
        with torch.inference_mode():
            for start in range(0, len(images), batch_size):
                batch = torch.from_numpy(np.ascontiguousarray(images[start : start + batch_size]))
                for head, value in network(batch).items():
                    chunks.setdefault(head, []).append(value.float().numpy())
        return {head: np.concatenate(parts).astype(np.float64) for head, parts in chunks.items()}

    return predict


def network_logits(network: Any, images: np.ndarray, batch_size: int = 64) -> dict[str, Any]:
    """Raw strategy logits (torch tensors, concatenated) for temperature fitting."""
    import torch

    chunks: dict[str, list[Any]] = {}
    with torch.inference_mode():
        for start in range(0, len(images), batch_size):
            batch = torch.from_numpy(np.ascontiguousarray(images[start : start + batch_size]))
            for head, value in network.forward_logits(network.to_input(batch)).items():
                chunks.setdefault(head, []).append(value.float())
    return {head: torch.cat(parts) for head, parts in chunks.items()}
