"""decode_batch on hand-made probabilities: top-down choice, thresholds, ragged trees, attributes."""

from __future__ import annotations

import numpy as np
import pytest

from fashiontag.data.taxonomy import Taxonomy
from fashiontag.infer import decode_batch


@pytest.fixture()
def ragged() -> Taxonomy:
    # Shoes > Heels > Stiletto is 3 deep; Glasses is a leaf at depth 0; Bags > Tote stops at depth 1.
    nodes = [
        ("Shoes", None),
        ("Glasses", None),
        ("Bags", None),
        ("Shoes > Heels", "Shoes"),
        ("Shoes > Flats", "Shoes"),
        ("Bags > Tote", "Bags"),
        ("Shoes > Heels > Stiletto", "Shoes > Heels"),
        ("Shoes > Heels > Block", "Shoes > Heels"),
    ]
    return Taxonomy.from_dict(
        {
            "name": "r",
            "levels": ["group", "type", "style"],
            "attributes": {"colour": ["Red", "Blue"]},
            "nodes": [{"id": i, "name": i.split(" > ")[-1], "parent": p} for i, p in nodes],
        }
    )


def probs(group, type_, style, colour) -> dict[str, np.ndarray]:
    return {
        "group": np.array([group]),
        "type": np.array([type_]),
        "style": np.array([style]),
        "colour": np.array([colour]),
    }


def test_label_order_is_head_labels(ragged: Taxonomy) -> None:
    assert ragged.head_labels("group") == ["Shoes", "Glasses", "Bags"]
    assert ragged.head_labels("type") == ["Shoes > Heels", "Shoes > Flats", "Bags > Tote"]


def test_child_is_chosen_among_the_chosen_parents_children(ragged: Taxonomy) -> None:
    # Bags > Tote has the highest type probability, but Shoes won the group level.
    p = probs([0.6, 0.0, 0.4], [0.25, 0.2, 0.4], [0.15, 0.1], [0.3, 0.7])
    result = decode_batch(p, ragged, {}, top_k=2)[0]
    assert result["labels"]["group"]["id"] == "Shoes"
    assert result["labels"]["type"] == {
        "label": "Heels",
        "id": "Shoes > Heels",
        "confidence": 0.25,
        "accepted": True,
        "top_k": [
            {"label": "Heels", "id": "Shoes > Heels", "confidence": 0.25},
            {"label": "Flats", "id": "Shoes > Flats", "confidence": 0.2},
        ],
    }
    assert result["labels"]["style"]["label"] == "Stiletto"
    assert result["labels"]["colour"]["label"] == "Blue"
    assert result["level_reached"] == "style" and result["needs_review"] is False


def test_thresholds_stop_acceptance_below_a_rejected_level(ragged: Taxonomy) -> None:
    p = probs([0.9, 0.05, 0.05], [0.5, 0.4, 0.05], [0.45, 0.05], [0.5, 0.5])
    result = decode_batch(p, ragged, {"group": 0.8, "type": 0.6, "style": 0.1}, top_k=3)[0]
    labels = result["labels"]
    assert labels["group"]["accepted"] and not labels["type"]["accepted"]
    assert not labels["style"]["accepted"]  # confident enough, but its parent was not accepted
    assert result["level_reached"] == "group" and result["needs_review"] is True


def test_nothing_accepted_gives_no_level(ragged: Taxonomy) -> None:
    p = probs([0.5, 0.3, 0.2], [0.3, 0.2, 0.1], [0.2, 0.1], [0.9, 0.1])
    result = decode_batch(p, ragged, {"group": 0.7}, top_k=1)[0]
    assert result["level_reached"] is None and result["needs_review"] is True
    assert len(result["labels"]["group"]["top_k"]) == 1


def test_uncertain_attribute_does_not_set_needs_review_by_default(ragged: Taxonomy) -> None:
    p = probs([0.9, 0.05, 0.05], [0.5, 0.4, 0.0], [0.45, 0.05], [0.55, 0.45])
    result = decode_batch(p, ragged, {"colour": 0.6})[0]
    assert result["level_reached"] == "style" and result["needs_review"] is False
    assert result["labels"]["colour"]["accepted"] is False and result["uncertain_attributes"] == ["colour"]
    confident = decode_batch(p, ragged, {"colour": 0.5})[0]
    assert confident["labels"]["colour"]["accepted"] is True and confident["uncertain_attributes"] == []


def test_review_heads_choose_what_sets_needs_review(ragged: Taxonomy) -> None:
    p = probs([0.9, 0.05, 0.05], [0.5, 0.4, 0.0], [0.45, 0.05], [0.55, 0.45])
    thresholds = {"colour": 0.6, "style": 0.5}  # colour and style both fall short
    assert decode_batch(p, ragged, thresholds)[0]["needs_review"] is True  # style is a level
    assert decode_batch(p, ragged, thresholds, review_heads=["group", "type"])[0]["needs_review"] is False
    with_colour = decode_batch(p, ragged, {"colour": 0.6}, review_heads=["group", "colour"])[0]
    assert with_colour["needs_review"] is True and with_colour["level_reached"] == "style"
    with pytest.raises(KeyError, match="colour"):  # a typo names the closest head
        decode_batch(p, ragged, thresholds, review_heads=["colours"])


@pytest.mark.parametrize(
    ("group", "expected_heads", "level"),
    [
        ([0.1, 0.8, 0.1], ["group", "colour"], "group"),  # Glasses: a leaf at the top level
        ([0.1, 0.1, 0.8], ["group", "type", "colour"], "type"),  # Bags > Tote: a leaf at depth 1
    ],
)
def test_ragged_branches_stop_at_their_leaf(ragged: Taxonomy, group, expected_heads, level) -> None:
    p = probs(group, [0.05, 0.05, 0.8], [0.03, 0.02], [0.5, 0.5])
    result = decode_batch(p, ragged, {})[0]
    assert list(result["labels"]) == expected_heads
    assert result["level_reached"] == level and result["needs_review"] is False


def test_batch_of_many_and_empty(ragged: Taxonomy) -> None:
    rng = np.random.default_rng(0)
    batch = {h: rng.random((5, len(ragged.head_labels(h)))) for h in ragged.heads}
    assert len(decode_batch(batch, ragged)) == 5
    assert decode_batch({h: np.zeros((0, len(ragged.head_labels(h)))) for h in ragged.heads}, ragged) == []


def test_csv_row_lists_uncertain_attributes(ragged: Taxonomy) -> None:
    from fashiontag.infer._batch import csv_columns, to_csv_row

    p = probs([0.9, 0.05, 0.05], [0.5, 0.4, 0.0], [0.45, 0.05], [0.55, 0.45])
    result = {"source": "a.jpg", **decode_batch(p, ragged, {"colour": 0.6})[0], "error": None}
    row = to_csv_row(result, ragged.heads)
    assert list(row) == csv_columns(ragged.heads)
    assert row["uncertain_attributes"] == "colour" and row["needs_review"] == "false" and row["colour"] == "Red"
