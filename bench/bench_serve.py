"""Load benchmark for the labelling service (not a unit test).

Starts ``fashiontag serve`` in a subprocess on loopback (a real model, or ``--fake``), then runs N
concurrent httpx clients for a fixed time, each posting ``--images`` photos per request, and prints a
markdown table: requests/s, images/s, p50/p99 latency, errors, server RSS before/after.

Run:
    .venv/bin/python bench/bench_serve.py --fake --clients 8 --seconds 20
    .venv/bin/python bench/bench_serve.py runs/best --clients 8 --seconds 20
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import platform
import socket
import subprocess
import sys
import time

import httpx
import numpy as np
from PIL import Image

SERVER = """
import sys
from fashiontag.serve import FakePredictor, ServeSettings, create_app, run_server
model, port, batch, wait = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
settings = ServeSettings(model_path=None if model == "-" else model, port=port, batch_size=batch, batch_wait_ms=wait)
app = create_app(settings, FakePredictor() if model == "-" else None)
run_server(app, settings, log_level="warning")  # as `fashiontag serve` runs it (guarded protocol, timeouts)
"""


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def photos(count: int) -> list[bytes]:
    """Product-photo-sized JPEGs (600x800, smooth gradients plus noise, ~60 KB)."""
    rng = np.random.default_rng(0)
    out = []
    for i in range(count):
        y, x = np.mgrid[0:800, 0:600]
        base = np.stack([(x + 40 * i) % 256, (y // 4 + 20 * i) % 256, np.full_like(x, 200 - 10 * i)], -1)
        pixels = np.clip(base + rng.normal(0, 6, base.shape), 0, 255).astype(np.uint8)
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, "JPEG", quality=85)
        out.append(buffer.getvalue())
    return out


async def client_loop(
    url: str, images: list[bytes], per_request: int, stop_at: float, latencies: list[float], errors: list[int]
) -> None:
    async with httpx.AsyncClient(timeout=60) as client:
        i = 0
        while time.monotonic() < stop_at:
            files = [
                ("files", (f"{i}_{k}.jpg", images[(i + k) % len(images)], "image/jpeg")) for k in range(per_request)
            ]
            start = time.perf_counter()
            try:
                response = await client.post(url, files=files)
                ok = response.status_code == 200
            except httpx.HTTPError:
                ok = False
            latencies.append(time.perf_counter() - start) if ok else errors.append(1)
            i += 1


async def load(url: str, clients: int, seconds: float, per_request: int) -> tuple[list[float], int, float]:
    images = photos(8)
    latencies: list[float] = []
    errors: list[int] = []
    start = time.monotonic()
    await asyncio.gather(
        *[client_loop(url, images, per_request, start + seconds, latencies, errors) for _ in range(clients)]
    )
    return latencies, len(errors), time.monotonic() - start


def wait_ready(base: str, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise TimeoutError("server not ready")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", nargs="?", help="model directory (omit with --fake)")
    parser.add_argument("--fake", action="store_true", help="use the model-free FakePredictor")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--images", type=int, default=1, help="images per request")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--batch-wait-ms", type=float, default=5)
    parser.add_argument("--threads", type=int, default=0, help="torch/onnxruntime/OpenMP threads (0: auto)")
    args = parser.parse_args()
    from fashiontag._threads import configure_threads

    threads = configure_threads(args.threads or None)  # the server subprocess inherits OMP_NUM_THREADS
    if not args.fake and not args.model:
        parser.error("give a model directory or --fake")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [
            sys.executable,
            "-c",
            SERVER,
            "-" if args.fake else args.model,
            str(port),
            str(args.batch_size),
            str(args.batch_wait_ms),
        ]
    )
    try:
        wait_ready(base)
        rss_before = rss_mib(server.pid)
        url = f"{base}/v1/labels"
        latencies, errors, elapsed = asyncio.run(load(url, args.clients, args.seconds, args.images))
        rss_after = rss_mib(server.pid)
    finally:
        server.terminate()
        server.wait(timeout=10)
    ms = np.array(latencies) * 1000 if latencies else np.array([float("nan")])
    print(
        f"\nmodel: {'fake predictor' if args.fake else args.model} · {args.clients} clients · "
        f"{args.images} image(s)/request · {args.seconds:g} s · {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} CPUs, {threads} threads\n"
    )
    print("| requests/s | images/s | p50 ms | p99 ms | errors | RSS before MiB | RSS after MiB |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    print(
        f"| {len(latencies) / elapsed:.1f} | {len(latencies) * args.images / elapsed:.1f} | "
        f"{np.percentile(ms, 50):.1f} | {np.percentile(ms, 99):.1f} | {errors} | "
        f"{rss_before:.0f} | {rss_after:.0f} |"
    )


if __name__ == "__main__":
    main()
