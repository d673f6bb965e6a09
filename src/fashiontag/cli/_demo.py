"""``fashiontag demo``: the whole pipeline on Fashion Product Images, sized for 2 CPU cores."""

from __future__ import annotations

import typer

from fashiontag.cli._options import THREADS, begin_command

DEMO_HELP = """Inspect, split, train (the best recipe that fits time_limit=10m on this machine), evaluate,
export and report on an FPI folder.

Example:

  fashiontag demo --data ../shared/data/fpi_small --out runs/demo

  fashiontag demo --data ../shared/data/fpi_small --out runs/demo max_items=5000

  fashiontag demo --data ../shared/data/fpi_small --out runs/pinned time_limit=null mode=trunk input_size=112
  trunk_cut=-4 trunk_views=2 epochs=3
"""


def register(app: typer.Typer) -> None:
    @app.command("demo", help=DEMO_HELP)
    def demo(
        data: str = typer.Option(..., help="Folder with styles.csv and images/ (Kaggle layout)."),
        out: str = typer.Option("runs/demo", help="Run directory."),
        threads: int = THREADS,
        overrides: list[str] | None = typer.Argument(None, help="TrainConfig key=value overrides."),
    ) -> None:
        begin_command(threads)
        from fashiontag.workflows.demo import run_demo

        run_demo(data, out, overrides or [], echo=typer.echo)
