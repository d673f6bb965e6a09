"""Edges of evaluation: running a network over uint8 batches."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np


def network_predictor(network: Any, batch_size: int = 64) -> Callable[[np.ndarray], dict[str, np.ndarray]]:
    """``images -> {head: probs}`` for a torch network taking uint8 NHWC (no grad, batched).

    A network that labels with its mirror images too (``test_flip``) doubles each batch inside, so it gets half
    the images per call: lite0 at 160 px on 2 CPU cores ran 79 forwards/s in batches of 128, 118 in batches of 64.
    """
    import torch

    flip = bool(getattr(getattr(network, "preprocess", None), "flip", False))
    step = max(1, batch_size // 2) if flip else batch_size

    def predict(images: np.ndarray) -> dict[str, np.ndarray]:
        chunks: dict[str, list[np.ndarray]] = {}
        with torch.inference_mode():
            for start in range(0, len(images), step):
                batch = torch.from_numpy(np.ascontiguousarray(images[start : start + step]))
                for head, value in network(batch).items():
                    chunks.setdefault(head, []).append(value.float().numpy())
        return {head: np.concatenate(parts).astype(np.float64) for head, parts in chunks.items()}

    return predict


def network_logits(network: Any, images: np.ndarray, batch_size: int = 64) -> dict[str, Any]:
    """Raw strategy logits (torch tensors, concatenated) for temperature fitting."""
    return network_logits_mirrored(network, images, batch_size, mirror=False)[0]


def network_logits_mirrored(
    network: Any, images: np.ndarray, batch_size: int = 64, mirror: bool = True
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Raw strategy logits of the images and, with ``mirror``, of their mirror images (flipped as a ``test_flip``
    network flips its input), from one pass: a review fit of a flipping network needs both (temperatures on the
    plain logits, thresholds on the flip-averaged probabilities), which took three forwards an image as two passes."""
    import torch

    step = max(1, batch_size // 2) if mirror else batch_size  # each call's forward sees batch_size images
    plain: dict[str, list[Any]] = {}
    mirrored: dict[str, list[Any]] = {}
    with torch.inference_mode():
        for start in range(0, len(images), step):
            x = network.to_input(torch.from_numpy(np.ascontiguousarray(images[start : start + step])))
            n = len(x)
            for head, value in network.forward_logits(torch.cat([x, x.flip(-1)]) if mirror else x).items():
                plain.setdefault(head, []).append(value[:n].float())
                if mirror:
                    mirrored.setdefault(head, []).append(value[n:].float())

    def join(parts: dict[str, list[Any]]) -> dict[str, Any]:
        return {head: torch.cat(values) for head, values in parts.items()}

    return join(plain), join(mirrored) if mirror else None
