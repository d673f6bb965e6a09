"""Catalogue audit: which given labels are likely wrong, and which duplicate photos disagree.

Orchestration above the stages (data -> train -> infer -> labelstudio): the items are decoded once (the
training cache), split into group-aware folds exactly as cross-validation splits them
(:func:`fashiontag.workflows.crossval.assign_folds`), a model is trained per fold (probe mode by default:
backbone features are extracted once for all folds) and predicts its held-out fold, so every item gets
out-of-fold probabilities from a model that never saw its label. Cleanlab then ranks, per head, the items
whose given label the out-of-fold model finds least plausible (``rank.get_label_quality_scores``,
self-confidence) and flags the likely errors (``filter.find_label_issues``, prune by noise rate).
Byte-identical and perceptual near-duplicate groups whose leaves disagree are listed beside them.

Example:
    >>> from fashiontag.config import build_config  # doctest: +SKIP
    >>> from fashiontag.train import TrainConfig  # doctest: +SKIP
    >>> config = build_config(TrainConfig, data="../shared/data/fpi_small", probe=True)  # doctest: +SKIP
    >>> result = audit(config, "runs/audit")  # doctest: +SKIP
    >>> result.issues.groupby("head").size()  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from fashiontag._io import atomic_open, write_json
from fashiontag.config import updated

if TYPE_CHECKING:
    from fashiontag.data.taxonomy import Taxonomy
    from fashiontag.train import TrainConfig, TrainData

ISSUE_COLUMNS = [
    "head",
    "rank",
    "item_id",
    "path",
    "given",
    "suggested",
    "suggested_confidence",
    "given_confidence",
    "quality",
    "issue",
]


@dataclass(frozen=True)
class AuditConfig:
    """How the audit runs (training settings live in the ``TrainConfig`` passed beside it)."""

    folds: int = 5
    seed: int = 0  # fold assignment
    near_duplicates: bool = True  # perceptual hashes of the decoded images (byte-identical groups always)
    near_dup_radius: int = 4  # Hamming distance between 64-bit perceptual hashes
    page_size: int = 40  # suspects per head on the HTML page and in the Label Studio tasks
    tasks_root: str | None = None  # Label Studio LOCAL_FILES_DOCUMENT_ROOT for the tasks (default: dataset folder)


@dataclass
class AuditResult:
    """``ranking``: every labelled (item, head) with its cleanlab quality (low = suspect) and rank;
    ``issues``: the flagged rows; ``conflicts``: duplicate-group rows whose leaves disagree."""

    ranking: pd.DataFrame
    issues: pd.DataFrame
    conflicts: pd.DataFrame
    summary: dict[str, Any]
    files: dict[str, Path] = field(default_factory=dict)


def out_of_fold_probabilities(
    data: TrainData, train_config: TrainConfig, folds: int, seed: int, out: Path, echo: Callable[[str], None] = print
) -> dict[str, np.ndarray]:
    """``{head: [N, n_labels]}``: row ``i`` predicted by the fold model that held item ``i`` out."""
    from fashiontag.train import FeatureMemo, fit, from_arrays
    from fashiontag.workflows.crossval import assign_folds, fold_table

    table = assign_folds(data.labels, folds, seed).set_index("item_id")
    memo = data.feature_memo or FeatureMemo()
    probs: dict[str, np.ndarray] = {}
    for fold in range(folds):
        split = fold_table(table.reset_index(), fold, folds).set_index("item_id")["split"]
        labels = data.labels.assign(split=data.labels["item_id"].map(split).to_numpy())
        held = np.flatnonzero(labels["split"].to_numpy() == "test")
        echo(
            f"fold {fold + 1}/{folds}: training on {int((labels['split'] == 'train').sum())} items, "
            f"predicting {len(held)} held-out items"
        )
        config = updated(train_config, out=str(out / f"fold_{fold}"), split=None)
        model_dir = fit(config, from_arrays(data.images, labels, data.taxonomy, memo))
        fold_probs = _held_out_probabilities(model_dir, config, data.images, held, memo)
        for head, values in fold_probs.items():
            probs.setdefault(head, np.zeros((len(labels), values.shape[1]), dtype=np.float64))[held] = values
    return probs


def _held_out_probabilities(
    model_dir: Path, config: TrainConfig, images: np.ndarray, held: np.ndarray, memo: Any
) -> dict[str, np.ndarray]:
    """A fold model's probabilities for its held-out rows; a probe model reuses the memo's frozen features
    (the backbone did not change), so each image goes through the backbone once in the whole audit."""
    if config.trainer.train_mode != "probe":
        from fashiontag.infer import load

        return load(model_dir, backend="torch").probabilities(images[held])
    import torch

    from fashiontag.models import load_network

    net = load_network(model_dir).eval()
    with torch.no_grad():
        probs = net.probabilities(net.head(memo.features(net, images, held)))
    return {head: value.numpy() for head, value in probs.items()}


def _display_names(labels: list[str]) -> list[str]:
    """A node's own name (``Handbags``), or its whole path where two branches share the name (FPI has
    ``Accessories > Bags > Handbags`` and ``Free Items > Free Gifts > Handbags``): a suspect must not read
    "given Handbags, suggested Handbags"."""
    short = [str(label).split(" > ")[-1] for label in labels]
    return [name if short.count(name) == 1 else str(label) for name, label in zip(short, labels, strict=True)]


def head_label_table(data: TrainData) -> dict[str, np.ndarray]:
    """Given label index per head (``-1`` where the item has none): levels from the leaf, attributes as given."""
    from fashiontag.data.targets import item_targets, level_targets

    targets = level_targets(data.taxonomy, data.labels["leaf"].tolist())
    attributes = item_targets(data.taxonomy, data.labels)
    return {head: targets[head] if head in targets else attributes[head] for head in data.taxonomy.heads}


def rank_head(given: np.ndarray, probs: np.ndarray, names: list[str]) -> pd.DataFrame:
    """Cleanlab quality and issue flag for the labelled rows of one head, most suspect first.

    Classes no item carries are dropped and rows renormalised first (cleanlab needs rows summing to one;
    deeper levels of a ragged tree sum to less).
    """
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores

    rows = np.flatnonzero(given >= 0)
    present = np.unique(given[rows])
    if len(rows) == 0 or len(present) < 2:
        return pd.DataFrame(
            columns=["row", "given", "suggested", "suggested_confidence", "given_confidence", "quality", "issue"]
        )
    remap = np.full(probs.shape[1], -1)
    remap[present] = np.arange(len(present))
    sub = probs[np.ix_(rows, present)] + 1e-12
    sub = sub / sub.sum(1, keepdims=True)
    labels = remap[given[rows]]
    quality = get_label_quality_scores(labels, sub, method="self_confidence")
    issue = find_label_issues(labels, sub, filter_by="prune_by_noise_rate", n_jobs=1)
    best = sub.argmax(1)
    frame = pd.DataFrame(
        {
            "row": rows,
            "given": [names[present[i]] for i in labels],
            "suggested": [names[present[i]] for i in best],
            "suggested_confidence": sub[np.arange(len(rows)), best],
            "given_confidence": sub[np.arange(len(rows)), labels],
            "quality": quality,
            "issue": issue,
        }
    )
    return frame.sort_values(["quality", "row"], kind="stable").reset_index(drop=True)


def rank_label_issues(data: TrainData, probs: dict[str, np.ndarray]) -> pd.DataFrame:
    """:func:`rank_head` for every head, with item ids, paths and 1-based ranks within each head.

    A level below the first is ranked by the quality of the given *path*: the product of the given label's
    out-of-fold confidence at each level down to it, so a wrong leaf whose branch is implausible too ranks
    before one the model only hesitates on (on FPI with 5% flipped articleTypes this put more of the flips in
    the top K, BENCHMARKS.md). The ``issue`` flag stays cleanlab's per head.
    """
    given = head_label_table(data)
    levels = data.taxonomy.levels
    own: dict[str, pd.Series] = {}
    frames = []
    for head in data.taxonomy.heads:
        names = _display_names(data.taxonomy.head_labels(head))
        frame = rank_head(given[head], probs[head], names)
        if head in levels:
            own[head] = pd.Series(frame["quality"].to_numpy(), index=frame["row"].to_numpy())
            path = own[head].copy()
            for upper in levels[: levels.index(head)]:
                path = path * own[upper].reindex(path.index).fillna(1.0).to_numpy()
            frame = frame.assign(quality=path.to_numpy()).sort_values(["quality", "row"], kind="stable")
            frame = frame.reset_index(drop=True)
        frame.insert(0, "head", head)
        frame.insert(1, "rank", np.arange(1, len(frame) + 1))
        frames.append(frame)
    ranking = pd.concat(frames, ignore_index=True)
    rows = ranking["row"].to_numpy(dtype=int)
    ranking["item_id"] = data.labels["item_id"].to_numpy()[rows]
    ranking["path"] = data.labels["path"].to_numpy()[rows]
    return ranking


def duplicate_conflicts(data: TrainData, config: AuditConfig) -> pd.DataFrame:
    """Rows (kind, group, item_id, path, leaf) of duplicate groups whose leaves disagree."""
    from fashiontag.data.inspect import duplicate_report, near_duplicate_groups

    near = None
    if config.near_duplicates:
        import imagehash
        from PIL import Image

        hashes = [
            (item, int(str(imagehash.phash(Image.fromarray(image))), 16))
            for item, image in zip(data.labels["item_id"], data.images, strict=True)
        ]
        near = near_duplicate_groups(hashes, radius=config.near_dup_radius)
    report = duplicate_report(data.labels, near, config.near_dup_radius)
    by_id = data.labels.set_index("item_id")
    rows = []
    for kind, section in report.items():
        for number, conflict in enumerate(section.get("conflicts", [])):
            for item in conflict["ids"]:
                rows.append(
                    {
                        "kind": kind,
                        "group": f"{kind}-{number}",
                        "item_id": item,
                        "path": by_id.at[item, "path"],
                        "leaf": by_id.at[item, "leaf"],
                    }
                )
    return pd.DataFrame(rows, columns=["kind", "group", "item_id", "path", "leaf"])


def _summary(
    ranking: pd.DataFrame, conflicts: pd.DataFrame, data: TrainData, config: AuditConfig, train_config: TrainConfig
) -> dict[str, Any]:
    from fashiontag.config import to_dict

    heads = {
        head: {
            "labelled": int(len(group)),
            "flagged": int(group["issue"].sum()),
            "flagged_fraction": float(group["issue"].mean()) if len(group) else 0.0,
        }
        for head, group in ranking.groupby("head", sort=False)
    }
    return {
        "items": len(data.labels),
        "folds": config.folds,
        "seed": config.seed,
        "heads": heads,
        "duplicate_conflicts": {kind: int(g["group"].nunique()) for kind, g in conflicts.groupby("kind")},
        "train_config": {k: v for k, v in to_dict(train_config).items() if k not in ("out", "split")},
    }


def _write_csv(frame: pd.DataFrame, path: Path) -> None:
    with atomic_open(path, "w", encoding="utf-8", newline="") as handle:
        frame.to_csv(handle, index=False, float_format="%.6f")


def audit(
    train_config: TrainConfig,
    out: str | Path,
    config: AuditConfig | None = None,
    echo: Callable[[str], None] = print,
    labelstudio: bool = False,
) -> AuditResult:
    """Run the audit on ``train_config.data.root`` and write ``out/audit.csv``, ``duplicates.csv``, ``audit.json``,
    ``audit.html`` (thumbnails with file names) and, with ``labelstudio``, ``suspects_tasks.json``.

    Args:
        train_config: how each fold model trains (probe mode recommended); ``out``/``split`` are set here.
        out: output folder (also holds the decoded cache and the fold models).
        config: folds, seed, near-duplicate settings, suspects per head on the page.
        echo: where progress lines go.
        labelstudio: also write the suspects as Label Studio tasks (pre-annotated with the suggested labels).
    """
    from fashiontag.data.config import DataConfig
    from fashiontag.data.folders import resolve_data
    from fashiontag.train import load_train_data
    from fashiontag.workflows._audit_page import suspects_tasks, write_page

    config = config or AuditConfig()
    if config.folds < 3:
        raise ValueError(f"folds={config.folds}: need at least 3 (one held out, one for early stopping, the rest)")
    out = Path(out)
    _, taxonomy = resolve_data(
        DataConfig(
            reader=train_config.data.reader,
            root=train_config.data.root,
            taxonomy=train_config.data.taxonomy,
            source=train_config.data.source,
        )
    )
    train_config = updated(train_config, taxonomy=_taxonomy_ref(train_config, taxonomy, out))
    echo(f"reading and decoding {train_config.data.root} (cache under {out})")
    data = load_train_data(updated(train_config, out=str(out), split=None), taxonomy)
    probs = out_of_fold_probabilities(data, train_config, config.folds, config.seed, out, echo)
    echo("ranking label issues with cleanlab; looking for conflicting duplicates")
    ranking = rank_label_issues(data, probs)
    conflicts = duplicate_conflicts(data, config)
    issues = ranking[ranking["issue"]].reset_index(drop=True)
    result = AuditResult(ranking, issues, conflicts, _summary(ranking, conflicts, data, config, train_config))
    result.files["audit.csv"] = out / "audit.csv"
    _write_csv(issues[ISSUE_COLUMNS], result.files["audit.csv"])
    result.files["duplicates.csv"] = out / "duplicates.csv"
    _write_csv(conflicts, result.files["duplicates.csv"])
    result.files["audit.json"] = out / "audit.json"
    write_json(result.files["audit.json"], result.summary)
    result.files["audit.html"] = write_page(
        out / "audit.html", data, ranking, conflicts, result.summary, config.page_size
    )
    if labelstudio:
        result.files["suspects_tasks.json"] = out / "suspects_tasks.json"
        write_json(
            result.files["suspects_tasks.json"],
            suspects_tasks(data, ranking, probs, config.page_size, _tasks_root(config, train_config)),
        )
    return result


def _taxonomy_ref(train_config: TrainConfig, taxonomy: Taxonomy, out: Path) -> str:
    """A taxonomy reference the fold runs resolve to the same tree (``auto`` inferred from folders is saved)."""
    if train_config.data.taxonomy not in ("", "auto"):
        return train_config.data.taxonomy
    from fashiontag.data.taxonomy import save_taxonomy

    out.mkdir(parents=True, exist_ok=True)
    return str(save_taxonomy(taxonomy, out / "taxonomy.yaml"))


def _tasks_root(config: AuditConfig, train_config: TrainConfig) -> Path:
    if config.tasks_root:
        return Path(config.tasks_root)
    data = Path(train_config.data.root)
    return data.parent if data.is_file() else data
