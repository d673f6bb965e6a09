"""Labelling throughput of two models side by side in one process: the `make demo` model against the previous
demo recipe's network (tf_efficientnet_lite0, 80 px letterbox, 112 px input, the probe demo of earlier
sessions). Speed does not depend on the weights, so the baseline is built untrained at those sizes.

Rounds alternate between the two models (ONNX fp32, batch 64, the same FPI images), so a shared machine's load
hits both alike. Prints images/s per model and the ratio (target: the new demo model >= 0.5x the old one).

Run:
    .venv/bin/python bench/bench_demo_speed.py --model runs/demo/train/model --baseline runs/bench_demo_112 \
        --images ../shared/data/fpi_small/images --n 1000 --rounds 3
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path


def build_baseline(path: Path) -> None:
    from fashiontag.data.taxonomy import load_taxonomy
    from fashiontag.export import export_onnx
    from fashiontag.models import create_network, default_preprocess, save_model

    pre = default_preprocess("tf_efficientnet_lite0", 80, 112)
    net = create_network(load_taxonomy("fpi"), "tf_efficientnet_lite0", "flat", pre, pretrained=False)
    save_model(net.eval(), path)
    export_onnx(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, required=True, help="the demo model (exported to ONNX)")
    parser.add_argument("--baseline", type=Path, default=Path("runs/bench_demo_112"))
    parser.add_argument("--images", type=Path, default=Path("../shared/data/fpi_small/images"))
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    import fashiontag
    from fashiontag._threads import configure_threads

    threads = configure_threads()
    if not (args.baseline / "model.onnx").exists():
        build_baseline(args.baseline)
    images = sorted(args.images.glob("*.jpg"))[: args.n]
    labellers = {
        "demo model": fashiontag.load(args.model, backend="onnx"),
        "previous demo network (112 px)": fashiontag.load(args.baseline, backend="onnx"),
    }
    for labeller in labellers.values():
        labeller.predict(images[:64])  # warm-up
    seconds = dict.fromkeys(labellers, 0.0)
    for _ in range(args.rounds):
        for name, labeller in labellers.items():
            start = time.perf_counter()
            labeller.predict(images, batch_size=64)
            seconds[name] += time.perf_counter() - start
    rates = {name: args.n * args.rounds / s for name, s in seconds.items()}
    print(f"threads {threads}, load {os.getloadavg()[0]:.1f}, {args.n} images x {args.rounds} rounds")
    print("| model | input px | images/s |\n|---|---:|---:|")
    for name, labeller in labellers.items():
        print(f"| {name} | {labeller.preprocess.input_size} | {rates[name]:.1f} |")
    first, second = rates.values()
    print(f"ratio demo / previous: {first / second:.2f}x")


if __name__ == "__main__":
    main()
