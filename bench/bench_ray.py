"""Labelling on Ray vs the local path: same photos, same run, identical labels, throughput and memory.

Starts a local Ray cluster (``ray start --head`` on 127.0.0.1, ``--num-cpus`` = this machine's cores), then:
1. the local path (``predict_files``, onnxruntime, default threads) on ``--n`` photos;
2. ``predict --engine ray`` on the same photos into Parquet shards; labels compared row for row;
3. memory: the summed RSS of every Ray process (raylet, GCS, workers, actors), sampled every 0.2 s during
   a Ray run over ``--n`` and over ``--n-large`` photos (the FPI folder repeated if it has fewer).

Run (creates an untrained-head tf_efficientnet_lite0 model with the demo model's geometry: 80 px letterbox,
112 px network input; speed does not depend on training):

    .venv/bin/python bench/bench_ray.py --model /tmp/bench_ray_model --create \\
        --images /work/shared/data/fpi_small/images --n 2000 --n-large 20000
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import tempfile
import threading
import time
from pathlib import Path

import pandas as pd

from fashiontag.infer._ray_cluster import cluster_processes, start_local_cluster, stop_local_cluster


def create_model(model_dir: Path) -> None:
    """tf_efficientnet_lite0 over the fpi taxonomy at the demo's geometry, exported to ONNX fp32."""
    from fashiontag.data.taxonomy import load_taxonomy
    from fashiontag.export import export_onnx
    from fashiontag.models import create_network, save_model
    from fashiontag.models._net import default_preprocess

    pre = default_preprocess("tf_efficientnet_lite0", size=80, input_size=112)
    net = create_network(load_taxonomy("fpi"), "tf_efficientnet_lite0", "flat", preprocess=pre, pretrained=False)
    save_model(net.eval(), model_dir)
    export_onnx(model_dir)


class RayRss:
    """Samples, every 0.2 s, the summed RSS of the cluster's processes (daemons, workers, actors) and keeps the
    peak; the driver (this process, which also writes the shards) is reported apart."""

    def __init__(self, temp: Path) -> None:
        self.temp, self.peak, self.driver_peak, self._stop = temp, 0, 0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        import psutil

        me = psutil.Process()
        while not self._stop.is_set():
            total = 0
            for proc in cluster_processes(self.temp):
                try:
                    total += proc.memory_info().rss
                except psutil.Error:
                    continue
            self.peak = max(self.peak, total)
            self.driver_peak = max(self.driver_peak, me.memory_info().rss)
            time.sleep(0.2)

    def __enter__(self) -> RayRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def photos(folder: Path, n: int, work: Path) -> list[str]:
    """``n`` photo paths; past the folder's size, the same photos again under other names (symlinks)."""
    files = sorted(str(p) for p in folder.glob("*.jpg"))
    if n <= len(files):
        return files[:n]
    out = list(files)
    copy = 0
    while len(out) < n:
        target = work / f"copy{copy}"
        target.mkdir(exist_ok=True)
        for f in files[: n - len(out)]:
            link = target / Path(f).name
            if not link.exists():
                link.symlink_to(f)
            out.append(str(link))
        copy += 1
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--create", action="store_true", help="create the model if missing")
    parser.add_argument("--images", type=Path, default=Path("/work/shared/data/fpi_small/images"))
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--n-large", type=int, default=20000, help="second size for the memory check (0: skip)")
    parser.add_argument("--cpus", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--threads", type=int, default=1, help="onnxruntime threads per Ray actor")
    parser.add_argument("--actors", type=int, default=None, help="Ray actors (default: cpus // threads)")
    args = parser.parse_args()

    import ray

    from fashiontag.infer import load, predict_files
    from fashiontag.infer._ray import RayOptions, predict_ray, read_output

    if not (args.model / "fashiontag.json").exists():
        if not args.create:
            parser.error(f"{args.model} is not a model; add --create")
        create_model(args.model)
    work = Path(tempfile.mkdtemp(prefix="bench_ray_"))
    temp = Path(tempfile.mkdtemp(prefix="r", dir="/tmp"))  # short: Ray's socket paths have a length limit
    paths = photos(args.images, max(args.n, args.n_large), work)
    small = paths[: args.n]
    listing = work / "small.txt"
    listing.write_text("\n".join(small) + "\n")

    start = time.perf_counter()
    predict_files(load(args.model, backend="onnx"), [str(listing)], work / "local.csv", progress=False)
    local_s = time.perf_counter() - start
    local = pd.read_csv(work / "local.csv", dtype=str, keep_default_na=False)

    address, _ = start_local_cluster(args.cpus, temp)
    try:
        options = RayOptions(address=address, threads=args.threads, actors=args.actors)
        predict_ray(args.model, [str(listing)], work / "warm.parquet", options, progress=False)  # workers up
        with RayRss(temp) as rss_small:
            summary = predict_ray(args.model, [str(listing)], work / "ray.parquet", options, progress=False)
        ray_rows = read_output(work / "ray.parquet")
        identical = ray_rows.reset_index(drop=True).equals(local.reset_index(drop=True))
        rss_large = None
        if args.n_large:
            big = work / "large.txt"
            big.write_text("\n".join(paths[: args.n_large]) + "\n")
            with RayRss(temp) as rss_large:
                large = predict_ray(args.model, [str(big)], work / "large.parquet", options, progress=False)
    finally:
        ray.shutdown()
        stop_local_cluster(temp)
    load_avg = os.getloadavg()
    local_rate, ray_rate = args.n / local_s, summary.processed / summary.seconds
    print(
        f"\n{platform.processor() or platform.machine()}, {os.cpu_count()} cores, load {load_avg[0]:.2f} "
        f"{load_avg[1]:.2f} {load_avg[2]:.2f}; Ray: {args.cpus} CPUs, actors {options.actors or 'cpus//threads'}, "
        f"{args.threads} onnxruntime thread(s) each; local: onnxruntime default threads, 4 decode threads\n"
    )
    print("| path | photos | seconds | images/s | vs local | identical labels | Ray RSS peak MiB |")
    print("|---|---:|---:|---:|---:|---|---:|")
    print(f"| local `predict` | {args.n} | {local_s:.1f} | {local_rate:.1f} | 1.00x | - | - |")
    print(
        f"| `predict --engine ray` | {summary.processed} | {summary.seconds:.1f} | {ray_rate:.1f} | "
        f"{ray_rate / local_rate:.2f}x | {identical} | {rss_small.peak / 2**20:.0f} |"
    )
    print(
        f"\n(driver RSS peak {rss_small.driver_peak / 2**20:.0f} MiB at {args.n} photos"
        + (f", {rss_large.driver_peak / 2**20:.0f} MiB at {args.n_large})" if args.n_large else ")")
    )
    if rss_large is not None:
        print(
            f"| `predict --engine ray` | {large.processed} | {large.seconds:.1f} | "
            f"{large.processed / large.seconds:.1f} | - | - | {rss_large.peak / 2**20:.0f} |"
        )
        print(f"\nRSS at {args.n_large} vs {args.n} photos: {rss_large.peak / rss_small.peak:.2f}x")
    shutil.rmtree(work, ignore_errors=True)
    shutil.rmtree(temp, ignore_errors=True)


if __name__ == "__main__":
    main()
