"""Edges of evaluation: running a network over uint8 batches."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np


def _flips(network: Any) -> bool:
    """Whether the network labels with its mirror images too (``test_flip``): it doubles each batch inside."""
    return bool(getattr(getattr(network, "preprocess", None), "flip", False))


def _images_per_call(batch_size: int, doubled: bool) -> int:
    """Images per call so that each forward sees ``batch_size``: lite0 at 160 px on 2 CPU cores ran 79 forwards/s
    in batches of 128, 118 in batches of 64."""
    return max(1, batch_size // 2) if doubled else batch_size


def network_predictor(network: Any, batch_size: int = 64) -> Callable[[np.ndarray], dict[str, np.ndarray]]:
    """``images -> {head: probs}`` for a torch network taking uint8 NHWC (no grad, batched; a ``test_flip``
    network gets half the images per call)."""
    import torch

    step = _images_per_call(batch_size, _flips(network))

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
    return _logits(network, images, batch_size, mirror=False)[0]


def network_logits_mirrored(
    network: Any, images: np.ndarray, batch_size: int = 64
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Raw strategy logits of the images and, for a ``test_flip`` network, of their mirror images (else ``None``),
    from one pass (``TaggerNet.logits_with_mirror``): a review fit needs both (temperatures on the plain logits,
    thresholds on ``labelling_probabilities``), which took three forwards an image as two passes."""
    return _logits(network, images, batch_size, mirror=_flips(network))


def _logits(
    network: Any, images: np.ndarray, batch_size: int, mirror: bool
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    import torch

    step = _images_per_call(batch_size, mirror)
    plain: dict[str, list[Any]] = {}
    mirrored: dict[str, list[Any]] = {}
    with torch.inference_mode():
        for start in range(0, len(images), step):
            x = network.to_input(torch.from_numpy(np.ascontiguousarray(images[start : start + step])))
            first, second = network.logits_with_mirror(x) if mirror else (network.forward_logits(x), None)
            for head, value in first.items():
                plain.setdefault(head, []).append(value.float())
            for head, value in (second or {}).items():
                mirrored.setdefault(head, []).append(value.float())

    def join(parts: dict[str, list[Any]]) -> dict[str, Any]:
        return {head: torch.cat(values) for head, values in parts.items()}

    return join(plain), join(mirrored) if mirror else None
