"""int8 quantisation with onnxruntime: static QDQ calibrated on validation images when given, else dynamic;
plus the fp32-vs-int8 comparison stored in the sidecar."""

from __future__ import annotations

import csv
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from fashiontag.artifact import Preprocess
from fashiontag.data.images import ImageError, letterbox, load_image

IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".webp", ".bmp"}


def load_validation(data: str | Path, preprocess: Preprocess, limit: int = 300,
                    heads: list[str] | None = None) -> tuple[np.ndarray, dict[str, list[str | None]]]:
    """Validation images ``[N,S,S,3]`` uint8 and labels ``{head: [label id or None]}`` (may be empty).

    ``data``: an ``.npz`` with ``images`` (+ optional arrays named by head), a ``.csv`` with a ``path``
    column (+ optional columns named by head holding label ids or names), or a folder of images.
    """
    data = Path(data)
    if data.suffix == ".npz":
        archive = np.load(data, allow_pickle=False)
        images = archive["images"][:limit]
        labels = {h: [str(v) for v in archive[h][:limit]] for h in (heads or []) if h in archive.files}
        return images, labels
    if data.suffix == ".csv":
        with open(data, newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        paths = [r["path"] if Path(r["path"]).is_absolute() else str(data.parent / r["path"]) for r in rows]
    else:
        rows = []
        paths = [str(p) for p in sorted(data.rglob("*")) if p.suffix.lower() in IMAGE_EXTENSIONS]
    images, kept = [], []
    for i, path in enumerate(paths):
        if len(images) >= limit:
            break
        try:
            images.append(letterbox(load_image(path), preprocess.size, preprocess.fill))
            kept.append(i)
        except ImageError:
            continue
    labels = {h: [rows[i].get(h) or None for i in kept] for h in (heads or []) if rows and h in rows[0]}
    return np.stack(images) if images else np.zeros((0, preprocess.size, preprocess.size, 3), np.uint8), labels


def _reader(images: np.ndarray, batch: int = 16) -> Any:
    from onnxruntime.quantization import CalibrationDataReader

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = iter([images[i : i + batch] for i in range(0, len(images), batch)])

        def get_next(self) -> dict[str, np.ndarray] | None:
            chunk = next(self.batches, None)
            return None if chunk is None else {"images": chunk}

    return Reader()


def _head_nodes(path: Path) -> list[str]:
    """Heads (Gemm/MatMul/Softmax after the backbone) stay fp32: they cost little, and quantised
    probabilities would come out in steps of 1/255, too coarse for confidence thresholds."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    return [n.name for n in graph.node if n.op_type in ("Gemm", "MatMul", "Softmax")]


def quantize(fp32_path: Path, int8_path: Path, calibration: np.ndarray | None) -> str:
    """Write ``int8_path``; returns the method used (``static-qdq`` or ``dynamic``)."""
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_dynamic, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "pre.onnx"
        try:
            quant_pre_process(str(fp32_path), str(source), skip_symbolic_shape=True)
        except Exception:  # noqa: BLE001 - pre-processing is an optimisation only
            source = fp32_path
        if calibration is not None and len(calibration):
            quantize_static(str(source), str(int8_path), _reader(calibration), quant_format=QuantFormat.QDQ,
                            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, per_channel=True,
                            nodes_to_exclude=_head_nodes(source))
            return "static-qdq"
        quantize_dynamic(str(source), str(int8_path), weight_type=QuantType.QInt8)
        return "dynamic"


def compare(fp32_path: Path, int8_path: Path, images: np.ndarray, labels: dict[str, list[str | None]],
            head_labels: dict[str, list[str]]) -> dict[str, Any]:
    """Per head: top-1 agreement int8 vs fp32, and accuracy of each against labels when given."""
    import onnxruntime as ort

    def run(path: Path) -> dict[str, np.ndarray]:
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        names = [o.name for o in session.get_outputs()]
        outs = [session.run(None, {"images": images[i : i + 32]}) for i in range(0, len(images), 32)]
        return {n: np.concatenate([o[k] for o in outs]) for k, n in enumerate(names)}

    fp32, int8 = run(fp32_path), run(int8_path)
    report: dict[str, Any] = {"images": int(len(images)), "heads": {}}
    for head, names in head_labels.items():
        a, b = fp32[head].argmax(1), int8[head].argmax(1)
        entry: dict[str, Any] = {"top1_agreement": float(np.mean(a == b)),
                                 "max_abs_diff": float(np.max(np.abs(fp32[head] - int8[head])))}
        truth = labels.get(head)
        if truth:
            short = {n.split(" > ")[-1]: i for i, n in enumerate(names)}
            index = [names.index(t) if t in names else short.get(str(t), -1) if t else -1 for t in truth]
            known = np.asarray([i >= 0 for i in index])
            if known.any():
                target = np.asarray(index)[known]
                entry["accuracy_fp32"] = float(np.mean(a[known] == target))
                entry["accuracy_int8"] = float(np.mean(b[known] == target))
                entry["labelled"] = int(known.sum())
        report["heads"][head] = entry
    return report
