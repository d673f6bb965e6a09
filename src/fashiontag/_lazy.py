"""Package attributes that load their submodule on first use (PEP 562), so importing a package stays cheap.

``fashiontag.data`` re-exports pandas-heavy readers, ``fashiontag.infer`` the optional Ray driver and
``fashiontag.workflows`` the training/evaluation orchestration; the service and the ONNX path import those
packages for one light name and must not pay for the rest.

Example:
    >>> __getattr__, __dir__ = lazy_exports("fashiontag.data", {"load_item": "sources"})  # doctest: +SKIP
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(package: str, exports: Mapping[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for ``package``: ``exports`` maps a public name to the submodule defining it."""
    namespace = sys.modules[package].__dict__

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{module}"), name)
        namespace[name] = value  # later lookups skip this function
        return value

    def __dir__() -> list[str]:
        return sorted({*namespace, *exports})

    return __getattr__, __dir__
