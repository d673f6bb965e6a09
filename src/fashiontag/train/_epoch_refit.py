"""Re-fit a time-limited cached-trunk run's epochs as each one ends, from how long it really took.

The planner measures a few batches a minute before training; on these shared 2-core machines the epochs then
ran 15-40% slower than that (a 5-minute shop plan: 23-28 s per epoch against 20 s estimated), and Lightning's
Timer cut the last epoch: its work was lost (checkpoints are kept at epoch ends) and the cosine schedule never
reached its low learning rates. After every epoch this callback compares the epochs left with the time left at
the pace of the epoch just ended (its checkpoint writes included); when they no longer fit it ends the schedule
sooner (``max_epochs`` and the module's ``epochs``, which size the learning-rate schedule: the rate drops to the
shorter schedule's value and anneals to zero with the new last epoch), says so, and records the new count for a
resume. It only ever lowers the count (the recipe was chosen for the planned epochs), so one epoch slowed by a
neighbour process shortens the run for good: an epoch cut by the Timer would cost more.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from lightning.pytorch.callbacks import Callback

from fashiontag.config import updated
from fashiontag.train._budget import Plan, epochs_that_fit

_clock = time.monotonic  # Lightning's Timer's clock (tests replace it)


class EpochRefit(Callback):
    """Under ``seconds`` of training (the Timer's limit, counted from the same start), shorten ``plan``'s epochs
    once the last epoch's pace says they will not all fit."""

    def __init__(self, plan: Plan, seconds: float, run_dir: Path, head_epochs: int = 0) -> None:
        self.plan, self.seconds, self.run_dir, self.head_epochs = plan, seconds, run_dir, head_epochs
        self.deadline = self.ended = 0.0
        self.planned = 0  # the epochs the run started with (set with the deadline)

    def on_train_start(self, trainer: Any, module: Any) -> None:
        self.ended = _clock()
        self.deadline = self.ended + self.seconds
        self.planned = trainer.max_epochs

    def on_train_epoch_end(self, trainer: Any, module: Any) -> None:  # after this epoch's validation
        now = _clock()
        # from the previous epoch's end: what lies between two epochs (checkpoint writes) is part of the pace
        took, self.ended = max(now - self.ended, 1e-6), now
        done, epochs_now = trainer.current_epoch + 1, trainer.max_epochs
        if done >= epochs_now or trainer.should_stop:
            return
        left = self.deadline - now
        # no margin: the pace is measured on a whole epoch, not estimated from a few batches; with 5%, the demo's
        # last of three 145 s epochs would be dropped whenever it fits by less than 7 s
        epochs, fit = epochs_that_fit(epochs_now, done, took, left, self.head_epochs, margin=0.0)
        epochs = trainer.strategy.broadcast(epochs, src=0)  # every rank stops after the same epoch
        if epochs >= epochs_now:
            return
        trainer.fit_loop.max_epochs = epochs
        module.config = updated(module.config, epochs=epochs)  # the schedule now ends with the last epoch trained
        self.plan.config = updated(self.plan.config, epochs=epochs)  # what the sidecar records as trained
        estimated = f" (estimated {self.plan.epoch_seconds:.0f} s)" if self.plan.epoch_seconds else ""
        ends = "this one" if epochs == done else f"epoch {epochs}"
        line = f"epoch {done} took {took:.0f} s{estimated}: the {left:.0f} s left fit {fit} more"
        if epochs > done + fit:  # kept so that the tail trains after head_epochs
            line += f"; keeping {epochs} of the {self.planned} planned - the time limit may stop the last"
        else:
            line += f", so training ends with {ends} ({epochs} of the {self.planned} planned)"
        self.plan.lines.append(line)
        if trainer.is_global_zero:
            print(f"   plan: {line}", flush=True)
            from fashiontag.train._resume import record_epochs

            record_epochs(self.run_dir, epochs)  # a resume continues this schedule, not the planned one
