"""bench/bench_review.py's score comparison: the ceiling share, the candidate scores and the mistake listing."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from fashiontag.data.taxonomy import Taxonomy
from fashiontag.evaluate import hierarchy as H

BENCH = Path(__file__).resolve().parents[2] / "bench" / "bench_review.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_review", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture()
def tax() -> Taxonomy:
    nodes = [
        ("Shoes", None),
        ("Bags", None),
        ("Shoes > Heels", "Shoes"),
        ("Shoes > Flats", "Shoes"),
        ("Bags > Tote", "Bags"),
    ]
    return Taxonomy.from_dict(
        {
            "name": "t",
            "levels": ["group", "type"],
            "nodes": [{"id": i, "name": i.split(" > ")[-1], "parent": p} for i, p in nodes],
        }
    )


def test_prefix_share_is_the_longest_accurate_prefix(bench) -> None:
    correct = np.array([True, False, True, True])
    # running accuracy in score order: 1, 1/2, 2/3, 3/4
    assert bench._prefix_share(np.array([0.9, 0.8, 0.7, 0.6]), correct, 0.75) == 1.0
    assert bench._prefix_share(np.array([0.9, 0.8, 0.7, 0.6]), correct, 0.9) == 0.25
    assert bench._prefix_share(np.array([0.6, 0.9, 0.7, 0.8]), correct, 0.9) == 0.0  # the mistake ranked first


def test_a_margin_can_rank_a_confident_mistake_last(bench, tax: Taxonomy) -> None:
    # photo 0: Heels at 0.50 against Flats 0.45 - the highest probability, the smallest margin, and wrong
    probs = {
        "group": np.array([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0], [0.0, 1.0]]),
        "type": np.array([[0.50, 0.45, 0.05], [0.40, 0.05, 0.55], [0.05, 0.45, 0.50], [0.0, 0.0, 1.0]]),
    }
    targets = {"group": np.array([0, 0, 0, 1]), "type": np.array([1, 0, 1, 2])}
    scores = bench._rank_scores(tax, probs, H.decode_top_down(tax, probs), "type")
    # decoded among Shoes' children: Heels (0.50), Heels (0.40), Flats (0.45), Tote (1.0)
    np.testing.assert_allclose(scores["probability (the policy's)"], [0.50, 0.40, 0.45, 1.0])
    np.testing.assert_allclose(scores["margin top-1 - top-2"], [0.05, 0.15, 0.05, 1.0])
    np.testing.assert_allclose(
        scores["sibling margin x parent probability"], [0.05 / 0.95, 0.35 / 0.45, 0.40 / 0.50, 1.0]
    )
    result = bench.rank_scores(tax, probs, targets, probs, targets, 0.99)["type"]
    assert result["probability (the policy's)"]["ceiling"] == 0.25  # Tote, then the Heels mistake
    assert result["sibling margin x parent probability"]["ceiling"] == 0.75  # the mistake goes last
    assert result["sibling margin x parent probability"]["val_fitted_accuracy"] == 1.0


def test_mistakes_at_counts_the_confusions_of_the_most_confident(bench, tax: Taxonomy) -> None:
    probs = {
        "group": np.array([[1.0, 0.0]] * 3 + [[0.0, 1.0]]),
        "type": np.array([[0.9, 0.1, 0.0], [0.8, 0.2, 0.0], [0.3, 0.7, 0.0], [0.0, 0.0, 0.6]]),
    }
    targets = {"group": np.array([0, 0, 0, 1]), "type": np.array([1, 1, 1, 2])}
    found = bench.mistakes_at(tax, probs, targets, "type", 0.5)  # the two most confident: both Flats as Heels
    assert found == {"share": 0.5, "photos": 2, "wrong": 2, "pairs": {"Flats -> Heels": 2}}
