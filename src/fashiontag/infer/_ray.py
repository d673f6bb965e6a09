"""``predict --engine ray``: labelling a catalogue as a Ray Data pipeline, resumable, in atomic shards.

Stages: the driver lists the inputs (``collect_inputs``, plus Parquet files of paths or image bytes) and drops
those already in finished shards; decode tasks run ``prepare`` (the local path's decode + letterbox) in
parallel; an actor pool runs ONNX Runtime (one session per actor, ``threads`` each) and turns results into
the local path's CSV rows (``to_csv_row``); the driver writes every ``shard_size`` rows to
``<out>/part-NNNNNN.{parquet,csv}`` through a temp file + rename. A shard exists only when complete, so a
rerun skips exactly the inputs in finished shards. Ray Data retries the tasks of a killed worker and restarts
killed actors, and its streaming executor stops scheduling decode tasks while the object store budget is
used (backpressure), so memory stays flat however many inputs there are.

Imported only by ``fashiontag predict --engine ray`` (Ray is the optional extra ``fashiontag[ray]``).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fashiontag._io import atomic_open
from fashiontag.artifact import Preprocess, read_sidecar, resolve_preprocess
from fashiontag.data.taxonomy import Taxonomy
from fashiontag.infer._backends import auto_backend
from fashiontag.infer._batch import collect_inputs, csv_columns, to_csv_row
from fashiontag.infer._inputs import prepare_many
from fashiontag.infer._scan import resolved

SHARD_FORMATS = ("parquet", "csv")
_SHARD = re.compile(r"^part-(\d{6})\.(parquet|csv)$")


@dataclass
class RayOptions:
    """How the pipeline is laid out; the defaults suit one machine (a cluster raises ``actors``).

    ``actors``: inference actors (one ONNX session each; default: the cluster's CPUs // ``threads``).
    ``threads``: ONNX Runtime intra-op threads per actor. ``decode_batch``: images per decode task.
    ``actor_cpus`` / ``decode_cpus``: Ray's logical CPUs per actor / decode task. Unequal, so Ray keeps decoding
    in separate tasks (equal ones fuse into the actor); an actor per core at 0.5 leaves half the logical CPUs to
    reading and decoding (Parquet listing needs a whole one: actors holding every CPU would starve it). On 2
    cores, 2 actors x 1 thread ran at ~1.0x the local path, 1 actor x 2 threads at 0.7x.
    ``shard_size``: rows per output shard (the unit of resume). ``max_in_flight_mb``: object store budget of
    the pipeline (decoded images waiting for an actor), the bound that backpressure keeps.
    """

    address: str | None = None
    backend: str = "onnx"
    batch_size: int = 64
    decode_batch: int = 64
    shard_size: int = 1000
    actors: int | None = None
    threads: int = 1
    actor_cpus: float = 0.5
    decode_cpus: float = 0.25
    top_k: int = 3
    max_in_flight_mb: int = 256
    preserve_order: bool = True


@dataclass
class RaySummary:
    """What a Ray run did; ``failures`` are (input, reason) of this run's unusable images."""

    output: Path
    processed: int = 0
    skipped: int = 0
    shards: list[Path] = field(default_factory=list)
    failures: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0


def shard_format(out: Path) -> str:
    """``preds.parquet`` / ``preds.csv`` name a directory of shards of that format."""
    fmt = out.suffix.lower().lstrip(".")
    if fmt not in SHARD_FORMATS:
        raise ValueError(f"--out {out}: with --engine ray it names a folder of shards and must end in .parquet or .csv")
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out}: is a file; with --engine ray it is a folder of shards (use a new name)")
    return fmt


def finished_shards(out: Path) -> list[Path]:
    """Complete shards in ``out`` (temp files of an interrupted write are not shards)."""
    if not out.is_dir():
        return []
    return sorted(p for p in out.iterdir() if _SHARD.match(p.name))


def read_shard(path: Path) -> pd.DataFrame:
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def read_output(out: str | Path) -> pd.DataFrame:
    """All rows of a shard folder, in shard order (the local path's CSV columns)."""
    shards = finished_shards(Path(out))
    return pd.concat([read_shard(s) for s in shards], ignore_index=True) if shards else pd.DataFrame()


def _done(shards: list[Path], heads: list[str]) -> set[str]:
    done: set[str] = set()
    for shard in shards:
        frame = read_shard(shard)
        if list(frame.columns) != csv_columns(heads):
            raise ValueError(
                f"{shard}: existing columns {list(frame.columns)} do not match this model's; write to a new folder"
            )
        done.update(frame["path"].tolist())
    return done


def _parquet_inputs(files: list[str]) -> tuple[list[str], list[str]]:
    """Paths listed by Parquet files (column ``path``), and the files holding image bytes (``image`` + ``path``)."""
    import pyarrow.parquet as pq

    paths: list[str] = []
    with_bytes: list[str] = []
    for file in files:
        names = pq.read_schema(file).names
        if "path" not in names:
            raise ValueError(
                f"{file}: an input Parquet file needs a 'path' column (has {names}); "
                "with image bytes, an 'image' column too"
            )
        if "image" in names:
            with_bytes.append(file)
            continue
        base = Path(file).parent
        column = pq.read_table(file, columns=["path"]).column("path").to_pylist()
        paths.extend(p if Path(p).is_absolute() else str(base / p) for p in column if p)
    return paths, with_bytes


def list_inputs(inputs: list[str]) -> tuple[list[str], list[str]]:
    """(image paths, Parquet files of image bytes): files, folders, globs, .csv/.txt lists as the local path
    (``collect_inputs``), plus ``.parquet`` files (or globs of them) of paths or bytes."""
    import glob

    parquet: list[str] = []
    rest: list[str] = []
    for item in inputs:
        if item.lower().endswith(".parquet"):
            matched = sorted(glob.glob(item)) if glob.has_magic(item) else [item]
            parquet.extend(m for m in matched if Path(m).is_file())
            if not matched or not Path(matched[0]).exists():
                raise ValueError(f"{item}: no such Parquet file")
        else:
            rest.append(item)
    listed, with_bytes = _parquet_inputs(parquet)
    paths = list(dict.fromkeys(collect_inputs(rest) + listed))
    return paths, with_bytes


def decode_inputs(batch: dict[str, np.ndarray], preprocess: Preprocess, skip: Any = None) -> dict[str, np.ndarray]:
    """Decode task: ``prepare`` each input (bytes when the row has them, else the path) into one uint8 array.

    A failed image gets a zero image and its reason in ``error``; ``skip`` (keys already done) drops rows.
    """
    names = [str(p) for p in batch["path"]]
    blobs = batch.get("image")
    keep = [i for i, n in enumerate(names) if not skip or n not in skip]
    sources = [blobs[i] if blobs is not None and blobs[i] is not None else names[i] for i in keep]  # union: None
    prepared = prepare_many(sources, preprocess)
    size = preprocess.size
    images = np.zeros((len(keep), size, size, 3), np.uint8)
    errors = np.full(len(keep), "", dtype=object)
    for j, item in enumerate(prepared):
        if isinstance(item, str):
            errors[j] = item
        else:
            images[j] = item
    return {"path": np.asarray([names[i] for i in keep], dtype=object), "image": images, "error": errors}


class OnnxLabelActor:
    """Actor: one ``fashiontag.load(model, backend=onnx)`` per process, reused for every batch it gets."""

    def __init__(self, model: str, backend: str, threads: int, top_k: int) -> None:
        from fashiontag.infer._labeller import load

        self.labeller = load(model, backend=backend, threads=threads, workers=1)
        self.heads = list(self.labeller.heads)
        self.top_k = top_k

    def __call__(self, batch: dict[str, np.ndarray]) -> pd.DataFrame:
        names = [str(p) for p in batch["path"]]
        prepared = [str(e) if e else batch["image"][i] for i, e in enumerate(batch["error"])]
        results = self.labeller.label_prepared(names, prepared, self.top_k)
        rows = [to_csv_row(r, self.heads) for r in results]
        return pd.DataFrame(rows, columns=csv_columns(self.heads), dtype=object)


def check_reachable(address: str, timeout: float = 5.0) -> None:
    """Fail in seconds with a clear message when ``HOST:PORT`` / ``ray://HOST:PORT`` does not answer (Ray itself
    retries for minutes); ``auto`` is left to Ray."""
    import socket

    target = address.removeprefix("ray://")
    host, sep, port = target.rpartition(":")
    if address == "auto" or not sep or not port.isdigit():
        return
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as exc:
        raise ConnectionError(
            f"--address {address}: no Ray cluster answers there ({exc.strerror or exc}); "
            "start one with `ray start --head` or check the address"
        ) from None


def _connect(address: str | None) -> None:
    """Join the cluster at ``address`` (None: start a private one); a process already connected stays so."""
    import ray

    if ray.is_initialized():
        return
    if address:
        check_reachable(address)
    kwargs: dict[str, Any] = {"address": address, "log_to_driver": False, "include_dashboard": False}
    if not address:  # a private one-machine cluster for this run
        kwargs.pop("address")
    if address and address.startswith("ray://"):
        kwargs.pop("include_dashboard")
    ray.init(**kwargs)


def _configure(options: RayOptions) -> None:
    from ray.data import DataContext, ExecutionResources

    ctx = DataContext.get_current()
    ctx.execution_options.preserve_order = options.preserve_order
    ctx.execution_options.resource_limits = ExecutionResources(object_store_memory=options.max_in_flight_mb * 2**20)
    ctx.enable_progress_bars = False
    ctx.enable_operator_progress_bars = False
    ctx.print_on_execution_start = False
    ctx.enable_auto_log_stats = False


def _actors(options: RayOptions) -> int:
    import ray

    if options.actors:
        return options.actors
    cpus = int(ray.cluster_resources().get("CPU", 1))
    return max(1, cpus // max(1, options.threads))


def _dataset(
    paths: list[str],
    with_bytes: list[str],
    done: set[str],
    preprocess: Preprocess,
    model: str,
    backend: str,
    options: RayOptions,
) -> Any:
    import pyarrow as pa
    import ray

    parts = []
    if paths:
        table = pa.table({"path": pa.array(paths, pa.string())})
        step = options.decode_batch
        parts.append(ray.data.from_arrow([table.slice(i, step) for i in range(0, len(paths), step)]))
    if with_bytes:
        parts.append(ray.data.read_parquet(with_bytes, columns=["path", "image"], num_cpus=options.decode_cpus))
    ds = parts[0].union(*parts[1:]) if len(parts) > 1 else parts[0]
    skip = ray.put(done) if with_bytes and done else None
    ds = ds.map_batches(
        _decode_task,
        batch_size=options.decode_batch,
        batch_format="numpy",
        num_cpus=options.decode_cpus,
        fn_kwargs={"preprocess": preprocess, "skip": skip},
    )
    return ds.map_batches(
        OnnxLabelActor,
        batch_size=options.batch_size,
        batch_format="numpy",
        num_cpus=options.actor_cpus,
        compute=ray.data.ActorPoolStrategy(size=_actors(options)),
        fn_constructor_kwargs={"model": model, "backend": backend, "threads": options.threads, "top_k": options.top_k},
    )


def _decode_task(batch: dict[str, np.ndarray], preprocess: Preprocess, skip: Any = None) -> dict[str, np.ndarray]:
    if skip is not None:
        import ray

        skip = ray.get(skip)
    return decode_inputs(batch, preprocess, skip)


def _write_shard(out: Path, index: int, fmt: str, frame: pd.DataFrame) -> Path:
    path = out / f"part-{index:06d}.{fmt}"
    if fmt == "parquet":
        with atomic_open(path, "wb") as handle:
            frame.astype(str).to_parquet(handle, index=False)
    else:
        with atomic_open(path, "w", encoding="utf-8", newline="") as handle:
            frame.to_csv(handle, index=False)
    return path


def _batches(ds: Any, shard_size: int) -> Iterator[pd.DataFrame]:
    yield from ds.iter_batches(batch_size=shard_size, batch_format="pandas", prefetch_batches=1)


def predict_ray(
    model: str | Path, inputs: list[str], out: str | Path, options: RayOptions | None = None, progress: bool = True
) -> RaySummary:
    """Label ``inputs`` on a Ray cluster into the shard folder ``out``, skipping inputs already in its shards.

    Example:
        >>> predict_ray("runs/best", ["photos/"], "preds.parquet", RayOptions(address="auto"))  # doctest: +SKIP
    """
    from tqdm import tqdm

    options = options or RayOptions()
    out, model = Path(out), str(model)
    fmt = shard_format(out)
    sidecar = read_sidecar(Path(model), verify=True)
    backend = auto_backend(Path(model), sidecar) if options.backend == "auto" else options.backend
    if not backend.startswith("onnx"):
        raise ValueError(
            f"--engine ray runs ONNX Runtime; backend {options.backend!r} is not onnx/onnx-int8 "
            f"(run `fashiontag export {model} --format onnx` first)"
        )
    heads = list(Taxonomy.from_dict(sidecar["taxonomy"]).heads)  # the Labeller's heads, i.e. its CSV columns
    shards = finished_shards(out)
    paths, with_bytes = list_inputs(inputs)
    done = _done(shards, heads)
    done_files = {resolved(p) for p in done}  # as the local path: photos/x.jpg and /abs/photos/x.jpg are one file
    todo = [p for p in paths if p not in done and resolved(p) not in done_files]
    summary = RaySummary(out, skipped=len(paths) - len(todo))
    if not todo and not with_bytes:
        return summary
    start = time.perf_counter()
    _connect(options.address)
    _configure(options)
    ds = _dataset(todo, with_bytes, done, resolve_preprocess(sidecar), model, backend, options)
    out.mkdir(parents=True, exist_ok=True)
    index = max((int(_SHARD.match(s.name).group(1)) for s in shards), default=-1) + 1
    total = len(todo) if not with_bytes else None
    with tqdm(total=total, unit="img", disable=not progress, desc="predict (ray)") as bar:
        for frame in _batches(ds, options.shard_size):
            frame = frame[~frame["path"].isin(done)].drop_duplicates("path")  # a retried task's rows, once
            if frame.empty:
                continue
            summary.shards.append(_write_shard(out, index, fmt, frame))
            done.update(frame["path"].tolist())
            index += 1
            failed = frame[frame["error"].astype(bool)]
            summary.failures.extend(zip(failed["path"].tolist(), failed["error"].tolist(), strict=True))
            summary.processed += len(frame)
            bar.update(len(frame))
    summary.seconds = time.perf_counter() - start
    return summary
