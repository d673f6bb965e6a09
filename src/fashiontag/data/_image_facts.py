"""Decode every image once in a small process pool and record what inspection needs about it."""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import numpy as np
from PIL import Image

from fashiontag.data._components import component_roots
from fashiontag.data.images import ImageError
from fashiontag.data.sources import load_item, split_npz_path

#: Modes that are not 8-bit RGB, by the kind of conversion they need.
MODE_KINDS = {"L": "grey", "1": "grey", "CMYK": "cmyk", "P": "palette", "RGBA": "alpha", "LA": "alpha",
              "PA": "alpha", "I;16": "16-bit", "I;16B": "16-bit", "I;16L": "16-bit", "I": "16-bit", "F": "float",
              "YCbCr": "ycbcr"}  # fmt: skip


def _mode(path: str) -> str:
    if split_npz_path(path) is not None:
        return "RGB"
    try:
        with Image.open(path) as image:
            return image.mode
    except Exception:  # the full decode below reports the reason
        return "?"


def probe_item(task: tuple[str, Any]) -> dict[str, Any]:
    """Decode one item; never raises, so one bad file cannot stop the pool."""
    import imagehash  # noqa: PLC0415 - worker-side import keeps the parent light

    path, crop = task
    try:
        image = load_item(path, crop)
    except ImageError as exc:
        return {"ok": False, "reason": exc.reason}
    except Exception as exc:  # noqa: BLE001 - an unexpected decoder failure is still a per-file reason
        return {"ok": False, "reason": f"cannot decode image: {type(exc).__name__}: {exc}"}
    mode = _mode(path)
    digest = int(str(imagehash.phash(image)), 16)
    return {"ok": True, "reason": None, "mode": mode, "width": image.width, "height": image.height, "phash": digest}


def probe_items(tasks: Sequence[tuple[str, Any]], workers: int = 2, progress: bool = True) -> list[dict[str, Any]]:
    """``probe_item`` over all tasks, in ``workers`` processes when there are enough to pay for them."""
    from tqdm import tqdm  # noqa: PLC0415

    bar = tqdm(total=len(tasks), desc="decode", unit="img", disable=not progress, mininterval=1.0)
    results: list[dict[str, Any]] = []
    if workers <= 1 or len(tasks) < 500:
        for task in tasks:
            results.append(probe_item(task))
            bar.update()
    else:
        with ProcessPoolExecutor(max_workers=min(workers, os.cpu_count() or 1)) as pool:
            for result in pool.map(probe_item, tasks, chunksize=128):
                results.append(result)
                bar.update()
    bar.close()
    return results


#: Matched pairs held before they are folded to one edge per image (memory bound for near-identical buckets).
EDGE_BUDGET = 1_000_000


def _popcount(values: np.ndarray) -> np.ndarray:
    bits = np.unpackbits(values.view(np.uint8).reshape(*values.shape, 8), axis=-1)
    return bits.sum(axis=-1)


def near_duplicate_groups(hashes: Iterable[tuple[str, int]], radius: int = 4) -> list[list[str]]:
    """Groups of ids whose 64-bit perceptual hashes lie within ``radius`` bits (transitively).

    Pigeonhole bucketing: two hashes within ``radius`` bits agree exactly on at least one of
    ``radius + 1`` bit slices, so only ids sharing a slice value are compared.
    """
    ids, values = [], []
    for item_id, value in hashes:
        ids.append(item_id)
        values.append(value)
    if not ids:
        return []
    array = np.array(values, dtype=np.uint64)
    left: list[np.ndarray] = []
    right: list[np.ndarray] = []
    pending = 0
    slices = radius + 1
    width = -(-64 // slices)
    for s in range(slices):
        keys = (array >> np.uint64(s * width)) & np.uint64((1 << width) - 1)
        buckets: dict[int, list[int]] = defaultdict(list)
        for index, key in enumerate(keys.tolist()):
            buckets[key].append(index)
        for members in buckets.values():
            if len(members) < 2:
                continue
            idx = np.array(members)
            for start in range(0, len(idx), 256):  # row blocks bound memory for big buckets
                dist = _popcount(array[idx[start : start + 256]][:, None] ^ array[idx][None, :])
                rows, cols = np.nonzero(dist <= radius)
                left.append(idx[start + rows])
                right.append(idx[cols])
                pending += len(rows)
                if pending > EDGE_BUDGET:  # a bucket of near-identical images: keep one edge per node, not all pairs
                    roots = component_roots(len(ids), np.concatenate(left), np.concatenate(right))
                    left, right, pending = [np.arange(len(ids))], [roots], len(ids)
    roots = component_roots(len(ids), np.concatenate(left or [np.empty(0, np.int64)]),
                            np.concatenate(right or [np.empty(0, np.int64)]))  # fmt: skip
    groups: dict[int, list[str]] = defaultdict(list)
    for i, item_id in enumerate(ids):
        groups[int(roots[i])].append(item_id)
    return [sorted(g) for g in groups.values() if len(g) > 1]
