"""int8 quantisation with onnxruntime: static QDQ calibrated on images when given, else dynamic; the
fp32-vs-int8 comparison (agreement, accuracy change) and speed stored in the sidecar."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

# Groups of nodes that can be kept in fp32. ``heads``: Gemm/MatMul/Softmax after the backbone (they cost
# little, and quantised probabilities would come out in steps of 1/255, too coarse for thresholds).
# ``input``: everything before the first Conv (cast, resize, normalisation). ``stem``: the first Conv.
# ``last``: the last Conv. ``tail``: everything after the last Conv (pool, reshape, heads).
EXCLUDE_GROUPS = ("heads", "input", "stem", "last", "tail")
CALIBRATION_METHODS = ("minmax", "entropy", "percentile")


@dataclass(frozen=True)
class Int8Options:
    """Static quantisation settings. The defaults are the most accurate fast setting measured on the demo model
    (tf_efficientnet_lite0, docs/predict.md): on CPUs without VNNI (AVX2, AVX-512F) onnxruntime multiplies uint8
    activations by int8 weights with ``vpmaddubsw``, whose int16 pair sums saturate, so weights use 7 bits
    (``reduce_range``), except the depthwise convs' (their kernel does not saturate and 7 bits cost accuracy),
    and the stem conv, fed the white letterbox padding at full scale, stays fp32 (which is also faster).

    Example:
        >>> Int8Options(calibrate_method="percentile").exclude
        ('heads', 'stem')
    """

    calibrate_method: str = "minmax"
    percentile: float = 99.999
    exclude: tuple[str, ...] = ("heads", "stem")
    per_channel: bool = True
    activation_type: str = "uint8"
    weight_type: str = "int8"
    reduce_range: bool = True
    depthwise_full_range: bool = True
    symmetric_activations: bool = False
    moving_average: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "exclude": list(self.exclude)}


def _reader(images: np.ndarray, batch: int = 16) -> Any:
    from onnxruntime.quantization import CalibrationDataReader

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = iter([images[i : i + batch] for i in range(0, len(images), batch)])

        def get_next(self) -> dict[str, np.ndarray] | None:
            chunk = next(self.batches, None)
            return None if chunk is None else {"images": chunk}

    return Reader()


def excluded_nodes(path: Path, groups: Iterable[str]) -> list[str]:
    """Names of the nodes in ``groups`` (see ``EXCLUDE_GROUPS``) of the graph at ``path``."""
    import onnx

    groups = set(groups)
    unknown = groups - set(EXCLUDE_GROUPS)
    if unknown:
        raise ValueError(f"unknown exclude group(s) {sorted(unknown)}; choose from {list(EXCLUDE_GROUPS)}")
    nodes = list(onnx.load(str(path), load_external_data=False).graph.node)
    convs = [i for i, n in enumerate(nodes) if n.op_type == "Conv"]
    first, last = (convs[0], convs[-1]) if convs else (len(nodes), len(nodes))
    picked = set()
    for i, node in enumerate(nodes):
        if ("heads" in groups and node.op_type in ("Gemm", "MatMul", "Softmax")) or (
            ("input" in groups and i < first)
            or ("stem" in groups and i == first)
            or ("last" in groups and i == last)
            or ("tail" in groups and i > last)
        ):
            picked.add(node.name)
    return [n.name for n in nodes if n.name in picked]


def _depthwise_weights(path: Path) -> list[str]:
    """Weights of the grouped convs with one input channel per group (depthwise)."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    shapes = {init.name: list(init.dims) for init in graph.initializer}
    out = []
    for node in graph.node:
        group = next((a.i for a in node.attribute if a.name == "group"), 1)
        if node.op_type == "Conv" and group > 1 and shapes.get(node.input[1], [0, 0])[1] == 1:
            out.append(node.input[1])
    return out


def _static(source: Path, int8_path: Path, calibration: np.ndarray, options: Int8Options) -> None:
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    methods = dict(
        zip(
            CALIBRATION_METHODS,
            (CalibrationMethod.MinMax, CalibrationMethod.Entropy, CalibrationMethod.Percentile),
            strict=True,
        )
    )
    if options.calibrate_method not in methods:
        raise ValueError(f"unknown calibration method {options.calibrate_method!r}; choose from {list(methods)}")
    types = {"uint8": QuantType.QUInt8, "int8": QuantType.QInt8}
    extra: dict[str, Any] = {
        "ActivationSymmetric": options.symmetric_activations,
        "CalibMovingAverage": options.moving_average,
    }
    if options.reduce_range and options.depthwise_full_range:
        full_range = [{"axis": 0, "reduce_range": False}]
        extra["TensorQuantOverrides"] = {name: full_range for name in _depthwise_weights(source)}
    if options.calibrate_method == "percentile":
        extra["CalibPercentile"] = options.percentile
    if options.calibrate_method != "minmax" and len(calibration) > 16:
        calibration = calibration[: len(calibration) // 16 * 16]  # histogram collectors need equal batches
    quantize_static(
        str(source),
        str(int8_path),
        _reader(calibration),
        quant_format=QuantFormat.QDQ,
        activation_type=types[options.activation_type],
        weight_type=types[options.weight_type],
        per_channel=options.per_channel,
        reduce_range=options.reduce_range,
        nodes_to_exclude=excluded_nodes(source, options.exclude),
        calibrate_method=methods[options.calibrate_method],
        extra_options=extra,
    )


def quantize(
    fp32_path: Path, int8_path: Path, calibration: np.ndarray | None, options: Int8Options | None = None
) -> str:
    """Write ``int8_path``; returns the method used (``static-qdq`` or ``dynamic``)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.quantization.shape_inference import quant_pre_process

    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "pre.onnx"
        try:
            quant_pre_process(str(fp32_path), str(source), skip_symbolic_shape=True)
        except Exception:  # noqa: BLE001 - pre-processing is an optimisation only
            source = fp32_path
        if calibration is not None and len(calibration):
            _static(source, int8_path, calibration, options or Int8Options())
            return "static-qdq"
        quantize_dynamic(str(source), str(int8_path), weight_type=QuantType.QInt8)
        return "dynamic"


def _session(path: Path, threads: int | None = None) -> Any:
    import onnxruntime as ort

    from fashiontag._threads import onnxruntime_threads

    opts = ort.SessionOptions()
    opts.intra_op_num_threads, opts.inter_op_num_threads = threads or onnxruntime_threads(), 1
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def run_model(path: Path, images: np.ndarray, batch: int = 32) -> dict[str, np.ndarray]:
    """``{output name: [N, ...]}`` of the ONNX model at ``path`` over uint8 ``images``."""
    session = _session(path)
    names = [o.name for o in session.get_outputs()]
    outs = [session.run(None, {"images": images[i : i + batch]}) for i in range(0, len(images), batch)]
    return {n: np.concatenate([o[k] for o in outs]) for k, n in enumerate(names)}


def compare(
    fp32_path: Path, int8_path: Path, images: np.ndarray, targets: dict[str, np.ndarray], heads: Iterable[str]
) -> dict[str, Any]:
    """Per head: top-1 agreement int8 vs fp32, max |difference|, and (where ``targets`` has labels, index
    ``-1`` = unknown) accuracy of each, its change and the number of labelled images ``n``."""
    fp32, int8 = run_model(fp32_path, images), run_model(int8_path, images)
    report: dict[str, Any] = {"images": int(len(images)), "heads": {}}
    for head in heads:
        a, b = fp32[head].argmax(1), int8[head].argmax(1)
        entry: dict[str, Any] = {
            "top1_agreement": float(np.mean(a == b)),
            "max_abs_diff": float(np.max(np.abs(fp32[head] - int8[head]))),
        }
        target = np.asarray(targets.get(head, []))
        known = target >= 0
        if len(target) == len(images) and known.any():
            accuracy_fp32, accuracy_int8 = (
                float(np.mean(a[known] == target[known])),
                float(np.mean(b[known] == target[known])),
            )
            entry.update(
                accuracy_fp32=accuracy_fp32,
                accuracy_int8=accuracy_int8,
                accuracy_change=accuracy_int8 - accuracy_fp32,
                n=int(known.sum()),
            )
        report["heads"][head] = entry
    return report


def measure_speed(
    paths: dict[str, Path], images: np.ndarray, threads: int | None = None, batch: int = 16, rounds: int = 5
) -> dict[str, Any]:
    """Images/s of each model with ``threads`` intra-op threads (default: the process's count): best of
    ``rounds`` passes over ``images`` in batches of ``batch``, the models taking turns within a round (other jobs
    on a shared machine only ever slow a pass down, and taking turns exposes every model to the same load)."""
    from fashiontag._threads import onnxruntime_threads

    threads = threads or onnxruntime_threads()
    sessions = {name: _session(path, threads) for name, path in paths.items()}
    best = dict.fromkeys(sessions, float("inf"))
    for session in sessions.values():
        session.run(None, {"images": images[:batch]})
    for _ in range(rounds):
        for name, session in sessions.items():
            start = time.perf_counter()
            for i in range(0, len(images), batch):
                session.run(None, {"images": images[i : i + batch]})
            best[name] = min(best[name], time.perf_counter() - start)
    out: dict[str, Any] = {"threads": threads, "batch": batch, "images": int(len(images))}
    out.update({f"{name}_images_per_s": len(images) / seconds for name, seconds in best.items()})
    if {"fp32", "int8"} <= set(best):
        out["speedup"] = best["fp32"] / best["int8"]
    return out


def format_int8_report(report: dict[str, Any]) -> str:
    """The per-head table of an int8 report (accuracy fp32/int8 and change where labelled, agreement, n).

    Example:
        >>> print(format_int8_report({"method": "dynamic"}))
        int8: dynamic (no data, nothing measured)
    """
    if "heads" not in report:
        return f"int8: {report.get('method')} (no data, nothing measured)"
    on = (
        f"calibrated on {report.get('calibration_images')} {report.get('calibration_split', '')} images, "
        f"reported on {report.get('report_images')} {report.get('split', '')} images"
        + ("" if report.get("disjoint") else " (the same images)")
    )
    lines = [f"int8: {report['method']}, {' '.join(on.split())}"]
    speed = report.get("speed") or {}
    if "speedup" in speed:
        lines.append(
            f"speed ({speed['threads']} threads, batch {speed['batch']}): fp32 "
            f"{speed['fp32_images_per_s']:.0f} images/s, int8 {speed['int8_images_per_s']:.0f} images/s, "
            f"{speed['speedup']:.2f}x"
        )
    lines.append(f"{'head':<16}{'acc fp32':>10}{'acc int8':>10}{'change':>9}{'agreement':>11}{'n':>7}")
    for head, entry in report["heads"].items():
        if "n" in entry:
            fp32, int8, change = entry["accuracy_fp32"], entry["accuracy_int8"], entry["accuracy_change"]
            accuracy = f"{fp32:>10.3f}{int8:>10.3f}{change:>+9.3f}"
        else:
            accuracy = f"{'-':>10}{'-':>10}{'-':>9}"
        lines.append(f"{head:<16}{accuracy}{entry['top1_agreement']:>11.3f}{entry.get('n', '-'):>7}")
    return "\n".join(lines)
