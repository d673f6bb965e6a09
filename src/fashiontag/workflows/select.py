"""``fashiontag select``: which unlabelled photos a shop should label next (active learning).

Two strategies, because which photos help most depends on how many are labelled already; ``strategy=auto``
(the default) takes ``typical`` while the labelled photos plus the budget stay within ``cold_per_class`` per
class of the scored head, and ``uncertainty`` after that (measured on the shop photos: typical wins at 50-200
labels, uncertainty at 400-800; BENCHMARKS.md):

* ``uncertainty`` combines two signals the usual way, uncertainty pre-filter then core-set
  diversity:

  1. **Uncertainty** of the model on the deepest taxonomy level: ``margin`` (1 - (p1 - p2)) or normalised
     ``entropy``. The ``candidate_factor * budget`` most uncertain photos are candidates.
  2. **Diversity**: k-center greedy (Sener & Savarese 2018) on the model's pooled backbone features picks,
     among the candidates, the photo farthest from everything already picked (and from ``labelled`` photos),
     so 100 picks are not 100 near-copies of one confusing shirt.

* ``typical`` (TypiClust, Hacohen et al. 2022) for a cold start, when few or no photos are labelled and the
  model's uncertainty means little: k-means splits the pool's features into ``labelled + budget`` clusters;
  each pick is the most *typical* photo (densest neighbourhood) of the largest cluster with the fewest labelled
  photos, so the first labels cover the common kinds of photo, each by a representative, not the outliers
  that k-center and uncertainty seek. It needs only the backbone's features (any model will do, even one
  whose heads never saw a shop label).

The ranked list is written atomically to a CSV (rank 1 = label first).

Example:
    >>> select_for_labelling("runs/shop/model", ["inbox/"], "to_label.csv", SelectConfig(budget=100))  # doctest: +SKIP
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from fashiontag._io import atomic_open
from fashiontag.data.images import ImageError, letterbox, load_image
from fashiontag.registry import Registry

#: Uncertainty scores: ``probs [N, K] -> [N]``, higher = less sure.
UNCERTAINTY: Registry[Any] = Registry("uncertainty")
COLUMNS = ["rank", "path", "uncertainty", "predicted", "confidence", "distance"]


@UNCERTAINTY.register("margin")
def margin_uncertainty(probs: np.ndarray) -> np.ndarray:
    """1 - (top-1 minus top-2 probability): 1 when two classes tie, 0 when one class has all the mass."""
    if probs.shape[1] < 2:
        return np.zeros(len(probs))
    top = np.sort(probs, axis=1)[:, -2:]
    return 1.0 - (top[:, 1] - top[:, 0])


@UNCERTAINTY.register("entropy")
def entropy_uncertainty(probs: np.ndarray) -> np.ndarray:
    """Shannon entropy divided by log(K), in [0, 1]."""
    p = np.clip(probs, 1e-12, 1.0)
    return -(p * np.log(p)).sum(1) / max(np.log(probs.shape[1]), 1e-12)


@dataclass(frozen=True)
class SelectConfig:
    """Options of ``fashiontag select`` (``key=value`` on the command line)."""

    budget: int = 100  # photos to pick
    strategy: str = "auto"  # auto | uncertainty (uncertain + diverse) | typical (TypiClust: a cold start)
    cold_per_class: int = 20  # auto: typical while labelled + budget <= this x the head's classes
    uncertainty: str = "margin"  # margin | entropy
    candidate_factor: float = 4.0  # k-center runs on the budget x this most uncertain photos (1: uncertainty only)
    class_prior: str = "none"  # none | pool: picks per predicted class in proportion to the pool's predicted prior
    head: str | None = None  # taxonomy head scored (default: the deepest level)
    batch_size: int = 64
    seed: int = 0
    neighbours: int = 20  # typical: typicality = 1 / mean distance to this many nearest neighbours in the cluster
    max_clusters: int = 500  # typical: k-means clusters at most (labelled + budget below it)


def nearest_distance(features: np.ndarray, centres: np.ndarray | None) -> np.ndarray:
    """Each row's distance to its nearest row of ``centres`` (``inf`` without centres), 1,024 centres at a time."""
    nearest = np.full(len(features), np.inf)
    if centres is None or not len(centres):
        return nearest
    squared = (features**2).sum(1)
    for start in range(0, len(centres), 1024):
        chunk = centres[start : start + 1024]
        d2 = squared[:, None] + (chunk**2).sum(1)[None, :] - 2.0 * features @ chunk.T
        nearest = np.minimum(nearest, np.sqrt(np.maximum(d2.min(1), 0.0)))
    return nearest


def k_center_greedy(
    features: np.ndarray, budget: int, first: int = 0, centres: np.ndarray | None = None
) -> tuple[list[int], list[float]]:
    """Greedy k-center: repeatedly pick the row farthest from all chosen rows (and ``centres``).

    Returns the picked row indices in order and each pick's distance to its nearest earlier centre
    (``inf`` for ``first`` when there are no ``centres``).
    """
    budget = min(budget, len(features))
    if budget <= 0:
        return [], []
    # |a-b|^2 = |a|^2 + |b|^2 - 2ab: a matrix-vector product per pick, no [N, F] (or [N, C, F]) temporaries
    squared = (features**2).sum(1)
    nearest = nearest_distance(features, centres)
    picks, distances = [], []
    pick = first if not np.isfinite(nearest).any() else int(np.argmax(nearest))
    for _ in range(budget):
        picks.append(pick)
        distances.append(float(nearest[pick]))
        d2 = squared + squared[pick] - 2.0 * (features @ features[pick])
        nearest = np.minimum(nearest, np.sqrt(np.maximum(d2, 0.0)))
        nearest[picks] = -1.0
        pick = int(np.argmax(nearest))
    return picks, distances


def network_embeddings(net: Any, images: np.ndarray, batch_size: int = 64) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Pooled backbone features ``[N, F]`` and per-head probabilities in one pass (a cascade embeds with its router)."""
    import torch

    body = getattr(net, "primary", net)
    feats, probs = [], {}
    net.eval()
    with torch.inference_mode():
        for start in range(0, len(images), batch_size):
            batch = torch.from_numpy(np.ascontiguousarray(images[start : start + batch_size]))
            features = body.forward_features(body.to_input(batch)).float()
            out = net(batch) if body is not net else net.probabilities(net.head(features))
            feats.append(features.numpy())
            for head, value in out.items():
                probs.setdefault(head, []).append(value.float().numpy())
    return np.concatenate(feats), {h: np.concatenate(v) for h, v in probs.items()}


def decode_paths(paths: list[str], size: int, fill: int) -> tuple[np.ndarray, list[str], list[tuple[str, str]]]:
    """Letterboxed uint8 images of the readable ``paths``, those paths, and (path, reason) for the others."""
    good, arrays, failures = [], [], []
    for path in paths:
        try:
            arrays.append(letterbox(load_image(path), size, fill))
            good.append(path)
        except ImageError as exc:
            failures.append((path, exc.reason))
    images = np.stack(arrays) if arrays else np.zeros((0, size, size, 3), np.uint8)
    return images, good, failures


def _normalise(features: np.ndarray) -> np.ndarray:
    return features / np.maximum(np.linalg.norm(features, axis=1, keepdims=True), 1e-12)


def _check_config(config: SelectConfig) -> None:
    if config.class_prior not in ("none", "pool"):
        raise ValueError(f"class_prior must be 'none' or 'pool', not {config.class_prior!r}")
    if config.strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {', '.join(STRATEGIES)}, not {config.strategy!r}")
    if config.strategy == "typical" and config.class_prior != "none":
        raise ValueError("class_prior applies to strategy=uncertainty (typical clusters the pool instead)")
    if config.cold_per_class < 0:
        raise ValueError(f"cold_per_class must be >= 0, not {config.cold_per_class}")


STRATEGIES = ("auto", "uncertainty", "typical")


def resolve_strategy(config: SelectConfig, labelled: int, classes: int) -> str:
    """``auto`` -> ``typical`` while ``labelled + budget <= cold_per_class * classes``, else ``uncertainty``."""
    if config.strategy != "auto":
        return config.strategy
    return "typical" if labelled + config.budget <= config.cold_per_class * classes else "uncertainty"


#: Members of a cluster whose typicality is scored at most (a random sample beyond; O(n^2) distances).
TYPICALITY_SAMPLE = 4096


def typicality(features: np.ndarray, neighbours: int) -> np.ndarray:
    """1 / mean distance to the ``neighbours`` nearest other rows (TypiClust's density): higher = more typical."""
    k = max(1, min(neighbours, len(features) // 2))
    if len(features) < 2:
        return np.ones(len(features))
    squared = (features**2).sum(1)
    means = np.empty(len(features))
    for start in range(0, len(features), 1024):
        chunk = features[start : start + 1024]
        d2 = (chunk**2).sum(1)[:, None] + squared[None, :] - 2.0 * chunk @ features.T
        d = np.sqrt(np.maximum(d2, 0.0))
        d[np.arange(len(chunk)), np.arange(start, start + len(chunk))] = np.inf  # not its own neighbour
        means[start : start + len(chunk)] = np.partition(d, k - 1, axis=1)[:, :k].mean(1)
    return 1.0 / (means + 1e-5)


def typical_picks(
    features: np.ndarray, budget: int, labelled: np.ndarray | None = None, config: SelectConfig | None = None
) -> list[int]:
    """TypiClust's picks, in order: the most typical unpicked row of the clusters with the fewest labelled rows,
    largest cluster first (clusters of fewer than 5 rows only when nothing else is left)."""
    from sklearn.cluster import KMeans, MiniBatchKMeans

    config = config or SelectConfig()
    budget = min(budget, len(features))
    if budget <= 0:
        return []
    pool = _normalise(features)
    known = _normalise(labelled) if labelled is not None and len(labelled) else np.zeros((0, pool.shape[1]))
    everything = np.concatenate([pool, known]).astype(np.float32)
    k = max(1, min(len(known) + budget, config.max_clusters, len(pool)))
    kind = KMeans if len(everything) <= 50_000 else MiniBatchKMeans
    assign = kind(n_clusters=k, n_init=3, random_state=config.seed).fit_predict(everything)
    clusters, covered = assign[: len(pool)], np.bincount(assign[len(pool) :], minlength=k)
    size = np.bincount(clusters, minlength=k)
    order = sorted(range(k), key=lambda c: (size[c] < 5, covered[c], -size[c], c))
    members = [np.flatnonzero(clusters == c) for c in order if size[c] > 0]
    rng = np.random.default_rng(config.seed)
    free = np.ones(len(pool), bool)
    picks: list[int] = []
    while len(picks) < budget:  # cycles through the clusters again once each has had a pick
        for rows in members:
            rows = rows[free[rows]]
            if not len(rows):
                continue
            if len(rows) > TYPICALITY_SAMPLE:
                rows = np.sort(rng.choice(rows, TYPICALITY_SAMPLE, replace=False))
            pick = int(rows[np.argmax(typicality(pool[rows], config.neighbours))])
            picks.append(pick)
            free[pick] = False
            if len(picks) == budget:
                break
    return picks


def _distances_to_earlier(features: np.ndarray, picks: list[int], centres: np.ndarray | None) -> list[float]:
    """Each pick's distance to the nearest labelled row or earlier pick (``inf`` for a first pick without any)."""
    feats = _normalise(features[picks])
    nearest = nearest_distance(feats, centres)
    for i in range(1, len(feats)):
        nearest[i] = min(nearest[i], float(np.sqrt(((feats[:i] - feats[i]) ** 2).sum(1)).min()))
    return nearest.tolist()


def class_quotas(probs: np.ndarray, budget: int) -> np.ndarray:
    """Picks per class: ``budget`` split in proportion to the pool's mean predicted probabilities (its estimated
    class prior, largest remainder), never more than the rows predicted as that class; what a class cannot
    take goes to the others in the same proportions."""
    available = np.bincount(probs.argmax(1), minlength=probs.shape[1])
    prior = probs.mean(0)
    quota = np.zeros(probs.shape[1], dtype=int)
    left = min(budget, int(available.sum()))
    while left > 0:  # largest remainder; a second round only when some class ran out of rows
        room = available - quota
        share = np.where(room > 0, prior, 0.0)
        share = share / share.sum() if share.sum() > 0 else (room > 0) / (room > 0).sum()
        raw = share * left
        add = np.minimum(np.floor(raw).astype(int), room)
        order = np.argsort(-(raw - np.floor(raw)), kind="stable")
        for cls in order[room[order] > add[order]][: left - int(add.sum())]:
            add[cls] += 1
        quota += add
        left -= int(add.sum())
    return quota


def _rank_rows(
    rows: np.ndarray,
    uncertainty: np.ndarray,
    features: np.ndarray,
    budget: int,
    config: SelectConfig,
    centres: np.ndarray | None,
) -> tuple[list[int], list[float]]:
    """Uncertainty pre-filter then k-center greedy among ``rows``: the picked rows in order and their distances."""
    order = rows[np.argsort(-uncertainty[rows], kind="stable")]
    n_candidates = min(len(order), max(budget, int(round(budget * config.candidate_factor))))
    candidates = order[:n_candidates]
    picks, distances = k_center_greedy(_normalise(features[candidates]), budget, first=0, centres=centres)
    return [int(candidates[p]) for p in picks], distances


def rank_pool(
    features: np.ndarray, probs: np.ndarray, config: SelectConfig, labelled: np.ndarray | None = None
) -> tuple[list[int], np.ndarray, list[float]]:
    """Row order to label (length ``min(budget, N)``), every row's uncertainty, and each pick's distance to the
    nearest labelled photo or earlier pick (``inf`` when there is none).

    With ``class_prior="pool"`` each predicted class gets its ``class_quotas`` share of the budget, ranked
    within the class the same way; the classes are interleaved so that every prefix of the list keeps the
    proportions (label the first 40 of 100 and they still follow the pool's prior).
    """
    _check_config(config)
    uncertainty = UNCERTAINTY.get(config.uncertainty)(probs)
    centres = None if labelled is None or not len(labelled) else _normalise(labelled)
    strategy = resolve_strategy(config, 0 if labelled is None else len(labelled), probs.shape[1])
    if strategy == "typical":
        picks = typical_picks(features, config.budget, labelled, config)
        return picks, uncertainty, _distances_to_earlier(features, picks, centres)
    if config.class_prior == "none":
        picks, distances = _rank_rows(np.arange(len(probs)), uncertainty, features, config.budget, config, centres)
        return picks, uncertainty, distances
    predicted = probs.argmax(1)
    ranked: list[tuple[float, int, float]] = []  # (position key, row, distance)
    for cls, quota in enumerate(class_quotas(probs, config.budget)):
        if quota:
            rows, distances = _rank_rows(
                np.flatnonzero(predicted == cls), uncertainty, features, int(quota), config, centres
            )
            ranked += [((j + 0.5) / quota, r, d) for j, (r, d) in enumerate(zip(rows, distances, strict=True))]
    ranked.sort(key=lambda item: item[0])
    return [r for _, r, _ in ranked], uncertainty, [d for _, _, d in ranked]


def select_for_labelling(
    model: str | Path,
    pool: list[str],
    out: str | Path,
    config: SelectConfig | None = None,
    labelled: list[str] | None = None,
) -> dict[str, Any]:
    """Rank the images of ``pool`` (files, folders, globs, lists) for labelling and write ``out`` (CSV).

    Returns a summary: pool size, picked, failures (path, reason), the output path, the head scored and the
    strategy used (``auto`` resolved: it counts the ``labelled`` photos, none when they are not given).
    """
    from fashiontag.artifact import read_sidecar, resolve_preprocess
    from fashiontag.data.taxonomy import Taxonomy
    from fashiontag.infer import collect_inputs
    from fashiontag.models import load_network

    config = config or SelectConfig()
    _check_config(config)  # before any photo is decoded
    out = Path(out)
    if out.suffix.lower() != ".csv":
        raise ValueError(f"{out}: the ranked list is a .csv file")
    sidecar = read_sidecar(model, verify=True)
    taxonomy = Taxonomy.from_dict(sidecar["taxonomy"])
    head = config.head or taxonomy.levels[-1]
    if head not in taxonomy.heads:
        from fashiontag.registry import UnknownNameError, unknown_name_message

        raise UnknownNameError(unknown_name_message("head", head, taxonomy.heads))
    pre = resolve_preprocess(sidecar)
    net = load_network(model, sidecar)
    images, paths, failures = decode_paths(collect_inputs(pool), pre.size, pre.fill)
    if not paths:
        raise ValueError(f"no readable images in {pool} ({len(failures)} failed)")
    features, probs = network_embeddings(net, images, config.batch_size)
    known = None
    if labelled:
        known_images, _, _ = decode_paths(collect_inputs(labelled), pre.size, pre.fill)
        known = network_embeddings(net, known_images, config.batch_size)[0] if len(known_images) else None
    strategy = resolve_strategy(config, 0 if known is None else len(known), probs[head].shape[1])
    picks, uncertainty, distances = rank_pool(features, probs[head], replace(config, strategy=strategy), known)
    labels = taxonomy.head_labels(head)
    rows = [
        {
            "rank": r + 1,
            "path": paths[i],
            "uncertainty": f"{uncertainty[i]:.6f}",
            "predicted": labels[int(probs[head][i].argmax())],
            "confidence": f"{probs[head][i].max():.6f}",
            "distance": f"{d:.6f}" if np.isfinite(d) else "",
        }
        for r, (i, d) in enumerate(zip(picks, distances, strict=True))
    ]
    with atomic_open(out, "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return {
        "pool": len(paths),
        "picked": len(rows),
        "failures": failures,
        "out": str(out),
        "head": head,
        "strategy": strategy,
    }
