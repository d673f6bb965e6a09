"""Transitive grouping (connected components) for duplicate detection, on scipy's sparse graph routines."""

from __future__ import annotations

import numpy as np
from scipy.sparse import coo_array
from scipy.sparse.csgraph import connected_components


def component_roots(count: int, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """For each of ``count`` nodes, the smallest node index of its component, given edges ``left[k]``-``right[k]``.

    Naming a component by its smallest member (not scipy's label) keeps group ids stable when edges are
    added in a different order, which is what callers store (``dup_group``) and sort by.

    >>> component_roots(4, np.array([0, 1]), np.array([1, 2])).tolist()  # a-b, b-c, d alone
    [0, 0, 0, 3]
    """
    left = np.asarray(left, dtype=np.int64)
    right = np.asarray(right, dtype=np.int64)
    graph = coo_array((np.ones(len(left), dtype=np.int8), (left, right)), shape=(count, count))
    _, labels = connected_components(graph, directed=False)
    smallest = np.full(labels.max(initial=-1) + 1, count, dtype=np.int64)
    np.minimum.at(smallest, labels, np.arange(count))
    return smallest[labels]
