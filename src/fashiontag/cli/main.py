"""The ``fashiontag`` command line: one subcommand per stage, each a thin call into the library."""

from __future__ import annotations

import importlib
import io
import sys

import typer

app = typer.Typer(
    name="fashiontag",
    help="Label fashion product photos over a hierarchical taxonomy, with confidence and abstention.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)

# Each stage registers its own commands; modules import heavy libraries only inside commands.
_STAGES = [
    "_data",
    "_train",
    "_evaluate",
    "_crossval",
    "_export",
    "_predict",
    "_select",
    "_serve",
    "_demo",
    "_backbones",
    "_labelstudio",
    "_audit",
    "_adapt",
]
for _name in _STAGES:
    importlib.import_module(f"fashiontag.cli.{_name}").register(app)


def _user_errors() -> tuple[type[BaseException], ...]:
    """Errors caused by the input (bad config, taxonomy, model file, weights, paths), not by a bug."""
    from fashiontag.artifact import ModelFileError
    from fashiontag.config import ConfigError
    from fashiontag.data.checks import DataError
    from fashiontag.data.images import ImageError
    from fashiontag.data.taxonomy import TaxonomyError
    from fashiontag.models import WeightsError
    from fashiontag.registry import UnknownNameError

    return (
        ConfigError,
        DataError,
        TaxonomyError,
        ModelFileError,
        ImageError,
        UnknownNameError,
        FileNotFoundError,
        WeightsError,
    )


def _line_buffered() -> None:
    """Flush every line, also into a file or pipe (``train ... > log``): the per-epoch lines of a long run
    must reach the person watching while it runs, not in one block when it ends."""
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper) and not stream.line_buffering:
            stream.reconfigure(line_buffering=True)


def main() -> None:
    """Entry point: an input error prints one ``error:`` line and exits 2 instead of a traceback."""
    _line_buffered()
    try:
        app()
    except _user_errors() as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        typer.echo(f"error: {type(exc).__name__}: {message}", err=True)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
