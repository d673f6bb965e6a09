"""The data stage's config: which dataset, read how, mapped to which taxonomy, split and cached how.

Example:
    >>> from fashiontag.config import build_config
    >>> build_config(DataConfig, overrides=["root=data/fpi", "seed=3"]).seed
    3
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class DatasetConfig:
    """Which dataset and how its labels map: the fields every config that reads a dataset shares (one
    definition, one default each: :class:`DataConfig` here, ``TrainConfig.data`` in training).

    ``source`` names the mapping rules in the taxonomy's ``sources:``; empty means "same as reader"
    except that the ``folder`` reader maps with ``clothing_photos`` rules. ``reader``/``taxonomy`` ``auto``:
    the FPI layout and taxonomy when ``styles.csv`` exists, else class folders with the taxonomy they imply
    (:mod:`fashiontag.data.folders`).
    """

    reader: str = "auto"
    root: str = ""  # dataset root (or manifest file)
    taxonomy: str = "auto"
    source: str = ""
    min_class_count: int = 5  # classes inferred from folders with fewer images stop training (0: no check)

    @property
    def mapping_source(self) -> str:
        """The taxonomy ``sources:`` key used to map this reader's labels."""
        if self.source:
            return self.source
        return {"folder": "clothing_photos"}.get(self.reader, self.reader)


@dataclass(frozen=True)
class DataConfig(DatasetConfig):
    """Everything that decides which items, labels and pixels a run sees: the dataset
    (:class:`DatasetConfig`), then how it is split, filtered and cached.
    """

    size: int = 80
    fill: int = 255
    split_method: Literal["stratified", "year", "kfold"] = "stratified"
    val_fraction: float = 0.1
    test_fraction: float = 0.1
    folds: int = 5
    seed: int = 0
    min_count: int = 10
    rare: Literal["merge", "drop", "keep"] = "merge"
    workers: int = 2
    near_dup_radius: int = 1
    tiny_side: int = 32
