"""Training data: letterboxed uint8 images + a label table (leaf, attribute columns, split).

Items are read, mapped and decoded once by the data stage's cache (``<out>/cache_<S>``), so a resumed run
does not decode again; the split comes from a split file, else a hash of ``dup_group`` (copies never
straddle a split).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fashiontag.artifact import training_cache_dir
from fashiontag.data.taxonomy import Taxonomy
from fashiontag.train._config import TrainConfig
from fashiontag.train._distributed import LazyRows, wait_for_leader


@dataclass
class TrainData:
    """``images[i]`` is ``labels.iloc[i]``; labels has ``item_id``, ``leaf``, attribute columns, ``split``."""

    images: np.ndarray
    labels: pd.DataFrame
    taxonomy: Taxonomy
    #: set (e.g. by cross-validation) to share probe features between runs on these same images
    feature_memo: Any = None

    def rows(self, split: str) -> np.ndarray:
        return np.flatnonzero(self.labels["split"].to_numpy() == split)

    def attributes(self, rows: np.ndarray) -> dict[str, list]:
        return {a: self.labels[a].iloc[rows].tolist() for a in self.taxonomy.attributes}


#: ``image_size`` left open (None): thumbnails keep the quick 64 px cache, photos get the backbone's native 224 px
THUMBNAIL_SIZE, PHOTO_SIZE, THUMBNAIL_MAX_SIDE = 64, 224, 128


def auto_image_size(root: str, reader: str = "auto", sample: int = 32) -> tuple[int, str]:
    """The decode size for data whose ``image_size`` is left open, and why, from the median longer side of up to
    ``sample`` of its images: 64 for thumbnails up to 128 px (FPI's 60x80 packshots; the network upsamples them
    anyway), 224 above that. A phone photo letterboxed to 64 px loses what tells a shirt from a long-sleeve
    (BENCHMARKS.md, "Shop photos": probe 0.867 at 224 px, 0.898 at 336 px)."""
    from fashiontag.data.folders import detect_reader
    from fashiontag.data.images import ImageError
    from fashiontag.data.readers import read_dataset
    from fashiontag.data.sources import item_crops, load_item

    try:
        items = read_dataset(detect_reader(root) if reader == "auto" else reader, root, hash_files=False).items
    except (OSError, ValueError) as exc:  # the data stage reports it in full; the network's own checks come first
        return THUMBNAIL_SIZE, f"the data could not be read to size it: {type(exc).__name__}"
    picked = items.sample(min(sample, len(items)), random_state=0) if len(items) else items
    sides = []
    for path, crop in zip(picked["path"], item_crops(picked), strict=True):
        try:
            sides.append(max(load_item(str(path), crop).size))
        except ImageError:
            continue  # the cache reports unreadable images; the size comes from the readable ones
    if not sides:  # nothing readable: the data stage's error says why, at the quick default
        return THUMBNAIL_SIZE, "no readable image to size it by"
    side = int(np.median(sides))
    kind = "thumbnails" if side <= THUMBNAIL_MAX_SIDE else "photos"
    return (THUMBNAIL_SIZE if kind == "thumbnails" else PHOTO_SIZE), f"{kind}: median longer side {side} px"


def with_image_size(config: TrainConfig, data: TrainData | None = None) -> TrainConfig:
    """``config`` with ``image_size`` filled in when left open: ``data``'s own size, else :func:`auto_image_size`
    (said on stdout, so a person sees the size their cache is built at)."""
    if config.data.image_size is not None:
        return config
    from fashiontag.config import updated

    if data is not None:
        return updated(config, image_size=int(data.images.shape[1]))
    size, why = auto_image_size(config.data.root, config.data.reader)
    print(f"   image_size: {size} ({why}; set image_size=S to choose)", flush=True)
    return updated(config, image_size=size)


def hash_split(groups: pd.Series, val: float = 0.1, test: float = 0.1) -> pd.Series:
    """Deterministic train/val/test by a hash of the duplicate group."""

    def pick(group: str) -> str:
        u = int(hashlib.sha256(str(group).encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
        return "test" if u < test else "val" if u < test + val else "train"

    return groups.map(pick)


def _apply_split_file(index: pd.DataFrame, path: str, root: str) -> pd.DataFrame:
    """``index`` with the split of a split file (``item_id,split[,fold]``, e.g. ``fashiontag data split``'s).

    Every item must be in the file: an item the file does not name is a sign that the file was made for other
    data (or another reader's item ids), and dropping it quietly would change what trains and what is tested.
    Items the file names that the data lacks (unmapped, undecodable) are fine.
    """
    from fashiontag.data.checks import DataError
    from fashiontag.data.splits import load_split

    try:
        table = load_split(path).table  # checks the split's sha256, as every later command does
    except (OSError, ValueError) as exc:
        raise DataError(f"split file {path}: {exc}") from None
    if not {"item_id", "split"} <= set(table.columns):
        raise DataError(f"split file {path}: needs columns item_id,split (has {', '.join(map(str, table.columns))})")
    missing = ~index["item_id"].astype(str).isin(set(table["item_id"]))
    if missing.any():
        examples = ", ".join(index.loc[missing, "item_id"].astype(str).head(3))
        raise DataError(
            f"split file {path}: {int(missing.sum())} of the {len(index)} items of {root} are not in it "
            f"(the file has {len(table)} rows; e.g. {examples}); make it for this data with `fashiontag data "
            "split`, or give the data the file was made for"
        )
    return index.drop(columns="split", errors="ignore").merge(table[["item_id", "split"]], on="item_id")


def check_caps(max_items: int | None, max_per_class: int | None, where: str = "") -> None:
    """``max_items`` / ``max_per_class`` are counts of at least 1 when given (a negative one would silently drop
    the last rows of every class)."""
    from fashiontag.config import ConfigError

    for key, value in (("max_items", max_items), ("max_per_class", max_per_class)):
        if value is not None and value < 1:
            raise ConfigError(f"{where}{key} must be at least 1 (or left out for no cap), got {value}")


def _cache(config: TrainConfig, taxonomy: Taxonomy) -> tuple[np.ndarray, pd.DataFrame]:
    """The data stage's decoded cache under ``<out>/cache_<S>`` (built once; undecodable images left out)."""
    from fashiontag.data.cache import open_cache, prepare_cache
    from fashiontag.data.config import DataConfig

    check_caps(config.data.max_items, config.data.max_per_class)
    folder = training_cache_dir(config.out, config.data.image_size)
    if not (folder / "meta.json").exists() and not wait_for_leader(folder / "meta.json"):  # rank 0 builds it
        data_config = DataConfig(
            reader=config.data.reader,
            root=config.data.root,
            taxonomy=config.data.taxonomy,
            source=config.data.source,
            size=config.data.image_size,
        )
        prepare_cache(data_config, folder, progress=config.trainer.progress_bar)
    cache = open_cache(folder)
    index = cache.index[cache.index["leaf"].notna()].reset_index(drop=True)
    if config.data.max_per_class:  # a random max_per_class of each class, in the cache's order
        shuffled = index.sample(frac=1.0, random_state=config.seed)
        index = shuffled.groupby("leaf", sort=False).head(config.data.max_per_class).sort_index()
        index = index.reset_index(drop=True)
    if config.data.max_items and len(index) > config.data.max_items:
        index = index.sample(config.data.max_items, random_state=config.seed).reset_index(drop=True)
    if config.data.split:
        index = _apply_split_file(index, config.data.split, config.data.root)
    elif "split" in index:  # train/ val/ test/ folders decide; the hash fills in what they leave open
        from fashiontag.data.folders import folder_splits

        index["split"] = folder_splits(index["split"], hash_split(index["dup_group"]))
    else:
        index["split"] = hash_split(index["dup_group"])
    if taxonomy.fingerprint() != cache.meta.get("taxonomy_fingerprint"):
        raise ValueError(f"{folder}: cache was built for another taxonomy; delete it or use another --out")
    rows = index["row"].to_numpy()
    return (LazyRows(cache.images, rows) if config.data.lazy_cache else cache.batch(rows)), index


def load_train_data(config: TrainConfig, taxonomy: Taxonomy) -> TrainData:
    """Read, map, split and decode through the data stage's cache (kept under ``config.out``)."""
    config = with_image_size(config)  # once for every source: their images are stacked
    if config.data.sources:  # several datasets, each through its own mapping, stacked with a `source` column
        from fashiontag.train._sources import load_sources

        return load_sources(config, taxonomy, load_train_data)
    Path(config.out).mkdir(parents=True, exist_ok=True)
    images, index = _cache(config, taxonomy)
    from fashiontag.data.checks import check_trainable
    from fashiontag.data.folders import infers_taxonomy

    strict = infers_taxonomy(config.data.reader, config.data.taxonomy, config.data.root)
    small = check_trainable(index, taxonomy, config.data.min_class_count, strict, where=config.data.root)
    if small:
        logging.getLogger(__name__).warning("%d classes below min_class_count, e.g. %s", len(small), small[0])
    keep = ["item_id", "path", "dup_group", "leaf", *taxonomy.attributes, "split"]
    labels = index[keep].astype(object).where(index[keep].notna(), None)
    return TrainData(images, labels.reset_index(drop=True), taxonomy)


def from_arrays(images: np.ndarray, labels: pd.DataFrame, taxonomy: Taxonomy, feature_memo: Any = None) -> TrainData:
    """The small in-memory interface: uint8 ``[N,S,S,3]`` + labels with leaf/attributes/split columns.

    ``feature_memo`` (a ``FeatureMemo``) lets probe runs over the same ``images`` share backbone features.
    """
    return TrainData(images, labels.reset_index(drop=True), taxonomy, feature_memo)
