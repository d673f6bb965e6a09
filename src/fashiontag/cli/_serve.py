"""``fashiontag serve MODEL``: run the labelling service (API + web page) with uvicorn."""

from __future__ import annotations

from pathlib import Path

import typer

EXAMPLES = """
Examples:

  fashiontag serve runs/best                      # http://127.0.0.1:8000

  fashiontag serve runs/best --host 0.0.0.0 --port 8080 --max-images 32

  FASHIONTAG_MAX_QUEUE=512 fashiontag serve runs/best --batch-size 32 --batch-wait-ms 10
"""


def register(app: typer.Typer) -> None:
    @app.command("serve", help="Serve a model over HTTP: POST /v1/labels and a web page at /." + EXAMPLES)
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
    ) -> None:
        import uvicorn

        from fashiontag.artifact import ModelFileError, read_sidecar
        from fashiontag.serve import ServeSettings, create_app

        try:  # fail here, loudly, rather than serve a 503 forever
            read_sidecar(model, verify=True)
        except ModelFileError as exc:
            raise typer.BadParameter(str(exc), param_hint="MODEL") from None
        flags = {"host": host, "port": port, "backend": backend, "max_upload_bytes": max_upload_bytes,
                 "max_images": max_images, "max_queue": max_queue, "batch_size": batch_size,
                 "batch_wait_ms": batch_wait_ms, "request_timeout_s": request_timeout_s}
        settings = ServeSettings(model_path=model, **{k: v for k, v in flags.items() if v is not None})
        uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level=log_level)
