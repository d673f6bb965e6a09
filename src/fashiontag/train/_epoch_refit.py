"""Re-fit a time-limited cached-trunk run's epochs as each one ends, from how long it really took.

The planner measures a few batches a minute before training; on these shared 2-core machines the epochs then
ran 7-40% slower than that (a 5-minute shop plan: 23-28 s per epoch against 20 s estimated), and Lightning's
Timer cut the last epoch: the cosine schedule never reached its low learning rates. After every epoch this
callback compares the epochs left with the time left at the pace of the epoch just ended (its validation and
checkpoint writes included); when they no longer fit it ends the schedule sooner, says so, and records the new
count for a resume: the schedule (the module's ``epochs``, or ``schedule_steps`` when the last epoch fits only in
part) is re-sized to the optimizer steps that fit, so the learning rate anneals to zero with the last of them, and
the run stops there (a partial last epoch is validated and checkpointed like any). Whole epochs alone wasted up to
one: the demo's third epoch of 146 s did not fit 291 s by one second, and its 145 s went unused. It only ever
lowers the count (the recipe was chosen for the planned epochs), so one epoch slowed by a neighbour process
shortens the run for good: an epoch cut by the Timer would cost more. The image forwards after training (the
review fit) were estimated at the planner's pace too, so an epoch slower than its estimate keeps them more time
(a 30-minute run: epochs 21% slower than estimated, and the review fit overran its 63 s).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from lightning.pytorch.callbacks import Callback

from fashiontag.config import updated
from fashiontag.train._budget import Plan, epochs_that_fit, partial_epoch, steps_that_fit

_clock = time.monotonic  # Lightning's Timer's clock (tests replace it)


class EpochRefit(Callback):
    """Under ``seconds`` of training (the Timer's limit, counted from the same start), shorten ``plan``'s epochs
    once the last epoch's pace says they will not all fit."""

    def __init__(self, plan: Plan, seconds: float, run_dir: Path, head_epochs: int = 0) -> None:
        self.plan, self.seconds, self.run_dir, self.head_epochs = plan, seconds, run_dir, head_epochs
        self.deadline = self.ended = self.started = self.validating = 0.0
        self.planned = self.steps = 0  # the epochs the run started with; the optimizer steps at the last epoch end

    def on_train_start(self, trainer: Any, module: Any) -> None:
        self.ended = _clock()
        self.deadline = self.ended + self.seconds
        self.planned, self.steps = trainer.max_epochs, trainer.global_step

    def on_train_epoch_start(self, trainer: Any, module: Any) -> None:
        self.started = _clock()  # after the previous epoch's checkpoint writes: those are a fixed cost

    def on_validation_epoch_start(self, trainer: Any, module: Any) -> None:
        self.validating = _clock()  # where an epoch's steps end and its fixed costs begin

    def on_train_epoch_end(self, trainer: Any, module: Any) -> None:  # after this epoch's validation
        now = _clock()
        # from the previous epoch's end: what lies between two epochs (checkpoint writes) is part of the pace
        took, self.ended = max(now - self.ended, 1e-6), now
        stepping = max(0.0, (self.validating if self.validating > self.started else now) - self.started)
        steps, self.steps = trainer.global_step - self.steps, trainer.global_step
        done, epochs_now = trainer.current_epoch + 1, trainer.max_epochs
        if done >= epochs_now or trainer.should_stop:
            return
        left, kept = self.deadline - now, 0.0
        if self.plan.epoch_seconds and self.plan.review_seconds and done > self.head_epochs:
            # the passes after training were estimated at the planner's pace as well: at this epoch's, they need more
            kept = self.plan.review_seconds * max(0.0, took / self.plan.epoch_seconds - 1.0)
            left -= kept
        # no margin: the pace is measured on a whole epoch, not estimated from a few batches; with 5%, the demo's
        # last of three 145 s epochs would be dropped whenever it fits by less than 7 s
        epochs, fit = epochs_that_fit(epochs_now, done, took, left, self.head_epochs, margin=0.0)
        schedule = None
        if done + fit < epochs_now and steps > 0:  # not all the epochs left fit: the last one in part?
            more, more_steps = steps_that_fit(epochs_now - done, steps, stepping / steps, took - stepping, left)
            # a tail epoch (beyond head_epochs), and not all its steps (a whole epoch is said as one)
            if more > fit and done + more > self.head_epochs and more_steps < more * steps:
                epochs, schedule = done + more, trainer.global_step + more_steps
        if schedule is None and epochs >= epochs_now:
            schedule = module.schedule_steps  # everything left fits: what an earlier re-fit decided stands
        elif schedule is not None and module.schedule_steps is not None:
            schedule = min(schedule, module.schedule_steps)  # never more steps than an earlier re-fit kept
        epochs, schedule = trainer.strategy.broadcast((epochs, schedule), src=0)  # every rank stops alike
        if (epochs, schedule) == (epochs_now, module.schedule_steps):
            return
        trainer.fit_loop.max_epochs = epochs
        module.config = updated(module.config, epochs=epochs)  # the schedule now ends with the last epoch trained
        module.schedule_steps = schedule  # or, the last epoch in part, with the last step that fits
        self.plan.config = updated(self.plan.config, epochs=epochs)  # what the sidecar records as trained
        estimated = f" (estimated {self.plan.epoch_seconds:.0f} s)" if self.plan.epoch_seconds else ""
        ends = "this one" if epochs == done else f"epoch {epochs}"
        more_kept = f" ({kept:.0f} s more kept for the passes after training, at this pace)" if kept >= 1 else ""
        line = f"epoch {done} took {took:.0f} s{estimated}: the {left:.0f} s left{more_kept} fit {fit} more"
        if schedule is not None:
            part = schedule - trainer.global_step - (epochs - done - 1) * steps
            line += f" and {partial_epoch(part, steps, epochs, schedule)} ({epochs} of the {self.planned} planned)"
        elif epochs > done + fit:  # kept so that the tail trains after head_epochs
            line += f"; keeping {epochs} of the {self.planned} planned - the time limit may stop the last"
        else:
            line += f", so training ends with {ends} ({epochs} of the {self.planned} planned)"
        self.plan.say(line, echo=trainer.is_global_zero)
        if trainer.is_global_zero:
            from fashiontag.train._resume import record_epochs

            record_epochs(self.run_dir, epochs)  # a resume continues this schedule (its steps: in the checkpoint)
