"""Training data: letterboxed uint8 images + a label table (leaf, attribute columns, split).

Until the data stage's decoded cache is used directly, items are read with a registered reader, mapped
onto the taxonomy, split by ``dup_group`` (copies never straddle a split) and decoded once into
``<out>/images_<S>.npy`` so a resumed run does not decode again.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from fashiontag.data.taxonomy import Taxonomy
from fashiontag.train._config import TrainConfig


@dataclass
class TrainData:
    """``images[i]`` is ``labels.iloc[i]``; labels has ``item_id``, ``leaf``, attribute columns, ``split``."""

    images: np.ndarray
    labels: pd.DataFrame
    taxonomy: Taxonomy

    def rows(self, split: str) -> np.ndarray:
        return np.flatnonzero(self.labels["split"].to_numpy() == split)

    def attributes(self, rows: np.ndarray) -> dict[str, list]:
        return {a: self.labels[a].iloc[rows].tolist() for a in self.taxonomy.attributes}


def hash_split(groups: pd.Series, val: float = 0.1, test: float = 0.1) -> pd.Series:
    """Deterministic train/val/test by a hash of the duplicate group."""
    def pick(group: str) -> str:
        u = int(hashlib.sha256(str(group).encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
        return "test" if u < test else "val" if u < test + val else "train"

    return groups.map(pick)


def _decode(paths: list[str], crops: list, size: int) -> np.ndarray:
    from fashiontag.data.images import ImageError, letterbox, load_image

    out = np.full((len(paths), size, size, 3), 255, dtype=np.uint8)
    for i, (path, crop) in enumerate(zip(paths, crops, strict=True)):
        try:
            image = load_image(path)
            if isinstance(crop, (list, tuple)) and len(crop) == 4:
                image = image.crop(tuple(crop))
            out[i] = letterbox(image, size)
        except ImageError:
            pass  # stays blank; readers already report unreadable files
    return out


def _read_labels(config: TrainConfig, taxonomy: Taxonomy) -> pd.DataFrame:
    from fashiontag.data.mapping import map_items
    from fashiontag.data.readers import read_dataset

    items = read_dataset(config.reader, config.data).items
    mapped = map_items(items, taxonomy, config.source).items
    mapped = mapped[mapped["leaf"].notna()].reset_index(drop=True)
    if config.max_items and len(mapped) > config.max_items:
        mapped = mapped.sample(config.max_items, random_state=config.seed).reset_index(drop=True)
    if config.split:
        table = pd.read_csv(config.split, dtype={"item_id": str})
        mapped = mapped.merge(table[["item_id", "split"]], on="item_id", how="inner")
    else:
        mapped["split"] = hash_split(mapped["dup_group"])
    return mapped


def load_train_data(config: TrainConfig, taxonomy: Taxonomy) -> TrainData:
    """Read, map, split and decode (cached under ``config.out``)."""
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    labels_path, images_path = out / "items.pkl.csv", out / f"images_{config.image_size}.npy"
    if labels_path.exists() and images_path.exists():
        labels = pd.read_csv(labels_path, dtype=str, keep_default_na=False).replace({"": None})
        return TrainData(np.load(images_path, mmap_mode="r"), labels, taxonomy)
    mapped = _read_labels(config, taxonomy)
    images = _decode(mapped["path"].tolist(), mapped.get("crop", [None] * len(mapped)).tolist(), config.image_size)
    keep = ["item_id", "path", "dup_group", "leaf", *taxonomy.attributes, "split"]
    labels = mapped[keep].astype(object).where(mapped[keep].notna(), None)
    np.save(images_path, images)
    labels.to_csv(labels_path, index=False)
    return TrainData(images, labels.reset_index(drop=True), taxonomy)


def from_arrays(images: np.ndarray, labels: pd.DataFrame, taxonomy: Taxonomy) -> TrainData:
    """The small in-memory interface: uint8 ``[N,S,S,3]`` + labels with leaf/attributes/split columns."""
    return TrainData(images, labels.reset_index(drop=True), taxonomy)
