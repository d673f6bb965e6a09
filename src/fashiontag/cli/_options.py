"""Options every command shares: ``--threads``, and the call that applies it before any work starts."""

from __future__ import annotations

import logging
import sys

import typer

THREADS = typer.Option(
    0,
    "--threads",
    min=0,
    show_default="auto",
    help="Threads for torch, onnxruntime and OpenMP/MKL (also their child processes). 0/auto: OMP_NUM_THREADS "
    "when set, else the cores this process may use (CPU affinity, cgroup quota).",
)


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at each record (a test runner swaps it per invocation)."""

    @property  # type: ignore[override]
    def stream(self):  # noqa: ANN201
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:  # noqa: ANN001
        pass


def begin_command(threads: int) -> int:
    """The first call of every command: apply ``--threads`` (see :func:`fashiontag._threads.configure_threads`)
    and show the library's progress messages (``fashiontag.*`` loggers at INFO) on stderr, so stdout stays
    parseable (``--json``). Returns the thread count."""
    from fashiontag._threads import configure_threads

    logger = logging.getLogger("fashiontag")
    if not any(isinstance(h, _StderrHandler) for h in logger.handlers):
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
    return configure_threads(threads or None)
