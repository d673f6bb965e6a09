"""Shared fixtures: the real data folder beside the checkout, skipped with a reason when absent."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from fashiontag.data.taxonomy import Taxonomy

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def _synthetic(tmp_path_factory: pytest.TempPathFactory, name: str, per_leaf: int) -> tuple[Path, Path]:
    from fashiontag.data.synthetic import make_synthetic_dataset

    return make_synthetic_dataset(tmp_path_factory.mktemp(name), per_leaf=per_leaf, size=32)


@pytest.fixture(scope="session")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(manifest, taxonomy) of a tiny generated dataset: 6 images of 32 px per leaf (train and workflow tests)."""
    return _synthetic(tmp_path_factory, "syn", per_leaf=6)


@pytest.fixture(scope="session")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(manifest, taxonomy) with 3 images of 32 px per leaf (inference and Label Studio tests)."""
    return _synthetic(tmp_path_factory, "data", per_leaf=3)


@pytest.fixture(scope="session")
def taxonomy(dataset: tuple[Path, Path]) -> Taxonomy:
    from fashiontag.data.taxonomy import load_taxonomy

    return load_taxonomy(str(dataset[1]))


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory, taxonomy: Taxonomy) -> Path:
    """Torch-only tiny model over :func:`taxonomy`. Read-only: tests that modify a model copy it first."""
    from fashiontag.models._testing import make_tiny_model

    path = tmp_path_factory.mktemp("models") / "tiny"
    make_tiny_model(path, taxonomy)
    return path


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` (FPI small, clothing photos); skips when this machine has no copy."""
    if not (SHARED_DATA / "fpi_small" / "styles.csv").exists():
        pytest.skip(f"real data not found at {SHARED_DATA} (only developer machines and CI have it)")
    return SHARED_DATA


def _edit_sidecar(model_dir: Path, **changes: object) -> None:
    """Edit ``fashiontag.json`` by hand, as a user with a text editor would; ``a__b=v`` sets ``data[a][b] = v``."""
    import json

    data = json.loads((model_dir / "fashiontag.json").read_text())
    for dotted, value in changes.items():
        target = data
        *parents, last = dotted.split("__")
        for key in parents:
            target = target[key]
        target[last] = value
    (model_dir / "fashiontag.json").write_text(json.dumps(data))


@pytest.fixture()
def edit_sidecar() -> Callable[..., None]:
    """:func:`_edit_sidecar`: tamper with a model's sidecar outside fashiontag (tests of the model-field digest)."""
    return _edit_sidecar
