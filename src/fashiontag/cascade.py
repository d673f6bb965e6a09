"""The cascade's combining rule, torch-free: one implementation for the torch network and the ONNX runner.

A cascade is a router over the top level (+ attributes) and one specialist per top-level group with children.
Whole batches are routed: each image goes to the argmax group, that group's specialist runs once on its
images, and a deeper level's probability is ``p(group*) * p(node | group*)`` (0 for nodes under other groups),
which keeps a child below its parent. Attributes come from the router.

Example:
    >>> from fashiontag.data.taxonomy import load_taxonomy
    >>> tax = load_taxonomy("slowfashion")
    >>> columns = {g: part_columns(tax, tax.subtree(g)) for g in tax.nodes_at(0) if tax.children(g)}
    >>> routed = {"group": np.array([[0.0, 1.0, 0.0, 0.0]], np.float32)}
    >>> def specialist(group, rows):
    ...     return {"type": np.full((len(rows), len(columns[group]["type"])), 0.5, np.float32)}
    >>> out = combine(tax, routed, columns, specialist)
    >>> float(out["type"].sum()) == 0.5 * len(columns[tax.nodes_at(0)[1]]["type"])
    True
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

from fashiontag.data.taxonomy import Taxonomy

#: ``(group id, row indices) -> the group's specialist probabilities {level: [len(rows), labels]}``.
Specialist = Callable[[str, np.ndarray], Mapping[str, np.ndarray]]


def part_columns(full: Taxonomy, part: Taxonomy) -> dict[str, np.ndarray]:
    """Per level of a specialist's taxonomy, the columns of its labels inside the full model's head."""
    return {
        level: np.asarray([full.head_labels(level).index(n) for n in part.head_labels(level)], dtype=np.int64)
        for level in part.levels
    }


def combine(
    taxonomy: Taxonomy,
    routed: Mapping[str, np.ndarray],
    columns: Mapping[str, Mapping[str, np.ndarray]],
    specialist: Specialist,
) -> dict[str, np.ndarray]:
    """The cascade's per-head probabilities (float32, ``taxonomy.heads``) from the router's and specialists'.

    ``routed`` holds the router's top level and attributes; ``columns`` maps a group with a specialist to its
    :func:`part_columns`; ``specialist`` is called once per group that at least one image is routed to.
    """
    batch = len(next(iter(routed.values())))
    out = {h: np.zeros((batch, len(taxonomy.head_labels(h))), np.float32) for h in taxonomy.heads}
    out.update({h: np.asarray(v, dtype=np.float32) for h, v in routed.items() if h in out})
    group_probs = out[taxonomy.levels[0]]
    choice = np.argmax(group_probs, axis=1)
    for g, group in enumerate(taxonomy.head_labels(taxonomy.levels[0])):
        rows = np.flatnonzero(choice == g)
        if group not in columns or rows.size == 0:  # a leaf group has no specialist
            continue
        conditional = specialist(group, rows)
        scale = group_probs[rows, g][:, None]
        for level, cols in columns[group].items():
            out[level][np.ix_(rows, cols)] = scale * np.asarray(conditional[level], dtype=np.float32)
    return {h: out[h] for h in taxonomy.heads}
