"""Workflows that drive several stages (style rule 27: orchestration sits above the stages it calls).

Example:
    >>> from fashiontag.workflows import AuditConfig, audit  # doctest: +SKIP
"""

from fashiontag._lazy import lazy_exports
from fashiontag.workflows.audit import AuditConfig, AuditResult, audit, rank_head, rank_label_issues

# Loaded on first use (PEP 562): crossval pulls in evaluation, the demo training. (``tune`` is not re-exported:
# the name is its module's, ``fashiontag.workflows.tune.tune``.)
_LAZY = {"cross_validate": "crossval", "crossval_table": "crossval", "run_demo": "demo"}

__all__ = [
    "AuditConfig",
    "AuditResult",
    "audit",
    "cross_validate",
    "crossval_table",
    "rank_head",
    "rank_label_issues",
    "run_demo",
]

__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
