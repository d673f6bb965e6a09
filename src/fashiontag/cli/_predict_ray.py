"""``fashiontag predict ... --engine ray``: the CLI side of the Ray Data pipeline in ``infer/_ray.py``."""

from __future__ import annotations

from pathlib import Path

import typer

ENGINES = ("local", "ray")


def run_ray(
    engine: str,
    model: Path,
    inputs: list[str],
    out: Path,
    address: str | None,
    backend: str,
    batch_size: int,
    top_k: int,
    progress: bool,
) -> None:
    """Label on a Ray cluster into the shard folder ``out``; bad input is one ``error:`` line, not a traceback."""
    if engine not in ENGINES:
        raise typer.BadParameter(f"{engine!r} is not one of {', '.join(ENGINES)}", param_hint="engine")
    if engine != "ray":
        raise typer.BadParameter("address needs engine=ray (--engine ray)", param_hint="address")
    try:
        import ray  # noqa: F401
    except ImportError:
        raise typer.BadParameter(
            "Ray is not installed; run: pip install 'fashiontag[ray]'", param_hint="--engine"
        ) from None
    from fashiontag.artifact import ModelFileError
    from fashiontag.infer import RayOptions, predict_ray

    options = RayOptions(
        address=address, backend="onnx" if backend == "auto" else backend, batch_size=batch_size, top_k=top_k
    )
    try:
        summary = predict_ray(model, inputs, out, options, progress=progress)
    except ModelFileError as exc:
        raise typer.BadParameter(str(exc), param_hint="MODEL") from None
    except (ValueError, ConnectionError) as exc:
        raise typer.BadParameter(str(exc)) from None
    rate = f" in {summary.seconds:.1f} s ({summary.processed / max(summary.seconds, 1e-9):.0f} images/s)"
    rate = rate if summary.processed else ""
    typer.echo(
        f"{summary.processed} labelled{rate}, {summary.skipped} already in {out} (skipped), "
        f"{len(summary.failures)} failed"
    )
    if summary.shards:
        first, last = summary.shards[0].name, summary.shards[-1].name
        typer.echo(f"wrote {len(summary.shards)} shard(s) to {out}: {first} .. {last}")
    if summary.failures:
        typer.echo("Failed:")
        for path, reason in summary.failures:
            typer.echo(f"  {path}: {reason}")
