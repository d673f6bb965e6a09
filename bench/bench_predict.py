"""Labelling speed: the seeds' way (eager fp32 PyTorch, one image at a time, PIL preprocessing) vs
``Labeller.predict`` on onnxruntime fp32 (batched) and int8. Prints a markdown table.

Run (creates an untrained-head tf_efficientnet_lite0 FPI model on first use; speed does not depend on training):

    .venv/bin/python bench/bench_predict.py --model runs/bench_model --create \\
        --images ../shared/data/fpi_small/images --n 2000 --latency-n 200 [--threads 1]
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import numpy as np

DEFAULT_IMAGES = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "fpi_small" / "images"


def create_model(model_dir: Path, images: list[Path]) -> None:
    """tf_efficientnet_lite0 over the fpi taxonomy, exported to ONNX fp32 and static int8."""
    from fashiontag.data.taxonomy import load_taxonomy
    from fashiontag.export import export_onnx
    from fashiontag.models import create_network, save_model

    net = create_network(load_taxonomy("fpi"), "tf_efficientnet_lite0", "flat", pretrained=False)
    save_model(net.eval(), model_dir)
    calib = model_dir.parent / f"{model_dir.name}_calib.txt"
    calib.write_text("\n".join(str(p) for p in images[-200:]))
    export_onnx(model_dir, int8=True, data=_as_folder(calib), calibration_size=200)


def _as_folder(listing: Path) -> Path:
    folder = listing.with_suffix("")
    folder.mkdir(exist_ok=True)
    for line in listing.read_text().splitlines():
        link = folder / Path(line).name
        if not link.exists():
            link.symlink_to(line)
    return folder


def seeds_way(model_dir: Path):
    """Model loaded once; per image: PIL decode + letterbox, one eager forward pass."""
    import torch

    from fashiontag.artifact import read_sidecar, resolve_preprocess
    from fashiontag.data.images import letterbox, load_image
    from fashiontag.models import load_network

    sidecar = read_sidecar(model_dir)
    net, pre = load_network(model_dir, sidecar), resolve_preprocess(sidecar)

    def one(path: Path) -> None:
        x = torch.from_numpy(letterbox(load_image(path), pre.size, pre.fill))[None]
        with torch.inference_mode():
            net(x)

    return one


def throughput(fn, items: list) -> float:
    start = time.perf_counter()
    fn(items)
    return len(items) / (time.perf_counter() - start)


def latencies(one, items: list, warmup: int = 5) -> tuple[float, float]:
    for item in items[:warmup]:
        one(item)
    times = []
    for item in items:
        start = time.perf_counter()
        one(item)
        times.append((time.perf_counter() - start) * 1000)
    return float(np.percentile(times, 50)), float(np.percentile(times, 99))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--create", action="store_true", help="create the model if missing")
    parser.add_argument("--images", type=Path, default=DEFAULT_IMAGES)
    parser.add_argument("--n", type=int, default=2000, help="images for throughput")
    parser.add_argument("--latency-n", type=int, default=200, help="images for single-image latency")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=0, help="torch/onnxruntime/OpenMP threads (0: auto)")
    args = parser.parse_args()
    from fashiontag._threads import configure_threads

    threads = configure_threads(args.threads or None)

    paths = sorted(args.images.glob("*.jpg"))
    if args.create and not (args.model / "fashiontag.json").exists():
        create_model(args.model, paths)
    from fashiontag.infer import load

    items = paths[: args.n]
    lat_items = paths[args.n : args.n + args.latency_n] or paths[: args.latency_n]
    eager = seeds_way(args.model)
    rows = []
    eager_ips = throughput(lambda xs: [eager(p) for p in xs], items)
    rows.append(("eager fp32, 1 image at a time (seeds' way)", eager_ips, *latencies(eager, lat_items)))
    for backend in ("onnx", "onnx-int8"):
        labeller = load(args.model, backend=backend)
        labeller.predict(items[:64], batch_size=args.batch_size)  # warm-up
        ips = throughput(lambda xs, lab=labeller: lab.predict(xs, batch_size=args.batch_size), items)
        lat = latencies(lambda p, lab=labeller: lab.predict([p]), lat_items)
        rows.append(
            (f"predict, {backend} ({'int8' if 'int8' in backend else 'fp32'}), batch {args.batch_size}", ips, *lat)
        )
    from fashiontag.artifact import read_sidecar, resolve_preprocess

    pre = resolve_preprocess(read_sidecar(args.model))
    print(
        f"\nModel {args.model} (letterbox {pre.size} px, network input {pre.input_size} px), {len(items)} images "
        f"({args.images}), latency over {len(lat_items)} images,"
    )
    print(
        f"{platform.processor() or platform.machine()}, {__import__('os').cpu_count()} CPU cores, {threads} threads\n"
    )
    print("| path | images/s | speed-up | p50 ms (1 image) | p99 ms (1 image) |")
    print("|---|---:|---:|---:|---:|")
    for name, ips, p50, p99 in rows:
        print(f"| {name} | {ips:.1f} | {ips / eager_ips:.1f}x | {p50:.1f} | {p99:.1f} |")


if __name__ == "__main__":
    main()
