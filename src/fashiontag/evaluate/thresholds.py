"""Acceptance thresholds with a finite-sample guarantee: Learn-then-Test (Angelopoulos et al., 2021).

For one head, a threshold ``t`` is *valid* when the photos it accepts are right at least ``target`` of the time:
``P(wrong | accepted at t) <= 1 - target``. Learn-then-Test tests the null "``t`` is not valid" for every ``t``
of a fixed grid, descending from 1, and keeps the lowest ``t`` whose null is rejected. Then, with probability at
least ``1 - delta`` over the draw of the calibration photos, the chosen threshold is valid on new photos from the
same distribution.

* p-values: given that ``n`` calibration photos are accepted at ``t``, their mistakes are Binomial(n, risk), so
  ``P(Binomial(n, 1 - target) <= mistakes)`` is an exact p-value. For 0/1 losses it is never larger than the
  Hoeffding-Bentkus p-value that LTT uses for general bounded losses (that bound is a multiple of this tail).
* Multiple testing: fixed-sequence testing, each threshold at level ``delta``, down the grid until the first
  failure (family-wise error ``<= delta``). Started at the top, it would always stop at once: the highest
  thresholds accept only a handful of photos and cannot pass. So, as the LTT paper suggests for choosing the
  order, a random ``select_fraction`` of the photos (seeded) picks where the sequence starts, the grid threshold
  with the smallest p-value on them, and the other photos run the test. The start depends only on photos the
  test never sees, so the guarantee is untouched. (Simulated: at 1,000 photos this auto-labels about twice
  what the fallback procedure over the whole grid does, and the same at 3,000.)
* Too few photos: with ``n`` test photos and no mistake the smallest p-value is ``target ** n``; when the
  calibration rows cannot reach ``delta``, or no threshold passes, the fit is *refused*: the threshold is
  :data:`~fashiontag.review.NEVER` (never auto-labelled) and ``reason`` says why, and which lower target the
  same photos would show (each of the :data:`FALLBACK_TARGETS` tested at ``delta / K``, Bonferroni, so the one
  named holds at level ``delta`` although it was picked by looking; recorded as ``suggested``). The caller warns
  loudly.

Levels are fitted top-down among the photos whose parent level was accepted (as the Labeller decides), so the
guarantee is per level and conditional on the parent thresholds fitted before it on the same photos.

Example:
    >>> fit = ltt_threshold(val_confidence, val_correct, target=0.985, delta=0.1)  # doctest: +SKIP
    >>> fit.threshold, fit.reason  # doctest: +SKIP
    (0.9731, None)
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy.stats import binom

from fashiontag.review import NEVER

#: The fixed threshold grid, descending from 1 (1 - t geometric from 1e-6 to 1: fine where confidences crowd).
GRID = 1.0 - np.geomspace(1e-6, 1.0, 200)
#: Share of the calibration photos that only choose where the fixed-sequence test starts (the rest test).
SELECT_FRACTION = 0.3
#: How the thresholds are fitted, as the sidecar's ``review_policy.method`` records it (models saved before
#: 2026-12-01 say "fallback procedure over a descending grid": the same fits, described before this test).
METHOD = (
    "learn-then-test: exact binomial p-values, fixed-sequence test down a descending grid from the start that a "
    f"seeded {SELECT_FRACTION:.0%} of the calibration photos choose, on the other {1 - SELECT_FRACTION:.0%}"
)
#: Targets a refusal tries, highest first, to say what the calibration photos *can* show (see ``reachable_fit``).
FALLBACK_TARGETS = (0.98, 0.97, 0.96, 0.95, 0.93, 0.9, 0.85, 0.8)


@dataclass(frozen=True)
class ThresholdFit:
    """One head's Learn-then-Test result; ``reason`` is set (and ``threshold`` is NEVER) when refused."""

    threshold: float
    target: float
    delta: float
    rows: int  # calibration photos considered (true label known, parent accepted)
    accepted: int  # of those, accepted at ``threshold``
    mistakes: int  # of those accepted, wrong
    p_value: float | None
    reason: str | None = None
    suggested: float | None = None  # refused: the highest lower target these photos show (``reachable_fit``)
    blocked_by: str | None = None  # refused only because this level above it refused: nothing below is accepted

    @property
    def refused(self) -> bool:
        return self.reason is not None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def binomial_p_values(
    confidence: np.ndarray, correct: np.ndarray, grid: np.ndarray, target: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per grid threshold: ``(accepted, mistakes, p_value)`` for the null "accuracy of accepted < target"."""
    order = np.argsort(-confidence, kind="stable")
    sorted_conf = confidence[order]
    wrong = np.r_[0, np.cumsum(~correct[order].astype(bool))]
    accepted = np.searchsorted(-sorted_conf, -grid, side="right")  # how many have confidence >= t
    mistakes = wrong[accepted]
    p_value = np.where(accepted > 0, binom.cdf(mistakes, np.maximum(accepted, 1), 1.0 - target), 1.0)
    return accepted, mistakes, p_value


def fixed_sequence_test(p_values: np.ndarray, start: int, delta: float) -> int | None:
    """Index of the last null rejected testing ``p_values[start:]`` in order at level ``delta`` (None: none)."""
    last = None
    for j in range(start, len(p_values)):
        if p_values[j] > delta:
            break
        last = j
    return last


def minimum_rows(target: float, delta: float, select_fraction: float = SELECT_FRACTION) -> int:
    """Fewest calibration photos that could pass at all: the test's share all right, ``target ** n <= delta``."""
    return math.ceil(math.log(delta) / math.log(target) / (1.0 - select_fraction))


def ltt_threshold(
    confidence: np.ndarray,
    correct: np.ndarray,
    target: float,
    delta: float,
    grid: np.ndarray = GRID,
    select_fraction: float = SELECT_FRACTION,
    seed: int = 0,
    suggest: bool = True,
) -> ThresholdFit:
    """The lowest grid threshold whose accepted photos are shown, at level ``delta``, to be ``target`` accurate.

    Args:
        confidence: ``[N]`` confidence of each calibration photo's decoded label.
        correct: ``[N]`` whether that label is right.
        target: accuracy wanted among accepted photos, in (0, 1).
        delta: allowed probability that the guarantee fails, in (0, 1).
        grid: thresholds, descending (tested in this order).
        select_fraction: share of the photos that only choose where the test starts; ``seed`` draws them.
        suggest: a refusal's ``reason`` names the lower target these photos can show (:func:`reachable_fit`).
    """
    if not 0.0 < target < 1.0 or not 0.0 < delta < 1.0:
        raise ValueError(f"target={target}, delta={delta}: both must lie strictly between 0 and 1")
    confidence = np.asarray(confidence, dtype=np.float64)
    correct = np.asarray(correct, dtype=bool)
    n, needed = len(confidence), minimum_rows(target, delta, select_fraction)

    def refused(reason: str, p_value: float | None) -> ThresholdFit:  # with the lower target these photos show
        if not suggest:
            return ThresholdFit(NEVER, target, delta, n, 0, 0, p_value, reason)
        fallback = reachable_fit(
            confidence, correct, target, delta, grid=grid, select_fraction=select_fraction, seed=seed
        )
        suggested = fallback.target if fallback else None
        return ThresholdFit(NEVER, target, delta, n, 0, 0, p_value, reason + _suggestion(fallback, target), suggested)

    if n < needed:
        return refused(
            f"calibration split too small: {n} photos reach this head; showing {100 * target:g}% accuracy "
            f"with delta={delta:g} needs at least {needed} (all right)",
            None,
        )
    order = np.random.default_rng(seed).permutation(n)
    select, test = order[: int(select_fraction * n)], order[int(select_fraction * n) :]
    start = int(np.argmin(binomial_p_values(confidence[select], correct[select], grid, target)[2]))
    accepted, mistakes, p_value = binomial_p_values(confidence[test], correct[test], grid, target)
    last = fixed_sequence_test(p_value, start, delta)
    if last is None:
        return refused(
            f"no threshold shows {100 * target:g}% accuracy with delta={delta:g} on {n} photos (best: "
            f"{accepted[start] - mistakes[start]} of {accepted[start]} right above {grid[start]:.6g}, among "
            f"the {len(test)} of them that test the thresholds)",
            float(p_value[start]),
        )
    kept = int((confidence >= grid[last]).sum())
    wrong = int(((confidence >= grid[last]) & ~correct).sum())
    return ThresholdFit(float(grid[last]), target, delta, n, kept, wrong, float(p_value[last]))


def reachable_fit(
    confidence: np.ndarray, correct: np.ndarray, target: float, delta: float, **options: Any
) -> ThresholdFit | None:
    """The fit at the highest of :data:`FALLBACK_TARGETS` below ``target`` that these photos show, each tested at
    ``delta / K`` so that naming the best of them keeps the guarantee at level ``delta`` (Bonferroni over the K
    tried); None when none of them can be shown. ``options``: :func:`ltt_threshold`'s grid, select_fraction, seed."""
    lower = [t for t in FALLBACK_TARGETS if t < target]
    for fallback in lower:
        fit = ltt_threshold(confidence, correct, fallback, delta / len(lower), **options, suggest=False)
        if not fit.refused:
            return fit
    return None


def _suggestion(fit: ThresholdFit | None, target: float) -> str:
    """What a refusal tells the user to ask for instead (``fit``: :func:`reachable_fit`'s), as a reason clause."""
    if not any(t < target for t in FALLBACK_TARGETS):
        return ""
    if fit is None:
        return f"; nor can they show {100 * FALLBACK_TARGETS[-1]:g}%: give this head more calibration photos"
    return (
        f"; these photos can show {100 * fit.target:g}%: it would auto-label {fit.accepted} of {fit.rows} "
        f"({100 * fit.accepted / max(fit.rows, 1):.0f}%) - set target_accuracy to {fit.target:g} for this head, "
        f"or give it more calibration photos"
    )
