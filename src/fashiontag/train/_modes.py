"""Training modes (registry): how much of the backbone trains, and from what.

- ``full``: every layer, from the decoded images, augmented on the fly (best, slowest).
- ``trunk``: the frozen early stages run once per image and view; the last stages and heads train on their
  cached activations (``trunk_cut``, ``trunk_views``).
- ``probe``: the whole backbone frozen; heads train on pooled features (seconds).

Each mode is ``train(job: ModeJob) -> validation metrics`` and leaves the trained weights in ``job.net``; one
:class:`ModeJob` carries what every mode is given, so a new mode (or a new input to all of them) changes one
place, not every signature.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from fashiontag.registry import Registry
from fashiontag.train._config import TrainConfig


@dataclass(frozen=True, eq=False)  # arrays and a network: compared by identity, never field by field
class ModeJob:
    """What a training mode trains: ``net`` on ``images`` (rows ``train_rows``, validated on ``val_rows``).

    ``strategy_targets`` are ``[N, logit heads]`` (what the loss sees), ``head_targets`` ``[N, taxonomy heads]``
    (what validation scores); ``feature_memo`` reuses pooled features across probe runs, ``max_seconds`` stops a
    Lightning run then (best checkpoint kept), ``distill`` (a :class:`~fashiontag.train._distill.Distillation`)
    adds a teacher's soft labels to the loss, ``plan`` is the time budget's plan.
    """

    net: torch.nn.Module
    images: np.ndarray
    strategy_targets: np.ndarray
    head_targets: np.ndarray
    train_rows: np.ndarray
    val_rows: np.ndarray
    config: TrainConfig
    run_dir: Path
    feature_memo: Any = None
    max_seconds: float | None = None
    distill: Any = None
    plan: Any = None  # the time budget's Plan (train._budget): trunk mode re-fits its epochs as it goes

    @property
    def steps_per_epoch(self) -> int:
        return max(1, len(self.train_rows) // self.config.trainer.batch_size)

    def class_counts(self) -> list:
        """Per logit head, the train rows' class counts (what weighted losses and balancing are sized by)."""
        from fashiontag.train._module import strategy_counts

        return strategy_counts(self.strategy_targets[self.train_rows], self.net)


TrainMode = Callable[[ModeJob], dict[str, float]]
MODES: Registry[TrainMode] = Registry("training mode")


def list_modes() -> list[str]:
    return MODES.names()


def _train_probe(job: ModeJob) -> dict[str, float]:
    from fashiontag.train._probe import evaluate_features, extract_features, train_heads

    net, train_rows = job.net, job.train_rows
    if job.config.optim.ema_decay is not None:  # a planner may pick the probe for a config written for fine-tuning
        print("   ema_decay: not used by the probe (its heads train on fixed features)", flush=True)
    rows = np.concatenate([train_rows, job.val_rows])
    memo = job.feature_memo
    feats = memo.features(net, job.images, rows) if memo is not None else extract_features(net, job.images[rows])
    soft = None
    if job.distill is not None:  # once per training image: the features are never augmented either
        from fashiontag.train._distill import teacher_image_logits

        soft = teacher_image_logits(job.distill, job.images[train_rows], net.preprocess.input_size)
    strategy_targets = torch.from_numpy(job.strategy_targets[train_rows])
    train_heads(net, feats[: len(train_rows)], strategy_targets, job.config, soft, job.distill)
    return evaluate_features(net, feats[len(train_rows) :], torch.from_numpy(job.head_targets[job.val_rows]))


def _train_full(job: ModeJob) -> dict[str, float]:
    from fashiontag.train._lightning import run_lightning
    from fashiontag.train._module import ArrayDataModule, TaggerModule

    net, config = job.net, job.config
    if torch.cuda.is_available():
        net = net.to(memory_format=torch.channels_last)
    module = TaggerModule(net, config, job.class_counts(), job.steps_per_epoch, job.distill)
    datamodule = ArrayDataModule(job)
    return run_lightning(module, datamodule, config, job.run_dir, max_seconds=job.max_seconds)


def _train_trunk(job: ModeJob) -> dict[str, float]:
    import time

    from fashiontag.models import split_backbone
    from fashiontag.train._lightning import run_lightning
    from fashiontag.train._trunk import build_activations
    from fashiontag.train._trunk_module import ActivationDataModule, TrunkModule

    net, config, trainer = job.net, job.config, job.config.trainer
    if trainer.ddp or trainer.num_nodes > 1:  # the activation batches are not sharded per rank (yet)
        raise ValueError("mode=trunk trains in one process: drop ddp/num_nodes, or use mode=full for DDP")
    started = time.perf_counter()
    store = build_activations(
        net,
        job.images,
        job.train_rows,
        job.val_rows,
        trainer.trunk_cut,
        trainer.trunk_views,
        config.optim.augment,
        config.seed,
        Path(config.out) / "trunk_cache",
        progress=trainer.progress_bar,
        distill=job.distill,
    )

    def left() -> float | None:
        return None if job.max_seconds is None else job.max_seconds - (time.perf_counter() - started)

    schedule = None  # the optimizer step the schedule ends with when the last epoch fits only in part
    if job.max_seconds is not None and job.plan is not None:  # the first pass is paid: fit the epochs to what is left
        from fashiontag.config import updated
        from fashiontag.train._budget import epochs_after_first_pass

        first_pass = time.perf_counter() - started
        epochs, schedule = epochs_after_first_pass(
            job.plan, job.max_seconds - first_pass, first_pass, trainer.head_epochs, job.steps_per_epoch
        )
        if epochs < trainer.epochs:
            config = job.plan.config = updated(config, epochs=epochs)  # the plan records what was trained
    frozen, tail = split_backbone(net.backbone, trainer.trunk_cut)
    module = TrunkModule(net, tail, frozen, config, job.class_counts(), job.steps_per_epoch, job.distill)
    module.schedule_steps = schedule
    datamodule = ActivationDataModule(store, job)
    return run_lightning(module, datamodule, config, job.run_dir, max_seconds=left(), plan=job.plan)


for _name, _train in {"probe": _train_probe, "full": _train_full, "trunk": _train_trunk}.items():
    MODES.register(_name)(lambda train=_train: train)
