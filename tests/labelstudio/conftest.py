"""Fixtures for the Label Studio tests: a tiny synthetic dataset, a tiny model, and a static file server."""

from __future__ import annotations

import functools
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from fashiontag.data.synthetic import make_synthetic_dataset
from fashiontag.data.taxonomy import Taxonomy, load_taxonomy


@pytest.fixture(scope="session")
def ls_dataset(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_synthetic_dataset(tmp_path_factory.mktemp("lsdata"), per_leaf=3, size=32)


@pytest.fixture(scope="session")
def ls_taxonomy(ls_dataset: tuple[Path, Path]) -> Taxonomy:
    return load_taxonomy(str(ls_dataset[1]))


@pytest.fixture(scope="session")
def ls_model(tmp_path_factory: pytest.TempPathFactory, ls_taxonomy: Taxonomy) -> Path:
    from fashiontag.models._testing import make_tiny_model

    path = tmp_path_factory.mktemp("lsmodels") / "tiny"
    make_tiny_model(path, ls_taxonomy)
    return path


@pytest.fixture()
def file_server(ls_dataset: tuple[Path, Path]) -> Iterator[str]:
    """``http://127.0.0.1:<port>`` serving the dataset folder (stands in for Label Studio's file serving)."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(ls_dataset[0].parent))
    handler.log_message = lambda *args: None  # type: ignore[method-assign]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
