"""Images for int8 export: a calibration set and a report set with label targets.

From a dataset + split file, calibration samples the train split and the report the validation split, so the
accuracy change is measured on images the quantiser never saw. A folder, ``.csv`` or ``.npz`` gives one set that
serves both (a sanity check, not a held-out estimate).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fashiontag.artifact import Preprocess, resolve_preprocess, training_settings
from fashiontag.data.formats import image_suffixes
from fashiontag.data.images import ImageError, letterbox
from fashiontag.data.sources import load_item
from fashiontag.data.targets import name_targets
from fashiontag.data.taxonomy import Taxonomy


@dataclass(frozen=True)
class Int8Data:
    """Letterboxed uint8 ``calibration`` and report ``images`` ``[N,S,S,3]``; ``targets`` holds the report
    images' label index per head (``-1`` unknown, may be empty); ``info`` goes into the export report."""

    calibration: np.ndarray
    images: np.ndarray
    targets: dict[str, np.ndarray] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)


def load_validation(
    data: str | Path, preprocess: Preprocess, limit: int = 300, heads: list[str] | None = None
) -> tuple[np.ndarray, dict[str, list[str | None]]]:
    """Validation images ``[N,S,S,3]`` uint8 and labels ``{head: [label id or None]}`` (may be empty).

    ``data``: an ``.npz`` with ``images`` (+ optional arrays named by head), a ``.csv`` with a ``path``
    column (+ optional columns named by head holding label ids or names), or a folder of images.
    """
    data = Path(data)
    if data.suffix == ".npz":
        archive = np.load(data, allow_pickle=False)
        images = archive["images"][:limit]
        labels = {h: [str(v) for v in archive[h][:limit]] for h in (heads or []) if h in archive.files}
        return images, labels
    if data.suffix == ".csv":
        with open(data, newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        paths = [r["path"] if Path(r["path"]).is_absolute() else str(data.parent / r["path"]) for r in rows]
    else:
        rows, suffixes = [], image_suffixes()
        paths = [str(p) for p in sorted(data.rglob("*")) if p.suffix.lower() in suffixes]
    images, kept = [], []
    for i, path in enumerate(paths):
        if len(images) >= limit:
            break
        try:
            images.append(letterbox(load_item(path), preprocess.size, preprocess.fill))
            kept.append(i)
        except ImageError:
            continue
    labels = {h: [rows[i].get(h) or None for i in kept] for h in (heads or []) if rows and h in rows[0]}
    return np.stack(images) if images else np.zeros((0, preprocess.size, preprocess.size, 3), np.uint8), labels


def _sample(items: pd.DataFrame, ids: list[str], n: int | None, rng: np.random.Generator) -> pd.DataFrame:
    rows = items[items["item_id"].astype(str).isin(set(ids))]
    rows = rows.iloc[rng.permutation(len(rows))]
    return (rows if n is None else rows.head(n)).reset_index(drop=True)


def _images(items: pd.DataFrame, preprocess: Preprocess) -> tuple[np.ndarray, pd.DataFrame]:
    """Letterboxed images of ``items`` (through ``data.sources.load_item``, so npz datasets calibrate too)."""
    from fashiontag.data.sources import load_item_images

    images, errors = load_item_images(items, preprocess.size, preprocess.fill)
    ok = np.array([e is None for e in errors], dtype=bool)
    return images[ok], items[ok].reset_index(drop=True)


def _split_items(
    items: pd.DataFrame, table: Any, split: str, calibration_size: int, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    """(calibration items, report items, the split calibration came from), disjoint, shuffled with ``seed``."""
    rng = np.random.default_rng(seed)
    report_ids, train_ids = table.ids(split), table.ids("train")
    if split == "train" or not train_ids:
        pool = _sample(items, report_ids, None, rng)
        return pool.head(calibration_size), pool.iloc[calibration_size:], split
    return _sample(items, train_ids, calibration_size, rng), _sample(items, report_ids, None, rng), "train"


def load_split_data(
    data: str | Path,
    sidecar: dict[str, Any],
    split_file: str | Path,
    split: str = "val",
    reader: str | None = None,
    calibration_size: int = 300,
    report_size: int | None = 1000,
    seed: int = 0,
) -> Int8Data:
    """Calibration images from the train split, report images and targets from ``split``.

    When ``split`` is itself ``train`` or the split file has no train rows, calibration takes the first
    ``calibration_size`` shuffled items of ``split`` and the report the rest, so the two never overlap.
    ``reader`` and the mapping source default to the model's training config (``auto``: detected from ``data``).
    """
    from fashiontag.data.mapping import map_items
    from fashiontag.data.readers import read_dataset
    from fashiontag.data.splits import load_split
    from fashiontag.data.targets import item_targets

    training = training_settings(sidecar)  # nested or (older model directories) flat
    reader = reader or training.get("reader") or "auto"
    if reader == "auto":  # as training resolved it: FPI when styles.csv is there, else class folders
        from fashiontag.data.folders import detect_reader

        reader = detect_reader(data)
    taxonomy = Taxonomy.from_dict(sidecar["taxonomy"])
    items = read_dataset(reader, data, hash_files=False).items
    items = map_items(items, taxonomy, training.get("source") or reader).mapped
    calibration, report, calibration_split = _split_items(items, load_split(split_file), split, calibration_size, seed)
    report = report.head(report_size) if report_size else report
    if report.empty or calibration.empty:
        raise ValueError(f"{split_file}: no items of {data} in split {split!r} (or none left to calibrate on)")
    preprocess = resolve_preprocess(sidecar)
    (calibration_images, _), (images, report) = _images(calibration, preprocess), _images(report, preprocess)
    info = {
        "data": str(data),
        "reader": reader,
        "split_file": str(split_file),
        "split": split,
        "calibration_split": calibration_split,
        "calibration_images": int(len(calibration_images)),
        "report_images": int(len(images)),
        "disjoint": True,
        "seed": seed,
    }
    return Int8Data(calibration_images, images, item_targets(taxonomy, report), info)


def load_int8_data(
    data: str | Path,
    sidecar: dict[str, Any],
    split_file: str | Path | None = None,
    split: str = "val",
    reader: str | None = None,
    calibration_size: int = 300,
    report_size: int | None = 1000,
    seed: int = 0,
) -> Int8Data:
    """A dataset + ``split_file`` (see :func:`load_split_data`), or a folder / ``.csv`` / ``.npz`` whose
    images both calibrate and are reported on.

    Example:
        >>> sets = load_int8_data("data/fpi", sidecar, "runs/demo/split.csv")  # doctest: +SKIP
        >>> sets.info["calibration_split"], sets.info["split"]  # doctest: +SKIP
        ('train', 'val')
    """
    if split_file is not None:
        return load_split_data(data, sidecar, split_file, split, reader, calibration_size, report_size, seed)
    if reader is not None:
        raise ValueError(f"--reader {reader} reads a dataset: pass --split-file too (or give a folder/.csv/.npz)")
    images, labels = load_validation(data, resolve_preprocess(sidecar), calibration_size, list(sidecar["heads"]))
    info = {
        "data": str(data),
        "calibration_images": int(len(images)),
        "report_images": int(len(images)),
        "disjoint": False,
    }
    return Int8Data(images, images, name_targets(labels, sidecar["heads"]), info)
