"""``fashiontag export MODEL --format onnx [--int8]``: write model.onnx (+ model.int8.onnx) beside the weights."""

from __future__ import annotations

import json
from pathlib import Path

import typer

EXAMPLES = """
Examples:

  fashiontag export runs/best --format onnx

  fashiontag export runs/best --format onnx --int8 --data data/val.csv    # static int8 + accuracy report

  fashiontag export runs/best --int8                                      # dynamic int8 (no data)
"""


def register(app: typer.Typer) -> None:
    @app.command("export", help="Export a model directory (parity-checked, registered in its sidecar)." + EXAMPLES)
    def export(
        model: Path = typer.Argument(..., help="Model directory (with fashiontag.json)."),
        format: str = typer.Option("onnx", "--format", "-f", help="Export format (registered exporters)."),
        int8: bool = typer.Option(False, "--int8", help="Also write an int8 model."),
        data: Path = typer.Option(None, help="Validation images for int8: folder, .csv (path + head columns), .npz."),
        opset: int = typer.Option(18, help="ONNX opset."),
        exporter: str = typer.Option("dynamo", help="dynamo or torchscript (the other is the fallback)."),
    ) -> None:
        from fashiontag.artifact import ModelFileError
        from fashiontag.export import export_model
        from fashiontag.registry import UnknownNameError

        try:
            report = export_model(model, format, int8=int8, data=data, opset=opset, exporter=exporter)
        except ModelFileError as exc:
            raise typer.BadParameter(str(exc), param_hint="MODEL") from None
        except UnknownNameError as exc:
            raise typer.BadParameter(str(exc), param_hint="--format") from None
        typer.echo(json.dumps(report, indent=2))
