"""One place that decides how many threads torch, OpenMP/MKL and onnxruntime use.

``os.cpu_count()`` reports the host's cores, not what this process may run on: a container limited by a
cgroup CPU quota, or a job pinned with ``taskset``, sees every core and then oversubscribes. On a busy
2-core machine that cost 10x (a probe run took 4 min 17 s with default threads, 29 s with
``OMP_NUM_THREADS=1``; ``compare`` measured 1,370 ms per image with 2 torch threads against 8.6 ms with 1).
So the count is: ``--threads N`` when given, else ``OMP_NUM_THREADS`` when the user set it, else the cores
this process may really use (CPU affinity, then the cgroup v2 ``cpu.max`` / v1 CFS quota).

The chosen count is written to ``OMP_NUM_THREADS`` / ``MKL_NUM_THREADS`` / ``OPENBLAS_NUM_THREADS``, which
child processes (cache workers, DataLoader workers) and a torch imported later read at start-up; an
already-imported torch is set directly; onnxruntime sessions ask :func:`onnxruntime_threads`.

Example:
    >>> n = configure_threads(1)
    >>> onnxruntime_threads()
    1
"""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path

#: Environment variables the OpenMP, MKL and OpenBLAS runtimes (and torch's intra-op pool) read at start-up.
THREAD_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
PROC_CGROUP = Path("/proc/self/cgroup")
CGROUP_ROOT = Path("/sys/fs/cgroup")


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError:
        return None


def _quota_v2(directory: Path) -> float | None:
    """``cpu.max`` is ``"<quota> <period>"`` or ``"max <period>"`` (no limit)."""
    text = _read(directory / "cpu.max")
    if not text:
        return None
    quota, _, period = text.partition(" ")
    if quota == "max" or not period:
        return None
    try:
        return int(quota) / int(period)
    except ValueError:
        return None


def _quota_v1(directory: Path) -> float | None:
    """``cpu.cfs_quota_us`` is ``-1`` when unlimited."""
    quota, period = _read(directory / "cpu.cfs_quota_us"), _read(directory / "cpu.cfs_period_us")
    try:
        quota_us, period_us = int(quota or "-1"), int(period or "0")
    except ValueError:
        return None
    return quota_us / period_us if quota_us > 0 and period_us > 0 else None


def _tightest(mount: Path, group: str, read: object) -> float | None:
    """The smallest quota on the way from this process's cgroup up to the mount (limits nest); when the
    cgroup path is not visible (a cgroup namespace), the mount's own files describe the container."""
    limits = []
    directory = mount / group.strip("/")
    while True:
        limit = read(directory)  # type: ignore[operator]
        if limit is not None:
            limits.append(limit)
        if directory == mount or mount not in directory.parents:
            break
        directory = directory.parent
    return min(limits) if limits else None


def cgroup_cpu_limit(proc_cgroup: Path = PROC_CGROUP, root: Path = CGROUP_ROOT) -> float | None:
    """CPUs allowed by the cgroup CPU quota (e.g. ``1.5``), or None when there is no quota.

    Reads cgroup v2 (``0::/path`` in ``/proc/self/cgroup``, ``cpu.max``) and v1 (a ``cpu`` controller line,
    ``cpu.cfs_quota_us`` / ``cpu.cfs_period_us`` under ``cpu`` or ``cpu,cpuacct``).
    """
    text = _read(proc_cgroup)
    if not text:
        return None
    limits = []
    for line in text.splitlines():
        hierarchy, _, rest = line.partition(":")
        controllers, _, group = rest.partition(":")
        if hierarchy == "0" and controllers == "":
            limit = _tightest(root, group, _quota_v2)
        elif "cpu" in controllers.split(","):
            mounts = [root / controllers, root / "cpu", root / "cpu,cpuacct"]
            mount = next((m for m in mounts if m.is_dir()), None)
            limit = _tightest(mount, group, _quota_v1) if mount is not None else None
        else:
            continue
        if limit is not None:
            limits.append(limit)
    return min(limits) if limits else None


def available_cores(proc_cgroup: Path = PROC_CGROUP, root: Path = CGROUP_ROOT) -> int:
    """Cores this process may really use: its CPU affinity, capped by the cgroup quota (rounded up), >= 1."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # macOS and Windows have no affinity call
        cores = os.cpu_count() or 1
    quota = cgroup_cpu_limit(proc_cgroup, root)
    if quota is not None:
        cores = min(cores, max(1, math.ceil(quota)))
    return max(1, cores)


def resolve_threads(threads: int | None = None) -> int:
    """``threads`` when positive, else ``OMP_NUM_THREADS`` when set to a positive integer, else
    :func:`available_cores`."""
    if threads is not None and threads > 0:
        return int(threads)
    env = os.environ.get("OMP_NUM_THREADS", "").strip()
    if env.isdigit() and int(env) > 0:
        return int(env)
    return available_cores()


def configure_threads(threads: int | None = None) -> int:
    """Set this process's (and its children's) thread count; returns it. Call it first in every command.

    torch's inter-op pool gets one thread: fashiontag runs no parallel graph branches, and a second pool only
    competes with the intra-op threads for the same cores.
    """
    count = resolve_threads(threads)
    for name in THREAD_ENV:
        os.environ[name] = str(count)
    torch = sys.modules.get("torch")  # set directly only if imported: the ONNX path never imports torch
    if torch is not None:
        torch.set_num_threads(count)
        try:
            torch.set_num_interop_threads(1)
        except RuntimeError:  # only settable before torch's first parallel work; harmless if already set
            pass
    return count


def onnxruntime_threads() -> int:
    """The intra-op thread count for an onnxruntime session (onnxruntime does not read ``OMP_NUM_THREADS``)."""
    return resolve_threads(None)
