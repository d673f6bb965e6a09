"""Export a model directory: ``model.onnx`` (+ ``model.int8.onnx``) beside the weights, registered in the
sidecar with their sha256 so loading verifies them. Cascades export every part."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from fashiontag.artifact import add_files, read_sidecar, resolve_preprocess, write_sidecar
from fashiontag.export._onnx import check_parity, export_network_onnx, onnx_info

ONNX_FILE = "model.onnx"
ONNX_INT8_FILE = "model.int8.onnx"


def _export_single(model_dir: Path, sidecar: dict[str, Any], int8: bool, opset: int, data: str | Path | None,
                   exporter: str, atol: float, calibration_size: int) -> dict[str, Any]:
    from fashiontag.models import load_network

    network = load_network(model_dir, sidecar)
    _unregister(model_dir, sidecar, [ONNX_FILE, ONNX_INT8_FILE])
    heads = list(sidecar["heads"])
    size = resolve_preprocess(sidecar).size
    tmp = model_dir / f".{ONNX_FILE}.tmp"
    try:  # only a graph that passed the parity check ever replaces model.onnx
        used = export_network_onnx(network, heads, size, tmp, opset=opset, exporter=exporter)
        diff = check_parity(network, heads, size, tmp, atol=atol)
        os.replace(tmp, model_dir / ONNX_FILE)
    finally:
        tmp.unlink(missing_ok=True)
    info: dict[str, Any] = {"exporter": used, **onnx_info(model_dir / ONNX_FILE), "parity_max_abs_diff": diff}
    files = [ONNX_FILE]
    if int8:
        info["int8"] = _export_int8(model_dir, sidecar, heads, data, calibration_size)
        files.append(ONNX_INT8_FILE)
    export = {**(sidecar.get("export") or {}), "onnx": info}
    add_files(model_dir, files, export=export)
    return info


def _unregister(model_dir: Path, sidecar: dict[str, Any], names: list[str]) -> None:
    """Drop earlier exports from the sidecar before overwriting them, so a re-export (or a crash midway)
    never leaves a sidecar vouching for files being replaced."""
    if any(name in sidecar["files"] for name in names):
        files = {k: v for k, v in sidecar["files"].items() if k not in names}
        write_sidecar(model_dir, {**sidecar, "files": files})


def _export_int8(model_dir: Path, sidecar: dict[str, Any], heads: list[str], data: str | Path | None,
                 calibration_size: int) -> dict[str, Any]:
    from fashiontag.export._int8 import compare, load_validation, quantize

    preprocess = resolve_preprocess(sidecar)
    images, labels = (load_validation(data, preprocess, calibration_size, heads) if data is not None
                      else (None, {}))
    method = quantize(model_dir / ONNX_FILE, model_dir / ONNX_INT8_FILE, images)
    report: dict[str, Any] = {"method": method, "data": str(data) if data is not None else None}
    if images is not None and len(images):
        # Calibration and comparison share the images: a sanity check, not a held-out estimate.
        report.update(compare(model_dir / ONNX_FILE, model_dir / ONNX_INT8_FILE, images, labels, sidecar["heads"]))
    return report


def export_onnx(model_dir: str | Path, int8: bool = False, opset: int = 18, data: str | Path | None = None,
                exporter: str = "dynamo", atol: float = 1e-4, calibration_size: int = 300) -> dict[str, Any]:
    """Export ``model_dir`` to ONNX (and int8), check parity and register the files in the sidecar.

    Args:
        model_dir: a model directory (``fashiontag.json`` + ``model.safetensors``), or a cascade.
        int8: also write ``model.int8.onnx`` (static QDQ calibrated on ``data``, else dynamic).
        opset: ONNX opset (18 is native to the dynamo exporter).
        data: validation images for int8 calibration and the accuracy report: folder, .csv (``path`` +
            head columns) or .npz (``images`` + head arrays).
        exporter: ``dynamo`` (default) or ``torchscript``; the other is tried if the first fails.
        atol: max |onnxruntime - torch| allowed by the parity check.

    Returns:
        The export report stored in the sidecar under ``export.onnx`` ({name: report} for a cascade).

    Example:
        >>> export_onnx("runs/fpi/model", int8=True, data="data/val.csv")  # doctest: +SKIP
    """
    model_dir = Path(model_dir)
    sidecar = read_sidecar(model_dir, verify=True)
    kwargs = dict(int8=int8, opset=opset, data=data, exporter=exporter, atol=atol, calibration_size=calibration_size)
    parts = sidecar.get("parts") or {}
    if not parts:
        return _export_single(model_dir, sidecar, **kwargs)
    reports = {name: export_onnx(model_dir / sub, **kwargs) for name, sub in parts.items()}
    add_files(model_dir, [], export={**(sidecar.get("export") or {}), "onnx": reports})
    return reports
