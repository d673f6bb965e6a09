"""Lightning parts of cached-trunk fine-tuning: batches of cached activations, and a module whose forward
starts at the cut (the trainable tail of the backbone, then the strategy heads)."""

from __future__ import annotations

from typing import Any

import lightning as L
import numpy as np
import torch
from torch import Tensor
from torch.utils.data import BatchSampler, DataLoader, Dataset, RandomSampler, SequentialSampler

from fashiontag.train._augment import mixup
from fashiontag.train._config import TrainConfig
from fashiontag.train._modes import ModeJob
from fashiontag.train._module import TaggerModule, balanced_sampler
from fashiontag.train._trunk import ActivationStore


def check_mix_activations(config: TrainConfig) -> None:
    """Refuse ``mix_activations`` where it would do nothing or the wrong thing: before any data is read.

    Raises:
        ConfigError: a negative alpha, a run that trains no cached activations (full, probe; ``auto`` plans one
            only under a time limit), or a distillation teacher (its cached soft labels are of the unmixed views).
    """
    from fashiontag.config import ConfigError

    alpha, trainer = config.optim.mix_activations, config.trainer
    if not alpha >= 0:  # NaN too
        raise ConfigError(f"mix_activations must be >= 0 (mixup's Beta alpha, e.g. 0.4; 0 = off), got {alpha}")
    planned = trainer.mode == "auto" and not trainer.probe and trainer.time_limit  # the planner may pick trunk
    if alpha and trainer.train_mode != "trunk" and not planned:
        raise ConfigError(
            f"mix_activations mixes cached-trunk activations: it needs mode=trunk (or a time_limit's plan), not "
            f"{trainer.train_mode}; full fine-tuning mixes images with augment=mixup"
        )
    if alpha and config.optim.teacher:
        raise ConfigError("mix_activations cannot be used with a distillation teacher: its soft labels are unmixed")


class _ActivationBatches(Dataset):
    """Indexed by a list of positions, returns a whole batch: activations (each item from a random view
    when training), strategy targets, head targets, and with ``soft`` the teacher's logits of the same views.
    One memmap read per view instead of one per item."""

    def __init__(
        self,
        store: ActivationStore,
        positions: np.ndarray,
        strategy_targets: np.ndarray,
        head_targets: np.ndarray,
        views: int,
        seed: int,
        soft: bool = False,
    ) -> None:
        self.store, self.positions, self.views, self.soft = store, positions, views, soft
        self.strategy_targets, self.head_targets = strategy_targets, head_targets
        self.generator = np.random.default_rng(seed)

    def __len__(self) -> int:
        return len(self.positions)

    def __getitem__(self, batch: list[int]) -> tuple[Tensor, ...]:
        batch = np.asarray(batch)
        positions = self.positions[batch]
        view = self.generator.integers(0, self.views, len(batch)) if self.views > 1 else np.zeros(len(batch), int)
        out = np.empty((len(batch), *self.store.views[0].shape[1:]), dtype=np.float16)
        soft = np.empty((len(batch), self.store.teacher[0].shape[1]), dtype=np.float16) if self.soft else None
        for v in np.unique(view):
            pick = view == v
            out[pick] = self.store.batch(int(v), positions[pick])
            if soft is not None:
                soft[pick] = self.store.batch(int(v), positions[pick], self.store.teacher)
        batch_out = (
            torch.from_numpy(out),
            torch.from_numpy(self.strategy_targets[batch]),
            torch.from_numpy(self.head_targets[batch]),
        )
        return batch_out if soft is None else (*batch_out, torch.from_numpy(soft))


class ActivationDataModule(L.LightningDataModule):
    """Train rows are view-0 positions ``0..n_train-1`` (and the same positions in the other views); val rows
    follow them in view 0."""

    def __init__(self, store: ActivationStore, job: ModeJob) -> None:
        super().__init__()
        self.store, self.config = store, job.config
        n_train, seed = len(job.train_rows), job.config.seed
        train, val = job.train_rows, job.val_rows
        self.train_data = _ActivationBatches(
            store,
            np.arange(n_train),
            job.strategy_targets[train],
            job.head_targets[train],
            len(store.views),
            seed,
            soft=store.teacher is not None,
        )
        val_positions = np.arange(n_train, n_train + len(val))
        self.val_data = _ActivationBatches(
            store, val_positions, job.strategy_targets[val], job.head_targets[val], 1, seed
        )

    def train_dataloader(self) -> DataLoader:
        data, size = self.train_data, self.config.trainer.batch_size
        if self.config.optim.balanced_sampling:
            sampler: Any = balanced_sampler(data.strategy_targets[:, 0])
        else:
            sampler = RandomSampler(range(len(data)), generator=torch.Generator().manual_seed(self.config.seed))
        return DataLoader(data, sampler=BatchSampler(sampler, size, drop_last=len(data) > size), batch_size=None)

    def val_dataloader(self) -> DataLoader:
        sampler = BatchSampler(SequentialSampler(range(len(self.val_data))), self.config.trainer.batch_size * 2, False)
        return DataLoader(self.val_data, sampler=sampler, batch_size=None)


class TrunkModule(TaggerModule):
    """A TaggerModule whose inputs are trunk activations: only the tail stages and the heads run and train.

    The frozen trunk's parameters get ``requires_grad=False`` and stay in ``net`` unchanged, so the saved
    model is the whole network, labelling raw images like any other.
    """

    def __init__(
        self,
        net: torch.nn.Module,
        tail: torch.nn.Module,
        frozen: torch.nn.Module,
        config: TrainConfig,
        counts: list[Tensor],
        steps_per_epoch: int,
        distill: Any = None,
    ) -> None:
        super().__init__(net, config, counts, steps_per_epoch, distill)
        frozen.requires_grad_(False)
        self._tail = [tail]  # not a registered submodule: its parameters are already net.backbone's

    @property
    def trainable_backbone(self) -> torch.nn.Module:
        return self._tail[0]

    def _logits(self, inputs: Tensor, train: bool) -> tuple[dict[str, Tensor], Any]:
        # channels_last: 1.6-2x faster depthwise/pointwise convs on CPU than NCHW (measured, lite0 blocks 5-6)
        x, mix = inputs.float(), None
        alpha = self.config.optim.mix_activations
        if train and alpha > 0 and len(x) > 1:  # manifold mixup at the cut: the loss mixes the two target sets
            x, mix = mixup(x, alpha)
        features = self.trainable_backbone(x.contiguous(memory_format=torch.channels_last) if x.ndim == 4 else x)
        return self.net.head(features), mix
