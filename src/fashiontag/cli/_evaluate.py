"""``fashiontag evaluate MODEL --data PATH`` and ``fashiontag compare RUN...``."""

from __future__ import annotations

from pathlib import Path

import typer

from fashiontag.cli._options import THREADS, begin_command

EVALUATE_EXAMPLES = """
Examples:

  fashiontag evaluate runs/m1 --data data/fpi_small --reader fpi --split-file runs/m1/split.csv --out runs/m1/eval

  fashiontag evaluate runs/m1 --data cache/fpi --split test --out runs/m1/eval calibrate_split=val save_calibration=true

  Review policy keys: target_accuracy=0.985 (or target_accuracy.articleType=0.97), delta=0.1,
  review_heads=\\[masterCategory,subCategory,articleType,baseColour] (colour then sends photos to review too)

  fashiontag evaluate runs/m1 --data data/clothing_photos/train --reader folder --source clothing_photos \\
      --out runs/m1/shift
"""

COMPARE_EXAMPLES = """
Examples:

  fashiontag compare runs/flat runs/hierarchical runs/cascade --out runs/compare
"""


def register(app: typer.Typer) -> None:
    @app.command("evaluate", help="Score a model: metrics.json, report.html and a summary table.\n" + EVALUATE_EXAMPLES)
    def evaluate(
        model: Path = typer.Argument(..., help="Model directory (with fashiontag.json)."),
        data: Path = typer.Option(..., "--data", help="Dataset folder/file or a training cache directory."),
        reader: str = typer.Option(None, "--reader", help="Dataset reader (fpi, folder, manifest, ...)."),
        source: str = typer.Option(None, "--source", help="Taxonomy mapping source (default: the reader name)."),
        split_file: Path = typer.Option(None, "--split-file", help="Split file (item_id -> split)."),
        split: str = typer.Option("test", "--split", help="Split to score."),
        out: Path = typer.Option(Path("eval"), "--out", help="Output directory."),
        threads: int = THREADS,
        config: Path = typer.Option(None, "--config", help="YAML with EvaluateConfig keys."),
        overrides: list[str] = typer.Argument(None, help="key=value EvaluateConfig overrides."),
    ) -> None:
        begin_command(threads)
        from fashiontag.artifact import ModelFileError
        from fashiontag.config import build_config
        from fashiontag.evaluate import EvaluateConfig, evaluate_model, summary_table

        settings = build_config(EvaluateConfig, config, overrides or [], split=split)
        try:
            metrics = evaluate_model(
                model, data, split, out, settings, reader=reader, source=source, split_file=split_file
            )
        except ModelFileError as exc:
            raise typer.BadParameter(str(exc), param_hint="MODEL") from None
        typer.echo(summary_table(metrics))
        written = [out / "metrics.json", out / "report.html", out / "figures"]
        if settings.save_calibration and settings.calibrate_split:
            from fashiontag.artifact import SIDECAR_NAME

            written += [p for p in (model / SIDECAR_NAME, model / "README.md") if p.exists()]
        typer.echo("\nwrote " + ", ".join(str(p) for p in written))

    @app.command("compare", help="Compare runs: accuracy, macro-F1, size, latency, points.\n" + COMPARE_EXAMPLES)
    def compare(
        runs: list[Path] = typer.Argument(..., help="Run or model directories (each with metrics.json)."),
        out: Path = typer.Option(Path("compare"), "--out", help="Output directory."),
        latency: bool = typer.Option(True, "--latency/--no-latency", help="Measure CPU latency (batch 1)."),
        threads: int = THREADS,
    ) -> None:
        begin_command(threads)
        from fashiontag.evaluate import compare_runs
        from fashiontag.evaluate.compare import markdown_table

        table = compare_runs(runs, out, latency=latency)
        typer.echo(markdown_table(table))
        typer.echo(f"\nwrote {out / 'compare.md'}, {out / 'compare.csv'}, {out / 'compare.png'}")
