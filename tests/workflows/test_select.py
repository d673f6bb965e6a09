"""`fashiontag select`: uncertainty scores, k-center greedy, and the ranked CSV from a tiny model."""

import csv
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from fashiontag.cli.main import app
from fashiontag.data.folders import infer_folder_taxonomy
from fashiontag.data.synthetic import make_class_folders
from fashiontag.models import create_network, default_preprocess, save_model
from fashiontag.workflows.select import (
    SelectConfig,
    class_quotas,
    entropy_uncertainty,
    k_center_greedy,
    margin_uncertainty,
    rank_pool,
    resolve_strategy,
    select_for_labelling,
    typical_picks,
)

runner = CliRunner()


def test_uncertainty_scores_order_sure_before_unsure() -> None:
    probs = np.array([[0.98, 0.01, 0.01], [0.5, 0.49, 0.01], [1 / 3, 1 / 3, 1 / 3]])
    margin, entropy = margin_uncertainty(probs), entropy_uncertainty(probs)
    assert margin[0] < margin[1] and margin[1] == pytest.approx(0.99)
    assert entropy[0] < entropy[1] < entropy[2] and entropy[2] == pytest.approx(1.0)


def test_k_center_spreads_over_clusters_and_avoids_labelled() -> None:
    rng = np.random.default_rng(0)
    clusters = np.array([[0, 0], [10, 0], [0, 10]], dtype=float)
    points = np.concatenate([c + rng.normal(0, 0.1, (20, 2)) for c in clusters])  # rows 0-19, 20-39, 40-59
    picks, distances = k_center_greedy(points, 3)
    assert sorted(p // 20 for p in picks) == [0, 1, 2] and np.isinf(distances[0]) and distances[1] > 5
    picks, _ = k_center_greedy(points, 2, centres=points[:1])  # cluster 0 is labelled: pick the other two
    assert sorted(p // 20 for p in picks) == [1, 2]
    assert len(k_center_greedy(points, 100)[0]) == 60 and k_center_greedy(points, 0) == ([], [])


def test_rank_pool_prefers_uncertain_then_diverse() -> None:
    features = np.array([[1, 0], [1, 0.01], [0, 1], [1, 0.02]], dtype=float)
    probs = np.array([[0.5, 0.5], [0.51, 0.49], [0.6, 0.4], [0.99, 0.01]])
    config = SelectConfig(budget=2, candidate_factor=1.5, strategy="uncertainty")
    picks, uncertainty, _ = rank_pool(features, probs, config)
    assert picks == [0, 2]  # 1 is as uncertain as 0 but a near copy; 3 is certain
    picks, _, _ = rank_pool(features, probs, SelectConfig(budget=2, candidate_factor=1.0, strategy="uncertainty"))
    assert picks == [0, 1]  # candidate_factor 1: uncertainty only


def test_typical_picks_the_centre_of_each_cluster_largest_first_and_skips_labelled_ones() -> None:
    rng = np.random.default_rng(0)
    centres = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1]], dtype=float)
    sizes = [30, 20, 10]  # rows 0-29, 30-49, 50-59: directions on the sphere, tight around each centre
    points = np.concatenate([c + rng.normal(0, 0.05, (n, 3)) for c, n in zip(centres, sizes, strict=True)])
    points[0] = [1.0, 0.25, 0.25]  # the largest cluster's outlier: never its representative
    owner = np.repeat([0, 1, 2], sizes)
    picks = typical_picks(points, 3)
    assert [owner[p] for p in picks] == [0, 1, 2] and 0 not in picks  # largest first, one per cluster
    for p in picks:  # each pick is in the inner third of its cluster (nearest its mean direction): typical
        rows = np.flatnonzero(owner == owner[p])
        unit = points[rows] / np.linalg.norm(points[rows], axis=1, keepdims=True)
        closeness = unit @ (unit.mean(0) / np.linalg.norm(unit.mean(0)))
        assert p in rows[np.argsort(-closeness)[: len(rows) // 3]]
    picks = typical_picks(points, 2, labelled=points[1:4])  # the largest cluster is covered already
    assert sorted(owner[p] for p in picks) == [1, 2]
    assert len(set(typical_picks(points, 8))) == 8  # more picks than clusters: a second round, no repeats


def test_auto_strategy_is_typical_for_a_cold_start_only() -> None:
    auto = SelectConfig(budget=100)
    assert resolve_strategy(auto, 0, 10) == "typical" and resolve_strategy(auto, 100, 10) == "typical"
    assert resolve_strategy(auto, 101, 10) == "uncertainty"  # past 20 labelled photos per class
    assert resolve_strategy(SelectConfig(budget=5, strategy="uncertainty"), 0, 10) == "uncertainty"
    with pytest.raises(ValueError, match="strategy must be one of"):
        rank_pool(np.eye(3), np.eye(3), SelectConfig(strategy="random"))
    with pytest.raises(ValueError, match="class_prior applies to strategy=uncertainty"):
        rank_pool(np.eye(3), np.eye(3), SelectConfig(strategy="typical", class_prior="pool"))


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("sel")
    photos = make_class_folders(root / "pool", {"tee": 6, "hat": 6, "bag": 6}, size=32)
    torch.manual_seed(0)
    net = create_network(infer_folder_taxonomy(photos), "smallcnn", "flat", default_preprocess("smallcnn", 32, 32))
    save_model(net.eval(), root / "model")
    return root / "model", photos


def test_select_writes_ranked_csv(tiny_model, tmp_path: Path) -> None:
    model, photos = tiny_model
    (photos / "tee" / "broken.jpg").write_bytes(b"not a jpeg")
    out = tmp_path / "to_label.csv"
    summary = select_for_labelling(model, [str(photos)], out, SelectConfig(budget=5))
    rows = list(csv.DictReader(out.open()))
    assert summary["pool"] == 18 and len(summary["failures"]) == 1 and summary["head"] == "class"
    assert summary["strategy"] == "typical"  # 5 picks, nothing labelled: a cold start
    assert [int(r["rank"]) for r in rows] == [1, 2, 3, 4, 5] and len({r["path"] for r in rows}) == 5
    assert {r["predicted"] for r in rows} <= {"bag", "hat", "tee"} and rows[0]["distance"] == ""
    with pytest.raises(ValueError, match=".csv"):
        select_for_labelling(model, [str(photos)], tmp_path / "x.json")


def test_select_cli(tiny_model, tmp_path: Path) -> None:
    model, photos = tiny_model
    out = tmp_path / "pick.csv"
    result = runner.invoke(
        app,
        [
            "select",
            str(model),
            str(photos / "hat"),
            str(photos / "bag"),
            "--budget",
            "3",
            "--labelled",
            str(photos / "tee"),
            "--out",
            str(out),
            "uncertainty=entropy",
        ],
    )
    assert result.exit_code == 0, result.output + repr(result.exception)
    assert "picked 3 of 12 photos" in result.output and len(list(csv.DictReader(out.open()))) == 3
    bad = runner.invoke(app, ["select", str(model), str(photos), "--budget", "0", "--out", str(out)])
    assert bad.exit_code == 2 and "at least 1" in bad.output
    bad = runner.invoke(app, ["select", str(model), str(photos), "--out", str(out), "class_prior=flat"])
    assert bad.exit_code == 2 and "class_prior must be 'none' or 'pool'" in bad.output


def test_class_quotas_follow_the_predicted_prior_and_respect_what_each_class_has() -> None:
    probs = np.repeat(np.eye(3), [60, 30, 10], axis=0)  # predicted prior 0.6 / 0.3 / 0.1
    assert class_quotas(probs, 20).tolist() == [12, 6, 2]
    soft = probs * 0.7 + 0.1  # mean probabilities, not argmax counts: 0.52 / 0.31 / 0.17 of the budget
    assert class_quotas(soft, 60).tolist() == [31, 19, 10]  # 31.2 / 18.6 / 10.2: the largest remainder to class 1
    assert class_quotas(probs, 1000).tolist() == [60, 30, 10]  # capped by the pool
    few = np.repeat(np.eye(3), [60, 30, 1], axis=0)
    quota = class_quotas(few, 50)
    assert quota.sum() == 50 and quota[2] == 1 and quota[0] > quota[1]  # class 2's unused share goes to the others


def test_rank_pool_class_prior_matches_a_skewed_pool() -> None:
    rng = np.random.default_rng(0)
    sizes = [300, 100, 50, 50]  # a skewed pool: class 0 is 60%
    features = np.concatenate([c * 5.0 + rng.normal(0, 1, (n, 8)) for c, n in enumerate(sizes)])
    predicted = np.repeat(np.arange(4), sizes)
    probs = np.full((len(predicted), 4), 0.1)
    probs[np.arange(len(predicted)), predicted] = 0.7
    probs[:, 0] += rng.uniform(0, 0.05, len(predicted))  # uncertainty varies within a class
    probs /= probs.sum(1, keepdims=True)
    picks, _, _ = rank_pool(features, probs, SelectConfig(budget=40, class_prior="pool", strategy="uncertainty"))
    counts = np.bincount(predicted[picks], minlength=4)
    prior = probs.mean(0) * 40
    assert len(set(picks)) == 40 and np.abs(counts - prior).max() <= 1.0
    first_ten = np.bincount(predicted[picks[:10]], minlength=4)  # every prefix keeps the proportions
    assert first_ten[0] >= 5 and first_ten.min() >= 1
    plain, _, _ = rank_pool(features, probs, SelectConfig(budget=40, strategy="uncertainty"))
    assert np.bincount(predicted[plain], minlength=4)[0] < counts[0]  # k-center alone spreads evenly
    with pytest.raises(ValueError, match="class_prior"):
        rank_pool(features, probs, SelectConfig(budget=4, class_prior="flat"))
