"""The decoded cache: every image decoded, cropped and letterboxed once into a uint8 memmap.

Training reads random batches straight from ``images.u8`` (no JPEG decode per epoch); the index carries
every mapped label column, and ``meta.json`` the size, fill and taxonomy fingerprint that must match
the model's preprocessing. Built in a temp folder and renamed, so a crash never leaves half a cache.

Example:
    >>> meta = prepare_cache(DataConfig(root="../shared/data/fpi_small", size=80), "cache/fpi80")  # doctest: +SKIP
    >>> cache = open_cache("cache/fpi80")  # doctest: +SKIP
    >>> cache.images[cache.index.row[:4]].shape  # doctest: +SKIP
    (4, 80, 80, 3)
"""

from __future__ import annotations

import json
import os
import shutil
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fashiontag._io import sha256_file, write_json
from fashiontag.data.config import DataConfig
from fashiontag.data.images import ImageError, letterbox
from fashiontag.data.sources import load_item

IMAGES_FILE, INDEX_FILE, META_FILE = "images.u8", "index.csv", "meta.json"
_JSON_COLUMNS = ("accept", "crop")
_CHUNK = 256


@dataclass
class DecodedCache:
    """``images`` [rows, size, size, 3] uint8 memmap; ``index`` one row per cached item (``row`` points into
    ``images``); ``meta`` the build record (size, fill, count, taxonomy, failures, sha256)."""

    images: np.memmap
    index: pd.DataFrame
    meta: dict[str, Any]

    def batch(self, rows: Any) -> np.ndarray:
        """Images at ``rows`` as one in-memory array (sorted reads are faster on a memmap)."""
        rows = np.asarray(rows)
        order = np.argsort(rows, kind="stable")
        out = np.empty((len(rows), *self.images.shape[1:]), dtype=np.uint8)
        out[order] = self.images[rows[order]]
        return out


def _decode_chunk(task: tuple[str, tuple[int, ...], list[tuple[int, str, Any]], int, int]) -> list[tuple[int, str]]:
    """Worker: decode rows straight into the shared memmap; returns (row, reason) for each failure."""
    file, shape, rows, size, fill = task
    images = np.memmap(file, dtype=np.uint8, mode="r+", shape=shape)
    failures = []
    for row, path, crop in rows:
        try:
            images[row] = letterbox(load_item(path, crop), size, fill)
        except ImageError as exc:
            failures.append((row, exc.reason))
        except Exception as exc:  # noqa: BLE001 - one odd file must not stop the build
            failures.append((row, f"cannot decode image: {type(exc).__name__}: {exc}"))
    images.flush()
    return failures


def _decode_all(
    file: Path, shape: tuple[int, ...], items: pd.DataFrame, config: DataConfig, progress: bool
) -> dict[int, str]:
    from tqdm import tqdm  # noqa: PLC0415

    rows = list(zip(range(len(items)), items["path"].astype(str), items["crop"], strict=True))
    tasks = [(str(file), shape, rows[i : i + _CHUNK], config.size, config.fill) for i in range(0, len(rows), _CHUNK)]
    failures: dict[int, str] = {}
    with tqdm(total=len(rows), desc="prepare", unit="img", disable=not progress, mininterval=1.0) as bar:
        if config.workers <= 1 or len(tasks) <= 1:
            results = map(_decode_chunk, tasks)
            pool = None
        else:
            pool = ProcessPoolExecutor(max_workers=config.workers)
            results = pool.map(_decode_chunk, tasks)
        try:
            for task, result in zip(tasks, results, strict=True):
                failures.update(result)
                bar.update(len(task[2]))
        finally:
            if pool is not None:
                pool.shutdown()
    return failures


def _index_frame(items: pd.DataFrame, failures: dict[int, str]) -> pd.DataFrame:
    index = items.copy()
    index.insert(1, "row", np.arange(len(items)))
    index = index[~index["row"].isin(failures)].reset_index(drop=True)
    for column in _JSON_COLUMNS:
        if column in index:
            index[column] = [None if v is None else json.dumps(list(v)) for v in index[column]]
    return index


def _replace_dir(tmp: Path, out: Path) -> None:
    old = out.parent / f".{out.name}.old-{os.getpid()}"
    if out.exists():
        os.replace(out, old)
    os.replace(tmp, out)
    shutil.rmtree(old, ignore_errors=True)


def prepare_cache(
    config: DataConfig, out: str | Path, limit: int | None = None, progress: bool = True
) -> dict[str, Any]:
    """Decode the mapped items of ``config`` into cache folder ``out``; returns its meta (with images/s)."""
    from fashiontag.data.mapped import load_mapped  # noqa: PLC0415

    out = Path(out)
    read, mapping, taxonomy = load_mapped(config, limit=limit)
    items = mapping.mapped
    if items.empty:  # a cache (and a model) of zero images helps nobody: say why nothing mapped
        from fashiontag.data.checks import DataError, empty_mapping_message  # noqa: PLC0415
        from fashiontag.data.folders import resolve_data  # noqa: PLC0415

        used, _ = resolve_data(config)
        raise DataError(
            empty_mapping_message(
                str(config.root), used.reader, taxonomy, used.mapping_source, mapping.unmapped, len(read.items)
            )
        )
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        shape = (len(items), config.size, config.size, 3)
        np.memmap(tmp / IMAGES_FILE, dtype=np.uint8, mode="w+", shape=shape).flush()
        start = time.perf_counter()
        failures = _decode_all(tmp / IMAGES_FILE, shape, items, config, progress)
        seconds = time.perf_counter() - start
        index = _index_frame(items, failures)
        index.to_csv(tmp / INDEX_FILE, index=False)
        ids = items["item_id"].tolist()
        meta = {
            "format_version": 1, "size": config.size, "fill": config.fill, "count": len(index), "rows": len(items),
            "source": {"reader": config.reader, "root": str(config.root), "mapping": config.mapping_source},
            "taxonomy": taxonomy.to_dict(), "taxonomy_fingerprint": taxonomy.fingerprint(),
            "failures": [{"item_id": ids[r], "reason": reason} for r, reason in sorted(failures.items())],
            "build_seconds": round(seconds, 2), "build_images_per_s": round(len(items) / max(seconds, 1e-9), 1),
            "sha256": {IMAGES_FILE: sha256_file(tmp / IMAGES_FILE), INDEX_FILE: sha256_file(tmp / INDEX_FILE)},
        }  # fmt: skip
        write_json(tmp / META_FILE, meta)
        _replace_dir(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return meta


def open_cache(folder: str | Path, verify: bool = False) -> DecodedCache:
    """Open a cache read-only; ``verify`` re-hashes the files against ``meta.json`` (slow on big caches)."""
    folder = Path(folder)
    meta = json.loads((folder / META_FILE).read_text(encoding="utf-8"))
    if verify:
        for name, digest in meta["sha256"].items():
            if sha256_file(folder / name) != digest:
                raise ValueError(f"{folder / name}: sha256 does not match {META_FILE}; rebuild the cache")
    shape = (meta["rows"], meta["size"], meta["size"], 3)
    images = np.memmap(folder / IMAGES_FILE, dtype=np.uint8, mode="r", shape=shape)
    index = pd.read_csv(
        folder / INDEX_FILE, dtype={"item_id": str, "dup_group": str}, keep_default_na=False, na_values={"year": [""]}
    )
    index = index.astype(object).where(index.notna() & (index != ""), None)
    index["row"] = index["row"].astype(np.int64)
    index["year"] = pd.array(index["year"], dtype="Int64")
    for column in _JSON_COLUMNS:
        if column in index:
            index[column] = [None if v is None else json.loads(v) for v in index[column]]
    return DecodedCache(images, index, meta)


def read_throughput(cache: DecodedCache, batch_size: int = 256, batches: int = 50, seed: int = 0) -> float:
    """Images/s of reading random batches of ``batch_size`` from the memmap (what a data loader sees)."""
    rng = np.random.default_rng(seed)
    rows = cache.index["row"].to_numpy()
    start = time.perf_counter()
    total = 0
    for _ in range(batches):
        total += len(cache.batch(rng.choice(rows, size=min(batch_size, len(rows)), replace=False)))
    return total / max(time.perf_counter() - start, 1e-9)
