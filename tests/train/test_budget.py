"""The time-budget planner: duration parsing, and the recipe it picks for a budget on real measurements."""

from __future__ import annotations

import dataclasses
import math
import re

import numpy as np
import pytest
import torch

from fashiontag.config import ConfigError, build_config
from fashiontag.data.taxonomy import Taxonomy
from fashiontag.models import create_network, default_preprocess
from fashiontag.train import TrainConfig
from fashiontag.train._budget import CANDIDATES, Recipe, estimate, parse_duration, plan_recipe


@pytest.mark.parametrize(("text", "seconds"), [("10m", 600), ("90s", 90), ("1h30m", 5400), ("600", 600), ("2.5m", 150)])
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["abc", "10x", "m10", ""])
def test_malformed_duration_is_a_config_error(text: str) -> None:
    with pytest.raises(ConfigError, match="time_limit"):
        parse_duration(text)


def test_estimate_grows_with_epochs_and_views() -> None:
    two, four = Recipe("trunk", 128, 1, 9, trunk_views=2), Recipe("trunk", 128, 1, 9, trunk_views=4)
    assert estimate(two, (400, 300), 30000, 3000, 3) < estimate(two, (400, 300), 30000, 3000, 4)
    assert estimate(two, (400, 300), 30000, 3000, 3) < estimate(four, (400, 300), 30000, 3000, 3)


def test_one_slow_call_does_not_set_the_measured_rate(monkeypatch: pytest.MonkeyPatch) -> None:
    """The planner's throughput is the median of its timed calls: one call slowed by a neighbour process (or by
    onnxruntime's first call after the warm-up) would otherwise make a plan pick a weaker recipe."""
    from fashiontag.train import _budget

    clock = [0.0]
    pauses = iter([0.0, 0.5, 0.02, 0.02])  # warm-up, one slow call, two normal ones (seconds on a fake clock)

    def step() -> None:
        clock[0] += next(pauses)

    monkeypatch.setattr(_budget.time, "perf_counter", lambda: clock[0])
    assert _budget._rate(step, 64) == pytest.approx(64 / 0.02)  # the mean would be 64 / 0.18


def test_the_training_rate_is_timed_once_the_first_slow_steps_are_past(monkeypatch: pytest.MonkeyPatch) -> None:
    """A training step's first calls run slower (224 px phone photos, cut -3: 94, 65, 88 img/s, then 124-130): timing
    steps 2-4, a 5-minute shop plan measured 82 img/s and trained 5 epochs where its epochs ran at 137."""
    from fashiontag.train import _budget

    clock = [0.0]
    pauses = iter([0.68, 0.98, 0.73, 0.5, 0.5, 0.5])  # seconds per step of 64 images, on a fake clock
    weight = torch.nn.Parameter(torch.ones(2, 3))

    def forward() -> dict[str, torch.Tensor]:
        clock[0] += next(pauses)
        return {"head": weight * 1.0}

    monkeypatch.setattr(_budget.time, "perf_counter", lambda: clock[0])
    assert _budget._train_rate(forward, [weight], 64) == pytest.approx(64 / 0.5)  # not 64 / 0.73


def _images(n: int = 64, size: int = 32) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (n, size, size, 3), dtype=np.uint8)


def test_ample_budget_takes_the_best_candidate_with_most_epochs(taxonomy: Taxonomy) -> None:
    net = create_network(taxonomy, "tf_efficientnet_lite0", "flat", default_preprocess("tf_efficientnet_lite0", 32))
    config = build_config(TrainConfig, image_size=32, time_limit="1h")
    plan = plan_recipe(config, net, _images(), n_train=200, n_val=20, seconds_left=3600)
    best = CANDIDATES[0]
    assert plan.recipe == best and plan.config.trainer.mode == "trunk" and plan.config.trainer.epochs == best.max_epochs
    assert plan.config.trainer.trunk_views == best.trunk_views and plan.config.model.input_size == best.input_size
    assert plan.estimate_seconds <= 3600 and any("chose" in line for line in plan.lines)


def test_tiny_budget_falls_back_to_the_cheapest_and_says_so(taxonomy: Taxonomy) -> None:
    net = create_network(taxonomy, "smallcnn", "flat", default_preprocess("smallcnn", 32))
    config = build_config(TrainConfig, image_size=32, time_limit="1s")
    plan = plan_recipe(config, net, _images(), n_train=10**7, n_val=10**6, seconds_left=1)
    # smallcnn has 2 stages: no cut -3/-2 exists, so only probe candidates were considered
    assert plan.recipe == dataclasses.replace(CANDIDATES[-1], input_size=max(CANDIDATES[-1].input_size, 32))
    assert plan.config.trainer.mode == "probe" and "DOES NOT FIT" in plan.lines[-1]


def test_explicit_mode_limits_the_candidates(taxonomy: Taxonomy) -> None:
    net = create_network(taxonomy, "smallcnn", "flat", default_preprocess("smallcnn", 32))
    config = build_config(TrainConfig, image_size=32, mode="probe")
    plan = plan_recipe(config, net, _images(), 100, 10, seconds_left=600)
    assert plan.config.trainer.mode == "probe" and plan.recipe.mode == "probe"


def test_a_planned_run_is_not_cut_short_by_early_stopping(tmp_path) -> None:  # noqa: ANN001
    """Under a time limit the cosine schedule ends at the budget, so early stopping is off unless asked for;
    the kept checkpoint follows ``monitor`` (mean accuracy by default)."""
    from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint

    from fashiontag.train._lightning import _callbacks

    def built(*overrides: str) -> list:
        return _callbacks(build_config(TrainConfig, None, list(overrides)), tmp_path, [])

    def stoppers(callbacks: list) -> list[EarlyStopping]:
        return [c for c in callbacks if isinstance(c, EarlyStopping)]

    assert [s.patience for s in stoppers(built())] == [3]
    assert stoppers(built("time_limit=10m")) == []
    assert [s.patience for s in stoppers(built("time_limit=10m", "early_stopping_patience=2"))] == [2]
    best = [c for c in built("monitor=val_macro_f1") if isinstance(c, ModelCheckpoint) and c.monitor]
    assert [c.monitor for c in best] == ["val_macro_f1"]
    assert [c.monitor for c in built() if isinstance(c, ModelCheckpoint) and c.monitor] == ["val_accuracy"]


def test_selection_metrics_average_every_scored_head() -> None:
    from fashiontag.train._metrics import selection_metrics

    metrics = {"acc_master": 1.0, "f1_master": 0.5, "acc_colour": 0.5, "f1_colour": 0.1, "f1_type": 0.3}
    out = selection_metrics(metrics, ["master", "type"])
    assert out["val_accuracy"] == pytest.approx(0.75) and out["val_macro_f1"] == pytest.approx(0.4)


def test_an_interrupted_planned_run_resumes_with_its_recorded_recipe(tmp_path) -> None:  # noqa: ANN001
    """What a new throughput measurement would pick does not matter: the checkpoints are of the recorded recipe."""
    import json

    from fashiontag.train._resume import RECORD, recorded_recipe, run_settings

    config = build_config(TrainConfig, None, ["mode=trunk", "input_size=160", "trunk_cut=-4", "trunk_views=4"])
    assert recorded_recipe(tmp_path, 15) is None  # nothing ran here
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "last.ckpt").write_bytes(b"")
    (tmp_path / RECORD).write_text(json.dumps({"settings": run_settings(config)}))
    assert recorded_recipe(tmp_path, 15) == Recipe(
        "trunk", 160, min_epochs=1, max_epochs=15, trunk_cut=-4, trunk_views=4
    )  # a record without its epochs: whatever fits
    (tmp_path / RECORD).write_text(json.dumps({"settings": run_settings(config), "epochs": 9}))
    assert recorded_recipe(tmp_path, 15) == Recipe(
        "trunk", 160, min_epochs=9, max_epochs=9, trunk_cut=-4, trunk_views=4
    )  # the planned epochs, however slow it is now
    probe = build_config(TrainConfig, None, ["probe=true"])
    (tmp_path / RECORD).write_text(json.dumps({"settings": run_settings(probe)}))
    assert recorded_recipe(tmp_path, 15) is None  # a probe has no checkpoints to continue


def test_a_distillation_teacher_is_counted_in_the_estimate() -> None:
    trunk, full = Recipe("trunk", 128, 1, 9, trunk_views=4), Recipe("full", 128, 1, 9)
    rates = (400.0, 300.0)
    # trunk: the teacher labels every training image's views once; full mode: every epoch
    assert estimate(trunk, rates, 3000, 300, 3, teacher_rate=100.0) == pytest.approx(
        estimate(trunk, rates, 3000, 300, 3) + 3000 * 4 / 100.0
    )
    assert estimate(full, rates, 3000, 300, 3, teacher_rate=100.0) == pytest.approx(
        estimate(full, rates, 3000, 300, 3) + 3 * 3000 / 100.0
    )


def test_a_slow_teacher_makes_the_plan_cheaper(taxonomy: Taxonomy) -> None:
    import time

    from torch import nn

    class SlowTeacher(nn.Module):  # 64 images a second, in torch (it refuses the ONNX export)
        input_size = 32

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            if torch.jit.is_tracing():
                raise RuntimeError("not exportable")
            time.sleep(1.0)
            return x.new_zeros(len(x), 2)

    net = create_network(taxonomy, "tf_efficientnet_lite0", "flat", default_preprocess("tf_efficientnet_lite0", 32))
    config = build_config(TrainConfig, image_size=32, time_limit="1h")
    alone = plan_recipe(config, net, _images(), n_train=20_000, n_val=100, seconds_left=3600)
    taught = plan_recipe(config, net, _images(), n_train=20_000, n_val=100, seconds_left=3600, teacher=SlowTeacher())
    assert any("distillation teacher:" in line for line in taught.lines)
    # 20,000 images x 4 views at 64 img/s: 20 minutes more, far beyond the timing noise of the two plans
    assert (taught.recipe, taught.config.trainer.epochs) != (
        alone.recipe,
        alone.config.trainer.epochs,
    ) or taught.estimate_seconds > alone.estimate_seconds + 600


def test_augmented_views_count_in_the_first_pass(taxonomy: Taxonomy, monkeypatch: pytest.MonkeyPatch) -> None:
    """Views 2.. of a cached-trunk recipe run the augmentation preset too: a slow preset slows the planned first
    pass of four-view recipes (the printed rate), never of one- or two-view ones."""
    from fashiontag.train import _budget
    from fashiontag.train._budget import with_augment_cost

    assert with_augment_cost(100.0, 2, 1.0) == pytest.approx(100.0)
    assert with_augment_cost(100.0, 4, 100.0) == pytest.approx(1 / (1 / 100 + 0.5 / 100))
    net = create_network(taxonomy, "tf_efficientnet_lite0", "flat", default_preprocess("tf_efficientnet_lite0", 32))
    config = build_config(TrainConfig, image_size=32, time_limit="1h", augment="photo")
    rate = _budget._augment_rate("photo", _images(), 32, 128, 64)
    assert rate > 0
    monkeypatch.setattr(_budget, "_measure_trunk", lambda *args: (1000.0, 100.0))
    monkeypatch.setattr(_budget, "_augment_rate", lambda *args: 10.0)  # a very slow preset
    plan = plan_recipe(config, net, _images(), n_train=200, n_val=20, seconds_left=45)  # 4 views: ~41 s of pass
    firsts = {
        line.split(":")[0]: float(line.split(": ")[1].split(" img/s")[0]) for line in plan.lines if "first pass" in line
    }
    four = [r for r in firsts if "4 views" in r]
    assert len(four) == 2 and all(firsts[r] == round(with_augment_cost(1000.0, 4, 10.0)) for r in four)
    assert len(firsts) > 2 and all(firsts[r] == 1000.0 for r in firsts if "4 views" not in r)
    assert plan.recipe is not None and plan.recipe.trunk_views <= 2  # what the slow preset made too slow


def test_the_measured_first_pass_pays_for_resizing_the_stored_images(
    taxonomy: Taxonomy, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first pass resizes each stored image to the recipe's input size before the trunk sees it: a planner
    that timed the trunk on an already resized batch estimated first passes 30-45% short (FPI, 80 -> 112 px)."""
    import fashiontag.models
    from fashiontag.train import _budget
    from fashiontag.train._trunk import EXTRACT_BATCH

    clock = [0.0]
    resize = fashiontag.models.resize_images

    def slow_resize(*args, **kwargs) -> torch.Tensor:  # noqa: ANN002, ANN003
        clock[0] += 1.0  # a second per batch on a clock that only resizing advances
        return resize(*args, **kwargs)

    monkeypatch.setattr(fashiontag.models, "resize_images", slow_resize)
    monkeypatch.setattr(_budget.time, "perf_counter", lambda: clock[0])
    net = create_network(taxonomy, "tf_efficientnet_lite0", "flat", default_preprocess("tf_efficientnet_lite0", 32))
    extract, _ = _budget._measure_trunk(net, Recipe("trunk", 64, 1, 3, trunk_cut=-3), _images(), 64)
    assert extract == pytest.approx(64 / math.ceil(64 / EXTRACT_BATCH))  # a (fake) second per batch the pass runs


def test_the_plan_keeps_a_margin_and_pays_for_its_own_measuring(
    taxonomy: Taxonomy, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An epoch count whose estimate fills the budget to the second is one epoch too many (a 5-minute run planned
    at 268 s of 270 ran past its Timer), and the seconds spent measuring candidates are gone from the budget; the
    margin never turns a recipe whose minimum epochs fit into a cheaper one."""
    from fashiontag.train import _budget

    recipe = Recipe("trunk", 32, min_epochs=1, max_epochs=50, trunk_cut=-3, trunk_views=2)
    net = create_network(taxonomy, "tf_efficientnet_lite0", "flat", default_preprocess("tf_efficientnet_lite0", 32))
    config = build_config(TrainConfig, image_size=32, time_limit="1h")
    rates = (1000.0, 100.0)  # 200 train + 20 val images: 0.44 s first pass, then 2.07 s per epoch

    def measured(delay: float):  # noqa: ANN202
        def measure(*args):  # noqa: ANN002, ANN202
            import time

            time.sleep(delay)
            return rates

        return measure

    budget = 100.0
    epochs_without_margin = max(e for e in range(1, 51) if estimate(recipe, rates, 200, 20, e) <= budget)
    monkeypatch.setattr(_budget, "_measure_trunk", measured(0.0))
    plan = plan_recipe(config, net, _images(), 200, 20, budget + _budget.RESERVE_SECONDS, candidates=(recipe,))
    assert plan.config.trainer.epochs < epochs_without_margin
    assert plan.estimate_seconds * (1 + _budget.SAFETY_MARGIN) <= budget
    monkeypatch.setattr(_budget, "_measure_trunk", measured(10.0))  # measuring took a tenth of the budget
    slow = plan_recipe(config, net, _images(), 200, 20, budget + _budget.RESERVE_SECONDS, candidates=(recipe,))
    assert slow.config.trainer.epochs < plan.config.trainer.epochs
    assert slow.estimate_seconds * (1 + _budget.SAFETY_MARGIN) <= budget - 10.0
    assert "s left after measuring" in slow.lines[-1] and slow.lines[-1].endswith(", fits")
    monkeypatch.setattr(_budget, "_measure_trunk", measured(0.0))
    one_epoch = estimate(recipe, rates, 20_000, 2_000, 1)  # ~227 s: the minimum fits without the margin, not with it
    left = one_epoch * 1.02 + _budget.RESERVE_SECONDS
    tight = plan_recipe(config, net, _images(), 20_000, 2_000, left, candidates=(recipe,))
    assert tight.recipe == recipe and tight.config.trainer.epochs == 1 and tight.lines[-1].endswith(", fits")


def test_a_recipe_whose_last_minimum_epoch_fits_mostly_is_taken_and_ends_in_it(
    taxonomy: Taxonomy, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The best recipe, short of its minimum epochs by a tenth of the last one's steps, is taken (an hour's speed
    decided between it and the next on FPI), and the first-pass re-fit ends its schedule inside that epoch; short
    by a fifth, the next recipe is. An interrupted run's recipe, resumed, promises no re-fit (a resume makes none)."""
    from fashiontag.train import _budget

    best = Recipe("trunk", 32, min_epochs=3, max_epochs=6, trunk_cut=-3, trunk_views=2)
    cheaper = Recipe("trunk", 32, min_epochs=1, max_epochs=6, trunk_cut=-2, trunk_views=1)
    monkeypatch.setattr(_budget, "_measure_trunk", lambda *args: (1000.0, 100.0))
    monkeypatch.setattr(_budget.time, "perf_counter", lambda: 0.0)  # measuring costs nothing here
    net = create_network(taxonomy, "tf_efficientnet_lite0", "flat", default_preprocess("tf_efficientnet_lite0", 32))
    config = build_config(TrainConfig, image_size=32, time_limit="1h")
    need = estimate(best, (1000.0, 100.0), 20_000, 2_000, 3)  # 42 s first pass, 200 s of steps an epoch
    assert _budget.last_epoch_share(best, (1000.0, 100.0), 20_000, 2_000, need - 40) == pytest.approx(0.8)

    def plan(short: float) -> _budget.Plan:
        left = need - short + _budget.RESERVE_SECONDS
        return plan_recipe(config, net, _images(), 20_000, 2_000, left, candidates=(best, cheaper))

    mostly = plan(20.0)
    assert mostly.recipe == best and mostly.config.trainer.epochs == 3
    assert "fits with 90% of the last epoch's steps by the estimate" in mostly.lines[-1], mostly.lines
    epochs, steps = _budget.epochs_after_first_pass(mostly, need - 20 - 42, 42.0, steps_per_epoch=100)
    assert epochs == 3 and steps is not None and 200 < steps < 300
    assert plan(40.0).recipe == cheaper
    resumed = plan_recipe(config, net, _images(), 20_000, 2_000, need, candidates=(best,), resumed=True)
    assert "a resume trains only what is left of it and re-fits nothing" in resumed.lines[-1], resumed.lines
    headed = build_config(TrainConfig, image_size=32, time_limit="1h", head_epochs=3)  # its part: a head epoch
    left = need - 20.0 + _budget.RESERVE_SECONDS
    assert plan_recipe(headed, net, _images(), 20_000, 2_000, left, candidates=(best, cheaper)).recipe == cheaper


def test_the_review_fit_after_training_is_paid_from_the_budget(
    taxonomy: Taxonomy, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``train`` passes over the val photos after training (the review fit; per-source metrics), inside its time
    limit: the plan keeps those passes' seconds (twice with test_flip), so fewer epochs fit; a 30-minute run at 160
    px with the flip spent 2 min 12 s after its last epoch against a 20 s reserve and ran 71 s past its limit."""
    from fashiontag.train import _budget

    recipe = Recipe("trunk", 32, min_epochs=1, max_epochs=50, trunk_cut=-3, trunk_views=2)
    monkeypatch.setattr(_budget, "_measure_trunk", lambda *args: (1000.0, 100.0))
    monkeypatch.setattr(_budget, "_measure_full", lambda *args: (10.0, 10.0))  # the whole network's forward
    monkeypatch.setattr(_budget.time, "perf_counter", lambda: 0.0)
    net = create_network(taxonomy, "tf_efficientnet_lite0", "flat", default_preprocess("tf_efficientnet_lite0", 32))

    def plan(several: bool = False, **keys: object) -> _budget.Plan:
        config = build_config(TrainConfig, image_size=32, time_limit="1h", **keys)
        after = _budget.forwards_after_training(config, 500, 800, several)
        return plan_recipe(config, net, _images(), 2_000, 500, 1_000.0, candidates=(recipe,), forwards_after=after)

    # the review fit: one pass (with the mirror images), whose logits give temperatures and probabilities
    plain, flipped, off = plan(), plan(test_flip=True), plan(calibrate=False)
    assert (plain.review_seconds, flipped.review_seconds, off.review_seconds) == (50.0, 100.0, 0.0)
    assert off.config.trainer.epochs > plain.config.trainer.epochs > flipped.config.trainer.epochs
    assert "and 1000 image forwards after training (100 s at 10 img/s)" in flipped.lines[-1], flipped.lines
    # a cascade fits part by part: a pass for the temperatures, then the labelling network's
    assert _budget.forwards_after_training(build_config(TrainConfig, strategy="cascade"), 500, 800, False) == 1000
    assert plan(several=True, calibrate=False).review_seconds == 80.0  # per-source metrics: every source's val
    import pandas as pd

    from fashiontag.train._sources import several_sources

    one, two = pd.DataFrame({"source": ["fpi", "fpi"]}), pd.DataFrame({"source": ["fpi", "shop"]})
    assert (several_sources(one), several_sources(two), several_sources(one.drop(columns="source"))) == (0, 1, 0)
    for each in (plain, flipped, off):  # what is left for training holds the epochs with the margin
        assert each.estimate_seconds * (1 + _budget.SAFETY_MARGIN) + each.review_seconds <= 1_000.0 - 20.0


def test_a_slow_first_pass_leaves_fewer_epochs_and_the_record_says_so(
    taxonomy: Taxonomy,
    tmp_path,
    capsys: pytest.CaptureFixture,  # noqa: ANN001
) -> None:
    """A cached-trunk run whose first pass took longer than planned re-fits its epochs to the time left before the
    schedule is built (so the Timer does not cut the last epoch off an unfinished cosine schedule); never more."""
    import json

    from fashiontag.train import _budget
    from fashiontag.train._modes import MODES

    plan = _budget.Plan(build_config(TrainConfig, epochs=5), None, 5100.0, 0.0, [], epoch_seconds=1000.0)
    assert _budget.epochs_after_first_pass(plan, 10**6, 1.0) == (5, None)  # never more
    said = "the first pass took 1 s (estimated 100 s): all 5 epochs fit the 1000000 s left (1000 s each)"
    assert plan.lines == [said]  # said even when nothing changes
    assert _budget.epochs_after_first_pass(plan, 10.0, 1.0) == (1, None)  # at least one: the Timer has the last word
    # never only the frozen-tail head epochs: with head_epochs=1 the tail must train at least one epoch
    assert _budget.epochs_after_first_pass(plan, 10.0, 1.0, head_epochs=1) == (2, None)
    assert "fit 0 epoch(s); keeping 2 of the 5 planned" in plan.lines[-1]
    two = dataclasses.replace(plan, config=build_config(TrainConfig, epochs=2), estimate_seconds=2100.0)
    assert _budget.epochs_after_first_pass(two, 10.0, 1.0, head_epochs=3) == (2, None)  # nor more than planned
    assert "keeping 2 of the 2 planned - the time limit" in two.lines[-1]  # no tail to promise: it never unfreezes
    MODES.get("trunk")()(_trunk_job(taxonomy, tmp_path, plan, 2500.0))  # 1,050 s per epoch with the margin
    assert "2 of the 5 planned epoch(s) fit the" in capsys.readouterr().out and "2 of the 5" in plan.lines[-1]
    assert json.loads((tmp_path / "run.json").read_text())["epochs"] == 2  # what a resume continues
    assert plan.config.trainer.epochs == 2  # and what the sidecar records as trained


def test_a_first_pass_that_leaves_part_of_an_epoch_ends_the_schedule_in_it(
    taxonomy: Taxonomy,
    tmp_path,  # noqa: ANN001
) -> None:
    """After the first pass, time for whole epochs and part of one more trains that part too, the schedule sized
    to end with its last step (the estimate split into steps and validation); without the split, whole epochs."""
    import json

    from fashiontag.train import _budget
    from fashiontag.train._modes import MODES

    def plan() -> _budget.Plan:  # 1,000 s epochs: 4 steps of 200 s and 200 s of validation
        config = build_config(TrainConfig, epochs=5)
        return _budget.Plan(config, None, 5100.0, 0.0, [], epoch_seconds=1000.0, validation_seconds=200.0)

    said = plan()
    assert _budget.epochs_after_first_pass(said, 2730.0, 1.0, steps_per_epoch=4) == (3, 10)  # 2600 s with margin
    assert (
        "fit 2 epoch(s) and 50% of another (2 of its 4 steps), so training ends 50% into epoch 3, at step 10"
        in (said.lines[-1])
    )
    assert _budget.epochs_after_first_pass(plan(), 630.0, 1.0, steps_per_epoch=4) == (1, 2)  # the first in part
    assert _budget.epochs_after_first_pass(plan(), 2730.0, 1.0, 3, steps_per_epoch=4) == (4, None)  # a head epoch
    assert _budget.epochs_after_first_pass(plan(), 2730.0, 1.0) == (2, None)  # steps per epoch unknown
    whole = _budget.Plan(build_config(TrainConfig, epochs=5), None, 5100.0, 0.0, [], epoch_seconds=1000.0)
    MODES.get("trunk")()(_trunk_job(taxonomy, tmp_path, whole, 2900.0))  # 2 steps an epoch of 500 s: 5 steps fit
    assert "fit 2 epoch(s) and 50% of another (1 of its 2 steps)" in whole.lines[0], whole.lines
    last = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=True)
    assert last["global_step"] == 5 and last["schedule_steps"] == [5, 3]
    assert json.loads((tmp_path / "run.json").read_text())["epochs"] == 3


def _trunk_job(taxonomy: Taxonomy, out, plan, max_seconds: float, head_epochs: int = 0):  # noqa: ANN001, ANN202
    """A 5-epoch cached-trunk job on 32 + 8 random 32 px images under ``plan`` with ``max_seconds`` left."""
    from fashiontag.train._fit import _targets
    from fashiontag.train._modes import ModeJob

    net = create_network(taxonomy, "tf_efficientnet_lite0", "flat", default_preprocess("tf_efficientnet_lite0", 32))
    config = build_config(
        TrainConfig, image_size=32, out=str(out), mode="trunk", trunk_cut=-3, trunk_views=1, epochs=5,
        batch_size=16, head_epochs=head_epochs, progress_bar=False, time_limit="1h",
    )  # fmt: skip
    leaves = [taxonomy.leaves[i % 4] for i in range(40)]
    strategy_t, heads_t = _targets(net, leaves, {"colour": ["Red", "Blue"] * 20})
    rows = np.arange(40)
    return ModeJob(
        net, _images(40), strategy_t, heads_t, rows[:32], rows[32:], config, out, max_seconds=max_seconds, plan=plan
    )


def test_epochs_that_fit_keep_what_is_done_and_the_tail() -> None:
    from fashiontag.train._budget import epochs_that_fit

    assert epochs_that_fit(7, 2, 20.0, 1000.0) == (7, 47)  # never more than planned
    assert epochs_that_fit(7, 2, 20.0, 65.0) == (5, 3)  # 3 more at 21 s each
    assert epochs_that_fit(7, 2, 20.0, 5.0) == (2, 0)  # nothing more: stop after this one
    assert epochs_that_fit(7, 1, 20.0, 5.0, head_epochs=1) == (2, 0)  # but the tail trains once


def test_slow_epochs_end_the_schedule_sooner_instead_of_the_timer_cutting_one(
    taxonomy: Taxonomy,
    tmp_path,
    capsys: pytest.CaptureFixture,  # noqa: ANN001
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Epochs that run slower than planned (shared cores) end the run sooner, cosine schedule finished, and the
    record says so; the Timer would instead cut an epoch mid-way at a learning rate still far from its end."""
    import json

    from fashiontag.train import _budget, _epoch_refit, _lightning
    from fashiontag.train._modes import MODES

    clock, lrs = [0.0], []
    monkeypatch.setattr(_epoch_refit, "_clock", lambda: clock[0])
    monkeypatch.setattr(_lightning, "_EXTRA_CALLBACKS", [_slow_epochs(clock, lrs)])
    plan = _budget.Plan(build_config(TrainConfig, epochs=5), None, 260.0, 0.0, [], epoch_seconds=50.0)
    MODES.get("trunk")()(_trunk_job(taxonomy, tmp_path, plan, 350.0))  # the first pass: all 5 fit at 50 s each
    said = r"epoch 1 took 100 s \(estimated 50 s\): the (\d+) s left fit 2 more, so training ends with epoch 3 "
    found = [m for line in plan.lines if (m := re.match(said, line))]
    assert found and 200 < int(found[0][1]) <= 250, plan.lines  # 350 s less the epoch and the first pass's seconds
    assert re.search(f"plan: {said}", capsys.readouterr().out)
    assert len(lrs) == 3 * 2 and lrs[-1] < 0.1  # 3 epochs of 2 batches, the schedule at its end (without: 0.5)
    assert plan.config.trainer.epochs == 3 and json.loads((tmp_path / "run.json").read_text())["epochs"] == 3


def _slow_epochs(clock: list[float], lrs: list[float]):  # noqa: ANN202
    """A callback: 100 s per epoch on the re-fit's (fake) ``clock``; each step's learning rate as a share of its
    peak appended to ``lrs``."""
    from lightning.pytorch.callbacks import Callback

    class SlowEpochs(Callback):
        def on_train_batch_end(self, trainer, module, *args) -> None:  # noqa: ANN001, ANN002
            group = trainer.optimizers[0].param_groups[0]
            lrs.append(group["lr"] / group["base_lr"])

        def on_train_epoch_end(self, trainer, module) -> None:  # noqa: ANN001
            clock[0] += 100.0

    return SlowEpochs()


@pytest.mark.parametrize(
    ("review_seconds", "ends", "said"),
    [
        (0.0, 3, "s left fit 2 more, so training ends with epoch 3"),
        (40.0, 3, "s left (40 s more kept for the passes after training, at this pace) fit 2 more, so training ends"),
        (100.0, 2, "s left (100 s more kept for the passes after training, at this pace) fit 1 more, so training ends"),
    ],
)
def test_slow_epochs_keep_more_time_for_the_passes_after_training(
    taxonomy: Taxonomy,
    tmp_path,  # noqa: ANN001
    monkeypatch: pytest.MonkeyPatch,
    review_seconds: float,
    ends: int,
    said: str,
) -> None:
    """The review fit after training was estimated at the planner's pace, as the epochs were: epochs twice as slow
    as estimated keep its estimate once more (a 30-minute run overran by the review fit's extra time)."""
    from fashiontag.train import _budget, _epoch_refit, _lightning
    from fashiontag.train._modes import MODES

    clock = [0.0]
    monkeypatch.setattr(_epoch_refit, "_clock", lambda: clock[0])
    monkeypatch.setattr(_lightning, "_EXTRA_CALLBACKS", [_slow_epochs(clock, [])])
    plan = _budget.Plan(
        build_config(TrainConfig, epochs=5), None, 260.0, 0.0, [], epoch_seconds=50.0, review_seconds=review_seconds
    )
    MODES.get("trunk")()(_trunk_job(taxonomy, tmp_path, plan, 350.0))  # after epoch 1: ~245 s, 100 s an epoch
    assert plan.config.trainer.epochs == ends and any(said in line for line in plan.lines), plan.lines


def test_steps_that_fit_take_the_last_epoch_in_part() -> None:
    from fashiontag.train._budget import steps_that_fit

    assert steps_that_fit(3, 10, 1.0, 5.0, 1000.0) == (3, 30)  # everything fits
    assert steps_that_fit(3, 10, 1.0, 5.0, 40.0) == (3, 25)  # 2 whole epochs (30 s) and half of another (10 s)
    assert steps_that_fit(3, 10, 1.0, 5.0, 32.0) == (2, 20)  # three validations would leave time for 17 steps
    assert steps_that_fit(3, 10, 1.0, 5.0, 5.0) == (0, 0)  # not one step after its validation


def _slow_steps(clock: list[float], lrs: list[float]):  # noqa: ANN202
    """A callback: 40 s per step and 20 s per validation on the re-fit's (fake) ``clock``; each step's learning rate
    as a share of its peak appended to ``lrs``."""
    from lightning.pytorch.callbacks import Callback

    class SlowSteps(Callback):
        def on_train_batch_end(self, trainer, module, *args) -> None:  # noqa: ANN001, ANN002
            group = trainer.optimizers[0].param_groups[0]
            lrs.append(group["lr"] / group["base_lr"])
            clock[0] += 40.0

        def on_validation_epoch_end(self, trainer, module) -> None:  # noqa: ANN001
            clock[0] += 20.0

    return SlowSteps()


def test_a_last_epoch_that_fits_in_part_ends_the_schedule_at_its_last_step(
    taxonomy: Taxonomy,
    tmp_path,
    capsys: pytest.CaptureFixture,  # noqa: ANN001
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """When the time left holds whole epochs and part of one more, the run trains that part too, the learning-rate
    schedule re-sized to end with its last step, and stops there, validated and checkpointed; dropping the epoch
    wasted up to an epoch of the budget (the demo's third epoch missed by one second: 145 s unused)."""
    import json

    from fashiontag.train import _budget, _epoch_refit, _lightning
    from fashiontag.train._modes import MODES

    clock, lrs = [0.0], []
    monkeypatch.setattr(_epoch_refit, "_clock", lambda: clock[0])
    monkeypatch.setattr(_lightning, "_EXTRA_CALLBACKS", [_slow_steps(clock, lrs)])
    plan = _budget.Plan(build_config(TrainConfig, epochs=5), None, 260.0, 0.0, [], epoch_seconds=50.0)
    MODES.get("trunk")()(_trunk_job(taxonomy, tmp_path, plan, 380.0))  # after epoch 1, ~277 s: 2.5 epochs
    said = "fit 2 more and 50% of another (1 of its 2 steps), so training ends 50% into epoch 4, at step 7"
    assert any(said in line for line in plan.lines), plan.lines
    assert sum("plan: epoch" in line for line in capsys.readouterr().out.splitlines()) == 1  # said once
    assert len(lrs) == 7 and lrs[-1] < 0.05  # 3 epochs and one step, the schedule at its end (3 whole: 6 steps)
    assert plan.config.trainer.epochs == 4 and json.loads((tmp_path / "run.json").read_text())["epochs"] == 4
    last = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=True)
    assert last["schedule_steps"] == [7, 4] and last["global_step"] == 7  # a resume ends the schedule there too
    lrs.clear()  # run again into the same folder: it resumes from the checkpoint of its last step
    MODES.get("trunk")()(_trunk_job(taxonomy, tmp_path, plan, 380.0))
    assert lrs == []  # and trains nothing more


def test_after_the_head_epochs_a_tail_epoch_that_fits_in_part_ends_the_schedule(
    taxonomy: Taxonomy,
    tmp_path,  # noqa: ANN001
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With ``head_epochs=1`` the tail must train at least one epoch; when only part of it fits, the schedule ends
    with the steps that do, where it used to keep the whole epoch for Lightning's Timer to cut at a learning rate
    still far from its end."""
    from fashiontag.train import _budget, _epoch_refit, _lightning
    from fashiontag.train._modes import MODES

    clock, lrs = [0.0], []
    monkeypatch.setattr(_epoch_refit, "_clock", lambda: clock[0])
    monkeypatch.setattr(_lightning, "_EXTRA_CALLBACKS", [_slow_steps(clock, lrs)])
    plan = _budget.Plan(build_config(TrainConfig, epochs=5), None, 260.0, 0.0, [], epoch_seconds=50.0)
    MODES.get("trunk")()(_trunk_job(taxonomy, tmp_path, plan, 185.0, head_epochs=1))  # after epoch 1: ~80 s
    said = "fit 0 more and 50% of another (1 of its 2 steps), so training ends 50% into epoch 2, at step 3"
    assert any(said in line for line in plan.lines), plan.lines
    # the head epoch and one tail step, on a cosine sized to 3 steps (before: both epochs whole, for the Timer to cut)
    assert len(lrs) == 3 and lrs[-1] == pytest.approx((1 + math.cos(math.pi * 2 / 3)) / 2)
    assert plan.config.trainer.epochs == 2


def test_a_resume_that_asks_for_other_epochs_drops_the_partial_schedule() -> None:
    """The checkpoint's last step binds a resume with the epochs it was re-fitted to; one that asks for more
    (a finished run extended) sizes its schedule to those instead of stopping at the old step."""
    from types import SimpleNamespace

    from fashiontag.train._module import TaggerModule

    for epochs, expected in ((4, 7), (10, None)):
        module = SimpleNamespace(config=build_config(TrainConfig, epochs=epochs), schedule_steps=None)
        TaggerModule.on_load_checkpoint(module, {"schedule_steps": [7, 4]})  # type: ignore[arg-type]
        assert module.schedule_steps == expected
    module = SimpleNamespace(config=build_config(TrainConfig, epochs=4), schedule_steps=3)
    TaggerModule.on_load_checkpoint(module, {})  # type: ignore[arg-type]  # whole epochs: no step recorded
    assert module.schedule_steps is None


def test_a_resumed_run_keeps_its_recorded_epochs_whatever_is_left(taxonomy: Taxonomy, tmp_path) -> None:  # noqa: ANN001
    """Resuming, the first pass comes from the cache and only the epochs after the checkpoint's remain: a re-fit
    could ask for fewer epochs than the checkpoint has done, and would reshape a schedule already half run."""
    import json
    import time

    from fashiontag.train import _budget
    from fashiontag.train._fit import _plan
    from fashiontag.train._resume import RECORD, run_settings

    config = build_config(
        TrainConfig, image_size=32, input_size=64, out=str(tmp_path), time_limit="1h", mode="trunk",
        trunk_cut=-3, trunk_views=1,
    )  # fmt: skip
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "last.ckpt").write_bytes(b"")
    (tmp_path / RECORD).write_text(json.dumps({"settings": run_settings(config), "epochs": 4}))
    net = create_network(taxonomy, "tf_efficientnet_lite0", "flat", default_preprocess("tf_efficientnet_lite0", 32))
    planned, _, plan, _ = _plan(config, net, taxonomy, _train_data(taxonomy), time.perf_counter())
    assert planned.trainer.epochs == 4 and plan.recipe.max_epochs == 4  # the recorded recipe
    assert _budget.epochs_after_first_pass(plan, seconds_left=1e-3, first_pass_seconds=0.5) == (4, None)
    assert plan.epoch_seconds is None  # nor are its epochs re-fitted as they end (no EpochRefit without an estimate)


def _train_data(taxonomy: Taxonomy):  # noqa: ANN202
    """32 train + 8 val random 32 px images over the taxonomy's first four leaves and two colours."""
    import pandas as pd

    from fashiontag.train._data import TrainData

    labels = pd.DataFrame(
        {
            "item_id": [str(i) for i in range(40)],
            "leaf": [taxonomy.leaves[i % 4] for i in range(40)],
            "colour": ["Red", "Blue"] * 20,
            "split": ["train"] * 32 + ["val"] * 8,
        }
    )
    return TrainData(_images(40), labels, taxonomy)


def test_the_planned_recipe_pinned_trains_the_same_network(taxonomy: Taxonomy, monkeypatch: pytest.MonkeyPatch) -> None:
    """A network rebuilt for the plan's input size starts from the weights that the recipe, given as settings
    without a time limit, starts from: a user who pins what the planner printed gets the same model."""
    import time

    from fashiontag.train import _budget
    from fashiontag.train._fit import _plan, build_net

    monkeypatch.setattr(_budget, "CANDIDATES", (Recipe("trunk", 64, 1, 1, trunk_cut=-3, trunk_views=1),))
    config = build_config(TrainConfig, image_size=32, out="unused", time_limit="1h", mode="trunk", seed=3)
    torch.manual_seed(config.seed)
    first = build_net(config, taxonomy)  # at the data's own size, as `fit` builds it before planning
    planned, net, _, _ = _plan(config, first, taxonomy, _train_data(taxonomy), time.perf_counter())
    assert planned.model.input_size == 64 and net is not first
    torch.manual_seed(config.seed)
    pinned = build_net(planned, taxonomy)
    for (name, a), b in zip(net.state_dict().items(), pinned.state_dict().values(), strict=True):
        assert torch.equal(a, b), name


def test_a_plan_that_trains_no_cached_trunk_says_mix_activations_is_unused(
    taxonomy: Taxonomy,
    tmp_path,  # noqa: ANN001
    capsys: pytest.CaptureFixture,
) -> None:
    """``mix_activations`` is accepted under a time limit (the plan may train a cached trunk); when the plan trains a
    probe instead (a backbone without a cut to make), the run says it is unused rather than dropping it silently."""
    import time

    from fashiontag.train._fit import _plan

    config = build_config(TrainConfig, image_size=32, out=str(tmp_path), time_limit="1h", mix_activations=0.4)
    net = create_network(taxonomy, "smallcnn", "flat", default_preprocess("smallcnn", 32))
    planned, *_ = _plan(config, net, taxonomy, _train_data(taxonomy), time.perf_counter())
    assert planned.trainer.train_mode == "probe"
    assert "mix_activations=0.4 is unused" in capsys.readouterr().out
