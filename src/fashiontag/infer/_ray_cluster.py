"""A private Ray cluster on this machine (``ray start --head`` on 127.0.0.1 in its own temp dir), for tests and
benchmarks of ``predict --engine ray``; stopping it ends only its own processes, not other Ray sessions."""

from __future__ import annotations

import socket
import subprocess
import sys
import tempfile
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_local_cluster(cpus: int = 2, temp: Path | None = None) -> tuple[str, Path]:
    """Start a head node with ``cpus`` CPUs; returns (address for ``--address``, its temp dir)."""
    temp = temp or Path(tempfile.mkdtemp(prefix="ray", dir="/tmp"))  # short: socket paths have a length limit
    port = free_port()
    ray_cli = str(Path(sys.executable).parent / "ray")
    done = subprocess.run(
        [
            ray_cli,
            "start",
            "--head",
            "--node-ip-address",
            "127.0.0.1",
            "--port",
            str(port),
            "--num-cpus",
            str(cpus),
            "--include-dashboard=false",
            "--temp-dir",
            str(temp),
            "--disable-usage-stats",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if done.returncode != 0:
        raise RuntimeError(f"ray start failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return f"127.0.0.1:{port}", temp


def cluster_processes(temp: Path) -> list:
    """The processes of the cluster living in ``temp``: its daemons (their command lines name ``temp``) and all
    their descendants (workers, actors)."""
    import psutil

    me = psutil.Process()
    skip = {me.pid, *(p.pid for p in me.parents())}
    roots = []
    for proc in psutil.process_iter(["cmdline"]):
        try:
            if proc.pid not in skip and any(str(temp) in arg for arg in proc.info["cmdline"] or []):
                roots.append(proc)
        except psutil.Error:
            continue
    found = {p.pid: p for p in roots}
    for root in roots:
        try:
            found.update({c.pid: c for c in root.children(recursive=True)})
        except psutil.Error:
            continue
    return list(found.values())


def stop_local_cluster(temp: Path, timeout: float = 5.0) -> None:
    """Terminate (then kill) this cluster's processes only; ``ray stop`` would stop every Ray on the machine."""
    import psutil

    for _ in range(5):  # a raylet may start a worker while it is being stopped: repeat until none is left
        procs = cluster_processes(temp)
        if not procs:
            return
        for proc in procs:
            try:
                proc.terminate()
            except psutil.Error:
                continue
        _, alive = psutil.wait_procs(procs, timeout=timeout)
        for proc in alive:
            try:
                proc.kill()
            except psutil.Error:
                continue
