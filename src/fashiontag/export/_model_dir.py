"""Export a model directory: ``model.onnx`` (+ ``model.int8.onnx``) beside the weights, registered in the
sidecar with their sha256 so loading verifies them. Cascades export every part."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from fashiontag.artifact import (
    ONNX_INT8_NAME,
    ONNX_NAME,
    add_files,
    read_sidecar,
    resolve_preprocess,
    stamp_onnx_file,
    write_sidecar,
)
from fashiontag.export._int8 import Int8Options
from fashiontag.export._onnx import check_parity, export_network_onnx, onnx_info

ONNX_FILE, ONNX_INT8_FILE = ONNX_NAME, ONNX_INT8_NAME


def _export_single(
    model_dir: Path,
    sidecar: dict[str, Any],
    int8: bool,
    opset: int,
    exporter: str,
    atol: float,
    int8_kwargs: dict[str, Any],
) -> dict[str, Any]:
    from fashiontag.models import load_network

    network = load_network(model_dir, sidecar)
    _unregister(model_dir, sidecar, [ONNX_FILE, ONNX_INT8_FILE])
    heads = list(sidecar["heads"])
    size = resolve_preprocess(sidecar).size
    tmp = model_dir / f".{ONNX_FILE}.tmp"
    try:  # only a graph that passed the parity check ever replaces model.onnx
        used = export_network_onnx(network, heads, size, tmp, opset=opset, exporter=exporter)
        diff = check_parity(network, heads, size, tmp, atol=atol)
        stamp_onnx_file(tmp, sidecar)  # the ONNX backend refuses a graph stamped for other sidecar fields
        os.replace(tmp, model_dir / ONNX_FILE)
    finally:
        tmp.unlink(missing_ok=True)
    info: dict[str, Any] = {"exporter": used, **onnx_info(model_dir / ONNX_FILE), "parity_max_abs_diff": diff}
    files = [ONNX_FILE]
    if int8:
        info["int8"] = _export_int8(model_dir, sidecar, **int8_kwargs)
        stamp_onnx_file(model_dir / ONNX_INT8_FILE, sidecar)
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


def _export_int8(
    model_dir: Path,
    sidecar: dict[str, Any],
    data: str | Path | None,
    int8_options: Int8Options | None,
    speed_images: int,
    **load: Any,
) -> dict[str, Any]:
    from fashiontag.export._int8 import compare, measure_speed, quantize
    from fashiontag.export._int8_data import load_int8_data

    fp32, int8 = model_dir / ONNX_FILE, model_dir / ONNX_INT8_FILE
    if data is None:
        return {"method": quantize(fp32, int8, None), "data": None}
    sets = load_int8_data(data, sidecar, **load)
    options = int8_options or Int8Options()
    report: dict[str, Any] = {
        "method": quantize(fp32, int8, sets.calibration, options),
        "options": options.to_dict(),
        **sets.info,
    }
    if len(sets.images):
        report.update(compare(fp32, int8, sets.images, sets.targets, sidecar["heads"]))
        if speed_images:
            report["speed"] = measure_speed({"fp32": fp32, "int8": int8}, sets.images[:speed_images], rounds=3)
    return report


def export_onnx(
    model_dir: str | Path,
    int8: bool = False,
    opset: int = 18,
    data: str | Path | None = None,
    exporter: str = "dynamo",
    atol: float = 1e-4,
    calibration_size: int = 300,
    split_file: str | Path | None = None,
    split: str = "val",
    reader: str | None = None,
    report_size: int | None = 1000,
    int8_options: Int8Options | None = None,
    speed_images: int = 256,
) -> dict[str, Any]:
    """Export ``model_dir`` to ONNX (and int8), check parity and register the files in the sidecar.

    Args:
        model_dir: a model directory (``fashiontag.json`` + ``model.safetensors``), or a cascade.
        int8: also write ``model.int8.onnx`` (static QDQ calibrated on ``data``, else dynamic).
        opset: ONNX opset (18 is native to the dynamo exporter).
        data: int8 images: a dataset read with ``reader`` when ``split_file`` is given (calibrates on train,
            reports on ``split``), else a folder, .csv (``path`` + head columns) or .npz serving both.
        exporter: ``dynamo`` (default) or ``torchscript``; the other is tried if the first fails.
        atol: max |onnxruntime - torch| allowed by the parity check.
        calibration_size, report_size: at most this many calibration / report images (``None``: all).
        split_file, split, reader: ``item_id,split`` file, split reported on, dataset reader (default: training's).
        int8_options: quantisation settings (default :class:`Int8Options`).
        speed_images: images timed fp32 vs int8 (the process's threads, batch 16); 0 skips the timing.

    Returns:
        The export report stored in the sidecar under ``export.onnx`` ({name: report} for a cascade).

    Example:
        >>> export_onnx("runs/fpi/model", int8=True, data="data/fpi", split_file="runs/fpi/split.csv")  # doctest: +SKIP
    """
    model_dir = Path(model_dir)
    sidecar = read_sidecar(model_dir, verify=True)
    int8_kwargs = dict(data=data, int8_options=int8_options, speed_images=speed_images, split_file=split_file)
    int8_kwargs.update(split=split, reader=reader, calibration_size=calibration_size, report_size=report_size)
    parts = sidecar.get("parts") or {}
    if not parts:
        return _export_single(model_dir, sidecar, int8, opset, exporter, atol, int8_kwargs)
    kwargs = dict(int8=int8, opset=opset, exporter=exporter, atol=atol, **int8_kwargs)
    reports = {name: export_onnx(model_dir / sub, **kwargs) for name, sub in parts.items()}
    add_files(model_dir, [], export={**(sidecar.get("export") or {}), "onnx": reports})
    return reports
