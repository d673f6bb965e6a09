"""Shared fixtures: the real data folder beside the checkout, skipped with a reason when absent."""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` (FPI small, clothing photos); skips when this machine has no copy."""
    if not (SHARED_DATA / "fpi_small" / "styles.csv").exists():
        pytest.skip(f"real data not found at {SHARED_DATA} (only developer machines and CI have it)")
    return SHARED_DATA
