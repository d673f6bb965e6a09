"""onnxruntime backend (torch-free): a single session, or a cascade of router + specialist sessions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from fashiontag._threads import onnxruntime_threads
from fashiontag.artifact import ModelFileError, check_onnx_stamp, read_sidecar
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

    def __init__(self, path: Path, providers: list[str] | None = None, threads: int = 0, max_batch: int = 16,
                 sidecar: dict[str, Any] | None = None) -> None:
        self.session = make_session(path, providers, threads)
        if sidecar is not None:  # the graph must be stamped for the sidecar's current model fields
            check_onnx_stamp(path, self.session.get_modelmeta().custom_metadata_map, sidecar)
        self.input_name = self.session.get_inputs()[0].name
        self.heads = [output.name for output in self.session.get_outputs()]
        self.max_batch = max(1, max_batch)

    def run(self, images: np.ndarray) -> dict[str, np.ndarray]:
        images = np.ascontiguousarray(images, dtype=np.uint8)
        chunks = [self.session.run(None, {self.input_name: images[i : i + self.max_batch]})
                  for i in range(0, len(images), self.max_batch)] or [self.session.run(None, {self.input_name: images})]
        return {h: np.concatenate([c[k] for c in chunks]) for k, h in enumerate(self.heads)}


class _Specialist:
    def __init__(self, runner: OnnxRunner, taxonomy: Taxonomy, full: Taxonomy) -> None:
        self.runner = runner
        top = taxonomy.nodes_at(0)
        self.group = full.nodes[top[0]].parent  # subtree keeps full ids, so the group is the common parent
        # Columns of each specialist head inside the full model's head of the same name.
        self.columns = {head: np.asarray([full.head_labels(head).index(n) for n in taxonomy.head_labels(head)])
                        for head in taxonomy.levels}


class CascadeOnnxRunner:
    """Router picks a group per image; each group's specialist runs once on its images.

    Deeper-level probabilities are p(group) * p(node | group); nodes under other groups get 0.
    """

    def __init__(self, model_dir: Path, sidecar: dict[str, Any], file: str = "model.onnx", **kwargs: Any) -> None:
        self.taxonomy = Taxonomy.from_dict(sidecar["taxonomy"])
        parts = dict(sidecar["parts"])
        if "router" not in parts:
            raise ModelFileError(f"{model_dir}: cascade sidecar has no 'router' part (parts: {sorted(parts)})")
        router = model_dir / parts.pop("router")
        self.router = OnnxRunner(router / file, sidecar=read_sidecar(router, verify=False), **kwargs)
        self.groups = self.taxonomy.head_labels(self.taxonomy.levels[0])
        self.specialists: dict[str, _Specialist] = {}
        for sub in parts.values():
            part_sidecar = read_sidecar(model_dir / sub, verify=False)  # verified by the caller's read_sidecar
            spec = _Specialist(OnnxRunner(model_dir / sub / file, sidecar=part_sidecar, **kwargs),
                               Taxonomy.from_dict(part_sidecar["taxonomy"]), self.taxonomy)
            self.specialists[spec.group] = spec

    def run(self, images: np.ndarray) -> dict[str, np.ndarray]:
        routed = self.router.run(images)
        batch = len(images)
        out = {h: np.zeros((batch, len(self.taxonomy.head_labels(h))), np.float32) for h in self.taxonomy.heads}
        out.update({h: v.astype(np.float32) for h, v in routed.items() if h in out})
        group_probs = out[self.taxonomy.levels[0]]
        choice = np.argmax(group_probs, axis=1)
        for g, group in enumerate(self.groups):
            rows = np.flatnonzero(choice == g)
            spec = self.specialists.get(group)
            if spec is None or rows.size == 0:  # a leaf group has no specialist
                continue
            conditional = spec.runner.run(images[rows])
            scale = group_probs[rows, g][:, None]
            for head, columns in spec.columns.items():
                out[head][np.ix_(rows, columns)] = scale * conditional[head]
        return out
