"""One writer per output file: ``predict`` holds ``<out>.lock`` while it runs.

Two runs writing the same ``--out`` both rewrote it from their own rows, so the first run's rows were lost.
The lock is an advisory ``flock`` on ``<out>.lock``, which the kernel drops when its process dies, so a lock
left by a crashed or killed run is simply taken over. The file's text says who holds it (pid, host, start
time), so a refused run can name the holder.
"""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path
from typing import Any

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: an existing lock file refuses (remove a stale one by hand)
    fcntl = None  # type: ignore[assignment]


class OutputLockedError(RuntimeError):
    """Another live run is writing the same output file."""


def lock_path(output: Path) -> Path:
    return output.with_name(output.name + ".lock")


def _holder(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _describe(holder: dict[str, Any]) -> str:
    if not holder:
        return "another process"
    started = holder.get("started")
    when = time.strftime(" since %Y-%m-%d %H:%M:%S", time.localtime(started)) if isinstance(started, int) else ""
    return f"pid {holder.get('pid', '?')} on host {holder.get('host', '?')}{when}"


class OutputLock:
    """Context manager; raises :class:`OutputLockedError` at once (never waits) if a live run holds ``output``.

    ``took_over`` names the holder of a stale lock (its process is gone) that this run replaced.

    Example:
        >>> with OutputLock(Path("preds.csv")):  # doctest: +SKIP
        ...     write_rows(...)
    """

    def __init__(self, output: Path) -> None:
        self.output = Path(output)
        self.path = lock_path(self.output)
        self.took_over: str | None = None
        self._fd: int | None = None

    def __enter__(self) -> OutputLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(10):  # retried only when the lock file is replaced under us
            if self._try_acquire():
                return self
        raise OutputLockedError(f"{self.output}: cannot take {self.path} (it keeps changing)")

    def _locked(self) -> OutputLockedError:
        return OutputLockedError(
            f"{self.output} is being written by {_describe(_holder(self.path))} (lock file "
            f"{self.path}); wait for that run to finish, or write to another --out"
        )

    def _try_acquire(self) -> bool:
        if fcntl is None:  # pragma: no cover
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                raise self._locked() from None
        else:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                raise self._locked() from None
            if not self._still_ours(fd):
                os.close(fd)  # the holder removed the file between our open and our flock: start over
                return False
        stale = _holder(self.path)
        self.took_over = _describe(stale) if stale else None
        record = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started": int(time.time()),
            "output": str(self.output.resolve()),
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(record).encode(), 0)
        os.fsync(fd)
        self._fd = fd
        return True

    def _still_ours(self, fd: int) -> bool:
        try:
            return os.path.samestat(os.fstat(fd), os.stat(self.path))
        except FileNotFoundError:
            return False

    def __exit__(self, *exc: object) -> None:
        if self._fd is not None:
            self.path.unlink(missing_ok=True)  # before unlocking, so no one locks a file that is going away
            os.close(self._fd)
            self._fd = None
