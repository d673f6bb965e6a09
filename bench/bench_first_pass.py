"""The cached-trunk first pass, in parts: what the time-limit planner measures against what the pass costs.

The first pass resizes each stored image to the recipe's input size, mirrors it for view 1 and runs the frozen
trunk (onnxruntime), between every two runs a few torch ops. Rows, each the median over ``--rounds`` interleaved
rounds (of a median of timed calls) on the same letterboxed images (2 threads unless ``--threads``), in one process:

- trunk only: onnxruntime on an already resized batch (what the planner timed before 2026-12-01);
- resize + trunk, onnxruntime spinning after each run (its default) and not (what ``_Runner`` now sets);
- the planner's ``_measure_trunk`` (resize, mirror, trunk);
- the library's view loop (``_extract_view``: gather, resize, mirror, trunk, write) for views 0 and 1, and with
  ``--augment`` view 2 (the preset), in batches of each ``--batches`` (the library uses ``EXTRACT_BATCH``).

Run:
    .venv/bin/python bench/bench_first_pass.py --images ../shared/data/fpi_small/images --n 2048 \
        --size 80 --input-size 112 --cut -4
    .venv/bin/python bench/bench_first_pass.py --images ../shared/data/clothing_photos/train --n 768 \
        --size 224 --input-size 224 --cut -3 --augment photo        # phone photos (class folders)
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=Path, default=Path("../shared/data/fpi_small/images"))
    parser.add_argument("--n", type=int, default=2048, help="images in the view loop (the timed calls use 64)")
    parser.add_argument("--size", type=int, default=80, help="the decoded cache's letterbox size")
    parser.add_argument("--input-size", type=int, default=112)
    parser.add_argument("--cut", type=int, default=-4)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batches", type=int, nargs="+", default=[128, 32], help="view-loop batch sizes")
    parser.add_argument("--rounds", type=int, default=3, help="each row: the median of this many rounds")
    parser.add_argument("--augment", default=None, help="also time view 2 with this preset (e.g. photo)")
    args = parser.parse_args()

    from fashiontag._threads import configure_threads

    threads = configure_threads(args.threads)
    import onnxruntime as ort
    import torch

    from fashiontag.data.images import letterbox, load_image
    from fashiontag.data.taxonomy import load_taxonomy
    from fashiontag.models import create_network, default_preprocess, resize_images, split_backbone
    from fashiontag.train._augment import create_augment
    from fashiontag.train._budget import Recipe, _augment_rate, _measure_trunk, _rate
    from fashiontag.train._trunk import _extract_view, _Runner, _Trunk

    files = sorted(args.images.rglob("*.jpg"))[: args.n]
    images = np.stack([letterbox(load_image(path), args.size) for path in files])
    pre = default_preprocess("tf_efficientnet_lite0", args.size, args.input_size)
    net = create_network(load_taxonomy("fpi"), "tf_efficientnet_lite0", "flat", pre, pretrained=False)
    frozen, _ = split_backbone(net.backbone, args.cut)
    raw = torch.from_numpy(np.ascontiguousarray(images[:64]))
    resized = resize_images(raw, args.size, args.input_size).contiguous()
    print(
        f"{len(images)} images letterboxed to {args.size} px, input {args.input_size} px, cut {args.cut}, "
        f"{threads} threads, load {os.getloadavg()[0]:.1f}"
    )
    steps: dict[str, Callable[[], float]] = {}
    with tempfile.TemporaryDirectory() as folder:
        runner = _Runner(_Trunk(frozen, net.mean, net.std), args.input_size, Path(folder))
        for spin in ("1", "0"):
            options = ort.SessionOptions()
            options.intra_op_num_threads = threads
            options.add_session_config_entry("session.intra_op.allow_spinning", spin)
            session = ort.InferenceSession(
                str(Path(folder) / "trunk.onnx"), options, providers=["CPUExecutionProvider"]
            )

            def run(x: torch.Tensor, session: ort.InferenceSession = session) -> np.ndarray:
                return session.run(None, {"x": x.numpy()})[0]

            label = "on" if spin == "1" else "off"
            steps[f"trunk only, spinning {label}"] = lambda run=run: _rate(lambda: run(resized), 64, repeats=7)
            steps[f"resize + trunk, spinning {label}"] = lambda run=run: _rate(
                lambda: run(resize_images(raw, args.size, args.input_size).contiguous()), 64, repeats=7
            )
        recipe = Recipe("trunk", args.input_size, 1, 1, trunk_cut=args.cut)
        steps["the planner's `_measure_trunk` (views 0 and 1)"] = lambda: _measure_trunk(net, recipe, images, 64)[0]
        augment = create_augment(args.augment) if args.augment else None
        if augment is not None:

            def planned_view() -> float:
                first = _measure_trunk(net, recipe, images, 64)[0]
                return 1 / (1 / first + 1 / _augment_rate(args.augment, images, args.size, args.input_size, 64))

            steps[f"the planner's estimate of an `augment={args.augment}` view (trunk, then preset)"] = planned_view
        order = np.arange(len(images))

        def loop(view: int, batch: int) -> float:
            start = time.perf_counter()
            _extract_view(runner, images, order, view, augment, net, 0, Path(folder) / "v.npy", batch, False)
            return len(images) / (time.perf_counter() - start)

        for batch in args.batches:
            for view in (0, 1, 2) if augment is not None else (0, 1):
                name = f"`_extract_view`, view {view}, batches of {batch} ({len(images)} images)"
                steps[name] = lambda view=view, batch=batch: loop(view, batch)
        rates: dict[str, list[float]] = {name: [] for name in steps}
        for _ in range(args.rounds):  # rounds interleave every step, so a neighbour's load hits all alike
            for name, step in steps.items():
                rates[name].append(step())
    rows = [(name, float(np.median(values))) for name, values in rates.items()]
    print("\n| step | img/s |\n|---|---:|")
    for name, rate in rows:
        print(f"| {name} | {rate:.0f} |")


if __name__ == "__main__":
    main()
