"""Evaluation sets: uint8 images plus the mapped item table, from a DataFrame, a training cache or a dataset."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fashiontag.data.taxonomy import Taxonomy


@dataclass
class EvalSet:
    """Letterboxed uint8 ``images [N,S,S,3]`` aligned with ``items`` (leaf/accept/level/attribute columns)."""

    images: np.ndarray
    items: pd.DataFrame
    source: str = "items"
    errors: int = 0


def head_targets(tax: Taxonomy, items: pd.DataFrame) -> dict[str, np.ndarray]:
    """Label index per head from the item table's level/attribute columns (``-1`` where missing)."""
    out = {}
    for head in tax.heads:
        position = {label: i for i, label in enumerate(tax.head_labels(head))}
        column = items[head] if head in items else pd.Series([None] * len(items))
        out[head] = np.array([position.get(v, -1) if isinstance(v, str) else -1 for v in column], dtype=np.int64)
    return out


def read_split_ids(split_file: str | Path, split: str) -> set[str]:
    """Item ids of ``split`` from a split file: CSV/Parquet with ``item_id`` + ``split`` columns, or JSON
    ``{split: [ids]}`` / ``{"splits": {split: [ids]}}`` / ``{item_id: split}``."""
    path = Path(split_file)
    if path.suffix == ".json":
        data = json.loads(path.read_text(encoding="utf-8"))
        data = data.get("splits", data) if isinstance(data, dict) else data
        if isinstance(data.get(split), list):
            return {str(i) for i in data[split]}
        return {str(k) for k, v in data.items() if v == split}
    table = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path, dtype=str)
    return set(table.loc[table["split"] == split, "item_id"].astype(str))


def select_split(items: pd.DataFrame, split_file: str | Path | None, split: str | None) -> pd.DataFrame:
    """Rows of ``split``: from ``split_file``, else from a ``split`` column, else all rows."""
    if split_file is not None and split:
        try:  # the data stage's own reader, when it exists
            from fashiontag.data.splits import read_split  # type: ignore[attr-defined]

            ids = set(map(str, read_split(split_file)[split]))
        except (ImportError, AttributeError, TypeError, KeyError):
            ids = read_split_ids(split_file, split)
        return items[items["item_id"].astype(str).isin(ids)].reset_index(drop=True)
    if split and "split" in items and (items["split"] == split).any():
        return items[items["split"] == split].reset_index(drop=True)
    return items.reset_index(drop=True)


def _from_cache(path: Path, split_file: str | Path | None, split: str | None) -> EvalSet | None:
    try:
        from fashiontag.data.cache import open_cache  # type: ignore[import-not-found]

        cache = open_cache(path)
    except Exception:  # not a cache (or no cache module yet): read it as a dataset
        return None
    index = select_split(cache.index, split_file, split)
    return EvalSet(np.asarray(cache.images[index["row"].to_numpy()]), index, f"cache:{path.name}")


def load_eval_set(
    data: Any,
    tax: Taxonomy,
    size: int,
    fill: int = 255,
    reader: str | None = None,
    source: str | None = None,
    split_file: str | Path | None = None,
    split: str | None = None,
) -> EvalSet:
    """An :class:`EvalSet` from an ``EvalSet``, a mapped item DataFrame, a cache directory or a dataset path."""
    from fashiontag.evaluate._predict import load_item_images

    if isinstance(data, EvalSet):
        return data
    if isinstance(data, pd.DataFrame):
        items, name = select_split(data, split_file, split), "items"
    else:
        path = Path(data)
        cached = _from_cache(path, split_file, split) if path.is_dir() and reader is None else None
        if cached is not None:
            return cached
        from fashiontag.data.mapping import map_items
        from fashiontag.data.readers import read_dataset

        reader = reader or "folder"
        items = read_dataset(reader, path, hash_files=False).items
        items = select_split(map_items(items, tax, source or reader).mapped, split_file, split)
        name = f"{reader}:{path.name}"
    images, errors = load_item_images(items, size, fill)
    ok = np.array([e is None for e in errors], dtype=bool)
    return EvalSet(images[ok], items[ok].reset_index(drop=True), name, int((~ok).sum()))
