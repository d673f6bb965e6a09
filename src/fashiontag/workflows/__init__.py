"""Workflows that drive several stages (style rule 27: orchestration sits above the stages it calls).

Example:
    >>> from fashiontag.workflows import AuditConfig, audit  # doctest: +SKIP
"""

from fashiontag.workflows.audit import AuditConfig, AuditResult, audit, rank_head, rank_label_issues

__all__ = ["AuditConfig", "AuditResult", "audit", "rank_head", "rank_label_issues"]
