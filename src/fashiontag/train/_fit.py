"""fit(config) -> model directory: a full or cached-trunk fine-tune on Lightning, or a probe; cascades per part."""

from __future__ import annotations

import dataclasses
import importlib.metadata as md
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from fashiontag.config import to_dict
from fashiontag.data.folders import resolve_taxonomy
from fashiontag.data.targets import head_targets, target_matrix
from fashiontag.data.taxonomy import Taxonomy, save_taxonomy
from fashiontag.models import create_network, default_preprocess, save_model
from fashiontag.train._adapt import adapt_from_config
from fashiontag.train._config import TrainConfig
from fashiontag.train._data import TrainData, load_train_data, with_image_size
from fashiontag.train._distill import load_distillation
from fashiontag.train._distributed import global_rank


def _versions() -> dict[str, str]:
    out = {}
    for name in ("fashiontag", "torch", "torchvision", "timm", "lightning", "kornia", "numpy"):
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            pass
    return out


def build_net(config: TrainConfig, taxonomy: Taxonomy) -> torch.nn.Module:
    """A fresh network, or (``init_from``) one whose backbone (and matching heads) come from a saved model."""
    options = {"attribute": config.model.strategy_attribute} if config.model.strategy == "combined" else {}
    if config.model.init_from:
        return adapt_from_config(config, taxonomy, **options)
    pre = dataclasses.replace(
        default_preprocess(config.model.backbone, config.data.image_size, config.model.input_size),
        flip=config.model.test_flip,
    )
    model = config.model
    return create_network(taxonomy, model.backbone, model.strategy, pre, model.pretrained, **options)


def _targets(net: torch.nn.Module, leaves: list, attributes: dict[str, list]) -> tuple[np.ndarray, np.ndarray]:
    strategy = net.head.encode_targets(leaves, attributes)
    st = np.stack([strategy[h] for h in net.logit_heads], axis=1).astype(np.int64)
    return st, target_matrix(head_targets(net.taxonomy, leaves, attributes), net.taxonomy.heads)


def _train_one(
    net: torch.nn.Module,
    images: np.ndarray,
    leaves: list,
    attrs: dict,
    split: np.ndarray,
    config: TrainConfig,
    run_dir: Path,
    **extra: Any,
) -> dict[str, float]:
    """One network through its training mode; ``extra``: :class:`~fashiontag.train._modes.ModeJob`'s
    ``feature_memo``, ``max_seconds``, ``distill`` and ``plan``."""
    from fashiontag.train._modes import MODES, ModeJob

    strategy_t, heads_t = _targets(net, leaves, attrs)
    train_rows, val_rows = np.flatnonzero(split == "train"), np.flatnonzero(split == "val")
    job = ModeJob(net, images, strategy_t, heads_t, train_rows, val_rows, config, run_dir, **extra)
    return MODES.get(config.trainer.train_mode)()(job)


def _parts_data(taxonomy: Taxonomy, data: TrainData, part: str, net: torch.nn.Module) -> tuple[np.ndarray, list, dict]:
    leaves = data.labels["leaf"].tolist()
    if part == "router":
        rows = np.arange(len(leaves))
        return rows, [taxonomy.ancestors(x)[0] for x in leaves], data.attributes(rows)
    rows = np.flatnonzero([taxonomy.ancestors(x)[0] == part for x in leaves])
    return rows, [leaves[i] for i in rows], {}


def train_network(
    net: torch.nn.Module,
    data: TrainData,
    config: TrainConfig,
    run_dir: Path,
    max_seconds: float | None = None,
    distill: Any = None,
    plan: Any = None,
) -> dict[str, Any]:
    """Train ``net`` (TaggerNet or CascadeNet) on ``data``; returns validation metrics. ``max_seconds`` stops a
    Lightning run then, keeping its best checkpoint (``plan``: the time budget's, which a cached-trunk run re-fits
    its epochs with after its first pass and each epoch). With several sources, ``monitor_source``'s val rows
    pick it."""
    from fashiontag.train._sources import selection_split

    split = selection_split(data.labels, config.trainer.monitor_source)
    if not net.parts():  # one network; a cascade trains each of its parts
        rows = np.arange(len(data.labels))
        leaves, attrs = data.labels["leaf"].tolist(), data.attributes(rows)
        extra = {"feature_memo": data.feature_memo, "max_seconds": max_seconds, "distill": distill, "plan": plan}
        return _train_one(net, data.images, leaves, attrs, split, config, run_dir, **extra)
    metrics: dict[str, Any] = {}
    for name, part in net.parts().items():
        rows, leaves, attrs = _parts_data(data.taxonomy, data, name, part)
        metrics[name] = _train_one(
            part, data.images[rows], leaves, attrs, split[rows], config, run_dir / net.part_dirs()[name]
        )
    return metrics


def _plan(
    config: TrainConfig, net: torch.nn.Module, taxonomy: Taxonomy, data: TrainData, started: float, distill: Any = None
) -> tuple[TrainConfig, torch.nn.Module, Any, float | None]:
    """With ``time_limit``: the recipe that fits what is left of it (printed), the network rebuilt for its
    input size, and the seconds training may run."""
    if not config.trainer.time_limit:
        return config, net, None, None
    from fashiontag.train._budget import (
        CANDIDATES,
        RESERVE_SECONDS,
        forwards_after_training,
        parse_duration,
        plan_recipe,
        show,
    )
    from fashiontag.train._resume import recorded_recipe
    from fashiontag.train._sources import selection_split, several_sources

    limit = parse_duration(config.trainer.time_limit)
    split = selection_split(data.labels, config.trainer.monitor_source)
    recorded = recorded_recipe(Path(config.out), max(config.trainer.epochs, *(c.max_epochs for c in CANDIDATES)))
    candidates = CANDIDATES
    if recorded:  # an interrupted run resumes with its own recipe
        show(f"resuming the interrupted run in {config.out} with its recipe")
        candidates = (recorded,)
    n_val_all = int((data.labels["split"] == "val").sum())  # per-source metrics score every source's val photos
    after = forwards_after_training(config, int((split == "val").sum()), n_val_all, several_sources(data.labels))
    plan = plan_recipe(
        config,
        net,
        data.images,
        int((split == "train").sum()),
        int((split == "val").sum()),
        limit - (time.perf_counter() - started),
        candidates=candidates,
        teacher=distill.teacher if distill is not None else None,
        forwards_after=after,
        resumed=bool(recorded),
    )
    if recorded:  # its cosine schedule was sized to the recorded epochs: a resume never re-fits them
        plan.epoch_seconds = None
    for line in plan.lines:
        show(line)
    if config.optim.mix_activations and plan.config.trainer.train_mode != "trunk":  # said, not silently dropped
        show(f"mix_activations={config.optim.mix_activations:g} is unused: it mixes cached-trunk activations, and "
             f"the plan trains in {plan.config.trainer.train_mode} mode")  # fmt: skip
    if plan.config.model.input_size != config.model.input_size:  # seeded as `fit` seeds its first network, so
        torch.manual_seed(plan.config.seed)  # the recipe printed, pinned, starts the same
        net = build_net(plan.config, taxonomy)
    left = limit - (time.perf_counter() - started) - RESERVE_SECONDS - plan.review_seconds  # both after training
    return plan.config, net, plan, left


def record_split(config: TrainConfig, labels: Any, out: Path) -> dict[str, str]:
    """The sidecar's ``split`` entry: the given split file's path and sha256 (never rewritten: it is the user's
    input, and export/evaluate check its hash), else the split this run made, written as a hash-checked split
    file (``split.csv`` + ``split.json``) to ``OUT/split.csv``, or to ``OUT/model/split.csv`` when another file
    already sits at ``OUT/split.csv``."""
    from fashiontag.data.splits import load_split, write_split

    if config.data.split:
        given = load_split(config.data.split)
        return {"path": str(Path(config.data.split).resolve()), "sha256": given.meta["sha256"]}
    table = labels[["item_id", "split"]].astype({"item_id": str}).sort_values("item_id", kind="stable")
    table = table.assign(fold=pd.array([pd.NA] * len(table), dtype="Int64")).reset_index(drop=True)
    path = out / "split.csv"
    if path.exists():
        try:
            mine = load_split(path).table[["item_id", "split"]].equals(table[["item_id", "split"]])
        except (ValueError, KeyError):
            mine = False
        path = path if mine else out / "model" / "split.csv"
    meta = {
        "method": "train",
        "reader": config.data.reader,
        "root": str(config.data.root),
        "taxonomy": config.data.taxonomy,
    }
    return {"path": str(path.resolve()), "sha256": write_split(table, path, meta)["sha256"]}


def fit(config: TrainConfig, data: TrainData | None = None) -> Path:
    """Train per ``config`` and write ``<out>/model`` (weights + sidecar); returns the model directory.

    Example:
        >>> config = build_config(TrainConfig, data="../shared/data/fpi_small", probe=True, out="runs/probe")
        >>> fit(config)  # doctest: +SKIP
    """
    started = time.perf_counter()
    if config.trainer.time_limit:  # a malformed limit fails before any data is read
        from fashiontag.train._budget import parse_duration

        parse_duration(config.trainer.time_limit)
    if config.optim.ema_decay is not None:  # so does a decay outside (0, 1)
        from fashiontag.train._ema import check_decay

        check_decay(config.optim.ema_decay)
    if config.optim.mix_activations:  # so does activation mixup where it cannot apply
        from fashiontag.train._trunk_module import check_mix_activations

        check_mix_activations(config)
    torch.manual_seed(config.seed)
    dataset = config.data
    taxonomy = (
        data.taxonomy
        if data is not None
        else resolve_taxonomy(dataset.taxonomy, dataset.reader, dataset.root, dataset.source)
    )
    out = Path(config.out)
    config = with_image_size(config, data)  # left open: sized from the data, before the network's preprocessing
    net = build_net(config, taxonomy)  # before the data, so a bad init_from fails at once
    if config.optim.loss_weights:  # so does a loss weight for a head the network does not have
        from fashiontag.train._losses import check_loss_weights

        parts = net.parts().values() or [net]
        check_loss_weights(config.optim.loss_weights, [h for part in parts for h in part.logit_heads])
    distill = load_distillation(config, net)  # so does a bad teacher
    data = data if data is not None else load_train_data(config, taxonomy)
    config, net, plan, max_seconds = _plan(config, net, taxonomy, data, started, distill)
    metrics = train_network(net, data, config, out, max_seconds, distill, plan)
    config = plan.config if plan is not None else config  # as trained: a cached-trunk run may re-fit its epochs
    if global_rank() != 0:  # rank 0 of the whole job writes the model, as Lightning writes the checkpoints
        return out / "model"
    from fashiontag.train._sources import several_sources, source_metrics

    if several_sources(data.labels):  # several datasets: how each one fares (its own heads only)
        metrics["sources"] = source_metrics(net.cpu(), data.labels, data.images)
    out.mkdir(parents=True, exist_ok=True)  # probe runs on in-memory data create nothing before this
    save_taxonomy(taxonomy, out / "taxonomy.yaml")  # the run's label set, inferred from folders or not
    model_dir = out / "model"
    extra = {"init_from": net.adapt_info} if config.model.init_from else {}
    if distill is not None:
        extra["teacher"] = distill.sidecar()
    training = {**to_dict(config), **({"plan": plan.to_dict()} if plan else {})}
    save_model(
        net.cpu().eval(),
        model_dir,
        training=training,
        metrics=metrics,
        versions=_versions(),
        split=record_split(config, data.labels, out),
        name=config.name or out.resolve().name,
        **extra,
    )
    if config.trainer.calibrate:
        calibrate_review(model_dir, data, config)
    from fashiontag.train._report import plot_learning_curves

    plot_learning_curves(out)
    return model_dir


def calibrate_review(model_dir: Path, data: TrainData, config: TrainConfig) -> None:
    """Fit and save the model's temperatures and review thresholds on the val rows that chose its checkpoint,
    printing what each head accepts there: a model without thresholds accepts every label, so ``needs_review``
    would never be set on the photos a person must see. ``evaluate`` on the test split says what they do on new
    photos (and ``calibrate_split=... save_calibration=true`` refits them on other labelled photos)."""
    from fashiontag.data.targets import head_targets
    from fashiontag.evaluate import calibrate_saved_model
    from fashiontag.train._sources import selection_split

    rows = np.flatnonzero(selection_split(data.labels, config.trainer.monitor_source) == "val")
    if not len(rows):
        print(
            "   review: no val photos to fit thresholds on: the model accepts every label (needs_review is never "
            "set); fit them with `fashiontag evaluate MODEL ... calibrate_split=val save_calibration=true`",
            flush=True,
        )
        return
    targets = head_targets(data.taxonomy, data.labels["leaf"].iloc[rows].tolist(), data.attributes(rows))
    fitted = calibrate_saved_model(model_dir, data.images[rows], targets)
    policy = fitted["review_policy"]
    print(
        f"   review: thresholds fitted on {len(rows)} val photos (Learn-then-Test, delta {policy['delta']}) and "
        f"saved in {model_dir}:",
        flush=True,
    )
    for head, fit in policy["heads"].items():
        if fit["reason"]:  # the warning above says why in full
            print(f"   review:   {head}: {_refusal(fit)}", flush=True)
        else:
            print(
                f"   review:   {head}: accepts {fit['accepted']} of {fit['rows']} val photos at >= "
                f"{fit['threshold']:.4g} ({fit['mistakes']} wrong; target {100 * fit['target']:.1f}%)",
                flush=True,
            )
    shown = {head: fit["suggested"] for head, fit in policy["heads"].items() if fit["reason"] and fit.get("suggested")}
    if shown:
        print(f"   review: to auto-label at those targets: {refit_command(model_dir, config, shown)}", flush=True)


def _refusal(fit: dict[str, Any]) -> str:
    """A refused head's summary line: the target it was not shown to reach, and the one its val photos do show."""
    if fit.get("suggested"):
        return (
            f"not auto-labelled at {100 * fit['target']:g}%; its val photos show {100 * fit['suggested']:g}% "
            "(command below)"
        )
    if fit.get("blocked_by"):
        return f"not auto-labelled: {fit['reason']}"
    return f"not auto-labelled at {100 * fit['target']:g}% (too few or too uncertain val photos: see the warning)"


def refit_command(model_dir: Path, config: TrainConfig, targets: dict[str, float]) -> str:
    """The ``evaluate`` command that refits the review thresholds on this run's own val split with ``targets``
    for those heads (the default for the others), all at once: each refit replaces every head's threshold."""
    import shlex

    from fashiontag.artifact import read_sidecar

    data = config.data
    words = ["fashiontag", "evaluate", str(model_dir), "--data", str(data.root)]
    words += ["--reader", data.reader] if data.reader and data.reader != "auto" else []
    words += ["--source", data.source] if data.source else []
    words += ["--split-file", read_sidecar(model_dir)["split"]["path"], "--out", str(model_dir.parent / "eval")]
    words += ["calibrate_split=val", "save_calibration=true"]
    return shlex.join([*words, *(f"target_accuracy.{head}={target:g}" for head, target in targets.items())])
