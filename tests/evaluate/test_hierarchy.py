import numpy as np
import pytest

from fashiontag.data.targets import level_targets
from fashiontag.data.taxonomy import parse_taxonomy
from fashiontag.evaluate import hierarchy as H

TAX = parse_taxonomy("""
name: t
levels: [group, gender, type]
tree:
  Glasses: [Glasses, Sunglasses]
  Shoes:
    Male: [Boots, Trainers]
    Female: [Boots, Heels]
""")


def probs_for(rows):
    """rows: list of dicts node_id -> prob (missing nodes 0), turned into per-level arrays."""
    out = {}
    for level in TAX.levels:
        labels = TAX.head_labels(level)
        out[level] = np.array([[row.get(n, 0.0) for n in labels] for row in rows])
    return out


LEAVES = ["Shoes > Female > Heels", "Shoes > Male > Boots", "Glasses > Sunglasses"]
ROWS = [
    # correct all the way
    {
        "Shoes": 0.9,
        "Glasses": 0.1,
        "Shoes > Female": 0.8,
        "Shoes > Male": 0.1,
        "Shoes > Female > Heels": 0.7,
        "Shoes > Female > Boots": 0.1,
        "Shoes > Male > Boots": 0.1,
    },
    # right group, wrong gender, right type name (Boots)
    {
        "Shoes": 0.8,
        "Glasses": 0.2,
        "Shoes > Female": 0.5,
        "Shoes > Male": 0.3,
        "Shoes > Female > Boots": 0.45,
        "Shoes > Male > Boots": 0.3,
        "Shoes > Female > Heels": 0.05,
    },
    # wrong group: a shallow branch
    {
        "Shoes": 0.6,
        "Glasses": 0.4,
        "Shoes > Male": 0.6,
        "Shoes > Male > Trainers": 0.6,
        "Glasses > Sunglasses": 0.3,
        "Glasses > Glasses": 0.1,
    },
]


def test_decoding_accuracy_points_severity():
    targets = level_targets(TAX, LEAVES)
    assert targets["type"][2] == -1  # ragged: Glasses has no type level
    decoded = H.decode_top_down(TAX, probs_for(ROWS))
    assert H.predicted_nodes(TAX, decoded)[1] == ["Shoes", "Shoes > Female", "Shoes > Female > Boots"]
    assert H.full_path_accuracy(TAX, decoded, targets) == pytest.approx(1 / 3)
    assert H.per_level_accuracy(TAX, decoded, targets) == pytest.approx({"group": 2 / 3, "gender": 1 / 3, "type": 0.5})
    # points by name: row0 3, row1 group+type(Boots) = 2, row2 0 ; max 3 + 3 + 2
    assert H.points_score(TAX, decoded, targets) == {"points": 5, "max_points": 8, "fraction": 5 / 8}
    severity = H.mistake_severity(TAX, decoded, LEAVES)
    # Female>Boots vs Male>Boots: LCA Shoes -> 2 + 2 = 4 ; Male>Trainers vs Glasses>Sunglasses: 3 + 2 = 5
    assert severity == {"mistakes": 2, "mean_hops": 4.5, "histogram": {"4": 1, "5": 1}}
    assert H.tree_distance(TAX, "Shoes", "Shoes > Male > Boots") == 2


def test_selective_curve_and_accept():
    targets = level_targets(TAX, LEAVES)
    decoded = H.decode_top_down(TAX, probs_for(ROWS))
    curve = H.selective_curve(TAX, decoded, targets, thresholds=[0.0, 0.55, 0.95])
    assert curve["coverage_full"][0] == 1.0 and curve["accuracy_full"][0] == pytest.approx(1 / 3)
    # at 0.55: row0 -> type (0.7), row1 -> group only (gender 0.5), row2 -> down to Trainers (0.6) wrong
    assert curve["coverage_any"][1] == 1.0 and curve["accuracy_any"][1] == pytest.approx(2 / 3)
    assert curve["coverage_full"][1] == pytest.approx(2 / 3)
    assert curve["coverage_any"][2] == 0.0
    ok = H.accept_correct(TAX, decoded, [["Shoes", "Shoes > Female", "Shoes > Female > Heels"], ["Glasses"], None])
    assert ok.tolist() == [True, False, False]


FLAT = parse_taxonomy("name: f\nlevels: [group, type]\ntree:\n  A: [x, y]\n  B: [x, y]\n")


def calibrated_rows(rng: np.random.Generator, n: int) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Two-level probabilities built from leaf probabilities, where P(leaf correct) = its confidence."""
    leaves = rng.choice(FLAT.leaves, n)
    targets = level_targets(FLAT, list(leaves))
    leaf_probs = np.zeros((n, 4))
    conf = rng.uniform(0.3, 1.0, n)
    right = rng.uniform(size=n) < conf
    true_leaf = np.array([FLAT.leaves.index(x) for x in leaves])
    pred = np.where(right, true_leaf, (true_leaf + 1) % 4)
    leaf_probs[np.arange(n), pred] = conf
    leaf_probs[np.arange(n), (pred + 2) % 4] = 1 - conf
    probs = {"type": leaf_probs, "group": np.stack([leaf_probs[:, :2].sum(1), leaf_probs[:, 2:].sum(1)], 1)}
    return probs, targets


def test_fit_thresholds_reaches_target_on_new_rows():
    rng = np.random.default_rng(1)
    fits = H.fit_thresholds(FLAT, *calibrated_rows(rng, 20_000), target_accuracy=0.95, delta=0.1)
    thresholds = {head: fit.threshold for head, fit in fits.items()}
    assert not any(fit.refused for fit in fits.values()) and thresholds["type"] > 0.8
    probs, targets = calibrated_rows(rng, 20_000)  # fresh rows
    decoded = H.decode_top_down(FLAT, probs)
    accepted = H.accepted_levels(FLAT, decoded, thresholds)
    for depth, level in enumerate(FLAT.levels):
        ok = H.level_correct(decoded, targets, level)[accepted[:, depth]]
        assert ok.mean() >= 0.95 and accepted[:, depth].mean() > 0.05
    summary = H.review_summary(FLAT, probs, targets, thresholds)
    assert summary["per_head"]["type"]["auto_labelled"] == pytest.approx(accepted[:, 1].mean())
    assert summary["needs_review"] == pytest.approx(1 - accepted[:, 1].mean())  # type is the last level


def test_levels_below_a_refused_level_name_it_as_what_blocks_them():
    """Three calibration rows refuse the top level on its own; both levels below are refused only because of it,
    and each names that top level (refitting the middle one would free nothing)."""
    fits = H.fit_thresholds(TAX, probs_for(ROWS), level_targets(TAX, LEAVES), target_accuracy=0.95, delta=0.1)
    assert "too small" in fits["group"].reason and fits["group"].blocked_by is None
    assert fits["gender"].blocked_by == "group" and fits["type"].blocked_by == "group"
    assert fits["type"].reason == "its parent level gender is not auto-labelled" and fits["type"].suggested is None


def test_fit_thresholds_targets_per_head_and_typos():
    rng = np.random.default_rng(2)
    probs, targets = calibrated_rows(rng, 20_000)
    fits = H.fit_thresholds(FLAT, probs, targets, target_accuracy={"type": 0.9}, delta=0.1)
    assert fits["type"].target == 0.9 and fits["group"].target == H.DEFAULT_TARGET
    with pytest.raises(KeyError, match="type"):
        H.fit_thresholds(FLAT, probs, targets, target_accuracy={"typ": 0.9})


def test_label_space_scoring_maps_each_node_to_its_most_specific_class():
    # two target classes share node "A > x": it belongs to the one with the smaller accept set ("tee")
    probs = {
        "group": np.array([[0.9, 0.1], [0.6, 0.4], [0.2, 0.8]]),  # rows: a tee, a top, bottoms
        "type": np.array([[0.8, 0.1, 0.05, 0.05], [0.1, 0.5, 0.2, 0.2], [0.1, 0.1, 0.2, 0.6]]),
    }
    labels = ["tee", "top", "bottoms"]
    rules = {"tee": ["A > x"], "top": ["A > x", "A > y"], "bottoms": ["B"]}
    correct, owner = H.label_space_correct(FLAT, probs, labels, [rules[label] for label in labels])
    assert owner == {"A > x": "tee", "A > y": "top", "B": "bottoms"}
    # row 0: tee 0.8 vs top 0.1 -> right; row 1: top 0.5 vs bottoms 0.4 -> right; row 2: bottoms 0.8 -> right
    assert correct.tolist() == [True, True, True]
    two = {key: value[:2] for key, value in probs.items()}
    wrong, _ = H.label_space_correct(FLAT, two, ["top", "tee"], [rules["top"], rules["tee"]])
    assert wrong.tolist() == [False, False]  # tee 0.8 vs top 0.1; top 0.5 vs tee 0.1


def test_label_space_scoring_counts_a_node_under_an_accepted_parent_once():
    # "bottoms" accepts B and its children: without the rule it would score 2 x P(B) and always win
    probs = {"group": np.array([[0.55, 0.45]]), "type": np.array([[0.55, 0.0, 0.45, 0.0]])}
    rules = {"tee": ["A > x"], "bottoms": ["B", "B > x", "B > y"]}
    both, _ = H.label_space_correct(
        FLAT, {k: np.repeat(v, 2, 0) for k, v in probs.items()}, ["tee", "bottoms"], [rules["tee"], rules["bottoms"]]
    )
    assert both.tolist() == [True, False]  # tee 0.55 > bottoms 0.45
