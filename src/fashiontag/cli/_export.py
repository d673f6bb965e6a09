"""``fashiontag export MODEL --format onnx [--int8]``: write model.onnx (+ model.int8.onnx) beside the weights."""

from __future__ import annotations

import json
from pathlib import Path

import typer

EXAMPLES = """
Examples:

  fashiontag export runs/best --format onnx

  fashiontag export runs/best --int8 --data data/fpi --split-file runs/best/split.csv   # accuracy change on val

  fashiontag export runs/best --int8 --data data/val.csv    # static int8, report on the calibration images

  fashiontag export runs/best --int8                        # dynamic int8 (no data)
"""


def register(app: typer.Typer) -> None:
    @app.command("export", help="Export a model directory (parity-checked, registered in its sidecar)." + EXAMPLES)
    def export(
        model: Path = typer.Argument(..., help="Model directory (with fashiontag.json)."),
        format: str = typer.Option("onnx", "--format", "-f", help="Export format (registered exporters)."),
        int8: bool = typer.Option(False, "--int8", help="Also write an int8 model."),
        data: Path = typer.Option(
            None, help="int8 images: a dataset (with --split-file), or a folder, .csv (path + head columns), .npz."
        ),
        split_file: Path = typer.Option(None, help="item_id,split file: calibrate on train, report on --split."),
        split: str = typer.Option("val", help="Split reported on (with --split-file)."),
        reader: str = typer.Option(None, help="Dataset reader (default: the model's training reader)."),
        calibration_size: int = typer.Option(300, help="Calibration images (at most)."),
        report_size: int = typer.Option(1000, help="Report images (at most; 0 = the whole split)."),
        opset: int = typer.Option(18, help="ONNX opset."),
        exporter: str = typer.Option("dynamo", help="dynamo or torchscript (the other is the fallback)."),
    ) -> None:
        from fashiontag.artifact import ModelFileError
        from fashiontag.export import export_model, format_int8_report
        from fashiontag.registry import UnknownNameError

        try:
            report = export_model(
                model,
                format,
                int8=int8,
                data=data,
                opset=opset,
                exporter=exporter,
                split_file=split_file,
                split=split,
                reader=reader,
                calibration_size=calibration_size,
                report_size=report_size or None,
            )
        except ModelFileError as exc:
            raise typer.BadParameter(str(exc), param_hint="MODEL") from None
        except UnknownNameError as exc:
            raise typer.BadParameter(str(exc), param_hint="--format") from None
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--data/--split-file") from None
        typer.echo(json.dumps(report, indent=2))
        parts = {"": report} if "exporter" in report else report
        for name, part in parts.items():
            if "int8" in part:
                typer.echo(("\n" + name + ": " if name else "\n") + format_int8_report(part["int8"]))
