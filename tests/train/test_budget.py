"""The time-budget planner: duration parsing, and the recipe it picks for a budget on real measurements."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from fashiontag.config import ConfigError, build_config
from fashiontag.data.synthetic import TAXONOMY_YAML
from fashiontag.data.taxonomy import Taxonomy
from fashiontag.models import create_network, default_preprocess
from fashiontag.train import TrainConfig
from fashiontag.train._budget import CANDIDATES, Recipe, estimate, parse_duration, plan_recipe


@pytest.mark.parametrize(("text", "seconds"), [("10m", 600), ("90s", 90), ("1h30m", 5400), ("600", 600),
                                               ("2.5m", 150)])
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


@pytest.fixture(scope="module")
def taxonomy(tmp_path_factory: pytest.TempPathFactory) -> Taxonomy:
    from fashiontag.data.taxonomy import load_taxonomy

    path = tmp_path_factory.mktemp("tax") / "taxonomy.yaml"
    path.write_text(TAXONOMY_YAML, encoding="utf-8")
    return load_taxonomy(str(path))


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
