"""The ``fashiontag`` command line: one subcommand per stage, each a thin call into the library."""

from __future__ import annotations

import importlib

import typer

app = typer.Typer(
    name="fashiontag",
    help="Label fashion product photos over a hierarchical taxonomy, with confidence and abstention.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)

# Each stage registers its own commands; modules import heavy libraries only inside commands.
_STAGES = ["_data", "_train", "_evaluate", "_crossval", "_export", "_predict", "_serve", "_demo"]
for _name in _STAGES:
    try:
        _module = importlib.import_module(f"fashiontag.cli.{_name}")
    except ModuleNotFoundError as exc:  # a stage not built yet must not break the others
        if exc.name != f"fashiontag.cli.{_name}":
            raise
        continue
    _module.register(app)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
