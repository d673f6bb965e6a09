"""``fashiontag predict MODEL INPUT... --out preds.csv``: label files/folders/globs/lists, resumably."""

from __future__ import annotations

from pathlib import Path

import typer

EXAMPLES = """
Examples:

  fashiontag predict runs/best photos/ --out preds.csv

  fashiontag predict runs/best 'shop/**/*.jpg' list.txt --out preds.jsonl --backend onnx --top-k 5

  fashiontag predict runs/best photos/ --out preds.csv      # rerun: only new photos are labelled
"""


def register(app: typer.Typer) -> None:
    @app.command("predict", help="Label images into a CSV or JSONL file (resumable)." + EXAMPLES)
    def predict(
        model: Path = typer.Argument(..., help="Model directory (with fashiontag.json)."),
        inputs: list[str] = typer.Argument(..., help="Image files, folders, globs, or .csv/.txt path lists."),
        out: Path = typer.Option(..., "--out", "-o", help="Output .csv or .jsonl (appended to on rerun)."),
        backend: str = typer.Option("auto", help="auto, onnx, onnx-int8 or torch."),
        batch_size: int = typer.Option(64, help="Images per forward pass."),
        top_k: int = typer.Option(3, help="Alternatives kept per head (JSONL)."),
        progress: bool = typer.Option(True, help="Show a progress bar."),
    ) -> None:
        from fashiontag.artifact import ModelFileError
        from fashiontag.infer import load, predict_files

        if out.suffix.lower() not in (".csv", ".jsonl", ".ndjson"):
            raise typer.BadParameter("must end in .csv or .jsonl", param_hint="--out")
        try:
            labeller = load(model, backend=backend)
        except ModelFileError as exc:
            raise typer.BadParameter(str(exc), param_hint="MODEL") from None
        try:
            summary = predict_files(labeller, inputs, out, top_k=top_k, batch_size=batch_size, progress=progress)
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from None
        typer.echo(f"{summary.processed} labelled, {summary.skipped} already in {out} (skipped), "
                   f"{len(summary.failures)} failed")
        if summary.failures:
            typer.echo("Failed:")
            for path, reason in summary.failures:
                typer.echo(f"  {path}: {reason}")
