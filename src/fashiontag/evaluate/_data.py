"""Evaluation sets: uint8 images plus the mapped item table, from a DataFrame, a training cache or a dataset."""

from __future__ import annotations

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


def select_split(items: pd.DataFrame, split_file: str | Path | None, split: str | None) -> pd.DataFrame:
    """Rows of ``split``: from ``split_file`` (read by :func:`fashiontag.data.splits.load_split`, so an edited
    split file is refused here exactly as in training), else from a ``split`` column, else all rows."""
    if split_file is not None and split:
        from fashiontag.data.checks import DataError
        from fashiontag.data.splits import load_split

        try:
            ids = set(load_split(split_file).ids(split))
        except ValueError as exc:  # sha256 mismatch with its split.json
            raise DataError(f"{exc}; re-create it with `fashiontag data split` (or restore the original)") from None
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
    from fashiontag.data.sources import load_item_images

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

        if reader in (None, "", "auto"):  # as training does: FPI when styles.csv is there, else class folders
            from fashiontag.data.folders import detect_reader

            reader = detect_reader(path)
        read = read_dataset(reader, path, hash_files=False)
        mapping = map_items(read.items, tax, source or reader)
        items = select_split(mapping.mapped, split_file, split)
        name = f"{reader}:{path.name}"
        if items.empty:
            raise _nothing_to_score(path, reader, source or reader, read, mapping, split_file, split)
    images, errors = load_item_images(items, size, fill)
    ok = np.array([e is None for e in errors], dtype=bool)
    return EvalSet(images[ok], items[ok].reset_index(drop=True), name, int((~ok).sum()))


def _nothing_to_score(
    path: Path, reader: str, source: str, read: Any, mapping: Any, split_file: Any, split: str | None
) -> Exception:
    """Why a dataset gave no items to score (nothing read, nothing mapped, or none in the split)."""
    from fashiontag.data.checks import DataError

    if read.items.empty:
        problems = "; ".join(f"{p.path}: {p.reason}" for p in read.problems[:3]) or "no files found"
        return DataError(f"{path}: reader {reader!r} read no items ({problems})")
    if mapping.mapped.empty:
        reasons = ", ".join(f"{k}: {v}" for k, v in list(mapping.unmapped.items())[:3])
        return DataError(f"{path}: none of {len(read.items)} items mapped with source {source!r} ({reasons})")
    where = f"in {split_file}" if split_file is not None else "(no split file; a 'split' column or all rows)"
    return DataError(f"{path}: no items of split {split!r} {where}")
