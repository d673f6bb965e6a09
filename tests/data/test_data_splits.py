"""Split invariants: whole dup_groups per side, stratification, determinism, file round trip."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fashiontag.data.splits import load_split, make_split, write_split


def _items(n: int = 2000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    leaves = rng.choice(["A > a", "A > b", "B > c", "B > d"], size=n, p=[0.5, 0.3, 0.15, 0.05]).tolist()
    leaves[:3] = ["R > rare"] * 3
    ids = [f"{i:05d}" for i in range(n)]
    groups = [ids[i - 1] if i % 10 == 9 else ids[i] for i in range(n)]  # every 10th item copies its neighbour
    years = rng.integers(2008, 2018, size=n)
    return pd.DataFrame({"item_id": ids, "dup_group": groups, "leaf": leaves, "year": pd.array(years, dtype="Int64")})


def _check_groups(items: pd.DataFrame, table: pd.DataFrame, column: str = "split") -> None:
    merged = items.merge(table, on="item_id")
    assert len(merged) == len(items)
    assert (merged.groupby("dup_group")[column].nunique() == 1).all()


@pytest.mark.parametrize("method", ["stratified", "year", "kfold"])
def test_groups_never_straddle(method: str) -> None:
    items = _items()
    table = make_split(items, method, seed=1)
    _check_groups(items, table, "fold" if method == "kfold" else "split")
    assert table.equals(make_split(items, method, seed=1))
    assert not table.equals(make_split(items, method, seed=2))


def test_stratified_fractions_per_class() -> None:
    items = _items()
    merged = items.merge(make_split(items, "stratified", seed=0), on="item_id")
    share = merged.groupby("leaf")["split"].value_counts(normalize=True).unstack(fill_value=0)
    for leaf in ["A > a", "A > b", "B > c"]:
        assert share.loc[leaf, "train"] == pytest.approx(0.8, abs=0.03)
        assert share.loc[leaf, "test"] == pytest.approx(0.1, abs=0.03)
    assert (merged[merged.leaf == "R > rare"]["split"] == "train").sum() >= 1  # tiny class still trains


def test_year_split_rule() -> None:
    items = _items()
    merged = items.merge(make_split(items, "year"), on="item_id")
    single = merged[merged.groupby("dup_group")["item_id"].transform("size") == 1]
    assert (single[single.year % 2 == 1]["split"] == "test").all()
    assert set(single[single.year % 2 == 0]["split"]) == {"train", "val"}


def test_kfold_balanced() -> None:
    table = make_split(_items(), "kfold", folds=5)
    sizes = table["fold"].value_counts()
    assert sorted(sizes.index) == [0, 1, 2, 3, 4] and sizes.max() - sizes.min() < 40


def test_split_file_round_trip(tmp_path: Path) -> None:
    items = _items(300)
    table = make_split(items, "kfold", seed=3, folds=3)
    meta = write_split(table, tmp_path / "split.csv", {"method": "kfold", "seed": 3})
    first = (tmp_path / "split.csv").read_bytes()
    write_split(make_split(items, "kfold", seed=3, folds=3), tmp_path / "again.csv", {"method": "kfold", "seed": 3})
    assert (tmp_path / "again.csv").read_bytes() == first
    loaded = load_split(tmp_path / "split.csv")
    assert loaded.meta["sha256"] == meta["sha256"] and loaded.table.equals(table)
    (tmp_path / "split.csv").write_text(first.decode().replace("train", "test", 1))
    with pytest.raises(ValueError, match="sha256"):
        load_split(tmp_path / "split.csv")
