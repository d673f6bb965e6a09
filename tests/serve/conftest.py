"""Fixtures for the service tests: tiny synthetic images and an app with an injected fake predictor."""

from __future__ import annotations

import io
import struct
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from fashiontag.serve import FakePredictor, ServeSettings, create_app


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
    def _make(predictor: FakePredictor | None = None, ready: bool = True, raise_server_exceptions: bool = True,
              **settings: object) -> Iterator[TestClient]:
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
