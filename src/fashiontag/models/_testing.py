"""Test helpers for other stages: a saved, untrained smallcnn model in a few milliseconds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from fashiontag.artifact import Preprocess
from fashiontag.data.taxonomy import Taxonomy
from fashiontag.models._net import create_network
from fashiontag.models._save import save_model


def make_tiny_model(
    model_dir: str | Path,
    taxonomy: Taxonomy,
    strategy: str = "flat",
    size: int = 32,
    seed: int = 0,
    **sidecar_extra: Any,
) -> dict[str, Any]:
    """Save an untrained smallcnn model (letterbox ``size``, input 32) to ``model_dir``; returns its sidecar."""
    torch.manual_seed(seed)
    net = create_network(taxonomy, "smallcnn", strategy, Preprocess(size, 32))
    return save_model(net.eval(), model_dir, **sidecar_extra)
