"""Workflows that drive several stages (style rule 27: orchestration sits above the stages it calls).

Example:
    >>> from fashiontag.workflows import AuditConfig, audit  # doctest: +SKIP
"""

import importlib
from typing import Any

from fashiontag.workflows.audit import AuditConfig, AuditResult, audit, rank_head, rank_label_issues

# Loaded on first use (PEP 562): crossval pulls in evaluation, the demo training. (``tune`` is not re-exported:
# the name is its module's, ``fashiontag.workflows.tune.tune``.)
_LAZY = {"cross_validate": "crossval", "crossval_table": "crossval", "run_demo": "demo"}

__all__ = ["AuditConfig", "AuditResult", "audit", "cross_validate", "crossval_table", "rank_head",
           "rank_label_issues", "run_demo"]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'fashiontag.workflows' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"fashiontag.workflows.{module}"), name)
    globals()[name] = value
    return value
