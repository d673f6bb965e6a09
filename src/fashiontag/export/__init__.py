"""Exporters: a registry of formats (``onnx``; room for others) applied to a model directory.

Example:
    >>> from fashiontag.export import export_model
    >>> export_model("runs/fpi/model", "onnx", int8=True)  # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fashiontag.export._config import ExportConfig
from fashiontag.export._int8 import Int8Options, format_int8_report
from fashiontag.registry import Registry

EXPORTERS: Registry[dict[str, Any]] = Registry("export format")


@EXPORTERS.register("onnx")
def _onnx(model_dir: str | Path, **kwargs: Any) -> dict[str, Any]:
    from fashiontag.export._model_dir import export_onnx as _export

    return _export(model_dir, **kwargs)


def export_model(model_dir: str | Path, format: str = "onnx", **kwargs: Any) -> dict[str, Any]:
    """Export ``model_dir`` with the exporter registered as ``format``; returns its report."""
    return EXPORTERS.create(format, model_dir=model_dir, **kwargs)


def export_onnx(model_dir: str | Path, int8: bool = False, opset: int = 18, **kwargs: Any) -> dict[str, Any]:
    """See :func:`fashiontag.export._model_dir.export_onnx` (imports torch on call, not on import)."""
    from fashiontag.export._model_dir import export_onnx as _export

    return _export(model_dir, int8=int8, opset=opset, **kwargs)


def list_exporters() -> list[str]:
    return EXPORTERS.names()


__all__ = [
    "EXPORTERS",
    "ExportConfig",
    "Int8Options",
    "export_model",
    "export_onnx",
    "format_int8_report",
    "list_exporters",
]
