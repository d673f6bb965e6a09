"""``fashiontag export MODEL [--int8] [--config FILE] [key=value ...]``: write model.onnx (+ model.int8.onnx)."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from fashiontag.cli._options import THREADS, begin_command

EXAMPLES = """
Examples:

  fashiontag export runs/best --format onnx

  fashiontag export runs/best --int8 --data data/fpi --split-file runs/best/split.csv   # accuracy change on val

  fashiontag export runs/best --int8 --data data/val.csv    # static int8, report on the calibration images

  fashiontag export runs/best --int8                        # dynamic int8 (no data)

  fashiontag export runs/best --int8 --data data/fpi --split-file runs/best/split.csv int8_options.calibrate_method=percentile

Settings come from ExportConfig defaults, then --config FILE.yaml, then the options, then key=value
(int8 quantisation settings as int8_options.<key>, e.g. int8_options.per_channel=false).
"""  # noqa: E501


def _default(name: str) -> str:
    from fashiontag.export import ExportConfig

    value = ExportConfig.__dataclass_fields__[name].default
    return "none" if value is None else str(value)


def _written(model: Path, report: dict) -> list[Path]:
    """The files this export wrote, cascade parts included, and each sidecar it updated."""
    from fashiontag.artifact import ONNX_INT8_NAME, ONNX_NAME, SIDECAR_NAME, read_sidecar

    sidecar = read_sidecar(model, verify=False)
    dirs = [model / sub for sub in (sidecar.get("parts") or {}).values()]
    names = [ONNX_NAME, *([ONNX_INT8_NAME] if any("int8" in part for part in _parts(report).values()) else [])]
    paths = [d / n for d in dirs or [model] for n in names]
    return [*paths, *(d / SIDECAR_NAME for d in dirs), model / SIDECAR_NAME]


def _parts(report: dict) -> dict:
    return {"": report} if "exporter" in report else report


def register(app: typer.Typer) -> None:
    @app.command("export", help="Export a model directory (parity-checked, registered in its sidecar).\n" + EXAMPLES)
    def export(
        model: Path = typer.Argument(..., help="Model directory (with fashiontag.json)."),
        format: str = typer.Option(None, "--format", "-f", show_default=_default("format"),
                                   help="Export format (registered exporters)."),
        int8: bool = typer.Option(None, "--int8", show_default=_default("int8"), help="Also write an int8 model."),
        data: Path = typer.Option(None, show_default=_default("data"),
                                  help="int8 images: a dataset (with --split-file), or a folder, .csv, .npz."),
        split_file: Path = typer.Option(None, show_default=_default("split_file"),
                                        help="item_id,split file: calibrate on train, report on --split."),
        split: str = typer.Option(None, show_default=_default("split"), help="Split reported on (--split-file)."),
        reader: str = typer.Option(None, show_default="the model's training reader", help="Dataset reader."),
        calibration_size: int = typer.Option(None, show_default=_default("calibration_size"),
                                             help="Calibration images (at most)."),
        report_size: int = typer.Option(None, show_default=_default("report_size"),
                                        help="Report images (at most; 0 = the whole split)."),
        opset: int = typer.Option(None, show_default=_default("opset"), help="ONNX opset."),
        exporter: str = typer.Option(None, show_default=_default("exporter"),
                                     help="dynamo or torchscript (the other is the fallback)."),
        threads: int = THREADS,
        config: Path = typer.Option(None, "--config", help="YAML file with ExportConfig keys."),
        overrides: list[str] = typer.Argument(None, help="ExportConfig key=value overrides."),
    ) -> None:  # fmt: skip
        begin_command(threads)
        from fashiontag.artifact import ModelFileError
        from fashiontag.config import ConfigError, build_config
        from fashiontag.export import ExportConfig, export_model, format_int8_report, list_exporters
        from fashiontag.registry import UnknownNameError

        try:
            cfg = build_config(
                ExportConfig, config, overrides or [], format=format, int8=int8,
                data=None if data is None else str(data), split_file=None if split_file is None else str(split_file),
                split=split, reader=reader, calibration_size=calibration_size, report_size=report_size, opset=opset,
                exporter=exporter,
            )  # fmt: skip
        except ConfigError as exc:
            raise typer.BadParameter(str(exc)) from None
        typer.echo(f"exporting {model} to {cfg.format} (opset {cfg.opset}, {cfg.exporter} exporter, parity check)"
                   + (", then int8" + (f" calibrated on {cfg.data}" if cfg.data else " (dynamic)") if cfg.int8 else "")
                   + " ...", err=True)  # fmt: skip
        try:
            report = export_model(model, cfg.format, **cfg.export_kwargs())
        except ModelFileError as exc:
            raise typer.BadParameter(str(exc), param_hint="MODEL") from None
        except UnknownNameError as exc:
            hint = "--format" if cfg.format not in list_exporters() else "--reader" if "reader" in str(exc) else None
            raise typer.BadParameter(str(exc), param_hint=hint) from None
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--data/--split-file") from None
        typer.echo(json.dumps(report, indent=2))  # stdout holds the report only; tables and paths go to stderr
        for name, part in _parts(report).items():
            if "int8" in part:
                typer.echo(("\n" + name + ": " if name else "\n") + format_int8_report(part["int8"]), err=True)
        typer.echo("\nwrote " + ", ".join(str(p) for p in _written(model, report)), err=True)
