"""Fixtures for the Label Studio tests: a static file server (the tiny dataset and model are in tests/conftest.py)."""

from __future__ import annotations

import functools
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture()
def file_server(dataset: tuple[Path, Path]) -> Iterator[str]:
    """``http://127.0.0.1:<port>`` serving the dataset folder (stands in for Label Studio's file serving)."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(dataset[0].parent))
    handler.log_message = lambda *args: None  # type: ignore[method-assign]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
