"""Edges of evaluation: reading images for an item table and running a network over uint8 batches."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from fashiontag.data.images import ImageError, letterbox, load_image


def load_item_images(items: pd.DataFrame, size: int, fill: int = 255) -> tuple[np.ndarray, list[str | None]]:
    """Letterboxed uint8 ``[N, size, size, 3]`` for ``items.path`` (crop boxes honoured); errors per row."""
    images = np.full((len(items), size, size, 3), fill, dtype=np.uint8)
    errors: list[str | None] = []
    crops = items["crop"] if "crop" in items else [None] * len(items)
    for i, (path, box) in enumerate(zip(items["path"], crops, strict=False)):
        try:
            image = load_image(path)
            if isinstance(box, (list, tuple)) and len(box) == 4:
                image = image.crop(tuple(int(v) for v in box))
            images[i] = letterbox(image, size, fill=fill)
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
