"""Several datasets in one model: ``sources=[{data, reader, source, weight, name, split}, ...]`` beside ``data``.

Each source is read, mapped into the run's one taxonomy through its own ``sources:`` rule, decoded into its
own cache (``OUT/sources/<name>/cache_<S>``) and split like a single dataset (its ``split`` file, else the
hash of its duplicate groups or its train/val/test folders); the tables are then stacked
with a ``source`` column. Heads a source cannot label (an attribute it has no column for, a level its rule
does not reach) are ``None`` -> target ``-1`` -> masked out of the loss and the metrics, so shop photos
without colours still train the type head, and FPI packshots train both.

``weight`` is a per-image sampling weight: the train rows are redrawn (same total) so that each source's
share is proportional to ``weight x its train images``. Equal weights keep every row once; a small shop
set with weight 10 repeats each of its photos about 10 times (whole repeats first, so none is left out, as
drawing with replacement would leave e^-k of them), a big packshot set with weight 0.2 contributes a random
subset, drawn once per run (the same subset every epoch).

Example (YAML ``--config``):
    sources:
      - {data: ../shared/data/fpi_small, reader: fpi, source: fpi, weight: 0.2, split: runs/exp/split.csv}

``max_items`` and ``max_per_class`` cap a source's items (drawn at random, per class first: a class-balanced
sample of a big packshot set); left out, the run's ``data.max_items`` / ``data.max_per_class`` apply.

Every source decodes at the run's one ``image_size`` (a phone photo and a packshot alike are letterboxed to it).
The sidecar's ``split`` names the ``data=`` split only; the sources' split files are in ``training.data.sources``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fashiontag.data.taxonomy import Taxonomy, save_taxonomy

MAIN = "main"


@dataclass(frozen=True)
class SourceSpec:
    """One extra dataset: where, read how, mapped by which ``taxonomy.sources`` rule, sampled how much, split how.

    ``split`` is a split file of this source's own item ids (``fashiontag data split``, or any ``item_id,split``
    CSV): every item of the source must be in it.
    """

    data: str
    reader: str = "auto"
    source: str = ""
    weight: float = 1.0
    name: str = ""
    split: str | None = None
    max_items: int | None = None  # None: the run's data.max_items
    max_per_class: int | None = None  # None: the run's data.max_per_class


def parse_sources(config: Any) -> list[SourceSpec]:
    """``config.data.sources`` (mappings) as checked specs, ``data=`` first as ``main``; names are unique."""
    from fashiontag.config import ConfigError, from_dict
    from fashiontag.train._data import check_caps

    specs = [
        SourceSpec(
            config.data.root, config.data.reader, config.data.source, config.data.source_weight, MAIN, config.data.split
        )
    ]
    for i, raw in enumerate(config.data.sources):
        spec = from_dict(SourceSpec, raw, prefix=f"sources[{i}].")
        specs.append(replace(spec, name=spec.name or f"{Path(spec.data).name or 'source'}_{i + 1}"))
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        raise ConfigError(f"sources: names must be unique, got {names}")
    for spec in specs:
        if spec.weight <= 0:
            raise ConfigError(f"sources: {spec.name!r} weight must be > 0, got {spec.weight}")
        check_caps(spec.max_items, spec.max_per_class, f"sources: {spec.name!r} ")
    if len(specs) > 1:  # a misspelt monitor_source fails before any image is decoded
        check_monitor_source(config.trainer.monitor_source, names)
    return specs


def check_monitor_source(monitor_source: str, names: list[str]) -> None:
    """``monitor_source`` must name one of ``names``, or be ``all``."""
    from fashiontag.config import ConfigError

    if monitor_source not in [*names, "all"]:
        raise ConfigError(f"monitor_source={monitor_source!r}: no such source (the sources are {names}, or 'all')")


def reweight(labels: pd.DataFrame, weights: dict[str, float], seed: int = 0) -> np.ndarray:
    """Row order after redrawing the train rows by per-image source weights (val/test rows kept once)."""
    split = labels["split"].to_numpy()
    train = np.flatnonzero(split == "train")
    counts = {name: int((labels["source"].to_numpy()[train] == name).sum()) for name in weights}
    mass = {name: weights[name] * counts[name] for name in weights}
    if len({weights[n] for n in weights if counts[n]}) <= 1:
        return np.arange(len(labels))
    rng = np.random.default_rng(seed)
    drawn = []
    for name in weights:
        rows = train[labels["source"].to_numpy()[train] == name]
        target = int(round(len(train) * mass[name] / sum(mass.values())))
        if len(rows) and target:  # every row `target // len` times, the remainder without repeats
            whole, rest = divmod(target, len(rows))
            drawn += [np.tile(rows, whole), rng.choice(rows, size=rest, replace=False)]
    return np.sort(np.concatenate([*drawn, np.flatnonzero(split != "train")]))


def load_sources(config: Any, taxonomy: Taxonomy, load_one: Any) -> Any:
    """One TrainData from ``data`` plus every ``sources`` entry (``load_one(config, taxonomy)`` reads one)."""
    from fashiontag.config import updated
    from fashiontag.train._data import TrainData

    out = Path(config.out)
    specs = parse_sources(config)  # a bad spec fails before anything is written
    taxonomy_file = save_taxonomy(taxonomy, out / "sources" / "taxonomy.yaml")  # every source maps into this one
    images, tables, weights = [], [], {}
    for spec in specs:
        one = updated(
            config,
            root=spec.data,
            reader=spec.reader,
            source=spec.source,
            sources=(),
            taxonomy=config.data.taxonomy if spec.name == MAIN else str(taxonomy_file),
            out=str(out if spec.name == MAIN else out / "sources" / spec.name),
            split=spec.split,
            max_items=spec.max_items or config.data.max_items,
            max_per_class=spec.max_per_class or config.data.max_per_class,
        )
        data = load_one(one, taxonomy)
        images.append(data.images)
        tables.append(
            data.labels.assign(
                source=spec.name,
                item_id=data.labels["item_id"].map(lambda i, n=spec.name: i if n == MAIN else f"{n}:{i}"),
            )
        )
        weights[spec.name] = spec.weight
    labels = pd.concat(tables, ignore_index=True)
    order = reweight(labels, weights, config.seed)
    stacked = np.concatenate(images)
    return TrainData(stacked[order], labels.iloc[order].reset_index(drop=True), taxonomy)


def selection_split(labels: pd.DataFrame, monitor_source: str) -> np.ndarray:
    """The ``split`` column with every val row outside ``monitor_source`` marked ``unused``, so the kept epoch
    (and early stopping) follows the source the model is for: a big packshot set's val rows would otherwise
    outvote a shop's own (593 FPI against 305 shop rows in the shop bench).

    ``all`` (or data without a ``source`` column) keeps every val row; a name no source has is an error.
    """
    from fashiontag.config import ConfigError

    split = labels["split"].to_numpy()
    if monitor_source == "all" or "source" not in labels:
        return split
    source = labels["source"].to_numpy()
    check_monitor_source(monitor_source, [str(n) for n in pd.unique(source)])
    if not ((source == monitor_source) & (split == "val")).any():
        raise ConfigError(
            f"monitor_source={monitor_source!r}: that source has no val rows to select an epoch on; "
            f"give it val items in its split file, or set monitor_source=all"
        )
    return np.where((split == "val") & (source != monitor_source), "unused", split)


def several_sources(labels: pd.DataFrame) -> bool:
    """Whether the rows come from more than one source: only then are per-source metrics more than the val metrics
    again (a pass over the val photos after training, inside the time limit)."""
    return "source" in labels and labels["source"].nunique() > 1


def source_metrics(net: Any, labels: pd.DataFrame, images: np.ndarray, split: str = "val") -> dict[str, Any]:
    """Accuracy per head and source on ``split`` rows (heads a source cannot label are left out)."""
    from fashiontag.data.targets import head_targets, target_matrix
    from fashiontag.evaluate import network_predictor

    out: dict[str, Any] = {}
    predict = network_predictor(net.eval(), 128)  # a test_flip network gets half a batch per call
    for name in pd.unique(labels["source"]):
        rows = np.flatnonzero((labels["source"] == name).to_numpy() & (labels["split"] == split).to_numpy())
        if not len(rows):
            continue
        attributes = {a: labels[a].iloc[rows].tolist() for a in net.taxonomy.attributes}
        targets = target_matrix(
            head_targets(net.taxonomy, labels["leaf"].iloc[rows].tolist(), attributes), net.taxonomy.heads
        )
        probs: dict[str, list[np.ndarray]] = {}
        for start in range(0, len(rows), 1024):  # read from the (memmapped) cache a chunk at a time
            for head, value in predict(images[rows[start : start + 1024]]).items():
                probs.setdefault(head, []).append(value)
        scores = {"count": int(len(rows))}
        for i, head in enumerate(net.heads):
            keep = targets[:, i] >= 0
            if keep.any():
                predicted = np.concatenate(probs[head]).argmax(1)
                scores[f"acc_{head}"] = float((predicted[keep] == targets[keep, i]).mean())
        out[str(name)] = scores
    return out
