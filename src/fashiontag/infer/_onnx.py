"""onnxruntime backend (torch-free): a single session, or a cascade of router + specialist sessions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from fashiontag._threads import onnxruntime_threads
from fashiontag.artifact import ONNX_NAME, ModelFileError, check_onnx_stamp, read_sidecar
from fashiontag.cascade import combine, part_columns
from fashiontag.data.taxonomy import Taxonomy


def make_session(path: Path, providers: list[str] | None = None, threads: int = 0) -> ort.InferenceSession:
    """A CPU (or ``providers``) session with ``threads`` intra-op threads (0: :func:`onnxruntime_threads`)."""
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads, options.inter_op_num_threads = threads or onnxruntime_threads(), 1
    try:
        return ort.InferenceSession(str(path), options, providers=providers or ["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph types
        raise ModelFileError(f"{path}: onnxruntime cannot load it ({exc})") from None


class OnnxRunner:
    """One ONNX graph: input ``images`` uint8 [B,S,S,3], one output per head.

    Runs at most ``max_batch`` images per session call: on CPU, 224px batches of 64 were ~10% slower per image
    than batches of 2-16 (activations fall out of cache), while the Labeller's batch size stays free.
    """

    def __init__(
        self,
        path: Path,
        providers: list[str] | None = None,
        threads: int = 0,
        max_batch: int = 16,
        sidecar: dict[str, Any] | None = None,
    ) -> None:
        self.session = make_session(path, providers, threads)
        if sidecar is not None:  # the graph must be stamped for the sidecar's current model fields
            check_onnx_stamp(path, self.session.get_modelmeta().custom_metadata_map, sidecar)
        self.input_name = self.session.get_inputs()[0].name
        self.heads = [output.name for output in self.session.get_outputs()]
        self.max_batch = max(1, max_batch)

    def run(self, images: np.ndarray) -> dict[str, np.ndarray]:
        images = np.ascontiguousarray(images, dtype=np.uint8)
        chunks = [
            self.session.run(None, {self.input_name: images[i : i + self.max_batch]})
            for i in range(0, len(images), self.max_batch)
        ] or [self.session.run(None, {self.input_name: images})]
        return {h: np.concatenate([c[k] for c in chunks]) for k, h in enumerate(self.heads)}


class CascadeOnnxRunner:
    """Router picks a group per image; each group's specialist runs once on its images.

    The parts combine by :func:`fashiontag.cascade.combine`, the rule the torch ``CascadeNet`` uses.
    """

    def __init__(self, model_dir: Path, sidecar: dict[str, Any], file: str = ONNX_NAME, **kwargs: Any) -> None:
        self.taxonomy = Taxonomy.from_dict(sidecar["taxonomy"])
        parts = dict(sidecar["parts"])
        if "router" not in parts:
            raise ModelFileError(f"{model_dir}: cascade sidecar has no 'router' part (parts: {sorted(parts)})")
        router = model_dir / parts.pop("router")
        self.router = OnnxRunner(router / file, sidecar=read_sidecar(router, verify=False), **kwargs)
        self.specialists: dict[str, OnnxRunner] = {}
        self.columns: dict[str, dict[str, np.ndarray]] = {}
        for sub in parts.values():
            part_sidecar = read_sidecar(model_dir / sub, verify=False)  # verified by the caller's read_sidecar
            part = Taxonomy.from_dict(part_sidecar["taxonomy"])
            group = self.taxonomy.nodes[part.nodes_at(0)[0]].parent  # a subtree keeps full ids: the common parent
            self.specialists[group] = OnnxRunner(model_dir / sub / file, sidecar=part_sidecar, **kwargs)
            self.columns[group] = part_columns(self.taxonomy, part)

    def run(self, images: np.ndarray) -> dict[str, np.ndarray]:
        return combine(
            self.taxonomy,
            self.router.run(images),
            self.columns,
            lambda group, rows: self.specialists[group].run(images[rows]),
        )
