"""Exponential moving average of the trained weights (``ema_decay``), through Lightning's ``WeightAveraging``.

Validation, the kept checkpoint and the saved model use the averaged weights; the optimiser keeps stepping the
raw ones (both are in the checkpoints, so a resumed run continues both). The decay warms up as in timm's
``ModelEmaV3`` (``min(decay, (1 + n) / (10 + n))`` after ``n`` updates), so a short run on a small dataset is
not dominated by the random head of its first steps.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor


def ema_decay_at(decay: float, updates: int) -> float:
    """The decay used for update number ``updates`` (0-based): warmed up, never above ``decay``."""
    return min(float(decay), (1.0 + updates) / (10.0 + updates))


def check_decay(decay: float) -> None:
    """Raises ConfigError unless ``0 < decay < 1``."""
    if not 0.0 < decay < 1.0:
        from fashiontag.config import ConfigError

        raise ConfigError(f"ema_decay must be in (0, 1) (e.g. 0.995), got {decay}")


def ema_callback(decay: float) -> Any:
    """A ``WeightAveraging`` callback keeping an EMA of all parameters and buffers (BatchNorm statistics too)."""
    from lightning.pytorch.callbacks import WeightAveraging

    check_decay(decay)

    def average(averaged: list[Tensor], current: list[Tensor], num_averaged: Tensor) -> None:
        # one fused lerp per dtype group (3x faster than a per-tensor avg_fn on lite0); integer buffers such as
        # BatchNorm's num_batches_tracked are counters, not estimates: copied
        d = ema_decay_at(decay, int(num_averaged))
        if averaged[0].is_floating_point():
            torch._foreach_lerp_(averaged, current, 1.0 - d)
        else:
            for a, c in zip(averaged, current, strict=True):
                a.copy_(c)

    class EMA(WeightAveraging):
        def on_train_end(self, trainer: Any, pl_module: Any) -> None:
            super().on_train_end(trainer, pl_module)
            # the validation that follows fit() scores the kept (best) checkpoint's weights, already averaged:
            # without this, WeightAveraging would swap its last average back in for it
            self._average_model = None

    return EMA(multi_avg_fn=average)
