"""Byte-identical duplicate groups: copies must stay together on one side of every split."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import pandas as pd

from fashiontag.data.sources import item_bytes


class _UnionFind:
    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, key: str) -> str:
        self.parent.setdefault(key, key)
        root = key
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[key] != root:
            self.parent[key], key = root, self.parent[key]
        return root

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


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
    uf = _UnionFind()
    ids = items["item_id"].astype(str).tolist()
    for item_id in ids:
        uf.find(item_id)
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
                uf.union(first[digest], item_id)
            else:
                first[digest] = item_id
    known = set(ids)
    for group in extra_groups:
        members = [g for g in group if g in known]
        for other in members[1:]:
            uf.union(members[0], other)
    out = items.copy()
    out["dup_group"] = [uf.find(i) for i in ids]
    return out
