"""Loss registry: ``ce``, ``weighted_ce`` (inverse-frequency class weights), ``focal``.

Each factory takes ``(counts, config)`` (per-class training counts) and returns ``loss(logits, targets)``
that ignores targets of -1 (no label for that head).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

import torch
import torch.nn.functional as F
from torch import Tensor

from fashiontag.registry import Registry

LossFn = Callable[[Tensor, Tensor], Tensor]
LOSSES: Registry[LossFn] = Registry("loss")


def create_loss(name: str, counts: Tensor, label_smoothing: float = 0.0, gamma: float = 2.0) -> LossFn:
    return LOSSES.create(name, counts=counts, label_smoothing=label_smoothing, gamma=gamma)


def list_losses() -> list[str]:
    return LOSSES.names()


def _masked(loss: LossFn) -> LossFn:
    def masked(logits: Tensor, targets: Tensor) -> Tensor:
        keep = targets >= 0
        if not bool(keep.any()):
            return logits.sum() * 0.0
        return loss(logits[keep], targets[keep])

    return masked


@LOSSES.register("ce")
def cross_entropy(counts: Tensor, label_smoothing: float = 0.0, **_: object) -> LossFn:
    return _masked(lambda lg, t: F.cross_entropy(lg, t, label_smoothing=label_smoothing))


@LOSSES.register("weighted_ce")
def weighted_cross_entropy(counts: Tensor, label_smoothing: float = 0.0, **_: object) -> LossFn:
    weight = counts.sum() / (counts.clamp(min=1) * len(counts))

    def loss(logits: Tensor, targets: Tensor) -> Tensor:
        return F.cross_entropy(logits, targets, weight=weight.to(logits), label_smoothing=label_smoothing)

    return _masked(loss)


def focal_loss(logits: Tensor, targets: Tensor, gamma: float = 2.0) -> Tensor:
    """Mean of ``-(1 - p_t)^gamma * log p_t`` (Lin et al. 2017)."""
    log_p = logits.log_softmax(-1).gather(1, targets[:, None]).squeeze(1)
    return (-((1 - log_p.exp()) ** gamma) * log_p).mean()


@LOSSES.register("focal")
def focal(counts: Tensor, gamma: float = 2.0, **_: object) -> LossFn:
    return _masked(lambda lg, t: focal_loss(lg, t, gamma))


def class_counts(targets: Tensor, num_classes: int) -> Tensor:
    return torch.bincount(targets[targets >= 0], minlength=num_classes).float()


def head_loss_weights(weights: Mapping[str, float] | None, heads: Iterable[str]) -> list[float]:
    """Per logit head, the factor on its loss: 1 unless ``loss_weights`` names it. The heads' losses are summed, so
    without factors a head with few classes (gender) counts as much as one with 140 (articleType)."""
    return [float((weights or {}).get(head, 1.0)) for head in heads]


def check_loss_weights(weights: Mapping[str, float] | None, heads: Iterable[str]) -> None:
    """Raises ConfigError for a name that is no logit head of the network (a typo would weigh nothing) or a
    negative factor."""
    from fashiontag.config import ConfigError
    from fashiontag.registry import unknown_name_message

    valid = sorted(set(heads))
    for name, factor in (weights or {}).items():
        if name not in valid:
            raise ConfigError(unknown_name_message("loss_weights head", name, valid))
        if not float(factor) >= 0:
            raise ConfigError(f"loss_weights.{name} must be >= 0, got {factor}")
