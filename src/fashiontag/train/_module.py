"""Lightning parts: the DataModule (uint8 arrays -> device), the LightningModule, the fine-tuning callback."""

from __future__ import annotations

import math
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import BaseFinetuning
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, TensorDataset, WeightedRandomSampler

from fashiontag.models import images_to_input, normalise_input, resize_images
from fashiontag.train._augment import create_augment
from fashiontag.train._config import TrainConfig
from fashiontag.train._losses import class_counts, create_loss, head_loss_weights
from fashiontag.train._metrics import head_metrics, selection_metrics
from fashiontag.train._modes import ModeJob


def balanced_sampler(first: np.ndarray) -> WeightedRandomSampler:
    """Each class of the first strategy head equally likely (rows without a label never drawn)."""
    counts = np.bincount(first[first >= 0], minlength=first.max() + 1).astype(float)
    weights = np.where(first >= 0, 1.0 / np.maximum(counts[np.maximum(first, 0)], 1), 0.0)
    return WeightedRandomSampler(torch.as_tensor(weights), len(first), replacement=True)


class ArrayDataModule(L.LightningDataModule):
    """Serves ``(uint8 image, strategy targets, head targets)``; augmentation happens later, on the device."""

    def __init__(self, job: ModeJob) -> None:
        super().__init__()
        self.images, self.strategy_targets, self.head_targets = job.images, job.strategy_targets, job.head_targets
        self.train_rows, self.val_rows, self.config = job.train_rows, job.val_rows, job.config

    def _dataset(self, rows: np.ndarray) -> Dataset:
        if not isinstance(self.images, np.ndarray):  # lazy_cache: a memmap view, read per item (per DDP rank)
            from fashiontag.train._distributed import MemmapRowsDataset

            return MemmapRowsDataset(self.images, rows, self.strategy_targets, self.head_targets)
        return TensorDataset(
            torch.from_numpy(np.ascontiguousarray(self.images[rows])),
            torch.from_numpy(self.strategy_targets[rows]),
            torch.from_numpy(self.head_targets[rows]),
        )

    def train_dataloader(self) -> DataLoader:
        data = self._dataset(self.train_rows)
        balanced, trainer = self.config.optim.balanced_sampling, self.config.trainer
        sampler = balanced_sampler(self.strategy_targets[self.train_rows, 0]) if balanced else None
        return DataLoader(
            data,
            batch_size=trainer.batch_size,
            shuffle=sampler is None,
            sampler=sampler,
            num_workers=trainer.num_workers,
            drop_last=len(data) > trainer.batch_size,
        )

    def val_dataloader(self) -> DataLoader:
        return DataLoader(
            self._dataset(self.val_rows),
            batch_size=self.config.trainer.batch_size * 2,
            num_workers=self.config.trainer.num_workers,
        )


class TaggerModule(L.LightningModule):
    """Trains a TaggerNet's strategy heads; validates per taxonomy head (accuracy, macro-F1)."""

    def __init__(
        self, net: torch.nn.Module, config: TrainConfig, counts: list[Tensor], steps_per_epoch: int, distill: Any = None
    ) -> None:
        super().__init__()
        self.net, self.config, self.steps_per_epoch = net, config, max(steps_per_epoch, 1)
        # a Distillation (train/_distill.py) or None; a plain object, so its teacher is neither trained nor saved
        self.distill = distill
        optim = config.optim
        self.losses = [create_loss(optim.loss, c, optim.label_smoothing, optim.focal_gamma) for c in counts]
        self.loss_weights = head_loss_weights(optim.loss_weights, net.logit_heads)
        self.augment = create_augment(config.optim.augment)
        self._val: list[tuple[dict[str, Tensor], Tensor]] = []
        self.val_metrics: dict[str, float] = {}

    def _inputs(self, images: Tensor, train: bool) -> tuple[Tensor, Any]:
        """The network's own preprocessing (``images_to_input``), with the augmentation between its halves."""
        if not train:
            return images_to_input(images, self.net.preprocess, self.net.mean, self.net.std), None
        x, mix = self._augmented(images)
        return normalise_input(x, self.net.mean, self.net.std), mix

    def _augmented(self, images: Tensor) -> tuple[Tensor, Any]:
        """uint8 batch -> augmented float ``[0,1]`` at the input size (and the mixing of mixup/cutmix)."""
        pre = self.net.preprocess
        return self.augment(resize_images(images, pre.size, pre.input_size, self.net.mean.dtype))

    @property
    def trainable_backbone(self) -> torch.nn.Module:
        """The part of the backbone that trains (all of it here; the tail in cached-trunk mode)."""
        return self.net.backbone

    def _logits(self, inputs: Tensor, train: bool) -> tuple[dict[str, Tensor], Any]:
        """Raw strategy logits (and the mixing of mixup/cutmix) for a batch of what the datamodule serves."""
        x, mix = self._inputs(inputs, train=train)
        return self.net.forward_logits(x), mix

    def _train_forward(self, batch: tuple[Tensor, ...]) -> tuple[dict[str, Tensor], Any, Tensor | None]:
        """Logits, mixing, and the teacher's logits for the same (augmented) inputs: served with the batch when
        cached (trunk mode), else the teacher runs on this step's augmented images; None without a teacher."""
        if self.distill is None or len(batch) > 3:
            logits, mix = self._logits(batch[0], train=True)
            return logits, mix, batch[3] if len(batch) > 3 else None
        x, mix = self._augmented(batch[0])
        return self.net.forward_logits(normalise_input(x, self.net.mean, self.net.std)), mix, self.distill.logits(x)

    def training_step(self, batch: tuple[Tensor, ...], batch_idx: int) -> Tensor:
        images, targets = batch[0], batch[1]
        logits, mix, soft = self._train_forward(batch)
        loss = images.new_zeros((), dtype=torch.float32)
        for i, head in enumerate(self.net.logit_heads):
            t, head_loss = targets[:, i], self.losses[i]
            if mix is None:
                term = head_loss(logits[head], t)
            else:
                perm, lam = mix
                term = lam * head_loss(logits[head], t) + (1 - lam) * head_loss(logits[head], t[perm])
            loss = loss + self.loss_weights[i] * term
        if soft is not None:  # the teacher saw the same (mixed) images: its soft labels need no mixing
            self.log("train_task_loss", loss, on_step=False, on_epoch=True, batch_size=len(images))
            loss = self.distill.loss(loss, logits, soft)
        self.log("train_loss", loss, prog_bar=True, on_step=True, on_epoch=True, batch_size=len(images))
        return loss

    def validation_step(self, batch: tuple[Tensor, ...], batch_idx: int) -> None:
        images, heads = batch[0], batch[2]
        probs = self.net.probabilities(self._logits(images, train=False)[0])
        self._val.append(({h: p.float().cpu() for h, p in probs.items()}, heads.cpu()))

    def on_validation_epoch_end(self) -> None:
        if not self._val:
            return
        probs = {h: torch.cat([p[h] for p, _ in self._val]) for h in self.net.heads}
        targets = torch.cat([t for _, t in self._val])
        self._val.clear()
        metrics = selection_metrics(head_metrics(probs, targets, self.net.heads), self.net.taxonomy.levels)
        self.val_metrics = metrics
        self._plateau_update(metrics[self.config.trainer.monitor])
        self.log_dict({k if k.startswith("val_") else f"val_{k}": v for k, v in metrics.items()}, sync_dist=True)

    def configure_optimizers(self) -> Any:
        cfg = self.config
        head = [p for p in self.net.head.parameters() if p.requires_grad]
        groups = [{"params": head, "lr": cfg.optim.lr}]
        backbone = [p for p in self.trainable_backbone.parameters() if p.requires_grad]
        if backbone:
            groups.append({"params": backbone, "lr": cfg.optim.lr * cfg.optim.backbone_lr_scale})
        if cfg.optim.optimizer == "sgd":
            optimizer = torch.optim.SGD(
                groups, lr=cfg.optim.lr, momentum=0.9, weight_decay=cfg.optim.weight_decay, nesterov=True
            )
        else:
            optimizer = torch.optim.AdamW(groups, lr=cfg.optim.lr, weight_decay=cfg.optim.weight_decay)
        return optimizer

    def lr_factor(self, step: int) -> float:
        """Warmup then cosine/step; plateau keeps its own running factor. Applied per batch to every param
        group's base lr, so groups the fine-tuning callback adds later follow the same schedule."""
        cfg = self.config
        total = self.schedule_steps or cfg.trainer.epochs * self.steps_per_epoch
        # at most half the schedule: a time-limited run's schedule may end within its first epoch
        warmup = min(cfg.optim.warmup_epochs * self.steps_per_epoch, total / 2)
        if step < warmup:
            return (step + 1) / warmup
        if cfg.optim.schedule == "plateau":
            return self._plateau_factor
        if cfg.optim.schedule == "step":
            return 0.1 ** (step // max(1, int(total * 0.4)))
        return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warmup) / max(1, total - warmup))))

    #: the optimizer steps the schedule spans, training stopping after the last (None: ``epochs`` whole epochs);
    #: set when a time-limited run's last epoch fits in part, after its first pass (``_train_trunk``) or an epoch
    #: (:class:`~fashiontag.train._epoch_refit.EpochRefit`)
    schedule_steps: int | None = None

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        factor = self.lr_factor(self.global_step)
        for group in self.optimizers().optimizer.param_groups:
            group.setdefault("base_lr", group["lr"])
            group["lr"] = group["base_lr"] * factor

    def _schedule_done(self) -> bool:
        return self.schedule_steps is not None and self.global_step >= self.schedule_steps

    def on_train_start(self) -> None:
        if self._schedule_done():  # resumed from the checkpoint of its last step: nothing is left to train
            self.trainer.should_stop = True

    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        if self._schedule_done():
            self.trainer.should_stop = True  # Lightning then validates, checkpoints and ends the epoch here

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        if self.schedule_steps is not None:  # a resume ends the schedule where this run would
            checkpoint["schedule_steps"] = [self.schedule_steps, self.config.trainer.epochs]

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        steps, epochs = checkpoint.get("schedule_steps") or (None, None)
        # a resume that asks for other epochs (more: a finished run extended) sizes its schedule to those instead
        self.schedule_steps = steps if epochs == self.config.trainer.epochs else None

    _plateau_factor, _plateau_best, _plateau_wait = 1.0, -1.0, 0

    def _plateau_update(self, score: float) -> None:
        if score > self._plateau_best:
            self._plateau_best, self._plateau_wait = score, 0
        else:
            self._plateau_wait += 1
            if self._plateau_wait > 1:
                self._plateau_factor, self._plateau_wait = self._plateau_factor * 0.3, 0


class HeadFirstFinetuning(BaseFinetuning):
    """Train the heads on a frozen backbone for ``head_epochs``, then unfreeze it at ``lr * backbone_lr_scale``."""

    def __init__(self, head_epochs: int, lr: float) -> None:
        super().__init__()
        self.head_epochs, self.lr = head_epochs, lr

    def freeze_before_training(self, pl_module: L.LightningModule) -> None:
        if self.head_epochs > 0:
            self.freeze(pl_module.trainable_backbone, train_bn=False)

    def finetune_function(self, pl_module: L.LightningModule, epoch: int, optimizer: Any) -> None:
        if self.head_epochs > 0 and epoch == self.head_epochs:
            self.unfreeze_and_add_param_group(pl_module.trainable_backbone, optimizer, lr=self.lr, train_bn=True)


def strategy_counts(targets: np.ndarray, net: torch.nn.Module) -> list[Tensor]:
    """Training class counts per strategy logit head (for ``weighted_ce``)."""
    with torch.no_grad():
        sizes = {h: v.shape[1] for h, v in net.head.eval()(torch.zeros(1, net.num_features)).items()}
    net.head.train()
    return [class_counts(torch.from_numpy(targets[:, i]), sizes[h]) for i, h in enumerate(net.logit_heads)]
