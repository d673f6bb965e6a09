"""PyTorch backend: eager network from safetensors via ``fashiontag.models.load_network`` (no pickle)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch


class TorchRunner:
    """Runs a network (TaggerNet or routing CascadeNet) on uint8 NHWC batches."""

    def __init__(self, model_dir: Path | None, sidecar: dict[str, Any], network: Any = None,
                 device: str = "cpu") -> None:
        if network is None:
            from fashiontag.models import load_network

            network = load_network(model_dir, sidecar)
        self.device = torch.device(device)
        self.network = network.to(self.device).eval()

    def run(self, images: np.ndarray) -> dict[str, np.ndarray]:
        images = np.ascontiguousarray(images)
        if not images.flags.writeable:  # torch warns on read-only buffers (np.asarray of a PIL image)
            images = images.copy()
        with torch.inference_mode():
            out = self.network(torch.from_numpy(images).to(self.device))
        return {head: value.float().cpu().numpy() for head, value in out.items()}
