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


def check_adaptable(net: nn.Module) -> None:
    """Raise ``ValueError`` when :func:`adapt_batchnorm` cannot adapt ``net``: no BatchNorm layer (LayerNorm
    backbones such as ConvNeXt), or a network of parts (a cascade's specialists see only the photos the router
    sends them, too few or none for statistics of their own)."""
    if getattr(net, "parts", dict)():
        raise ValueError(
            "a cascade cannot be adapted as a whole (each specialist sees only the photos routed to "
            "it); adapt a single-network model (strategy flat, multihead or combined)"
        )
    if not batchnorm_layers(net):
        raise ValueError(
            "this network has no BatchNorm layers (a LayerNorm backbone such as ConvNeXt): there are "
            "no statistics to adapt"
        )


def adapt_batchnorm(
    net: nn.Module,
    images: np.ndarray,
    batch_size: int = 64,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Replace the running mean/variance of every BatchNorm layer of ``net`` by their average over ``images``
    (uint8 NHWC at the model's letterbox size, as the network's ``forward`` takes them); returns how many layers
    changed. ``net`` is left in eval mode (on an error, with its statistics as they were); ``progress(done,
    total)`` is called after each batch.

    Raises ``ValueError`` when :func:`check_adaptable` does, ``images`` has fewer than
    :data:`MIN_BATCHNORM_IMAGES` or ``batch_size`` is below 2.
    """
    import torch

    check_adaptable(net)
    if len(images) < MIN_BATCHNORM_IMAGES:
        raise ValueError(
            f"{len(images)} images are too few to estimate BatchNorm statistics; give at least "
            f"{MIN_BATCHNORM_IMAGES} photos from the new domain"
        )
    if batch_size < 2:
        raise ValueError(f"batch_size must be at least 2 (BatchNorm cannot normalise one image), got {batch_size}")
    layers = batchnorm_layers(net)
    saved = [
        (m.momentum, {k: v.clone() for k, v in m.state_dict().items() if k.startswith(("running", "num"))})
        for m in layers
    ]
    net.eval()
    for layer in layers:
        layer.reset_running_stats()
        layer.momentum = None  # a cumulative average over the batches, not an exponential one
        layer.train()
    # Nearly equal batches (each counts the same in the average; none of a single image).
    batches = np.array_split(np.arange(len(images)), max(1, -(-len(images) // batch_size)))
    try:
        with torch.no_grad():
            for done, rows in enumerate(batches, start=1):
                net(torch.from_numpy(np.ascontiguousarray(images[rows])))
                if progress is not None:
                    progress(done, len(batches))
    except BaseException:
        for layer, (_, state) in zip(layers, saved, strict=True):
            layer.load_state_dict({**layer.state_dict(), **state})
        raise
    finally:
        for layer, (momentum, _) in zip(layers, saved, strict=True):
            layer.momentum = momentum
        net.eval()
    return len(layers)
