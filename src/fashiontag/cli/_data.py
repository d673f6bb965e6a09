"""``fashiontag data {inspect,split,prepare,summary}``: each parses args, builds a DataConfig, calls one function."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import typer

from fashiontag.cli._options import THREADS, begin_command

data_app = typer.Typer(help="Read, inspect, split and cache datasets.", no_args_is_help=True)

_READER = typer.Option(
    "auto",
    "--reader",
    help="Dataset layout: auto (fpi if styles.csv, else class folders), fpi, folder, manifest, deepfashion2, npz.",
)
_TAXONOMY = typer.Option(
    "auto",
    "--taxonomy",
    help="Built-in taxonomy name or a taxonomy YAML path; auto: fpi for FPI, else inferred from the class folders.",
)
_SOURCE = typer.Option("", "--source", help="Mapping rules in the taxonomy's sources: (default: from the reader).")
_CONFIG = typer.Option(None, "--config", help="YAML file with DataConfig keys.")
_OVERRIDES = typer.Argument(None, help="Extra DataConfig key=value overrides.", show_default=False)


def _config(path: Path, config: Path | None, overrides: list[str] | None, **values: Any) -> Any:
    from fashiontag.config import build_config  # noqa: PLC0415
    from fashiontag.data.config import DataConfig  # noqa: PLC0415

    return build_config(DataConfig, config, overrides or [], root=str(path), **values)


@data_app.command("inspect")
def inspect_command(
    path: Path = typer.Argument(..., help="Dataset folder (or manifest / npz file)."),
    reader: str = _READER, taxonomy: str = _TAXONOMY, source: str = _SOURCE,
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document on stdout."),
    min_count: int = typer.Option(10, "--min-count", help="Leaf classes with fewer items are rare."),
    rare: str = typer.Option(
        "merge", "--rare", help="What merge (into parent) / drop / keep would do to rare classes; training keeps all."
    ),
    limit: int | None = typer.Option(None, "--limit", help="Only the first N items (quick look)."),
    no_decode: bool = typer.Option(False, "--no-decode", help="Skip decoding images (labels and duplicates only)."),
    threads: int = THREADS, config: Path | None = _CONFIG, overrides: list[str] | None = _OVERRIDES,
) -> None:  # fmt: skip
    """Counts per level/attribute, unreadable files, RGB conversions, duplicates, rare classes, unmapped rows.

    Example: fashiontag data inspect ../shared/data/fpi_small --taxonomy fpi --json > inspect.json
    """
    begin_command(threads)
    from fashiontag.data.inspect import format_report, inspect_dataset  # noqa: PLC0415

    cfg = _config(
        path, config, overrides, reader=reader, taxonomy=taxonomy, source=source, min_count=min_count, rare=rare
    )
    report = inspect_dataset(cfg, limit=limit, decode=not no_decode, progress=True)
    typer.echo(json.dumps(report, indent=1, default=str) if as_json else format_report(report))


@data_app.command("split")
def split_command(
    path: Path = typer.Argument(..., help="Dataset folder (or manifest / npz file)."),
    out: Path = typer.Option(..., "--out", help="Split CSV to write (a .json sidecar goes beside it)."),
    reader: str = _READER, taxonomy: str = _TAXONOMY, source: str = _SOURCE,
    method: str = typer.Option("stratified", "--method", help="stratified, year or kfold."),
    folds: int = typer.Option(5, "--folds", help="Folds for --method kfold."),
    seed: int = typer.Option(0, "--seed", help="Same seed, same file."),
    threads: int = THREADS, config: Path | None = _CONFIG, overrides: list[str] | None = _OVERRIDES,
) -> None:  # fmt: skip
    """Write a group-aware stratified split (item_id, split, fold) that every later command reuses.

    Example: fashiontag data split ../shared/data/fpi_small --taxonomy fpi --out runs/x/split.csv --seed 0
    """
    begin_command(threads)
    from fashiontag.data.splits import split_dataset  # noqa: PLC0415

    cfg = _config(
        path,
        config,
        overrides,
        reader=reader,
        taxonomy=taxonomy,
        source=source,
        split_method=method,
        folds=folds,
        seed=seed,
    )
    meta = split_dataset(cfg, out)
    typer.echo(f"wrote {out}: {meta['counts']} (sha256 {meta['sha256'][:12]})")


@data_app.command("prepare")
def prepare_command(
    path: Path = typer.Argument(..., help="Dataset folder (or manifest / npz file)."),
    out: Path = typer.Option(..., "--out", help="Cache folder to (re)create."),
    reader: str = _READER, taxonomy: str = _TAXONOMY, source: str = _SOURCE,
    size: int = typer.Option(80, "--size", help="Letterboxed side in pixels."),
    limit: int | None = typer.Option(None, "--limit", help="Only the first N items."),
    threads: int = THREADS, config: Path | None = _CONFIG, overrides: list[str] | None = _OVERRIDES,
) -> None:  # fmt: skip
    """Decode every image once into a uint8 memmap cache plus a label index.

    Example: fashiontag data prepare ../shared/data/fpi_small --taxonomy fpi --size 80 --out cache/fpi80
    """
    begin_command(threads)
    from fashiontag.data.cache import open_cache, prepare_cache, read_throughput  # noqa: PLC0415

    cfg = _config(path, config, overrides, reader=reader, taxonomy=taxonomy, source=source, size=size)
    meta = prepare_cache(cfg, out, limit=limit)
    reading = read_throughput(open_cache(out))
    typer.echo(f"cached {meta['count']} of {meta['rows']} images at {size}px in {out}; {len(meta['failures'])} failed")
    typer.echo(
        f"build: {meta['build_images_per_s']:.0f} images/s; read (random batches of 256): {reading:.0f} images/s"
    )


@data_app.command("summary")
def summary_command(
    path: Path = typer.Argument(..., help="Dataset folder (or manifest / npz file)."),
    reader: str = _READER, taxonomy: str = _TAXONOMY, source: str = _SOURCE,
    index: int = typer.Option(0, "--index", help="Which item to trace."),
    threads: int = THREADS, config: Path | None = _CONFIG, overrides: list[str] | None = _OVERRIDES,
) -> None:  # fmt: skip
    """Trace one item through reader -> mapping -> split -> letterbox (fastai DataBlock.summary style).

    Example: fashiontag data summary ../shared/data/fpi_small --taxonomy fpi --index 3
    """
    begin_command(threads)
    from fashiontag.data.trace import trace_item  # noqa: PLC0415

    cfg = _config(path, config, overrides, reader=reader, taxonomy=taxonomy, source=source)
    typer.echo(trace_item(cfg, index))


def register(app: typer.Typer) -> None:
    """Add the ``data`` command group to the main CLI."""
    app.add_typer(data_app, name="data")


if __name__ == "__main__":  # pragma: no cover
    data_app(sys.argv[1:])
