"""Every library entry point the README's Python API section names imports from the package it names."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def readme_entry_points() -> list[tuple[str, str]]:
    """``(package, name)`` pairs from "`fashiontag.data` (`read_dataset`, `map_items`, ...)" in the README."""
    section = README.read_text(encoding="utf-8").split("## Python API", 1)[1].split("\n## ", 1)[0]
    pairs = [("fashiontag", "load")]
    for package, names in re.findall(r"`(fashiontag\.\w+)` \(([^)]*)\)", section):
        pairs += [(package, name) for name in re.findall(r"`(\w+)`", names)]
    return pairs


def test_readme_lists_every_stage() -> None:
    packages = {package for package, _ in readme_entry_points()}
    assert {
        "fashiontag.data",
        "fashiontag.models",
        "fashiontag.train",
        "fashiontag.evaluate",
        "fashiontag.export",
        "fashiontag.infer",
        "fashiontag.serve",
    } <= packages


@pytest.mark.parametrize(("package", "name"), readme_entry_points())
def test_readme_name_imports(package: str, name: str) -> None:
    value = getattr(importlib.import_module(package), name)
    assert callable(value), f"{package}.{name}"
