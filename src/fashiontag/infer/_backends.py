"""Backend registry: a backend turns a verified model directory into a ``Runner``.

A runner maps letterboxed uint8 images ``[B, S, S, 3]`` to ``{head: probabilities [B, n_labels]}`` as numpy.
Backends import their engine (torch, onnxruntime) only when created, so the ONNX path never imports torch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

import numpy as np

from fashiontag.artifact import ONNX_INT8_NAME, ONNX_NAME, ModelFileError, read_sidecar
from fashiontag.registry import Registry

ONNX_FILE, ONNX_INT8_FILE = ONNX_NAME, ONNX_INT8_NAME


class Runner(Protocol):
    def run(self, images: np.ndarray) -> dict[str, np.ndarray]: ...


BACKENDS: Registry[Runner] = Registry("backend")


def list_backends() -> list[str]:
    return BACKENDS.names()


def create_runner(name: str, model_dir: Path, sidecar: dict[str, Any], **kwargs: Any) -> Runner:
    return BACKENDS.create(name, model_dir=model_dir, sidecar=sidecar, **kwargs)


def has_file(model_dir: Path, sidecar: dict[str, Any], name: str) -> bool:
    """Whether ``name`` is registered in the sidecar (for a cascade: in every part's sidecar)."""
    parts = sidecar.get("parts") or {}
    if parts:
        return all(name in read_sidecar(model_dir / sub, verify=False)["files"] for sub in parts.values())
    return name in sidecar["files"]


def auto_backend(model_dir: Path, sidecar: dict[str, Any]) -> str:
    return "onnx" if has_file(model_dir, sidecar, ONNX_FILE) else "torch"


def require_file(model_dir: Path, sidecar: dict[str, Any], name: str, hint: str) -> None:
    if not has_file(model_dir, sidecar, name):
        raise ModelFileError(f"{model_dir}: {name} is not registered in the sidecar; {hint}")


@BACKENDS.register("torch")
def _torch_backend(model_dir: Path, sidecar: dict[str, Any], **kwargs: Any) -> Runner:
    from fashiontag.infer._torch import TorchRunner

    return TorchRunner(model_dir, sidecar, **kwargs)


def _onnx(model_dir: Path, sidecar: dict[str, Any], file: str, **kwargs: Any) -> Runner:
    from fashiontag.infer._onnx import CascadeOnnxRunner, OnnxRunner

    require_file(model_dir, sidecar, file, "run `fashiontag export MODEL --format onnx` (add --int8 for int8)")
    if sidecar.get("parts"):
        return CascadeOnnxRunner(model_dir, sidecar, file=file, **kwargs)
    return OnnxRunner(model_dir / file, sidecar=sidecar, **kwargs)


@BACKENDS.register("onnx")
def _onnx_backend(model_dir: Path, sidecar: dict[str, Any], **kwargs: Any) -> Runner:
    return _onnx(model_dir, sidecar, ONNX_FILE, **kwargs)


@BACKENDS.register("onnx-int8")
def _onnx_int8_backend(model_dir: Path, sidecar: dict[str, Any], **kwargs: Any) -> Runner:
    return _onnx(model_dir, sidecar, ONNX_INT8_FILE, **kwargs)
