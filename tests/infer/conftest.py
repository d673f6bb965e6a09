"""Fixtures for inference tests: a tiny synthetic dataset and tiny saved models (made once per session)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from fashiontag.data.synthetic import make_synthetic_dataset
from fashiontag.data.taxonomy import Taxonomy, load_taxonomy


@pytest.fixture(scope="session")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_synthetic_dataset(tmp_path_factory.mktemp("data"), per_leaf=3, size=32)


@pytest.fixture(scope="session")
def taxonomy(dataset: tuple[Path, Path]) -> Taxonomy:
    return load_taxonomy(str(dataset[1]))


@pytest.fixture(scope="session")
def images(dataset: tuple[Path, Path]) -> list[Path]:
    return sorted((dataset[0].parent / "images").glob("*.png"))


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory, taxonomy: Taxonomy) -> Path:
    """Torch-only tiny model. Read-only: tests that modify a model copy it first."""
    from fashiontag.models._testing import make_tiny_model

    path = tmp_path_factory.mktemp("models") / "tiny"
    make_tiny_model(path, taxonomy)
    return path


@pytest.fixture(scope="session")
def onnx_model_dir(tmp_path_factory: pytest.TempPathFactory, model_dir: Path) -> Path:
    from fashiontag.export import export_onnx

    path = tmp_path_factory.mktemp("models") / "tiny_onnx"
    shutil.copytree(model_dir, path)
    export_onnx(path, exporter="torchscript")  # the dynamo exporter is covered in tests/export
    return path


@pytest.fixture()
def model_copy(tmp_path: Path, onnx_model_dir: Path) -> Path:
    path = tmp_path / "model"
    shutil.copytree(onnx_model_dir, path)
    return path
