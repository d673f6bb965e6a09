"""Training modes (registry): how much of the backbone trains, and from what.

- ``full``: every layer, from the decoded images, augmented on the fly (best, slowest).
- ``trunk``: the frozen early stages run once per image and view; the last stages and heads train on their
  cached activations (``trunk_cut``, ``trunk_views``).
- ``probe``: the whole backbone frozen; heads train on pooled features (seconds).

Each mode is ``train(net, images, strategy_targets, head_targets, train_rows, val_rows, config, run_dir,
feature_memo, max_seconds, distill) -> validation metrics`` and leaves the trained weights in ``net``; ``distill``
(a :class:`~fashiontag.train._distill.Distillation` or None) adds the teacher's soft labels to the loss.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from fashiontag.registry import Registry
from fashiontag.train._config import TrainConfig

TrainMode = Callable[..., dict[str, float]]
MODES: Registry[TrainMode] = Registry("training mode")


def list_modes() -> list[str]:
    return MODES.names()


def _train_probe(
    net: torch.nn.Module,
    images: np.ndarray,
    strategy_targets: np.ndarray,
    head_targets: np.ndarray,
    train_rows: np.ndarray,
    val_rows: np.ndarray,
    config: TrainConfig,
    run_dir: Path,
    feature_memo: Any = None,
    max_seconds: float | None = None,
    distill: Any = None,
) -> dict[str, float]:
    from fashiontag.train._probe import evaluate_features, extract_features, train_heads

    if config.optim.ema_decay is not None:  # a planner may pick the probe for a config written for fine-tuning
        print("   ema_decay: not used by the probe (its heads train on fixed features)", flush=True)
    rows = np.concatenate([train_rows, val_rows])
    feats = (
        feature_memo.features(net, images, rows) if feature_memo is not None else extract_features(net, images[rows])
    )
    soft = None
    if distill is not None:  # once per training image: the features are never augmented either
        from fashiontag.train._distill import teacher_image_logits

        soft = teacher_image_logits(distill, images[train_rows], net.preprocess.input_size)
    train_heads(net, feats[: len(train_rows)], torch.from_numpy(strategy_targets[train_rows]), config, soft, distill)
    return evaluate_features(net, feats[len(train_rows) :], torch.from_numpy(head_targets[val_rows]))


def _train_full(
    net: torch.nn.Module,
    images: np.ndarray,
    strategy_targets: np.ndarray,
    head_targets: np.ndarray,
    train_rows: np.ndarray,
    val_rows: np.ndarray,
    config: TrainConfig,
    run_dir: Path,
    feature_memo: Any = None,
    max_seconds: float | None = None,
    distill: Any = None,
) -> dict[str, float]:
    from fashiontag.train._lightning import run_lightning
    from fashiontag.train._module import ArrayDataModule, TaggerModule, strategy_counts

    if torch.cuda.is_available():
        net = net.to(memory_format=torch.channels_last)
    steps = max(1, len(train_rows) // config.trainer.batch_size)
    module = TaggerModule(net, config, strategy_counts(strategy_targets[train_rows], net), steps, distill)
    datamodule = ArrayDataModule(images, strategy_targets, head_targets, train_rows, val_rows, config)
    return run_lightning(module, datamodule, config, run_dir, max_seconds=max_seconds)


def _train_trunk(
    net: torch.nn.Module,
    images: np.ndarray,
    strategy_targets: np.ndarray,
    head_targets: np.ndarray,
    train_rows: np.ndarray,
    val_rows: np.ndarray,
    config: TrainConfig,
    run_dir: Path,
    feature_memo: Any = None,
    max_seconds: float | None = None,
    distill: Any = None,
) -> dict[str, float]:
    import time

    from fashiontag.models import split_backbone
    from fashiontag.train._lightning import run_lightning
    from fashiontag.train._module import strategy_counts
    from fashiontag.train._trunk import build_activations
    from fashiontag.train._trunk_module import ActivationDataModule, TrunkModule

    if config.trainer.ddp or config.trainer.num_nodes > 1:  # the activation batches are not sharded per rank (yet)
        raise ValueError("mode=trunk trains in one process: drop ddp/num_nodes, or use mode=full for DDP")
    started = time.perf_counter()
    store = build_activations(
        net,
        images,
        train_rows,
        val_rows,
        config.trainer.trunk_cut,
        config.trainer.trunk_views,
        config.optim.augment,
        config.seed,
        Path(config.out) / "trunk_cache",
        progress=config.trainer.progress_bar,
        distill=distill,
    )
    frozen, tail = split_backbone(net.backbone, config.trainer.trunk_cut)
    steps = max(1, len(train_rows) // config.trainer.batch_size)
    module = TrunkModule(net, tail, frozen, config, strategy_counts(strategy_targets[train_rows], net), steps, distill)
    datamodule = ActivationDataModule(store, strategy_targets, head_targets, train_rows, val_rows, config)
    left = None if max_seconds is None else max_seconds - (time.perf_counter() - started)
    return run_lightning(module, datamodule, config, run_dir, max_seconds=left)


for _name, _train in {"probe": _train_probe, "full": _train_full, "trunk": _train_trunk}.items():
    MODES.register(_name)(lambda train=_train: train)
