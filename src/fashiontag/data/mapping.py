"""Mapping rules: turn a source dataset's own labels into taxonomy nodes and attribute values.

A taxonomy's ``sources:`` section says, per source dataset, how its columns map to nodes, so one
dataset can feed several taxonomies. Rows that map nowhere are counted by reason, never dropped
silently.

Three rule forms:
  * ``path_columns: [colA, colB, ...]`` - node names read level by level from columns;
  * ``rules: [{node: ID, when: {column: value | [values]}}]`` - first match wins; ``node`` may sit above the
    leaves (``Apparel > Topwear`` for a shop's "longsleeve"): such a coarse label trains and scores the levels
    down to that node, the levels below are left empty (masked), as ``data inspect``'s rare-class merge does;
  * ``accept: {source_label: [node or name, ...]}`` with ``label_column`` - each source label accepts a
    set of nodes (and everything under them); used to score on datasets with coarser labels. A source may
    have ``accept`` beside ``rules``/``path_columns``: the rules give the training label, accept the scoring set.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from fashiontag.data.taxonomy import PATH_SEP, Taxonomy, TaxonomyError
from fashiontag.registry import unknown_name_message


@dataclass
class MappingResult:
    """Items with ``leaf``/``accept``, one column per level and attribute, and what did not map."""

    items: pd.DataFrame
    unmapped: dict[str, int] = field(default_factory=dict)

    @property
    def mapped(self) -> pd.DataFrame:
        """Rows with a leaf label or an accept set."""
        keep = self.items["leaf"].notna() | self.items["accept"].notna()
        return self.items[keep].reset_index(drop=True)


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and pd.isna(value)) or value == ""


def _path_leaf(tax: Taxonomy, row: pd.Series, columns: list[str]) -> tuple[str | None, str | None]:
    parent: str | None = None
    for column in columns:
        value = row.get(column)
        if _is_missing(value):
            return None, f"empty {column}"
        node_id = str(value) if parent is None else f"{parent}{PATH_SEP}{value}"
        if node_id not in tax.nodes:
            return None, f"{column}={value!r} not in taxonomy under {parent or 'top'!r}"
        parent = node_id
    if parent is not None and not tax.is_leaf(parent):
        return None, f"stops above a leaf at {parent!r}"
    return parent, None


def _rule_matches(row: pd.Series, when: dict[str, Any]) -> bool:
    for column, expected in when.items():
        value = row.get(column)
        options = expected if isinstance(expected, list) else [expected]
        if _is_missing(value) or str(value) not in {str(o) for o in options}:
            return False
    return True


def _accept_set(tax: Taxonomy, refs: list[str]) -> list[str]:
    """Node ids for names or ids; a name used in several branches accepts all of them."""
    out: list[str] = []
    for ref in refs:
        ids = [ref] if ref in tax.nodes else [n for n, node in tax.nodes.items() if node.name == ref]
        if not ids:
            raise TaxonomyError(unknown_name_message(f"node in {tax.name!r} accept rule", ref, sorted(tax.nodes)[:40]))
        for node_id in ids:
            out.extend(n for n in [node_id, *tax.descendants(node_id)] if n not in out)
    return out


def map_items(items: pd.DataFrame, taxonomy: Taxonomy, source: str) -> MappingResult:
    """Apply ``taxonomy.sources[source]`` to a reader's item table.

    Example:
        >>> tax = load_taxonomy("retail4")  # doctest: +SKIP
        >>> map_items(read_dataset("fpi", root).items, tax, "fpi").unmapped  # doctest: +SKIP
        {'no rule matched': 265}
    """
    if source not in taxonomy.sources:
        what = f"source in taxonomy {taxonomy.name!r}"
        raise TaxonomyError(unknown_name_message(what, source, list(taxonomy.sources)))
    spec = taxonomy.sources[source]
    leaves: list[str | None] = []
    accepts: list[list[str] | None] = []
    reasons: Counter[str] = Counter()
    accept_map = {str(k): _accept_set(taxonomy, list(v)) for k, v in (spec.get("accept") or {}).items()}
    for rule in spec.get("rules") or []:
        if rule["node"] not in taxonomy.nodes:
            raise TaxonomyError(
                unknown_name_message(f"rule target in {taxonomy.name!r}", rule["node"], sorted(taxonomy.nodes)[:40])
            )
    for _, row in items.iterrows():
        leaf, accept, reason = None, None, None
        if "path_columns" in spec:
            leaf, reason = _path_leaf(taxonomy, row, list(spec["path_columns"]))
        elif "rules" in spec:
            leaf = next((r["node"] for r in spec["rules"] if _rule_matches(row, r.get("when", {}))), None)
            reason = None if leaf else "no rule matched"
        if accept_map:
            label = row.get(spec.get("label_column", "label"))
            accept = accept_map.get(str(label))
            if leaf is None and accept is None and reason is None:
                reason = f"label {label!r} has no accept rule"
            elif accept is not None:
                reason = None  # scorable even where no rule gives a training label
        leaves.append(leaf)
        accepts.append(accept)
        if reason:
            reasons[reason] += 1
    out = items.copy()
    out["leaf"] = leaves
    out["accept"] = accepts
    for depth, level in enumerate(taxonomy.levels):
        out[level] = [None if leaf is None else _at_depth(taxonomy, leaf, depth) for leaf in leaves]
    for attribute, values in taxonomy.attributes.items():
        column = (spec.get("attributes") or {}).get(attribute)
        allowed = set(values)
        raw = out[column] if column in out else pd.Series([None] * len(out), index=out.index)
        out[attribute] = [str(v) if not _is_missing(v) and str(v) in allowed else None for v in raw]
    return MappingResult(out.reset_index(drop=True), dict(reasons.most_common()))


def _at_depth(taxonomy: Taxonomy, leaf: str, depth: int) -> str | None:
    path = taxonomy.ancestors(leaf)
    return path[depth] if depth < len(path) else None
