"""Peak memory of ``fashiontag serve`` under worst-case uploads (issue 13; not a unit test).

Starts the real CLI (``fashiontag serve MODEL``) on loopback, measures its idle RSS after one warm-up
request, then sends ``--uploads`` concurrent requests of one PNG each, just under the service's pixel
limit, in the modes that cost most to decode: 16-bit RGB, 8-bit RGBA and 16-bit greyscale. The server's
RSS is sampled every 20 ms (and its ``VmHWM``); afterwards RSS is read again once it settles. Prints a
markdown table: idle, peak, peak above idle, after, statuses. Targets: peak <= idle + 1 GiB, after
within 10% of idle.

Without ``--model`` it saves an untrained smallcnn with a 224 px letterbox (the decode path does not
depend on the weights) in a temporary folder.

Run:
    .venv/bin/python bench/bench_serve_memory.py --uploads 16
    .venv/bin/python bench/bench_serve_memory.py --model runs/best --uploads 16
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from bench_serve import rss_mib, wait_ready

#: PNG colour type and bit depth of each worst case, as Pillow decodes them: 4 bytes a pixel, 4, 2.
WORST_CASES = {"rgb16": (2, 16), "rgba8": (6, 8), "grey16": (0, 16)}


def streamed_png(width: int, height: int, color_type: int, bit_depth: int) -> bytes:
    """A valid PNG of a repeating pattern, compressed row by row (never the whole image in memory): a few
    hundred kB that decode to ``width x height`` pixels, as an attacker's upload would."""
    channels = {0: 1, 2: 3, 6: 4}[color_type]
    row_bytes = width * channels * bit_depth // 8
    pattern = bytes(range(256)) * (row_bytes // 256 + 2)
    compressor = zlib.compressobj(6)
    parts = [compressor.compress(b"\x00" + pattern[y % 7 : y % 7 + row_bytes]) for y in range(height)]
    parts.append(compressor.flush())

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", b"".join(parts)) + chunk(b"IEND", b"")


class RssSampler(threading.Thread):
    """Samples a process's resident memory until stopped; ``peak`` in MiB."""

    def __init__(self, pid: int, every_s: float = 0.02) -> None:
        super().__init__(daemon=True)
        self.pid, self.every_s, self.peak = pid, every_s, 0.0
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            self.peak = max(self.peak, rss_mib(self.pid))
            time.sleep(self.every_s)

    def stop(self) -> float:
        self._stop_event.set()
        self.join()
        return self.peak


def status_mib(pid: int, field: str) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def start_server(model: Path, port: int, overrides: list[str]) -> subprocess.Popen:
    """``fashiontag serve MODEL`` exactly as a user runs it (with ``key=value`` settings)."""
    cli = Path(sys.executable).with_name("fashiontag")
    command = [str(cli)] if cli.exists() else [sys.executable, "-c", "from fashiontag.cli.main import main; main()"]
    return subprocess.Popen([*command, "serve", str(model), "--port", str(port), "--log-level", "warning", *overrides])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def tiny_model(folder: Path) -> Path:
    from fashiontag.data.taxonomy import load_taxonomy
    from fashiontag.models._testing import make_tiny_model

    make_tiny_model(folder / "model", load_taxonomy("slowfashion"), size=224)
    return folder / "model"


def settle(pid: int, seconds: float = 10.0) -> float:
    """RSS once it stops falling (or after ``seconds``)."""
    last, deadline = rss_mib(pid), time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = rss_mib(pid)
        if abs(now - last) < 1:
            return now
        last = now
    return last


def run(model: Path, uploads: int, overrides: list[str]) -> dict[str, object]:
    from fashiontag.serve import ServeSettings

    settings = ServeSettings(**dict(item.split("=", 1) for item in overrides))
    side = math.isqrt(settings.max_pixels - 1)  # just under the limit for 4-byte pixels
    print(
        f"pixel limit {settings.max_pixels:,} ({settings.decode_workers} decode workers, "
        f"{settings.decode_memory_mib} MiB budget): uploading {side}x{side} PNGs",
        flush=True,
    )
    files = {name: streamed_png(side, side, *spec) for name, spec in WORST_CASES.items()}
    names = [list(files)[i % len(files)] for i in range(uploads)]
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = start_server(model, port, ["request_timeout_s=300", *overrides])
    try:
        wait_ready(base)
        warm = httpx.post(f"{base}/v1/labels", files=[("files", ("w.png", streamed_png(64, 64, 2, 8), "image/png"))])
        assert warm.status_code == 200, warm.text
        time.sleep(1.0)
        idle = rss_mib(server.pid)
        sampler = RssSampler(server.pid)
        sampler.start()
        start = time.monotonic()

        def post(name: str) -> int:
            data = files[name]
            return httpx.post(
                f"{base}/v1/labels", files=[("files", (f"{name}.png", data, "image/png"))], timeout=600
            ).status_code

        with ThreadPoolExecutor(uploads) as pool:
            statuses = list(pool.map(post, names))
        elapsed = time.monotonic() - start
        peak = max(sampler.stop(), status_mib(server.pid, "VmHWM"))
        after = settle(server.pid)
        scraped = [
            line
            for line in httpx.get(f"{base}/metrics").text.splitlines()
            if line.startswith("process_resident_memory_bytes")
        ]
    finally:
        server.terminate()
        server.wait(timeout=20)
    return {
        "side": side,
        "sizes_kb": {k: len(v) // 1024 for k, v in files.items()},
        "idle": idle,
        "peak": peak,
        "after": after,
        "statuses": statuses,
        "elapsed": elapsed,
        "workers": settings.decode_workers,
        "metrics_rss": scraped[0] if scraped else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, help="model directory (default: an untrained 224 px smallcnn)")
    parser.add_argument("--uploads", type=int, default=16, help="concurrent requests, one worst-case PNG each")
    parser.add_argument("overrides", nargs="*", help="ServeSettings key=value for the server, e.g. decode_workers=4")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        model = args.model or tiny_model(Path(folder))
        result = run(model, args.uploads, args.overrides)
    idle, peak, after = result["idle"], result["peak"], result["after"]
    counts = {s: result["statuses"].count(s) for s in sorted(set(result["statuses"]))}
    print(
        f"\n{args.uploads} concurrent uploads of {result['side']}x{result['side']} PNGs "
        f"({', '.join(f'{k} {v} kB' for k, v in result['sizes_kb'].items())}) · {result['workers']} decode "
        f"workers · {platform.machine()}, {os.cpu_count()} CPUs · load {os.getloadavg()[0]:.1f} · "
        f"{result['elapsed']:.1f} s\n"
    )
    print("| idle RSS MiB | peak RSS MiB | peak above idle MiB | RSS after MiB | after vs idle | statuses |")
    print("|---:|---:|---:|---:|---:|---|")
    print(f"| {idle:.0f} | {peak:.0f} | {peak - idle:.0f} | {after:.0f} | {(after - idle) / idle:+.1%} | {counts} |")
    print(f"\n/metrics after: {result['metrics_rss']}")
    ok = peak - idle <= 1024 and after <= idle * 1.10 and set(counts) == {200}
    print("targets (peak <= idle + 1 GiB, after within 10% of idle, all 200):", "met" if ok else "NOT met")


if __name__ == "__main__":
    main()
