"""PredictConfig: the settings of ``fashiontag predict`` (defaults -> YAML -> options -> key=value)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class PredictConfig:
    """How a batch of photos is labelled into a CSV/JSONL file.

    Example:
        >>> from fashiontag.config import build_config
        >>> build_config(PredictConfig, overrides=["top_k=5"]).top_k
        5
    """

    backend: str = "auto"  # auto (onnx when exported, else torch), onnx, onnx-int8 or torch
    batch_size: int = 64  # images per forward pass
    top_k: int = 3  # alternatives kept per head (JSONL)
    progress: bool = True  # show a progress bar
    tta: str = "none"  # test-time augmentation: none, flip (2 views) or multiscale (4 views); 2-4x slower
    engine: Literal["local", "ray"] = "local"  # ray: a Ray Data pipeline writing a folder of shards
    address: str | None = None  # engine=ray: cluster to join (auto, HOST:PORT, ray://HOST:PORT); None: a private Ray
