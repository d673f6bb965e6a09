"""``--time-limit``: pick the best training recipe that fits a wall-clock budget on this machine.

Candidates are tried in order of the accuracy they reach on FPI (BENCHMARKS.md, "CPU study"); for each,
the throughput of its expensive parts is measured on a few real batches (trunk extraction, one training
step), the run's time is estimated from the item counts, and the first candidate that fits with at least
its minimum epochs (a cached-trunk one's last in part) wins, with as many epochs as the budget allows. What was
measured and why the recipe was chosen are printed and recorded in the model's sidecar. A cached-trunk run
re-fits its epochs to the time left once its first pass is done (:func:`epochs_after_first_pass`) and again as
each epoch ends (:class:`~fashiontag.train._epoch_refit.EpochRefit`). Lightning's Timer stops training at the limit
in any case, keeping the best checkpoint.
"""

from __future__ import annotations

import copy
import dataclasses
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from fashiontag.config import updated
from fashiontag.train._config import TrainConfig

_UNITS = {"s": 1, "m": 60, "h": 3600}
#: seconds kept back for saving the model, the final validation and the learning-curve plot
RESERVE_SECONDS = 20.0
#: share of an estimate kept spare before adding an epoch beyond a recipe's minimum: the rates come from a few
#: batches, and what the estimate leaves out (epoch start-up, checkpoints) made a 5-minute shop plan estimated at
#: 268 s of 270 run past the Timer by 4 s. Not applied to choosing the recipe: a demo whose measurements ran
#: beside another job, with the margin, fell back from 112 px cut -4 to 128 px cut -3 and lost 0.2-2 pt per head.
SAFETY_MARGIN = 0.05
#: a cached-trunk recipe whose minimum epochs fit only with part of the last one is still taken when this share of
#: that epoch's steps fits by the estimate; its re-fits end the schedule inside that epoch. On FPI in 10 minutes the
#: hour's speed decided between 112 px / cut -4 and 128 px / cut -3: an estimated 89% ran as 2.4 epochs (the re-fits
#: keep a margin, and epochs ran up to 18% over their estimate) and met 5 of 7 targets, where 128 px / cut -3 met 4-5
#: in three runs and 2.0 epochs 1-2 (BENCHMARKS.md, "The last minimum epoch in part").
LAST_EPOCH_SHARE = 0.85


def parse_duration(text: str) -> float:
    """``"10m"``, ``"90s"``, ``"1h30m"``, ``"600"`` (seconds) -> seconds."""
    text = str(text).strip().lower()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return float(text)
    parts = re.findall(r"(\d+(?:\.\d+)?)\s*([smh])", text)
    if not parts or "".join(n + u for n, u in parts) != re.sub(r"\s+", "", text):
        from fashiontag.config import ConfigError

        raise ConfigError(f"time_limit {text!r}: use a number of seconds or e.g. 90s, 10m, 1h30m")
    return sum(float(n) * _UNITS[u] for n, u in parts)


@dataclass(frozen=True)
class Recipe:
    """One candidate: mode, network input size, epochs range, trunk settings."""

    mode: str
    input_size: int
    min_epochs: int
    max_epochs: int
    trunk_cut: int = -3
    trunk_views: int = 2

    def describe(self) -> str:
        trunk = f", cut {self.trunk_cut}, {self.trunk_views} views" if self.mode == "trunk" else ""
        return f"{self.mode} @ {self.input_size} px{trunk}"


#: best first (see BENCHMARKS.md "CPU study"); the planner takes the first that fits. Training block 4 too
#: (cut -4) beat cut -3 at equal time on FPI, so long budgets train from there. Four views pay only with the
#: epochs to see them (each epoch draws one view per image), hence 5+ epochs for the cut -3 four-view recipe. At
#: 10 minutes on FPI, 112 px from cut -4 beat 128 px from cut -3 on every head but subCategory, and kept the
#: articleType confidence ranking the review policy needs (96 px from cut -5 gained colour but lost that).
CANDIDATES: tuple[Recipe, ...] = (
    Recipe("trunk", 128, min_epochs=6, max_epochs=15, trunk_cut=-4, trunk_views=4),
    Recipe("trunk", 128, min_epochs=5, max_epochs=15, trunk_cut=-3, trunk_views=4),
    Recipe("trunk", 112, min_epochs=3, max_epochs=6, trunk_cut=-4, trunk_views=2),
    Recipe("trunk", 128, min_epochs=3, max_epochs=6, trunk_cut=-3, trunk_views=2),
    Recipe("trunk", 112, min_epochs=2, max_epochs=6, trunk_cut=-3, trunk_views=1),
    Recipe("trunk", 96, min_epochs=2, max_epochs=6, trunk_cut=-2, trunk_views=1),
    Recipe("probe", 112, min_epochs=1, max_epochs=1),
    Recipe("probe", 80, min_epochs=1, max_epochs=1),
)


@dataclass
class Plan:
    """The chosen config and the reasoning (printed, and recorded in the sidecar under ``training.plan``)."""

    config: TrainConfig
    recipe: Recipe | None
    estimate_seconds: float
    budget_seconds: float
    lines: list[str]
    epoch_seconds: float | None = None  # the estimate of one epoch (training + validation) at the chosen recipe
    validation_seconds: float = 0.0  # the validation part of ``epoch_seconds``
    review_seconds: float = 0.0  # kept for the forwards after training (:func:`forwards_after_training`)

    def say(self, line: str, echo: bool = True) -> None:
        """Add ``line`` to the reasoning the sidecar records and, with ``echo``, print it as a ``plan:`` line."""
        self.lines.append(line)
        if echo:
            show(line)

    def to_dict(self) -> dict[str, Any]:
        return {
            "recipe": self.recipe.describe() if self.recipe else None,
            "budget_s": round(self.budget_seconds),
            "estimate_s": round(self.estimate_seconds),
            "reasoning": self.lines,
        }


def show(line: str) -> None:
    """Print one line of a plan's reasoning, as every ``plan:`` line is printed."""
    print(f"   plan: {line}", flush=True)


def _rate(step: Callable[[], Any], images: int, repeats: int = 3, warmups: int = 1) -> float:
    """Images per second of ``step``: the median of ``repeats`` timed calls after ``warmups`` untimed ones.

    Not the mean: onnxruntime's first call after the warm-up ran 20-25% slower than every later one (FPI, 112 px:
    520-550 img/s against 680-725), and one slow call on a shared machine (a plan once measured 164 img/s where
    214-240 is usual) made the planner pick a weaker recipe; the median of three ignores one such call.
    """
    for _ in range(warmups):
        step()
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        seconds.append(time.perf_counter() - start)
    return images / max(float(np.median(seconds)), 1e-9)


def _sample(images: np.ndarray, batch: int) -> torch.Tensor:
    rows = np.linspace(0, len(images) - 1, min(batch, len(images))).astype(int)
    return torch.from_numpy(np.ascontiguousarray(images[rows]))


def _measure_trunk(net: torch.nn.Module, recipe: Recipe, images: np.ndarray, batch: int) -> tuple[float, float]:
    """(trunk extraction images/s, tail training images/s) on real images, without touching ``net``.

    The extraction rate times what the first pass does per batch of stored images: resize, mirror, trunk. Timing
    the trunk alone on a resized batch measured 746 img/s where the pass ran at 508-536 (FPI, 80 -> 112 px, cut
    -4), so first passes ran 30-45% past their estimate and left the last epoch no time.
    """
    import tempfile
    from pathlib import Path

    from fashiontag.models import resize_images, split_backbone
    from fashiontag.train._trunk import EXTRACT_BATCH, _Runner, _Trunk, make_view

    work = copy.deepcopy(net)
    work.preprocess = dataclasses.replace(work.preprocess, input_size=recipe.input_size)
    frozen, tail = split_backbone(work.backbone, recipe.trunk_cut)
    raw = _sample(images, batch)

    def view(chunk: torch.Tensor, mirror: int) -> torch.Tensor:
        return make_view(resize_images(chunk, work.preprocess.size, recipe.input_size), mirror, None, 0).contiguous()

    with tempfile.TemporaryDirectory() as folder:
        runner = _Runner(_Trunk(frozen, work.mean, work.std), recipe.input_size, Path(folder))
        extract = _rate(lambda: [runner(view(chunk, 1)) for chunk in raw.split(EXTRACT_BATCH)], len(raw))
        acts = torch.from_numpy(runner(view(raw, 0))).float()
        acts = acts.contiguous(memory_format=torch.channels_last) if acts.ndim == 4 else acts
    return extract, _train_rate(
        lambda: work.head(tail.train()(acts)), [*tail.parameters(), *work.head.parameters()], len(raw)
    )


#: untimed training steps before the timed ones: on 224 px phone photos a step ran at 94, 65 and 88 img/s before
#: settling at 124-130 from the fourth (lite0, cut -3; cut -4: 28, 47, 53, then about 70), so timing steps 2-4 (a
#: 5-minute shop plan measured 82 img/s) planned 5 epochs where its epochs ran at 137 (at 112-160 px on FPI only
#: the first step is slow)
TRAIN_WARMUPS = 3


def _train_rate(forward: Callable[[], dict[str, torch.Tensor]], params: list, images: int) -> float:
    """Training images/s of ``forward`` with an AdamW step, once its first steps' slowness has passed."""
    optimizer = torch.optim.AdamW(params, lr=1e-6)

    def step() -> None:
        loss = sum(v.float().logsumexp(1).mean() for v in forward().values())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    return _rate(step, images, warmups=TRAIN_WARMUPS)


def _augment_rate(name: str, images: np.ndarray, image_size: int, input_size: int, batch: int) -> float:
    """Images/s of the augmentation preset making a cached-trunk view >= 2 at ``input_size``: those views pay it
    on top of the trunk's pass (``augment=photo`` views ran at 73-81 img/s on phone photos where views 0 and 1,
    the image and its mirror, ran at 128 img/s, so a plan that left it out ran past its budget)."""
    from fashiontag.models import resize_images
    from fashiontag.train._augment import create_augment
    from fashiontag.train._trunk import EXTRACT_BATCH, make_view

    augment = create_augment(name)
    x = resize_images(_sample(images, batch), image_size, input_size)
    return _rate(lambda: [make_view(chunk, 2, augment, 0) for chunk in x.split(EXTRACT_BATCH)], len(x))


def with_augment_cost(first: float, views: int, augment_rate: float) -> float:
    """The first-pass rate per image and view once views 2.. also pay the preset (``augment_rate`` images/s)."""
    share = max(0, views - 2) / views
    return 1.0 / (1.0 / first + share / augment_rate)


def _measure_full(net: torch.nn.Module, recipe: Recipe, images: np.ndarray, batch: int) -> tuple[float, float]:
    """(forward images/s, training images/s) of the whole network at the recipe's input size."""
    from fashiontag.models import images_to_input

    work = copy.deepcopy(net)
    work.preprocess = dataclasses.replace(work.preprocess, input_size=recipe.input_size)
    x = images_to_input(_sample(images, batch), work.preprocess, work.mean, work.std)
    with torch.no_grad():
        forward = _rate(lambda: work.backbone.eval()(x), len(x))
    if recipe.mode == "probe":
        return forward, forward
    return forward, _train_rate(lambda: work.head(work.backbone.train()(x)), list(work.parameters()), len(x))


def estimate(
    recipe: Recipe, rates: tuple[float, float], n_train: int, n_val: int, epochs: int, teacher_rate: float | None = None
) -> float:
    """Seconds for extraction (trunk/probe) plus ``epochs`` of training and validation, plus a distillation
    teacher's forward passes at ``teacher_rate`` images/s (once per training image and view where the mode caches
    its inputs, every epoch in full mode)."""
    first, train = rates
    teacher = 0.0
    if teacher_rate:
        per_pass = {"trunk": recipe.trunk_views, "probe": 1}.get(recipe.mode, epochs)
        teacher = n_train * per_pass / teacher_rate
    if recipe.mode == "trunk":
        extract = (n_train * recipe.trunk_views + n_val) / first
        return teacher + extract + epochs * (n_train / train + n_val / (3 * train))
    if recipe.mode == "probe":
        return teacher + (n_train + n_val) / first + 15.0  # heads on cached features: seconds
    return teacher + epochs * (n_train / train + n_val / first)


def last_epoch_share(
    recipe: Recipe,
    rates: tuple[float, float],
    n_train: int,
    n_val: int,
    seconds: float,
    teacher_rate: float | None = None,
) -> float:
    """The share of the training steps of the last of ``recipe.min_epochs`` epochs that ``seconds`` hold, the rest
    of the estimate paid (1.0: the minimum fits whole; 0.0: not one step, or a mode that trains whole epochs)."""
    if recipe.mode != "trunk":
        return 0.0
    over = estimate(recipe, rates, n_train, n_val, recipe.min_epochs, teacher_rate) - seconds
    return min(1.0, max(0.0, 1.0 - over / max(n_train / rates[1], 1e-9)))


def forwards_after_training(config: TrainConfig, n_val: int, n_val_all: int, several_sources: bool) -> int:
    """Image forwards ``train`` runs after training, inside its time limit: the review fit over the ``n_val`` val
    photos that choose the checkpoint (one pass, the mirror images in it with ``test_flip``, whose logits give the
    temperatures and the labelling network's probabilities; a cascade fits part by part: a pass for the
    temperatures, then the labelling network's), and per-source metrics over all ``n_val_all`` val photos when the
    data has several sources. A 30-minute run at 160 px with the flip spent 2 min 12 s after its last epoch against
    the 20 s of :data:`RESERVE_SECONDS`, and took 31 min 11 s."""
    views = 2 if config.model.test_flip else 1
    fit = n_val * (1 + views if config.model.strategy == "cascade" else views) if config.trainer.calibrate else 0
    return fit + (n_val_all * views if several_sources else 0)


def epochs_that_fit(
    planned: int,
    done: int,
    epoch_seconds: float,
    seconds_left: float,
    head_epochs: int = 0,
    margin: float = SAFETY_MARGIN,
) -> tuple[int, int]:
    """(epochs to train in all, epochs beyond ``done`` that ``seconds_left`` holds at ``epoch_seconds`` each with
    ``margin`` spare). Never more than ``planned`` nor fewer than ``done``, and never so few that only the
    ``head_epochs`` with a frozen tail are trained (a run that trained only its heads would not be the recipe
    chosen): then the Timer stops the schedule at the limit."""
    fit = max(0, int(seconds_left // (epoch_seconds * (1 + margin))))
    floor = min(planned, max(done, head_epochs + 1))
    return max(floor, min(planned, done + fit)), fit


def steps_that_fit(
    epochs_left: int, steps_per_epoch: int, step_seconds: float, fixed_seconds: float, seconds_left: float
) -> tuple[int, int]:
    """(more epochs, more optimizer steps) that ``seconds_left`` holds, the last epoch possibly in part: an epoch
    costs its steps at ``step_seconds`` each plus ``fixed_seconds`` (validation, checkpoint writes). The most steps
    win, the fewest epochs on a tie; ``(0, 0)``: not one step fits."""
    best = (0, 0)
    for more in range(1, epochs_left + 1):
        steps = min(more * steps_per_epoch, int((seconds_left - more * fixed_seconds) / max(step_seconds, 1e-9)))
        if steps > max(best[1], (more - 1) * steps_per_epoch):
            best = (more, steps)
    return best


def partial_epoch(part: int, steps_per_epoch: int, epoch: int, step: int) -> str:
    """How a plan line says that training ends ``part`` steps into ``epoch``, at optimizer step ``step``."""
    share = f"{100 * part // steps_per_epoch}%"  # floored: 469 of 470 steps is not 100%
    return (
        f"{share} of another ({part} of its {steps_per_epoch} steps), so training ends {share} into epoch {epoch}, "
        f"at step {step}, where the learning-rate schedule now ends"
    )


def epochs_after_first_pass(
    plan: Plan, seconds_left: float, first_pass_seconds: float, head_epochs: int = 0, steps_per_epoch: int = 0
) -> tuple[int, int | None]:
    """(epochs, the optimizer step the schedule ends with when the last epoch fits only in part, else None) once a
    cached-trunk run's first pass is done; says why (:meth:`Plan.say`).

    Always adds a line (the first pass's time against its estimate). The first pass (trunk activations of every
    view) is estimated from a few batches; on phone photos its augmented views ran 15-20% slower than estimated,
    and the Timer then cut the last epoch, leaving the cosine schedule unfinished. Its time is known before the
    schedule is built, so the plan's epochs are re-fitted to what is left by :func:`epochs_that_fit`: the plan's,
    or fewer; never more (the choice of recipe assumed the plan's), the last one in part when the time left holds
    its validation and some of its steps (:func:`steps_that_fit`, with ``steps_per_epoch``). Later epochs are
    re-fitted by :class:`~fashiontag.train._epoch_refit.EpochRefit` as each ends.
    """
    planned = plan.config.trainer.epochs
    if not plan.epoch_seconds:
        return planned, None
    epochs, fit = epochs_that_fit(planned, 0, plan.epoch_seconds, seconds_left, head_epochs)
    estimated = max(0.0, plan.estimate_seconds - planned * plan.epoch_seconds)  # what the plan gave its first pass
    took = f"the first pass took {first_pass_seconds:.0f} s (estimated {estimated:.0f} s)"
    each = f"{seconds_left:.0f} s left ({plan.epoch_seconds:.0f} s each)"
    if steps_per_epoch and fit < planned:
        validation = min(plan.validation_seconds, plan.epoch_seconds)
        step = (plan.epoch_seconds - validation) / steps_per_epoch
        more, steps = steps_that_fit(planned, steps_per_epoch, step, validation, seconds_left / (1 + SAFETY_MARGIN))
        part = steps - (more - 1) * steps_per_epoch
        if more > max(fit, head_epochs) and part < steps_per_epoch:  # a part of a tail epoch (not a head epoch)
            ends = partial_epoch(part, steps_per_epoch, more, steps)
            plan.say(f"{took}: the {each} fit {fit} epoch(s) and {ends} ({more} of the {planned} planned)")
            return more, steps
    if epochs > fit:  # kept so that the tail trains after head_epochs
        plan.say(
            f"{took}: the {each} fit {fit} epoch(s); keeping {epochs} of the {planned} planned"
            + (f", so that the tail trains after head_epochs={head_epochs}" if 0 < head_epochs < planned else "")
            + " - the time limit may stop the last"
        )
    else:  # said even when nothing changes: how far the estimate was off is what a user tunes a budget by
        fits = f"{epochs} of the {planned} planned epoch(s) fit" if epochs < planned else f"all {planned} epochs fit"
        plan.say(f"{took}: {fits} the {each}")
    return epochs, None


def measure_teacher(teacher: torch.nn.Module, images: np.ndarray, batch: int = 64) -> float:
    """Images/s of a distillation teacher (``TeacherLogits``) on real images at its own input size, the way the
    activation pass runs it (onnxruntime when it exports; full mode runs it in torch on every batch, a little
    slower than this): its passes are part of the run, so the plan must count them."""
    import tempfile
    from pathlib import Path

    from fashiontag.models import resize_images
    from fashiontag.train._trunk import EXTRACT_BATCH, _Runner

    size = int(teacher.input_size)
    x = resize_images(_sample(images, batch), images.shape[1], size)
    with tempfile.TemporaryDirectory() as folder:
        runner = _Runner(teacher, size, Path(folder), "teacher")
        return _rate(lambda: [runner(chunk) for chunk in x.split(EXTRACT_BATCH)], len(x))  # the pass's batches


def _short_verdict(resumed: bool, in_part: bool, share: float) -> str:
    """What the plan says of a chosen recipe whose estimate does not fit whole."""
    if resumed:  # the estimate is the whole schedule's; only its rest trains
        return (
            "the interrupted run's schedule, kept whole: a resume trains only what is left of it and re-fits "
            "nothing; training stops at the limit if it runs over"
        )
    if in_part:
        return (
            f"fits with {int(100 * share)}% of the last epoch's steps by the estimate (at least "
            f"{LAST_EPOCH_SHARE:.0%} taken): the re-fits end the schedule inside that epoch, once the first pass and "
            "each epoch are timed"
        )
    return "DOES NOT FIT (the cheapest; training stops at the limit)"


def plan_recipe(
    config: TrainConfig,
    net: torch.nn.Module,
    images: np.ndarray,
    n_train: int,
    n_val: int,
    seconds_left: float,
    candidates: tuple[Recipe, ...] = CANDIDATES,
    batch: int = 64,
    teacher: torch.nn.Module | None = None,
    forwards_after: int = 0,
    resumed: bool = False,
) -> Plan:
    """The first candidate (best first) whose estimate with ``min_epochs`` fits ``seconds_left``, a cached-trunk
    one's last epoch possibly in part (:data:`LAST_EPOCH_SHARE` of its steps at least, a tail epoch: beyond
    ``head_epochs``).

    An estimate fits in what is left once the measuring so far is paid (measuring several candidates takes seconds
    of the budget); an epoch beyond the recipe's minimum is added only while the estimate with its
    :data:`SAFETY_MARGIN` fits. With ``mode`` set explicitly (not ``auto``) only
    that mode's candidates are considered; a model that cannot be cut (no trunk stages) skips trunk candidates.
    Nothing fits: the cheapest candidate, said loudly. A distillation ``teacher`` (``TeacherLogits``) is measured
    once and its passes counted in every estimate, and so are the ``forwards_after`` training of the whole network
    (:func:`forwards_after_training`), at its forward rate measured per input size. ``resumed``: the one candidate
    is an interrupted run's recorded recipe, whose schedule a resume keeps (never re-fitted), so the verdict says so
    instead of promising re-fits.
    """
    from fashiontag.models import backbone_stages, list_cuttable_families

    clock = time.perf_counter()
    budget = seconds_left - RESERVE_SECONDS
    lines = [
        f"time budget: {seconds_left:.0f} s left for training ({RESERVE_SECONDS:.0f} s kept for saving, "
        f"{SAFETY_MARGIN:.0%} of an estimate kept spare before adding epochs)"
    ]

    def fits(seconds: float, margin: float = 0.0) -> bool:  # what measuring has spent is not there to train with
        return seconds * (1 + margin) <= budget - (time.perf_counter() - clock)

    # never below the letterboxed images' own size: 80 px FPI packshots go up to 128, 224 px phone photos stay
    sized = [dataclasses.replace(c, input_size=max(c.input_size, config.data.image_size)) for c in candidates]
    wanted = [c for i, c in enumerate(sized) if config.trainer.mode in ("auto", c.mode) and c not in sized[:i]]
    stages = len(backbone_stages(net.backbone)) if type(net.backbone).__name__ in list_cuttable_families() else 0
    wanted = [c for c in wanted if c.mode != "trunk" or 0 < abs(c.trunk_cut) < stages]  # cuts this backbone has
    teacher_rate = measure_teacher(teacher, images, batch) if teacher is not None else None
    if teacher_rate:
        lines.append(f"distillation teacher: {teacher_rate:.0f} img/s, counted in every estimate")
    augment_rates: dict[int, float] = {}  # per input size: the preset's cost is the same for every cut
    forward_rates: dict[int, float] = {}  # per input size: the whole network's forward, for the review fit
    for recipe in wanted:
        measure = _measure_trunk if recipe.mode == "trunk" else _measure_full
        rates = measure(net, recipe, images, batch)
        if recipe.mode != "trunk":  # its first rate is the whole network's forward at this size already
            forward_rates.setdefault(recipe.input_size, rates[0])
        after = 0.0
        if forwards_after:
            if recipe.input_size not in forward_rates:  # in small batches: at 224 px 64 images took 1.2 s a call
                probe = Recipe("probe", recipe.input_size, 1, 1)
                forward_rates[recipe.input_size] = _measure_full(net, probe, images, min(batch, 32))[0]
            after = forwards_after / max(forward_rates[recipe.input_size], 1e-9)
        if recipe.mode == "trunk" and recipe.trunk_views > 2:
            size = recipe.input_size
            if size not in augment_rates:
                augment_rates[size] = _augment_rate(config.optim.augment, images, net.preprocess.size, size, batch)
            rates = (with_augment_cost(rates[0], recipe.trunk_views, augment_rates[size]), rates[1])
        need = estimate(recipe, rates, n_train, n_val, recipe.min_epochs, teacher_rate)
        review = f" + {after:.0f} s after training" if after else ""
        lines.append(
            f"{recipe.describe()}: {rates[0]:.0f} img/s first pass, {rates[1]:.0f} img/s training "
            f"-> {need:.0f} s with {recipe.min_epochs} epoch(s){review}"
        )
        left = budget - (time.perf_counter() - clock) - after
        share = last_epoch_share(recipe, rates, n_train, n_val, left, teacher_rate)
        in_part = share >= LAST_EPOCH_SHARE and recipe.min_epochs > config.trainer.head_epochs  # a tail epoch's part
        if fits(need + after) or in_part or recipe is wanted[-1]:
            epochs = recipe.min_epochs
            while epochs < recipe.max_epochs and fits(
                estimate(recipe, rates, n_train, n_val, epochs + 1, teacher_rate) + after, SAFETY_MARGIN
            ):
                epochs += 1
            total = estimate(recipe, rates, n_train, n_val, epochs, teacher_rate)
            verdict = "fits" if fits(total + after) else _short_verdict(resumed, in_part, share)
            kept = ""
            if after:
                rate = forward_rates[recipe.input_size]
                kept = f" and {forwards_after} image forwards after training ({after:.0f} s at {rate:.0f} img/s)"
            lines.append(
                f"chose {recipe.describe()}, {epochs} epoch(s): estimated {total:.0f} s of {left:.0f} s left "
                f"after measuring{kept}, {verdict}"
            )
            chosen = updated(
                config,
                mode=recipe.mode,
                probe=False,
                epochs=epochs,
                input_size=recipe.input_size,
                trunk_cut=recipe.trunk_cut,
                trunk_views=recipe.trunk_views,
            )
            one_epoch = total - estimate(recipe, rates, n_train, n_val, epochs - 1, teacher_rate)
            validation = n_val / (3 * rates[1]) if recipe.mode == "trunk" else 0.0  # as `estimate` counts it
            return Plan(chosen, recipe, total, seconds_left, lines, one_epoch, validation, after)
    return Plan(config, None, 0.0, seconds_left, [*lines, "no candidate for this mode; running the config as is"])
