"""``fashiontag adapt``: re-estimate a model's BatchNorm statistics on a shop's unlabelled photos (AdaBN)."""

from __future__ import annotations

from pathlib import Path

import typer

from fashiontag.cli._options import THREADS, begin_command

EXAMPLES = """
Fits a model to the photos it will label - a shop's phone photos instead of
the packshots it learnt from - without a single label: every BatchNorm layer's
statistics are re-estimated on those photos (AdaBN, one forward pass). The
adapted model is written to --out; the input model is left as it was. Its
metrics, temperature and review thresholds were measured before adaptation:
score it (and refit the thresholds) on labelled photos of the new domain.

Examples:

  fashiontag adapt runs/fpi/model shop_photos/ --out runs/fpi_shop/model

  fashiontag adapt runs/fpi/model 'inbox/**/*.jpg' --out runs/fpi_inbox/model --max-images 2000
"""


def register(app: typer.Typer) -> None:
    @app.command(
        "adapt", help="Adapt a model to new photos without labels (re-estimate BatchNorm statistics).\n" + EXAMPLES
    )
    def adapt(
        model: Path = typer.Argument(..., help="Model directory (with fashiontag.json); never modified."),
        photos: list[str] = typer.Argument(
            ...,
            help="Unlabelled photos of the new domain: files, folders, globs, .csv/.txt lists (at least 32 readable).",
        ),
        out: Path = typer.Option(..., "--out", "-o", help="New model directory to write."),
        max_images: int = typer.Option(
            5000,
            "--max-images",
            min=32,
            help="Use a random sample of at most this many photos (decoded into memory: about 0.15 MB each at 224 px).",
        ),
        seed: int = typer.Option(0, help="Seed of that sample."),
        threads: int = THREADS,
    ) -> None:
        begin_command(threads)
        from fashiontag.workflows.adapt import adapt_model

        try:
            summary = adapt_model(model, photos, out, max_images=max_images, seed=seed)
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from None
        typer.echo(
            f"adapted {summary['layers']} BatchNorm layers on {summary['images']} photos; "
            f"{len(summary['failures'])} unreadable"
        )
        for path, reason in summary["failures"][:20]:
            typer.echo(f"  skipped {path}: {reason}")
        typer.echo(f"wrote {summary['model']}")
        typer.echo(
            "its metrics and temperature were measured before adaptation: score it with `fashiontag evaluate "
            f"{summary['model']} --data LABELLED_PHOTOS --out EVAL_DIR`"
            + (
                " and refit its thresholds there (calibrate_split=val save_calibration=true)"
                if summary["thresholds"]
                else ""
            )
        )
