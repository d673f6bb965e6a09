"""Network -> ONNX (uint8 NHWC ``images`` in, one probability output per head, dynamic batch), with a
parity check against onnxruntime that fails loudly."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

log = logging.getLogger(__name__)


class ExportError(RuntimeError):
    """Export failed or the exported graph disagrees with the PyTorch network."""


class _Wrapper(torch.nn.Module):
    """Returns the head outputs as a tuple in a fixed order, so ONNX output names map one-to-one."""

    def __init__(self, network: torch.nn.Module, heads: list[str]) -> None:
        super().__init__()
        self.network, self.heads = network, heads

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, ...]:
        out = self.network(images)
        return tuple(out[h] for h in self.heads)


def _export(wrapper: _Wrapper, path: Path, size: int, opset: int, exporter: str) -> None:
    example = (torch.randint(0, 256, (2, size, size, 3), dtype=torch.uint8),)
    common = dict(input_names=["images"], output_names=wrapper.heads, opset_version=opset)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if exporter == "dynamo":
            batch = torch.export.Dim("batch", min=1, max=65536)
            program = torch.onnx.export(
                wrapper,
                example,
                dynamo=True,
                dynamic_shapes=({0: batch},),
                external_data=False,
                verbose=False,
                **common,
            )
            program.save(str(path))
        else:
            torch.onnx.export(
                wrapper,
                example,
                str(path),
                dynamo=False,
                dynamic_axes={"images": {0: "batch"}, **{h: {0: "batch"} for h in wrapper.heads}},
                **common,
            )


def export_network_onnx(
    network: torch.nn.Module, heads: list[str], size: int, path: str | Path, opset: int = 18, exporter: str = "dynamo"
) -> str:
    """Write ``network`` to ``path``; tries the ``dynamo`` exporter, falls back to ``torchscript``.

    Returns the exporter that worked. Opset 18 is the dynamo exporter's native opset (it cannot
    down-convert some ops to 17).
    """
    path = Path(path)
    wrapper = _Wrapper(network.eval(), heads).eval()
    order = [exporter] + [e for e in ("dynamo", "torchscript") if e != exporter]
    errors = []
    for name in order:
        try:
            _export(wrapper, path, size, opset, name)
            return name
        except Exception as exc:  # noqa: BLE001 - try the next exporter, report all at the end
            log.warning("%s exporter failed: %s", name, exc)
            errors.append(f"{name}: {type(exc).__name__}: {str(exc)[:300]}")
    raise ExportError("ONNX export failed with every exporter:\n" + "\n".join(errors))


def check_parity(
    network: torch.nn.Module,
    heads: list[str],
    size: int,
    path: str | Path,
    atol: float = 1e-4,
    batch: int = 3,
    seed: int = 0,
) -> float:
    """Max |onnxruntime - torch| over all heads on random uint8 input; raises ExportError above ``atol``.

    Uses a batch size other than the export example's to prove the batch axis is dynamic.
    """
    import onnxruntime as ort

    images = np.random.default_rng(seed).integers(0, 256, (batch, size, size, 3), dtype=np.uint8)
    with torch.inference_mode():
        expected = network.eval()(torch.from_numpy(images))
    from fashiontag._threads import onnxruntime_threads

    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = onnxruntime_threads(), 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    got = dict(zip([o.name for o in session.get_outputs()], session.run(None, {"images": images}), strict=True))
    worst = 0.0
    for head in heads:
        if head not in got:
            raise ExportError(f"{path}: output {head!r} missing (outputs: {sorted(got)})")
        diff = float(np.max(np.abs(got[head] - expected[head].float().numpy())))
        worst = max(worst, diff)
        if not diff <= atol:
            raise ExportError(f"{path}: head {head!r} differs from PyTorch by {diff:.2e} > {atol:.0e}")
    return worst


def onnx_info(path: str | Path) -> dict[str, Any]:
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    return {"opset": int(next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")))}
