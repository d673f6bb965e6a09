"""``fashiontag serve MODEL``: run the labelling service (API + web page) with uvicorn."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from fashiontag.cli._options import THREADS, begin_command

EXAMPLES = """
Examples:

  fashiontag serve runs/best                      # http://127.0.0.1:8000

  fashiontag serve runs/best --host 0.0.0.0 --port 8080 --max-images 32

  FASHIONTAG_MAX_QUEUE=512 fashiontag serve runs/best --batch-size 32 --batch-wait-ms 10

  fashiontag serve runs/best decode_memory_mib=1024 header_timeout_s=5 max_connections=256

  fashiontag serve runs/best --config serve.yaml top_k=5      # ServeSettings keys: YAML, then key=value

  fashiontag serve runs/best --labelstudio --port 9090        # also a Label Studio ML backend (docs/review.md)
"""


def _settings(model: Path, config: Path | None, overrides: list[str], flags: dict[str, Any]) -> Any:
    """ServeSettings from defaults and ``FASHIONTAG_*``, then ``--config`` YAML, the flags, then key=value;
    an unknown key fails with the closest valid name (ServeSettings itself ignores extra environment)."""
    import yaml

    from fashiontag.config import ConfigError, parse_overrides
    from fashiontag.registry import unknown_name_message
    from fashiontag.serve import ServeSettings

    values: dict[str, Any] = {}
    if config is not None:
        loaded = yaml.safe_load(config.read_text(encoding="utf-8")) or {}
        if not isinstance(loaded, dict):
            raise ConfigError(f"{config}: top level must be a mapping")
        values.update(loaded)
    values.update({k: v for k, v in flags.items() if v is not None})
    values.update(parse_overrides(overrides))
    for key in values:
        if key not in ServeSettings.model_fields:
            raise ConfigError(unknown_name_message("config key", key, list(ServeSettings.model_fields)))
    return ServeSettings(**{"model_path": model, **values})


def register(app: typer.Typer) -> None:
    @app.command("serve", help="Serve a model over HTTP: POST /v1/labels and a web page at /.\n" + EXAMPLES)
    def serve(
        model: Path = typer.Argument(..., help="Model directory (with fashiontag.json)."),
        host: str = typer.Option(None, help="Address to bind (default 127.0.0.1)."),
        port: int = typer.Option(None, help="Port (default 8000)."),
        backend: str = typer.Option(None, help="auto, onnx or torch (default auto)."),
        max_upload_bytes: int = typer.Option(None, help="Largest image file (default 10 MiB)."),
        max_images: int = typer.Option(None, help="Most images per request (default 16)."),
        max_queue: int = typer.Option(None, help="Most images waiting; beyond it 503 (default 256)."),
        batch_size: int = typer.Option(None, help="Micro-batch size (default 16)."),
        batch_wait_ms: float = typer.Option(None, help="Micro-batch fill wait in ms (default 5)."),
        request_timeout_s: float = typer.Option(None, help="Per-request timeout, then 504 (default 30)."),
        log_level: str = typer.Option("info", help="uvicorn log level."),
        labelstudio: bool = typer.Option(
            False,
            "--labelstudio",
            help="Also serve Label Studio's ML-backend protocol (/setup, /predict, /health, /webhook) for live "
            "pre-labels; LABEL_STUDIO_URL / LABEL_STUDIO_API_KEY say where task images live (docs/review.md).",
        ),
        threads: int = THREADS,
        config: Path = typer.Option(None, "--config", help="YAML file with ServeSettings keys."),
        overrides: list[str] = typer.Argument(None, help="ServeSettings key=value overrides, e.g. top_k=5."),
    ) -> None:
        begin_command(threads)
        from fashiontag.artifact import ModelFileError, read_sidecar
        from fashiontag.serve import create_app, run_server

        flags = {
            "host": host,
            "port": port,
            "backend": backend,
            "max_upload_bytes": max_upload_bytes,
            "max_images": max_images,
            "max_queue": max_queue,
            "batch_size": batch_size,
            "batch_wait_ms": batch_wait_ms,
            "request_timeout_s": request_timeout_s,
        }
        try:  # settings first: inconsistent ones (max_queue < max_images, ...) fail before the model is read
            settings = _settings(model, config, overrides or [], flags)
        except ValueError as exc:  # pydantic's ValidationError and ConfigError are both ValueErrors
            raise typer.BadParameter(str(exc)) from None
        try:  # fail here, loudly, rather than serve a 503 forever
            read_sidecar(model, verify=True)
        except ModelFileError as exc:
            raise typer.BadParameter(str(exc), param_hint="MODEL") from None
        link = None
        if labelstudio:
            import os

            from fashiontag.labelstudio import LabelStudioLink

            link = LabelStudioLink(os.environ.get("LABEL_STUDIO_URL"), os.environ.get("LABEL_STUDIO_API_KEY"))
        # run_server: uvicorn plus header/body/keep-alive deadlines and a connection cap (docs/serve.md)
        run_server(create_app(settings, labelstudio=link), settings, log_level)
