"""k-fold cross-validation end to end: split once, train and evaluate each fold, report mean ± std.

Items are read, mapped and decoded once (``<out>/cache_<S>``, shared by every fold); the k-fold split keeps
each ``dup_group`` in one fold. Fold ``i`` tests on fold ``i``, stops early / calibrates on fold
``i+1 mod K`` and trains on the rest. A fold whose ``fold.json`` exists is skipped on a rerun, so a crashed
run resumes where it stopped (a fine-tune mid-fold resumes from its own ``last.ckpt``).

Example:
    >>> from fashiontag.config import build_config  # doctest: +SKIP
    >>> from fashiontag.train import TrainConfig  # doctest: +SKIP
    >>> config = build_config(TrainConfig, data="../shared/data/fpi_small", probe=True)  # doctest: +SKIP
    >>> result = cross_validate(config, folds=5, out="runs/cv")  # doctest: +SKIP
    >>> print(crossval_table(result))  # doctest: +SKIP
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from fashiontag._io import write_json
from fashiontag.artifact import training_cache_dir
from fashiontag.config import updated
from fashiontag.evaluate.kfold import summarise_folds
from fashiontag.evaluate.run import EvaluateConfig, json_safe

if TYPE_CHECKING:
    from fashiontag.train import TrainConfig, TrainData

FOLD_FILE = "fold.json"
# Keys that change how a run executes but not what it learns: a rerun may differ in them and still resume.
_RUNTIME_KEYS = ("out", "split", "progress_bar", "num_workers", "accelerator", "devices", "precision")


def default_evaluate_config() -> EvaluateConfig:
    """Per-fold evaluation: thresholds and temperatures fitted on the val fold, no robustness sweep (slow)."""
    return EvaluateConfig(calibrate_split="val", robustness=False)


def _numeric(value: Any) -> Any:
    """Numbers and nested dicts of numbers only (lists, strings, flags dropped); null becomes NaN."""
    if isinstance(value, dict):
        kept = {k: _numeric(v) for k, v in value.items()}
        return {k: v for k, v in kept.items() if v is not None and v != {}}
    if value is None:
        return float("nan")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    return None


def fold_metrics(metrics: dict[str, Any]) -> dict[str, Any]:
    """The numbers of an ``evaluate_model`` result worth averaging: per-head scores and hierarchy scores.

    Example:
        >>> fold_metrics({"heads": {"type": {"accuracy": 0.5, "per_class": []}}, "hierarchy": None})
        {'heads': {'type': {'accuracy': 0.5}}}
    """
    out = {"heads": _numeric(metrics.get("heads") or {})}
    if metrics.get("hierarchy"):
        out["hierarchy"] = _numeric(metrics["hierarchy"])
        # hop counts a fold never saw are absent, not 0, so their mean over folds would mislead
        out["hierarchy"].get("severity", {}).pop("histogram", None)
    return out


def _without(config: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    """A recorded TrainConfig without ``keys``, in its sections too."""
    return {k: _without(v, keys) if isinstance(v, dict) else v for k, v in config.items() if k not in keys}


def _runtime_free(config: dict[str, Any]) -> dict[str, Any]:
    from fashiontag.config import ConfigError, from_dict, to_dict
    from fashiontag.train import TrainConfig

    try:  # a fold.json written before TrainConfig had sections records it flat
        config = to_dict(from_dict(TrainConfig, config))
    except ConfigError:
        pass
    config = json.loads(json.dumps(config, default=str))  # as fold.json holds it: tuples are lists there
    return _without(config, _RUNTIME_KEYS)


def _check_inputs(train_config: TrainConfig, folds: int) -> None:
    if folds < 3:
        raise ValueError(f"folds={folds}: need at least 3 (one test fold, one val fold, the rest train)")
    if train_config.data.split:
        raise ValueError(f"split={train_config.data.split!r}: cross_validate makes its own splits; leave split unset")


def assign_folds(labels: pd.DataFrame, folds: int, seed: int = 0) -> pd.DataFrame:
    """Group-aware stratified k-fold table (item_id, split, fold) of the labelled items.

    Example:
        >>> items = pd.DataFrame({"item_id": list("abcdef"), "dup_group": list("aacdef"), "leaf": ["x"] * 6})
        >>> table = assign_folds(items, 3)
        >>> table["fold"].nunique(), bool(table["fold"][0] == table["fold"][1])  # a and b share a group
        (3, True)
    """
    from fashiontag.data.splits import make_split

    items = labels[["item_id", "dup_group", "leaf"]].assign(year=None)
    table = make_split(items, method="kfold", seed=seed, folds=folds)
    sizes = table["fold"].value_counts()
    empty = [i for i in range(folds) if i not in sizes]
    if empty:
        raise ValueError(f"folds={folds} but only {len(sizes)} duplicate groups could be dealt; empty folds {empty}")
    return table


def fold_table(table: pd.DataFrame, fold: int, folds: int) -> pd.DataFrame:
    """``table`` with fold ``fold`` as ``test``, fold ``fold+1 mod folds`` as ``val`` and the rest ``train``.

    Example:
        >>> table = pd.DataFrame({"item_id": list("abc"), "split": "train", "fold": [0, 1, 2]})
        >>> fold_table(table, 2, 3)["split"].tolist()
        ['val', 'train', 'test']
    """
    out = table.copy()
    out["split"] = "train"
    out.loc[out["fold"] == (fold + 1) % folds, "split"] = "val"
    out.loc[out["fold"] == fold, "split"] = "test"
    return out


def _write_splits(table: pd.DataFrame, out: Path, folds: int, seed: int) -> dict[str, Any]:
    """Write ``split.csv`` (the fold of each item) and ``splits/fold_<i>.csv``; refuse a changed assignment."""
    from fashiontag.data.splits import load_split, write_split

    path, meta = out / "split.csv", {"method": "kfold", "seed": seed, "folds": folds}
    if path.exists():
        previous = load_split(path).table[["item_id", "fold"]]
        if not previous.equals(table[["item_id", "fold"]].reset_index(drop=True)):
            raise ValueError(f"{path} holds another fold assignment (data, seed or folds changed); use a new --out")
    sidecar = write_split(table, path, meta)
    per_fold = []
    for fold in range(folds):
        fold_path = out / "splits" / f"fold_{fold}.csv"
        fold_meta = {**meta, "fold": fold, "val_fold": (fold + 1) % folds}
        fold_sidecar = write_split(fold_table(table, fold, folds), fold_path, fold_meta)
        per_fold.append({**fold_meta, "path": str(fold_path), "sha256": fold_sidecar["sha256"],
                         "counts": fold_sidecar["counts"]})  # fmt: skip
    return {"path": str(path), "sha256": sidecar["sha256"], "count": len(table), "folds": per_fold}


def _load_data(train_config: TrainConfig, out: Path) -> TrainData:
    """Read, map and decode once into ``<out>/cache_<S>`` (the folds share it)."""
    from fashiontag.data.folders import resolve_taxonomy
    from fashiontag.train import FeatureMemo, load_train_data

    cfg = updated(train_config, out=str(out), split=None)
    data = load_train_data(cfg, resolve_taxonomy(cfg.data.taxonomy, cfg.data.reader, cfg.data.root, cfg.data.source))
    return replace(data, feature_memo=FeatureMemo())  # probe folds extract backbone features once, not K times


def _finished(fold_dir: Path, split_sha: str, config: dict[str, Any]) -> dict[str, Any] | None:
    """The saved record of a fold done with the same split and training settings, else None."""
    path = fold_dir / FOLD_FILE
    if not path.exists():
        return None
    record = json.loads(path.read_text(encoding="utf-8"))
    if record.get("split_sha256") != split_sha:
        raise ValueError(f"{path} was trained on another split; use a new --out")
    if _runtime_free(record.get("train_config", {})) != _runtime_free(config):
        raise ValueError(f"{path} was trained with other settings; use a new --out (or restore the settings)")
    record["metrics"] = _numeric(record["metrics"])
    return record


def _run_fold(
    fold: dict[str, Any], data: TrainData, train_config: TrainConfig, evaluate_config: EvaluateConfig, out: Path
) -> dict[str, Any]:
    """Train fold ``fold["fold"]`` on the shared images, evaluate it on its test fold, save ``fold.json``."""
    from fashiontag.config import to_dict
    from fashiontag.data.splits import load_split
    from fashiontag.evaluate.run import evaluate_model
    from fashiontag.train import fit, from_arrays

    fold_dir = out / f"fold_{fold['fold']}"
    config = updated(train_config, out=str(fold_dir), split=fold["path"])
    split_of = load_split(fold["path"]).table.set_index("item_id")["split"]
    labels = data.labels.assign(split=data.labels["item_id"].map(split_of).to_numpy())
    fold_dir.mkdir(parents=True, exist_ok=True)  # fit() only creates its out dir when it loads the data itself
    model_dir = fit(config, from_arrays(data.images, labels, data.taxonomy, data.feature_memo))
    cache = training_cache_dir(out, train_config.data.image_size)
    metrics = evaluate_model(model_dir, cache, "test", fold_dir / "eval", evaluate_config, split_file=fold["path"])
    record = {
        "fold": fold["fold"], "val_fold": fold["val_fold"], "counts": fold["counts"], "model": str(model_dir),
        "eval": str(fold_dir / "eval"), "split_sha256": fold["sha256"], "train_config": to_dict(config),
        "metrics": fold_metrics(metrics),
    }  # fmt: skip
    write_json(fold_dir / FOLD_FILE, json_safe(record))
    return record


def cross_validate(
    train_config: TrainConfig,
    folds: int,
    out: str | Path,
    evaluate_config: EvaluateConfig | None = None,
    seed: int = 0,
    echo: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Train and evaluate ``folds`` models on a group-aware k-fold split; mean ± std of every metric.

    Writes ``out/cache_<S>`` (decoded once), ``out/split.csv`` (each item's fold), ``out/splits/fold_<i>.csv``,
    ``out/fold_<i>/`` (model, eval report, ``fold.json``), ``out/folds.json`` (per-fold metrics),
    ``out/crossval.json`` (summary + settings + split sha256) and ``out/crossval.md`` (the table).

    Args:
        train_config: training settings for every fold (``out`` and ``split`` are set per fold).
        folds: number of folds K (at least 3).
        out: run directory.
        evaluate_config: per-fold evaluation (default :func:`default_evaluate_config`); scores the test fold.
        seed: seed of the fold assignment (training uses ``train_config.seed``).
        echo: where progress lines go.

    Returns:
        The ``crossval.json`` content: ``summary`` (``summarise_folds`` of the per-fold metrics), ``folds``, ...

    Example:
        >>> config = build_config(TrainConfig, data="../shared/data/fpi_small", probe=True)  # doctest: +SKIP
        >>> cross_validate(config, 5, "runs/cv")  # doctest: +SKIP
    """
    from fashiontag.config import to_dict
    from fashiontag.train import with_image_size

    _check_inputs(train_config, folds)
    out = Path(out)
    evaluate_config = evaluate_config or default_evaluate_config()
    train_config = with_image_size(train_config)  # the folds share one cache: one size for all
    data = _load_data(train_config, out)
    split = _write_splits(assign_folds(data.labels, folds, seed), out, folds, seed)
    records = []
    for fold in split["folds"]:
        fold_dir = out / f"fold_{fold['fold']}"
        record = _finished(fold_dir, fold["sha256"], to_dict(updated(train_config, out=str(fold_dir))))
        if record is not None:
            echo(f"fold {fold['fold']}/{folds}: already done ({fold_dir / FOLD_FILE}), skipping")
        else:
            echo(f"fold {fold['fold']}/{folds}: training on {fold['counts'].get('train', 0)} items, "
                 f"val {fold['counts'].get('val', 0)}, test {fold['counts'].get('test', 0)}")  # fmt: skip
            record = _run_fold(fold, data, train_config, evaluate_config, out)
        records.append(record)
    return _write_summary(records, split, train_config, evaluate_config, seed, out)


def _write_summary(
    records: list[dict[str, Any]],
    split: dict[str, Any],
    train_config: TrainConfig,
    evaluate_config: EvaluateConfig,
    seed: int,
    out: Path,
) -> dict[str, Any]:
    from fashiontag.config import to_dict

    per_fold = [{k: v for k, v in r.items() if k != "train_config"} for r in records]
    result = {
        "folds": len(records),
        "seed": seed,
        "summary": summarise_folds([r["metrics"] for r in records]),
        "split": split,
        "train_config": _without(to_dict(train_config), ("out", "split")),
        "evaluate_config": asdict(evaluate_config),
        "out": str(out),
    }
    write_json(out / "folds.json", json_safe(per_fold))
    write_json(out / "crossval.json", json_safe(result))
    (out / "crossval.md").write_text(crossval_table(result) + "\n", encoding="utf-8")
    return result


def _format(value: float) -> str:
    return "nan" if value is None or math.isnan(value) else f"{value:.4f}"


def crossval_table(result: dict[str, Any]) -> str:
    """Markdown table ``metric | mean ± std | per-fold values``: accuracy and macro-F1 of every head, full path.

    Example:
        >>> cell = {"mean": 0.8, "std": 0.1, "n": 2, "values": [0.9, 0.7]}
        >>> print(crossval_table({"folds": 2, "summary": {"heads": {"type": {"accuracy": cell}}}}))
        | metric | mean ± std | per fold |
        |---|---:|---|
        | type accuracy | 0.8000 ± 0.1000 | 0.9000, 0.7000 |
    """
    summary = result.get("summary", {})
    rows = []
    for head, scores in summary.get("heads", {}).items():
        rows += [(f"{head} accuracy", scores.get("accuracy")), (f"{head} macro F1", scores.get("macro_f1"))]
    rows.append(("full-path accuracy", summary.get("hierarchy", {}).get("full_path_accuracy")))
    lines = ["| metric | mean ± std | per fold |", "|---|---:|---|"]
    for name, cell in rows:
        if cell:
            values = ", ".join(_format(v) for v in cell["values"])
            lines.append(f"| {name} | {_format(cell['mean'])} ± {_format(cell['std'])} | {values} |")
    return "\n".join(lines)
