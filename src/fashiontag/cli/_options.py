"""Options several commands share (``--threads`` on every one; the dataset and fold options of the commands that
train fold models), and the call that applies ``--threads`` before any work starts."""

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


# The dataset and fold options of `crossval` and `audit` (both train one model per group-aware fold).
FOLDS = typer.Option(5, help="Number of folds K (at least 3).")
FOLD_SEED = typer.Option(0, help="Seed of the fold assignment.")
TAXONOMY = typer.Option(None, help="Built-in taxonomy name or YAML path.")
READER = typer.Option(None, help="Dataset reader (fpi, folder, manifest, ...).")
SOURCE = typer.Option(None, help="Mapping source in the taxonomy's 'sources'.")
TRAIN_CONFIG = typer.Option(None, "--config", help="YAML file with TrainConfig keys.")
TRAIN_OVERRIDES = typer.Argument(None, help="TrainConfig key=value overrides, e.g. epochs=5 probe_steps=500.")


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
