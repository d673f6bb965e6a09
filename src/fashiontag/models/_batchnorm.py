"""Re-estimate a network's BatchNorm statistics on a new domain's unlabelled images (AdaBN).

A model trained on studio packshots normalises a phone photo's activations with the packshots' means and
variances; every layer after the first is then fed inputs from the wrong distribution. AdaBN (Li et al.
2016, "Revisiting Batch Normalization For Practical Domain Adaptation") replaces each BatchNorm layer's
running statistics with the target photos' own - no labels, no gradient step, one forward pass. Measured on
the shop photos: an FPI-only model gains 2.8 points zero-shot (BENCHMARKS.md).

Only the BatchNorm layers run in training mode while the statistics are gathered: dropout and stochastic
depth stay off, so the statistics are those the network sees at inference.

Example:
    >>> layers = adapt_batchnorm(net, shop_images)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from torch import nn

#: Fewer images than this give BatchNorm statistics too noisy to trust (a batch of 64 is the usual floor).
MIN_BATCHNORM_IMAGES = 32


def batchnorm_layers(net: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    """Every BatchNorm layer of ``net`` (a cascade's parts included)."""
    return [m for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


def adapt_batchnorm(
    net: nn.Module,
    images: np.ndarray,
    batch_size: int = 64,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Replace the running mean/variance of every BatchNorm layer of ``net`` by their average over ``images``
    (uint8 NHWC at the model's letterbox size, as the network's ``forward`` takes them); returns how many layers
    changed. ``net`` is left in eval mode; ``progress(done, total)`` is called after each batch.

    Raises ``ValueError`` when ``net`` has no BatchNorm layer or ``images`` has fewer than :data:`MIN_BATCHNORM_IMAGES`.
    """
    import torch

    layers = batchnorm_layers(net)
    if not layers:
        raise ValueError("this network has no BatchNorm layers: there are no statistics to adapt")
    if len(images) < MIN_BATCHNORM_IMAGES:
        raise ValueError(f"{len(images)} images are too few to estimate BatchNorm statistics; give at least "
                         f"{MIN_BATCHNORM_IMAGES} photos from the new domain")
    momenta = [m.momentum for m in layers]
    net.eval()
    for layer in layers:
        layer.reset_running_stats()
        layer.momentum = None  # a cumulative average over the batches, not an exponential one
        layer.train()
    # Nearly equal batches (never one of a single image, which BatchNorm cannot normalise).
    batches = np.array_split(np.arange(len(images)), max(1, -(-len(images) // batch_size)))
    try:
        with torch.no_grad():
            for done, rows in enumerate(batches, start=1):
                net(torch.from_numpy(np.ascontiguousarray(images[rows])))
                if progress is not None:
                    progress(done, len(batches))
    finally:
        for layer, momentum in zip(layers, momenta, strict=True):
            layer.momentum = momentum
        net.eval()
    return len(layers)
