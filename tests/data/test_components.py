"""Transitive duplicate grouping (scipy connected components): chains join, group names stay the smallest id."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fashiontag.data import _image_facts
from fashiontag.data._components import component_roots
from fashiontag.data._dupes import assign_dup_groups
from fashiontag.data._image_facts import near_duplicate_groups


def test_component_roots_chain() -> None:
    # a-b, b-c given in an order where the chain only closes through b; d alone
    assert component_roots(4, np.array([1, 2]), np.array([2, 0])).tolist() == [0, 0, 0, 3]
    assert component_roots(3, np.array([], dtype=np.int64), np.array([], dtype=np.int64)).tolist() == [0, 1, 2]
    assert component_roots(0, np.array([], dtype=np.int64), np.array([], dtype=np.int64)).tolist() == []


def test_dup_groups_chain_named_by_smallest_id() -> None:
    items = pd.DataFrame({"item_id": ["c", "b", "d", "a"], "path": ["x"] * 4})
    out = assign_dup_groups(items, hash_files=False, extra_groups=[["b", "c"], ["a", "b"], ["zz-unknown", "d"]])
    assert out["dup_group"].tolist() == ["a", "a", "d", "a"]
    assert out["item_id"].tolist() == ["c", "b", "d", "a"]  # rows keep their order


def test_dup_groups_string_order_not_numeric() -> None:
    items = pd.DataFrame({"item_id": ["9", "10"], "path": ["x", "y"]})
    out = assign_dup_groups(items, hash_files=False, extra_groups=[["9", "10"]])
    assert set(out["dup_group"]) == {"10"}  # smallest as a string, as the split hash has always seen it


@pytest.mark.parametrize("budget", [1_000_000, 0])
def test_near_duplicate_chain(monkeypatch: pytest.MonkeyPatch, budget: int) -> None:
    monkeypatch.setattr(_image_facts, "EDGE_BUDGET", budget)  # 0: fold edges after every block
    a = 0
    b = a ^ 0b11  # 2 bits from a
    c = b ^ 0b1100  # 2 bits from b, 4 from a
    d = (1 << 63) | (1 << 40) | (1 << 20)  # far from all
    hashes = [("d", d), ("c", c), ("a", a), ("b", b), ("e", d ^ 1)]
    assert near_duplicate_groups(hashes, radius=2) == [["d", "e"], ["a", "b", "c"]]
    assert near_duplicate_groups(hashes, radius=1) == [["d", "e"]]
    assert near_duplicate_groups([], radius=2) == []
