"""fashiontag: label fashion product photos over a hierarchical taxonomy, with confidence and abstention."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from fashiontag.infer import Labeller


def load(path: str, backend: str = "auto", **kwargs: Any) -> Labeller:
    """Load a model directory for labelling; see :func:`fashiontag.infer.load`."""
    from fashiontag.infer import load as _load

    return _load(path, backend=backend, **kwargs)


__all__ = ["__version__", "load"]
