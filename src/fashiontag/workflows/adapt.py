"""``fashiontag adapt MODEL PHOTOS... --out DIR``: a model fitted to a new domain's photos without labels.

A shop's phone photos are not the studio packshots a catalogue model learnt from. Re-estimating the
network's BatchNorm statistics on the shop's own unlabelled photos (AdaBN, :func:`fashiontag.models.adapt_batchnorm`)
is the cheapest domain adaptation there is: one forward pass, no labels. The adapted model is written to a
new directory (the input model is never touched) with an ``adaptation`` record in its sidecar; the input's
test metrics move there as ``metrics_before``, because they were measured on the model before adaptation, and
the review thresholds stay as they were fitted (on the old domain) until ``evaluate ... calibrate_split=val
save_calibration=true`` refits them on labelled photos of the new one.

Example:
    >>> adapt_model("runs/fpi/model", ["shop_photos/"], "runs/fpi_shop/model")  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import random
from pathlib import Path
from typing import Any

from fashiontag._stamp import NETWORK_FIELDS
from fashiontag.artifact import SIDECAR_NAME, read_sidecar
from fashiontag.data.checks import DataError

log = logging.getLogger(__name__)

#: Sidecar keys ``save_model`` writes from the network itself (or stamps); the rest are carried over.
_REBUILT = ("fashiontag_version", "format_version", "files", *NETWORK_FIELDS)


def _check_out(model_dir: Path, out: Path) -> None:
    if out.resolve() == model_dir.resolve():
        raise ValueError(f"--out {out} is the input model; the adapted model goes to a new directory")
    if (out / SIDECAR_NAME).exists():
        raise ValueError(f"{out} already holds a model; choose another --out (nothing was overwritten)")


def adapt_model(
    model_dir: str | Path,
    inputs: list[str],
    out: str | Path,
    max_images: int = 5000,
    seed: int = 0,
    batch_size: int = 64,
) -> dict[str, Any]:
    """Write ``out``: the model of ``model_dir`` with its BatchNorm statistics re-estimated on the photos of
    ``inputs`` (files, folders, globs, .txt/.csv lists; a random ``max_images`` of them when there are more).
    Unreadable photos are skipped and listed. Returns a summary."""
    from fashiontag.infer import collect_inputs
    from fashiontag.models import MIN_BATCHNORM_IMAGES, adapt_batchnorm, check_adaptable, load_network
    from fashiontag.workflows.select import decode_paths

    model_dir, out = Path(model_dir), Path(out)
    if max_images < 1:
        raise ValueError(f"max_images must be at least 1, got {max_images}")
    _check_out(model_dir, out)
    if batch_size < 2:
        raise ValueError(f"batch_size must be at least 2, got {batch_size}")
    sidecar = read_sidecar(model_dir)
    net = load_network(model_dir, sidecar)
    check_adaptable(net)  # before thousands of photos are decoded
    paths = collect_inputs(list(inputs))
    if not paths:
        raise DataError(f"{', '.join(map(str, inputs))}: no images found (folders, globs or .txt/.csv lists)")
    if len(paths) > max_images:
        paths = sorted(random.Random(seed).sample(paths, max_images))
    log.info("adapt: decoding %d photos at %d px", len(paths), net.preprocess.size)
    images, good, failures = decode_paths(paths, net.preprocess.size, net.preprocess.fill)
    if len(good) < MIN_BATCHNORM_IMAGES:
        unread = f"; {len(failures)} unreadable, e.g. {failures[0][0]}: {failures[0][1]}" if failures else ""
        raise ValueError(
            f"{len(good)} readable photos are too few to estimate BatchNorm statistics; give at least "
            f"{MIN_BATCHNORM_IMAGES} photos from the new domain{unread}"
        )

    def _progress(done: int, total: int) -> None:
        if done == total or done % 10 == 0:
            log.info("adapt: batch %d/%d", done, total)

    layers = adapt_batchnorm(net, images, batch_size, _progress)
    save_adapted(net, sidecar, model_dir, out, len(good), len(failures), layers)
    return {
        "model": str(out),
        "images": len(good),
        "layers": layers,
        "failures": failures,
        "thresholds": bool(sidecar.get("thresholds")),
    }


def save_adapted(
    net: Any, sidecar: dict[str, Any], source: Path, out: Path, images: int, unreadable: int, layers: int
) -> None:
    """Save an adapted ``net`` (loaded from ``source``, whose sidecar is ``sidecar``) to ``out``, carrying the
    sidecar's records over and moving its metrics to ``adaptation.metrics_before``."""
    from fashiontag.models import save_model

    # not carried: the metrics (measured before), the export report (its ONNX files stay with the source)
    extra = {k: v for k, v in sidecar.items() if k not in _REBUILT and k not in ("metrics", "adaptation", "export")}
    extra["adaptation"] = {
        "method": "adabn",
        "from": str(source.resolve()),
        "from_weights_sha256": sidecar["files"].get("model.safetensors"),
        "images": images,
        "unreadable": unreadable,
        "layers": layers,
        "metrics_before": sidecar.get("metrics"),
        "note": "metrics_before, temperature and thresholds were measured on the model before adaptation",
        **({"previous": sidecar["adaptation"]} if sidecar.get("adaptation") else {}),
    }
    save_model(net, out, **extra)
