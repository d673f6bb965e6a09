"""Benchmark the decoded cache on FPI small: build images/s and random-batch read images/s.

Run: .venv/bin/python bench/bench_data.py [--root ../shared/data/fpi_small] [--size 80] [--workers 2]
Prints a markdown table (record it in docs/data.md with the machine).
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

from fashiontag.data.cache import open_cache, prepare_cache, read_throughput
from fashiontag.data.config import DataConfig

DEFAULT_ROOT = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "fpi_small"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--root", default=str(DEFAULT_ROOT))
    parser.add_argument("--size", type=int, default=80)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--threads", type=int, default=0, help="torch/onnxruntime/OpenMP threads (0: auto)")
    args = parser.parse_args()
    from fashiontag._threads import configure_threads

    threads = configure_threads(args.threads or None)
    config = DataConfig(root=args.root, size=args.size, workers=args.workers)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        meta = prepare_cache(config, Path(tmp) / "cache", limit=args.limit, progress=False)
        total = time.perf_counter() - start
        cache = open_cache(Path(tmp) / "cache")
        read_cold = read_throughput(cache, batches=20, seed=1)
        read_warm = read_throughput(cache, batches=100, seed=2)
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; workers={args.workers}; "
        f"threads={threads}"
    )
    print("| step | images | seconds | images/s |")
    print("|---|---|---|---|")
    print(
        f"| build: decode+letterbox {args.size}px | {meta['rows']} | {meta['build_seconds']} "
        f"| {meta['build_images_per_s']:.0f} |"
    )
    print(
        f"| build: whole command (read, hash, map, decode, sha) | {meta['rows']} | {total:.1f} "
        f"| {meta['rows'] / total:.0f} |"
    )
    print(f"| read: random batches of 256 (first pass) | {20 * 256} | - | {read_cold:.0f} |")
    print(f"| read: random batches of 256 (page cache warm) | {100 * 256} | - | {read_warm:.0f} |")


if __name__ == "__main__":
    main()
