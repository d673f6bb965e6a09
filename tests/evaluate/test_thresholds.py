"""Learn-then-Test thresholds: the guarantee holds on fresh photos, and small calibration sets are refused."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from fashiontag.data.taxonomy import parse_taxonomy
from fashiontag.evaluate import hierarchy as H
from fashiontag.evaluate.thresholds import (
    GRID,
    binomial_p_values,
    fixed_sequence_test,
    ltt_threshold,
    minimum_rows,
    reachable_fit,
)
from fashiontag.review import NEVER

TARGET, DELTA = 0.9, 0.1


def calibrated(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Confidence ~ U(0.5, 1) and P(right | confidence) = confidence, so accuracy above t is (1 + t) / 2."""
    confidence = rng.uniform(0.5, 1.0, n)
    return confidence, rng.uniform(size=n) < confidence


def accuracy_above(threshold: float) -> float:
    """The true accuracy on new photos of what ``threshold`` accepts (exact for :func:`calibrated`)."""
    return (1.0 + min(threshold, 1.0)) / 2


def naive_threshold(confidence: np.ndarray, correct: np.ndarray, target: float) -> float:
    """The lowest threshold whose accepted calibration photos reach the target (no guarantee)."""
    order = np.argsort(-confidence)
    running = np.cumsum(correct[order]) / np.arange(1, len(order) + 1)
    ok = np.flatnonzero(running >= target)
    return float(confidence[order][ok[-1]]) if len(ok) else NEVER


def test_guarantee_holds_on_fresh_photos_with_frequency_at_least_one_minus_delta():
    rng = np.random.default_rng(0)
    ltt_ok, naive_ok, coverage, refused = [], [], [], []
    for _ in range(300):
        confidence, correct = calibrated(rng, 3000)
        fit = ltt_threshold(confidence, correct, TARGET, DELTA)
        refused.append(fit.refused)  # nothing auto-labelled: the guarantee holds trivially
        ltt_ok.append(fit.refused or accuracy_above(fit.threshold) >= TARGET)
        naive_ok.append(accuracy_above(naive_threshold(confidence, correct, TARGET)) >= TARGET)
        coverage.append(max(0.0, 1.0 - fit.threshold) / 0.5)
    assert np.mean(ltt_ok) >= 1 - DELTA
    assert np.mean(naive_ok) < 1 - DELTA  # the old empirical fit does not hold: this test has teeth
    # and LTT still auto-labels a good part of what it could (the oracle threshold 0.8 labels 40%)
    assert np.mean(coverage) > 0.25 and np.mean(refused) < 0.05


def test_small_calibration_set_is_refused_with_a_reason():
    rng = np.random.default_rng(1)
    fit = ltt_threshold(*calibrated(rng, 40), target=0.99, delta=DELTA)
    assert fit.refused and fit.threshold == NEVER and fit.rows == 40
    assert "too small" in fit.reason and str(minimum_rows(0.99, DELTA)) in fit.reason
    inaccurate = ltt_threshold(np.full(5000, 0.99), np.arange(5000) % 10 != 0, target=0.99, delta=DELTA)
    assert inaccurate.refused and "no threshold shows 99%" in inaccurate.reason  # enough photos, 90% right


def sharp(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Calibrated like a trained model's: most confidences near 1 (``1 - 0.5 u^3``), P(right | c) = c."""
    confidence = 1.0 - 0.5 * rng.uniform(size=n) ** 3
    return confidence, rng.uniform(size=n) < confidence


def test_a_refusal_names_the_target_its_photos_can_show_and_that_target_holds():
    """A shop's 300 val photos cannot show 98.5%; the refusal says which lower target they do show and how much
    it would auto-label, and that suggestion, although picked by looking, keeps the guarantee at level delta."""
    rng = np.random.default_rng(3)
    fit = ltt_threshold(*sharp(rng, 300), target=0.985, delta=DELTA)
    assert fit.refused and "these photos can show" in fit.reason and "set target_accuracy to" in fit.reason
    assert f"set target_accuracy to {fit.suggested:g} " in fit.reason  # recorded for train's summary line too
    inaccurate = ltt_threshold(np.full(5000, 0.99), np.arange(5000) % 10 != 0, target=0.99, delta=DELTA)
    assert "these photos can show 85%" in inaccurate.reason and inaccurate.suggested == 0.85  # 90% cannot be shown
    hopeless = ltt_threshold(np.full(50, 0.99), np.arange(50) % 2 == 0, target=0.99, delta=DELTA)
    assert "nor can they show 80%" in hopeless.reason and hopeless.suggested is None
    population = np.sort(sharp(rng, 2_000_000)[0])
    tail_mean = np.cumsum(population[::-1])[::-1] / np.arange(len(population), 0, -1)  # accuracy above each c

    def accuracy_above_sharp(threshold: float) -> float:
        return float(tail_mean[min(np.searchsorted(population, threshold), len(population) - 1)])

    named, valid = [], []
    for _ in range(300):
        suggested = reachable_fit(*sharp(rng, 300), target=0.985, delta=DELTA)
        if suggested is not None:
            named.append(suggested.target)
            valid.append(accuracy_above_sharp(suggested.threshold) >= suggested.target)
    assert len(named) > 250 and min(named) < max(named)  # a suggestion nearly always, and it depends on the draw
    assert np.mean(valid) >= 1 - DELTA


def test_refusal_is_loud_and_blocks_auto_labelling(caplog):
    flat = parse_taxonomy("name: f\nlevels: [group]\ntree: [A, B]\n")
    rng = np.random.default_rng(2)
    confidence, correct = calibrated(rng, 40)
    truth = rng.integers(0, 2, 40)
    picked = np.where(correct, truth, 1 - truth)
    probs = {"group": np.where(np.arange(2) == picked[:, None], confidence[:, None], 1 - confidence[:, None])}
    with caplog.at_level(logging.WARNING):
        fits = H.fit_thresholds(flat, probs, {"group": truth}, target_accuracy=0.95, delta=DELTA)
    assert fits["group"].refused and "group not auto-labelled: calibration split too small" in caplog.text
    summary = H.review_summary(flat, probs, {"group": truth}, {"group": fits["group"].threshold})
    assert summary["per_head"]["group"]["auto_labelled"] == 0.0 and summary["needs_review"] == 1.0


def test_p_values_and_fixed_sequence():
    confidence = np.array([0.99, 0.95, 0.9, 0.8])
    accepted, mistakes, p = binomial_p_values(
        confidence, np.array([True, True, False, True]), np.array([1.0, 0.95, 0.85, 0.0]), target=0.5
    )
    assert accepted.tolist() == [0, 2, 3, 4] and mistakes.tolist() == [0, 0, 1, 1]
    assert p[0] == 1.0 and p[1] == pytest.approx(0.25) and p[3] == pytest.approx(5 / 16)
    # from the start, down the grid until the first p-value above delta; nothing before the start is tested
    assert fixed_sequence_test(np.array([0.01, 0.9, 0.02, 0.04, 0.5, 0.01]), 2, 0.1) == 3
    assert fixed_sequence_test(np.array([0.01, 0.9, 0.02]), 1, 0.1) is None
    assert GRID[0] > GRID[-1] and np.all(np.diff(GRID) < 0)


def test_bad_target_or_delta_is_refused_clearly():
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        ltt_threshold(np.ones(3), np.ones(3, bool), target=1.0, delta=0.1)
