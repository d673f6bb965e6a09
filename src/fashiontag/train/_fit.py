"""fit(config) -> model directory: full fine-tune on Lightning, or probe mode; cascade trains each part."""

from __future__ import annotations

import importlib.metadata as md
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from fashiontag._io import sha256_file
from fashiontag.config import to_dict
from fashiontag.data.taxonomy import Taxonomy, load_taxonomy
from fashiontag.models import create_network, default_preprocess, save_model
from fashiontag.train._adapt import adapt_from_config
from fashiontag.train._config import TrainConfig
from fashiontag.train._data import TrainData, load_train_data
from fashiontag.train._metrics import head_targets


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
    options = {"attribute": config.strategy_attribute} if config.strategy == "combined" else {}
    if config.init_from:
        return adapt_from_config(config, taxonomy, **options)
    pre = default_preprocess(config.backbone, config.image_size, config.input_size)
    return create_network(taxonomy, config.backbone, config.strategy, pre, config.pretrained, **options)


def _targets(net: torch.nn.Module, leaves: list, attributes: dict[str, list]) -> tuple[np.ndarray, np.ndarray]:
    strategy = net.head.encode_targets(leaves, attributes)
    st = np.stack([strategy[h] for h in net.logit_heads], axis=1).astype(np.int64)
    return st, head_targets(net.taxonomy, leaves, attributes)


def _train_one(net: torch.nn.Module, images: np.ndarray, leaves: list, attrs: dict, split: np.ndarray,
               config: TrainConfig, run_dir: Path, feature_memo: Any = None) -> dict[str, float]:
    strategy_t, heads_t = _targets(net, leaves, attrs)
    train_rows, val_rows = np.flatnonzero(split == "train"), np.flatnonzero(split == "val")
    if config.probe:
        from fashiontag.train._probe import evaluate_features, extract_features, train_heads

        rows = np.concatenate([train_rows, val_rows])
        feats = feature_memo.features(net, images, rows) if feature_memo is not None else extract_features(
            net, images[rows])
        train_heads(net, feats[: len(train_rows)], torch.from_numpy(strategy_t[train_rows]), config)
        return evaluate_features(net, feats[len(train_rows) :], torch.from_numpy(heads_t[val_rows]))
    from fashiontag.train._lightning import run_lightning

    return run_lightning(net, images, strategy_t, heads_t, train_rows, val_rows, config, run_dir)


def _parts_data(taxonomy: Taxonomy, data: TrainData, part: str, net: torch.nn.Module) -> tuple[np.ndarray, list, dict]:
    leaves = data.labels["leaf"].tolist()
    if part == "router":
        rows = np.arange(len(leaves))
        return rows, [taxonomy.ancestors(x)[0] for x in leaves], data.attributes(rows)
    rows = np.flatnonzero([taxonomy.ancestors(x)[0] == part for x in leaves])
    return rows, [leaves[i] for i in rows], {}


def train_network(net: torch.nn.Module, data: TrainData, config: TrainConfig, run_dir: Path) -> dict[str, Any]:
    """Train ``net`` (TaggerNet or CascadeNet) on ``data``; returns validation metrics."""
    split = data.labels["split"].to_numpy()
    if net.strategy != "cascade":
        rows = np.arange(len(data.labels))
        return _train_one(net, data.images, data.labels["leaf"].tolist(), data.attributes(rows), split, config,
                          run_dir, data.feature_memo)
    metrics: dict[str, Any] = {}
    for name, part in net.parts().items():
        rows, leaves, attrs = _parts_data(data.taxonomy, data, name, part)
        metrics[name] = _train_one(part, data.images[rows], leaves, attrs, split[rows], config,
                                   run_dir / net.part_dirs()[name])
    return metrics


def fit(config: TrainConfig, data: TrainData | None = None) -> Path:
    """Train per ``config`` and write ``<out>/model`` (weights + sidecar); returns the model directory.

    Example:
        >>> fit(TrainConfig(data="../shared/data/fpi_small", probe=True, out="runs/probe"))  # doctest: +SKIP
    """
    torch.manual_seed(config.seed)
    taxonomy = load_taxonomy(config.taxonomy)
    out = Path(config.out)
    net = build_net(config, taxonomy)  # before the data, so a bad init_from fails at once
    data = data if data is not None else load_train_data(config, taxonomy)
    metrics = train_network(net, data, config, out)
    if int(os.environ.get("LOCAL_RANK", "0")) != 0:
        return out / "model"
    out.mkdir(parents=True, exist_ok=True)  # probe runs on in-memory data create nothing before this
    split_path = out / "split.csv"
    data.labels[["item_id", "split"]].to_csv(split_path, index=False)
    model_dir = out / "model"
    extra = {"init_from": net.adapt_info} if config.init_from else {}
    save_model(net.cpu().eval(), model_dir, training=to_dict(config), metrics=metrics, versions=_versions(),
               split={"path": str(split_path.resolve()), "sha256": sha256_file(split_path)}, **extra)
    from fashiontag.train._report import plot_learning_curves

    plot_learning_curves(out)
    return model_dir
