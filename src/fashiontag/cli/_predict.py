"""``fashiontag predict MODEL INPUT... --out preds.csv``: label files/folders/globs/lists, resumably."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from fashiontag.cli._options import THREADS, begin_command

if TYPE_CHECKING:
    from fashiontag.infer import BatchSummary

EXAMPLES = """
Examples:

  fashiontag predict runs/best photos/ --out preds.csv

  fashiontag predict runs/best 'shop/**/*.jpg' list.txt --out preds.jsonl --backend onnx --top-k 5

  fashiontag predict runs/best photos/ --out preds.csv      # rerun: only new photos are labelled

  Summary: N labelled, N failed (rows with an error), N skipped (not images: listed by reason), N already in OUT.

  fashiontag predict runs/best photos/ --out preds.jsonl top_k=5 batch_size=32   # PredictConfig key=value

  fashiontag predict runs/best photos/ catalogue.parquet --out preds.parquet --engine ray --address auto
"""


def _split_overrides(arguments: list[str]) -> tuple[list[str], list[str]]:
    """``key=value`` items (a config key, not an existing file) apart from the inputs they follow."""
    overrides = [a for a in arguments if re.fullmatch(r"[A-Za-z_][\w.]*=.*", a) and not Path(a).exists()]
    return overrides, [a for a in arguments if a not in overrides]


def register(app: typer.Typer) -> None:
    @app.command("predict", help="Label images into a CSV or JSONL file (resumable).\n" + EXAMPLES)
    def predict(
        model: Path = typer.Argument(..., help="Model directory (with fashiontag.json)."),
        inputs: list[str] = typer.Argument(
            ..., help="Image files, folders, globs, or .csv/.txt path lists; then PredictConfig key=value overrides."
        ),
        out: Path = typer.Option(
            ...,
            "--out",
            "-o",
            help="Output .csv or .jsonl (appended to on rerun; locked "
            "while a run writes it: a second run exits 3 naming the holder).",
        ),
        backend: str = typer.Option(None, show_default="auto", help="auto, onnx, onnx-int8 or torch."),
        batch_size: int = typer.Option(None, show_default="64", help="Images per forward pass."),
        top_k: int = typer.Option(None, show_default="3", help="Alternatives kept per head (JSONL)."),
        progress: bool = typer.Option(
            None, "--progress/--no-progress", show_default="progress", help="Show a progress bar."
        ),
        tta: str = typer.Option(
            None,
            "--tta",
            show_default="none",
            help="Test-time augmentation: none, flip (2 "
            "views) or multiscale (flip + centre zoom, 4 views); averages probabilities, 2-4x "
            "slower; local engine only. Shorthand for tta=...",
        ),
        threads: int = THREADS,
        config: Path = typer.Option(None, "--config", help="YAML file with PredictConfig keys."),
        engine: str = typer.Option(
            None,
            show_default="local",
            help="local (this process) or ray (a Ray Data "
            "pipeline; --out names a folder of .parquet or .csv shards; needs fashiontag[ray])."
            " Shorthand for engine=...",
        ),
        address: str = typer.Option(
            None,
            help="engine=ray: cluster to join (auto, HOST:PORT, ray://HOST:PORT); "
            "default: a private Ray on this machine. Shorthand for address=...",
        ),
    ) -> None:
        begin_command(threads)
        from fashiontag.config import ConfigError, build_config
        from fashiontag.infer import PredictConfig

        overrides, inputs = _split_overrides(inputs)
        try:
            cfg = build_config(
                PredictConfig,
                config,
                overrides,
                backend=backend,
                batch_size=batch_size,
                top_k=top_k,
                progress=progress,
                tta=tta,
                engine=engine,
                address=address,
            )
        except ConfigError as exc:
            raise typer.BadParameter(str(exc)) from None
        from fashiontag.data.tta import list_tta_modes

        if cfg.tta not in list_tta_modes():
            from fashiontag.registry import unknown_name_message

            raise typer.BadParameter(unknown_name_message("tta mode", cfg.tta, list_tta_modes()), param_hint="tta")
        backend, batch_size, top_k, progress = cfg.backend, cfg.batch_size, cfg.top_k, cfg.progress
        if cfg.engine != "local" or cfg.address:
            if cfg.tta != "none":  # its workers label single views: refused, not silently dropped
                raise typer.BadParameter(
                    "works with --engine local only (Ray workers label single views); drop --tta or use --engine local",
                    param_hint="--tta",
                )
            from fashiontag.cli._predict_ray import run_ray

            return run_ray(cfg.engine, model, inputs, out, cfg.address, backend, batch_size, top_k, progress)
        from fashiontag.artifact import ModelFileError
        from fashiontag.infer import load, predict_files

        if out.suffix.lower() not in (".csv", ".jsonl", ".ndjson"):
            raise typer.BadParameter("must end in .csv or .jsonl", param_hint="--out")
        try:
            labeller = load(model, backend=backend)
        except ModelFileError as exc:
            raise typer.BadParameter(str(exc), param_hint="MODEL") from None
        if cfg.tta != "none":  # every backend: views are made on the letterboxed uint8 batch
            from fashiontag.data.tta import TTARunner

            labeller.runner = TTARunner(labeller.runner, cfg.tta)
        from fashiontag.review import threshold_tta_note

        if note := threshold_tta_note(labeller.sidecar, cfg.tta):
            typer.echo(f"warning: {note}", err=True)
        from fashiontag.infer import OutputLockedError

        try:
            summary = predict_files(labeller, inputs, out, top_k=top_k, batch_size=batch_size, progress=progress)
        except OutputLockedError as exc:  # exit 3: another run holds --out (retry later); 2 is bad input
            typer.echo(f"error: OutputLockedError: {exc}", err=True)
            raise typer.Exit(3) from None
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from None
        except OSError as exc:
            typer.echo(f"error: cannot write {out}: {exc.strerror or exc}", err=True)
            raise typer.Exit(2) from None
        _report(summary, out)


def _report(summary: BatchSummary, out: Path, examples: int = 5) -> None:
    """The run's outcome: labelled / failed / skipped counts, every failure, skipped files grouped by reason."""
    if summary.took_over:
        typer.echo(f"note: took over the lock on {out} left by {summary.took_over} (that process is gone)")
    for line in summary.repaired:
        typer.echo(f"note: {out} {line}: dropped, that image is labelled again")
    typer.echo(
        f"{summary.labelled} labelled, {len(summary.failures)} failed, {len(summary.skipped)} skipped, "
        f"{summary.already} already in {out}"
    )
    if summary.failures:
        typer.echo("Failed (rows with an error):")
        for path, reason in summary.failures:
            typer.echo(f"  {path}: {reason}")
    by_reason: dict[str, list[str]] = {}
    for path, reason in summary.skipped:
        by_reason.setdefault(reason, []).append(path)
    if by_reason:
        typer.echo("Skipped (no row written):")
    for reason, paths in sorted(by_reason.items(), key=lambda item: -len(item[1])):
        typer.echo(f"  {reason}: {len(paths)}")
        for path in paths[:examples]:
            typer.echo(f"    {path}")
        if len(paths) > examples:
            typer.echo(f"    ... and {len(paths) - examples} more")
    typer.echo(f"wrote {out}")
