"""PyTorch backend: eager network from safetensors via ``fashiontag.models.load_network`` (no pickle)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch


class TorchRunner:
    """Runs a network (TaggerNet or routing CascadeNet) on uint8 NHWC batches, ``max_batch`` images per forward
    pass: activations grow with the batch (3,700 images at 128 px in one pass took ~15 GB)."""

    def __init__(
        self,
        model_dir: Path | None,
        sidecar: dict[str, Any],
        network: Any = None,
        device: str = "cpu",
        max_batch: int = 128,
    ) -> None:
        self.max_batch = max_batch
        if network is None:
            from fashiontag.models import load_network

            network = load_network(model_dir, sidecar)
        self.device = torch.device(device)
        self.network = network.to(self.device).eval()

    def run(self, images: np.ndarray) -> dict[str, np.ndarray]:
        images = np.ascontiguousarray(images)
        if not images.flags.writeable:  # torch warns on read-only buffers (np.asarray of a PIL image)
            images = images.copy()
        chunks = []
        with torch.inference_mode():
            for start in range(0, max(len(images), 1), self.max_batch):
                out = self.network(torch.from_numpy(images[start : start + self.max_batch]).to(self.device))
                chunks.append({head: value.float().cpu().numpy() for head, value in out.items()})
        return {head: np.concatenate([chunk[head] for chunk in chunks]) for head in chunks[0]}
