"""``fashiontag select MODEL POOL... --budget N --out to_label.csv``: which photos to label next."""

from __future__ import annotations

from pathlib import Path

import typer

from fashiontag.cli._options import THREADS, begin_command

EXAMPLES = """
Picks the photos worth labelling next, in rank order. With few labels (the
labelled photos given with --labelled plus the budget, at most
cold_per_class=20 per class) it takes the most typical photo of each k-means
cluster of the model's backbone features (strategy=typical, TypiClust: a
cold start, any model will do); after that the photos the model is least
sure of on the deepest level (margin or entropy), spread out with k-center
greedy (strategy=uncertainty). Label the rows of the CSV in rank order, add
them to your class folders and train again.

Examples:

  fashiontag select runs/shop/model unlabelled/ --budget 100 --out to_label.csv

  fashiontag select runs/shop/model 'inbox/**/*.jpg' --budget 50 --labelled photos/ --out to_label.csv uncertainty=entropy

  fashiontag select runs/demo/train/model shop_photos/ --budget 100 --out first_100.csv strategy=typical
"""  # noqa: E501


def register(app: typer.Typer) -> None:
    @app.command(
        "select", help="Choose which unlabelled photos to label next (typical, or uncertain + diverse).\n" + EXAMPLES
    )
    def select(
        model: Path = typer.Argument(..., help="Model directory (with fashiontag.json)."),
        pool: list[str] = typer.Argument(
            ...,
            help="Unlabelled images: files, folders, globs, .csv/.txt lists; then SelectConfig key=value overrides.",
        ),
        out: Path = typer.Option(..., "--out", "-o", help="Ranked .csv to write (atomically)."),
        budget: int = typer.Option(None, "--budget", show_default="100", help="How many photos to pick."),
        labelled: list[str] = typer.Option(
            None, "--labelled", help="Already labelled photos: picks avoid their neighbourhood (repeatable)."
        ),
        config: Path = typer.Option(None, "--config", help="YAML file with SelectConfig keys."),
        threads: int = THREADS,
    ) -> None:
        begin_command(threads)
        from fashiontag.config import ConfigError, build_config
        from fashiontag.workflows.select import SelectConfig, select_for_labelling

        overrides = [p for p in pool if "=" in p and not Path(p).exists()]
        inputs = [p for p in pool if p not in overrides]
        try:
            cfg = build_config(SelectConfig, config, overrides, budget=budget)
        except ConfigError as exc:
            raise typer.BadParameter(str(exc)) from None
        if cfg.budget < 1:
            raise typer.BadParameter("must be at least 1", param_hint="--budget")
        try:
            summary = select_for_labelling(model, inputs, out, cfg, labelled=labelled or None)
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from None
        typer.echo(
            f"picked {summary['picked']} of {summary['pool']} photos (head {summary['head']}, strategy "
            f"{summary['strategy']}); "
            f"{len(summary['failures'])} unreadable"
        )
        for path, reason in summary["failures"][:20]:
            typer.echo(f"  skipped {path}: {reason}")
        typer.echo(f"wrote {summary['out']}")
