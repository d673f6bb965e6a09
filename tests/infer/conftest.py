"""Fixtures for inference tests: the tiny dataset's images and its ONNX-exported model (the dataset and torch model
are shared fixtures in tests/conftest.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def images(dataset: tuple[Path, Path]) -> list[Path]:
    return sorted((dataset[0].parent / "images").glob("*.png"))


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
