"""The Lightning Trainer setup: checkpoints (last + best by ``trainer.monitor``), early stopping, loggers, resume,
DDP, precision."""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from fashiontag.train._config import TrainConfig
from fashiontag.train._distributed import distributed_kwargs


def _trainer_kwargs(config: TrainConfig) -> dict[str, Any]:
    gpu = torch.cuda.is_available() and config.trainer.accelerator in ("auto", "gpu", "cuda")
    precision = config.trainer.precision if config.trainer.precision != "auto" else ("bf16-mixed" if gpu else "32-true")
    kwargs: dict[str, Any] = {
        "accelerator": config.trainer.accelerator,
        "devices": config.trainer.devices,
        "precision": precision,
    }
    kwargs.update(distributed_kwargs(config))  # ddp on one machine, or num_nodes machines under torchrun
    return kwargs


def _epoch_lines() -> Any:
    """Without a progress bar (logs, CI, ``progress_bar=false``) a person still sees one line per epoch."""
    import time

    from lightning.pytorch.callbacks import Callback

    class EpochLines(Callback):
        def on_train_epoch_start(self, trainer: Any, module: Any) -> None:
            self.started = time.perf_counter()

        def on_validation_end(self, trainer: Any, module: Any) -> None:  # after the module logged val_*
            if (
                trainer.sanity_checking
                or not trainer.is_global_zero
                or not hasattr(self, "started")
                or trainer.state.fn != "fit"
            ):  # not the final trainer.validate() of the kept weights
                return
            metrics = trainer.callback_metrics
            keys = [
                "train_loss_step",
                "val_accuracy",
                "val_macro_f1",
                *sorted(k for k in metrics if k.startswith("val_acc_")),
            ]
            shown = " ".join(f"{key.removeprefix('val_')} {float(metrics[key]):.4f}" for key in keys if key in metrics)
            print(
                f"   epoch {trainer.current_epoch + 1}/{trainer.max_epochs}: {shown} "
                f"({time.perf_counter() - self.started:.0f} s)",
                flush=True,
            )

    return EpochLines()


def _callbacks(config: TrainConfig, run_dir: Path, extra: list[Any]) -> list[Any]:
    from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint

    from fashiontag.train._ema import ema_callback
    from fashiontag.train._module import HeadFirstFinetuning

    monitor = config.trainer.monitor
    checkpoint = ModelCheckpoint(
        dirpath=run_dir / "checkpoints",
        filename="best",
        monitor=monitor,
        mode="max",
        save_top_k=1,
        enable_version_counter=False,
    )
    # every epoch, improved or not (Lightning's save_last only follows a new best): resume picks up from here
    latest = ModelCheckpoint(
        dirpath=run_dir / "checkpoints", filename="last", monitor=None, save_top_k=1, enable_version_counter=False
    )
    patience = early_stopping_patience(config)
    stop = [EarlyStopping(monitor=monitor, mode="max", patience=patience)] if patience is not None else []
    finetune = HeadFirstFinetuning(config.trainer.head_epochs, config.optim.lr * config.optim.backbone_lr_scale)
    lines = [] if config.trainer.progress_bar else [_epoch_lines()]
    ema = [ema_callback(config.optim.ema_decay)] if config.optim.ema_decay is not None else []
    return [checkpoint, latest, *stop, finetune, *ema, *lines, *extra]


def early_stopping_patience(config: TrainConfig) -> int | None:
    """The patience in force: the configured one, else 3 epochs, or none under a time limit. A planned run's
    cosine schedule ends at its budget; on a 305-photo shop val split early stopping had ended a 30-minute
    run after 6 minutes, at a learning rate still half its peak."""
    patience = config.trainer.early_stopping_patience
    if patience is not None:
        return patience
    return None if config.trainer.time_limit else 3


class _NoAdvert(logging.Filter):
    """Drops Lightning's "Tip: ... try installing litlogger" line: an advert, not something about this run."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("\N{ELECTRIC LIGHT BULB} Tip")


@contextlib.contextmanager
def _quiet(module: torch.nn.Module) -> Iterator[None]:
    """Silence the notices that tell a fashiontag user nothing to act on, and only those: torch's deprecation of
    a class Lightning itself uses, an advert, and "modules in eval mode" when every such module is frozen (the
    cached-trunk mode's trunk is on purpose: its activations are computed once, before training)."""
    frozen = all(not p.requires_grad for m in module.modules() if not m.training for p in m.parameters())
    advert = _NoAdvert()
    log = logging.getLogger("lightning.pytorch.utilities.rank_zero")
    log.addFilter(advert)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", r"`isinstance\(treespec, LeafSpec\)` is deprecated", FutureWarning)
            if frozen:
                warnings.filterwarnings("ignore", r"Found \d+ module\(s\) in eval mode", UserWarning)
            yield
    finally:
        log.removeFilter(advert)


def run_lightning(
    module: Any,
    datamodule: Any,
    config: TrainConfig,
    run_dir: Path,
    max_seconds: float | None = None,
    plan: Any = None,
) -> dict[str, float]:
    """Fit ``module`` on ``datamodule`` with Lightning; resumes from ``<run_dir>/checkpoints/last.ckpt``;
    leaves the best weights in the module's network. ``max_seconds`` stops training then (Lightning's Timer),
    keeping the best checkpoint so far; with the time budget's ``plan`` (a fresh cached-trunk run's: one with an
    epoch estimate) the epochs are re-fitted as each ends (:class:`~fashiontag.train._epoch_refit.EpochRefit`)."""
    import datetime

    import lightning as L
    from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger

    L.seed_everything(config.seed, workers=True, verbose=False)
    loggers = [CSVLogger(run_dir, name="logs", version=0), TensorBoardLogger(run_dir, name="tb", version=0)]
    extra = list(_EXTRA_CALLBACKS)
    limit = max(1.0, max_seconds) if max_seconds else None  # the Timer's, and the epoch re-fit's deadline
    if limit and plan is not None and plan.epoch_seconds:
        from fashiontag.train._epoch_refit import EpochRefit

        extra.append(EpochRefit(plan, limit, run_dir, config.trainer.head_epochs))
    callbacks = _callbacks(config, run_dir, extra)
    limits = {
        key: value
        for key in ("limit_train_batches", "limit_val_batches")  # 1.0 is Lightning's default:
        if (value := getattr(config.trainer, key)) != 1.0
    }  # given, it prints "100% of the batches" lines
    from fashiontag.train._resume import check_resume

    last = run_dir / "checkpoints" / "last.ckpt"
    resume = check_resume(run_dir, config)  # refuses checkpoints of a run with other settings
    with _quiet(module):
        trainer = L.Trainer(
            max_epochs=config.trainer.epochs,
            logger=loggers,
            callbacks=callbacks,
            default_root_dir=run_dir,
            enable_progress_bar=config.trainer.progress_bar,
            num_sanity_val_steps=0,
            log_every_n_steps=1,
            enable_model_summary=False,
            **limits,
            **_trainer_kwargs(config),
            max_time=datetime.timedelta(seconds=limit) if limit else None,
        )
        trainer.fit(module, datamodule=datamodule, ckpt_path=str(last) if resume else None)
        best = callbacks[0].best_model_path
        if best and Path(best).exists():  # our own checkpoint: tensors and plain types only
            state = torch.load(best, map_location="cpu", weights_only=True)["state_dict"]
            module.load_state_dict(state)
        if best or not module.val_metrics:  # the metrics of the weights kept (or of any, if time ran out early)
            trainer.validate(module, datamodule=datamodule, verbose=False)
    return dict(module.val_metrics)


# test hook: callbacks added to every run (e.g. one that aborts after N steps); empty in normal use
_EXTRA_CALLBACKS: list[Any] = []
