"""Slow clients against ``fashiontag serve`` (issue 13; not a unit test; loopback only).

Starts the real CLI on 127.0.0.1 and opens ``--connections`` slowloris connections: each sends a request
line, then one header line every ``--every-s`` seconds and never ends its headers; when the server closes
one, the attacker opens a new one (a bounded loop: it stops after ``--seconds``). Meanwhile a client asks
``/healthz`` every 100 ms on a fresh connection. Prints a markdown table: connections opened, the longest
any was held, how many were still open at the end, and /healthz latency (p50/p99/max) and failures.
Targets: /healthz < 100 ms throughout, every slow connection closed within 30 s.

Run:
    .venv/bin/python bench/bench_serve_slowloris.py --connections 250 --seconds 40
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
from bench_serve import wait_ready
from bench_serve_memory import free_port, start_server, tiny_model

HOST = "127.0.0.1"  # never anything else: this opens hundreds of connections


async def slow_connection(
    port: int, every_s: float, stop_at: float, lifetimes: list[float], open_now: list[int]
) -> None:
    """One attacker slot: hold a connection with a trickled header; reopen it each time the server closes it."""
    while time.monotonic() < stop_at:
        start = time.monotonic()
        try:
            reader, writer = await asyncio.open_connection(HOST, port)
        except OSError:
            await asyncio.sleep(0.2)
            continue
        open_now[0] += 1
        try:
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            closed = asyncio.ensure_future(reader.read())  # returns at EOF (the server closed it)
            while not closed.done() and time.monotonic() < stop_at:
                await asyncio.wait([closed], timeout=every_s)
                if not closed.done():
                    writer.write(b"X-Slow: 1\r\n")
            lifetimes.append(time.monotonic() - start)  # closed by the server, or still open at the end
            if not closed.done():
                closed.cancel()
        except OSError:
            lifetimes.append(time.monotonic() - start)
        finally:
            open_now[0] -= 1
            writer.close()


async def probe(port: int, stop_at: float, latencies: list[float], failures: list[str]) -> None:
    """``GET /healthz`` on a fresh connection every 100 ms; latency from connect to the full answer."""
    while time.monotonic() < stop_at:
        start = time.perf_counter()
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(HOST, port), 5)
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            answer = await asyncio.wait_for(reader.read(), 5)
            writer.close()
            if answer.startswith(b"HTTP/1.1 200"):
                latencies.append(time.perf_counter() - start)
            else:
                failures.append(answer[:40].decode(errors="replace") or "closed without an answer")
        except (OSError, asyncio.TimeoutError) as exc:
            failures.append(type(exc).__name__)
        await asyncio.sleep(0.1)


async def attack(port: int, connections: int, every_s: float, seconds: float) -> dict[str, object]:
    stop_at = time.monotonic() + seconds
    lifetimes: list[float] = []
    latencies: list[float] = []
    failures: list[str] = []
    open_now = [0]
    tasks = [
        asyncio.ensure_future(slow_connection(port, every_s, stop_at, lifetimes, open_now)) for _ in range(connections)
    ]
    await asyncio.sleep(1.0)  # let them all connect before probing
    held_after_1s = open_now[0]
    await probe(port, stop_at, latencies, failures)
    still_open = open_now[0]
    await asyncio.gather(*tasks)
    return {
        "lifetimes": lifetimes,
        "latencies": latencies,
        "failures": failures,
        "held_after_1s": held_after_1s,
        "still_open_at_end": still_open,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, help="model directory (default: an untrained smallcnn)")
    parser.add_argument("--connections", type=int, default=250)
    parser.add_argument("--every-s", type=float, default=2.0, help="seconds between two trickled header lines")
    parser.add_argument("--seconds", type=float, default=40.0, help="how long the attack lasts")
    parser.add_argument("overrides", nargs="*", help="ServeSettings key=value for the server")
    args = parser.parse_args()
    port = free_port()
    with tempfile.TemporaryDirectory() as folder:
        model = args.model or tiny_model(Path(folder))
        server = start_server(model, port, args.overrides)
        try:
            wait_ready(f"http://{HOST}:{port}")
            result = asyncio.run(attack(port, args.connections, args.every_s, args.seconds))
        finally:
            server.terminate()
            server.wait(timeout=20)
    lifetimes = np.array(result["lifetimes"] or [float("nan")])
    ms = np.array(result["latencies"] or [float("nan")]) * 1000
    print(
        f"\n{args.connections} slowloris connections on {HOST} (a header line every {args.every_s:g} s, reopened "
        f"when closed) for {args.seconds:g} s · {platform.machine()}, {os.cpu_count()} CPUs · "
        f"load {os.getloadavg()[0]:.1f}\n"
    )
    print(
        "| slow connections opened | held after 1 s | longest held s | median held s | /healthz probes | "
        "/healthz p50 ms | p99 ms | max ms | /healthz failures |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    print(
        f"| {len(result['lifetimes'])} | {result['held_after_1s']} | {lifetimes.max():.1f} | "
        f"{np.median(lifetimes):.1f} | {len(result['latencies']) + len(result['failures'])} | "
        f"{np.percentile(ms, 50):.1f} | {np.percentile(ms, 99):.1f} | {ms.max():.1f} | {len(result['failures'])} |"
    )
    if result["failures"]:
        print("failures:", sorted(set(result["failures"])))
    ok = ms.max() < 100 and lifetimes.max() <= 30 and not result["failures"]
    print("targets (/healthz < 100 ms, connections closed within 30 s):", "met" if ok else "NOT met")


if __name__ == "__main__":
    main()
