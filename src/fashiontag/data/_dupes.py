"""Byte-identical duplicate groups: copies must stay together on one side of every split."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import numpy as np
import pandas as pd

from fashiontag.data._components import component_roots
from fashiontag.data.sources import item_bytes


def file_digest(path: str) -> str | None:
    """blake2b of the file (or npz row) bytes; None when it cannot be read (reported by inspect)."""
    try:
        return hashlib.blake2b(item_bytes(path), digest_size=16).hexdigest()
    except (OSError, ValueError, IndexError, KeyError):
        return None


def assign_dup_groups(
    items: pd.DataFrame, hash_files: bool = True, extra_groups: Iterable[list[str]] = ()
) -> pd.DataFrame:
    """Set ``dup_group`` to the smallest item_id of each byte-identical set (singletons keep their own id).

    Several garments cut from one photo (DeepFashion2) share the file, hence the group, on purpose.
    """
    ids = items["item_id"].astype(str).tolist()
    names = sorted(set(ids))  # node order = string order, so a component's smallest node is its smallest id
    node = {name: index for index, name in enumerate(names)}
    left: list[int] = []
    right: list[int] = []
    if hash_files:
        first: dict[str, str] = {}
        digests: dict[str, str | None] = {}
        for item_id, path in zip(ids, items["path"].astype(str), strict=True):
            if path not in digests:
                digests[path] = file_digest(path)
            digest = digests[path]
            if digest is None:
                continue
            if digest in first:
                left.append(node[first[digest]])
                right.append(node[item_id])
            else:
                first[digest] = item_id
    for group in extra_groups:
        members = [node[g] for g in group if g in node]
        left.extend(members[:1] * (len(members) - 1))
        right.extend(members[1:])
    roots = component_roots(len(names), np.array(left, dtype=np.int64), np.array(right, dtype=np.int64))
    out = items.copy()
    out["dup_group"] = [names[roots[node[i]]] for i in ids]
    return out
