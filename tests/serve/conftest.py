"""Fixtures for the service tests: tiny synthetic images and an app with an injected fake predictor."""

from __future__ import annotations

import io
import struct
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from fashiontag.serve import FakePredictor, ServeSettings, create_app, uvicorn_options


def image_bytes(color: str = "red", size: tuple[int, int] = (48, 64), fmt: str = "JPEG") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, fmt)
    return buffer.getvalue()


def png_claiming(width: int, height: int) -> bytes:
    """A real 1x1 PNG whose IHDR is patched to claim ``width`` x ``height`` (CRC fixed): a tiny bomb."""
    data = bytearray(image_bytes(size=(1, 1), fmt="PNG"))
    # Signature (8) + length (4) + b"IHDR" (4), then width, height; the CRC covers type + 13 data bytes.
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)


def wait_ready(client: TestClient, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while client.get("/readyz").status_code != 200:
        if time.monotonic() > deadline:
            raise TimeoutError("service did not become ready")
        time.sleep(0.01)


@pytest.fixture
def make_client() -> Callable[..., contextmanager]:
    """``with make_client(predictor=..., **settings) as client:`` an app started and ready."""

    @contextmanager
    def _make(
        predictor: FakePredictor | None = None,
        ready: bool = True,
        raise_server_exceptions: bool = True,
        **settings: object,
    ) -> Iterator[TestClient]:
        app = create_app(ServeSettings(**settings), predictor or FakePredictor())
        with TestClient(app, raise_server_exceptions=raise_server_exceptions) as client:
            if ready:
                wait_ready(client)
            yield client

    return _make


@pytest.fixture
def client(make_client: Callable[..., contextmanager]) -> Iterator[TestClient]:
    with make_client() as ready_client:
        yield ready_client


@contextmanager
def live_server(predictor: FakePredictor | None = None, **settings: object) -> Iterator[tuple[str, int]]:
    """A real uvicorn on 127.0.0.1 and a free port, run as ``fashiontag serve`` runs it (guarded protocol,
    timeouts from ``settings``), in a thread; yields ``(host, port)``. Logs propagate (``caplog`` sees them)."""
    import uvicorn

    service_settings = ServeSettings(host="127.0.0.1", port=0, **settings)
    app = create_app(service_settings, predictor or FakePredictor())
    config = uvicorn.Config(app, log_config=None, log_level="warning", **uvicorn_options(service_settings))
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started, "uvicorn did not start"
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield "127.0.0.1", port
    finally:
        server.should_exit = True
        thread.join(timeout=10)
