"""Shared fixtures: the real data folder beside the checkout, skipped with a reason when absent."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(manifest, taxonomy) of a tiny generated dataset: 6 images of 32 px per leaf (train and workflow tests)."""
    from fashiontag.data.synthetic import make_synthetic_dataset

    return make_synthetic_dataset(tmp_path_factory.mktemp("syn"), per_leaf=6, size=32)


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
