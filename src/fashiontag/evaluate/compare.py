"""Compare model runs: one table (markdown + CSV) and a plot from each run's metrics.json and sidecar.

Includes seed 004's combined-vs-hierarchical comparison: when runs differ by strategy, the points score
(one point per correct level) sits next to each strategy.

Example:
    >>> table = compare_runs(["runs/flat", "runs/hier"], out_dir="runs/compare")  # doctest: +SKIP
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fashiontag.artifact import SIDECAR_NAME, read_sidecar

log = logging.getLogger(__name__)

METRICS_PLACES = ("metrics.json", "eval/metrics.json", "evaluate/metrics.json")


def find_metrics(run_dir: Path) -> dict[str, Any] | None:
    """A run's metrics.json (in the run dir or its eval folder), else the sidecar's ``metrics``."""
    for name in METRICS_PLACES:
        if (run_dir / name).is_file():
            return json.loads((run_dir / name).read_text(encoding="utf-8"))
    return None


def measure_latency(model_dir: Path, repeats: int = 20, warmup: int = 3) -> float | None:
    """Median CPU latency in milliseconds of one uint8 image through the torch network (batch 1)."""
    try:
        import torch

        from fashiontag.artifact import resolve_preprocess
        from fashiontag.models import load_network
    except ImportError:
        return None
    sidecar = read_sidecar(model_dir)
    size = resolve_preprocess(sidecar).size
    network = load_network(model_dir, sidecar)
    image = torch.from_numpy(np.random.default_rng(0).integers(0, 256, (1, size, size, 3), dtype=np.uint8))
    times = []
    with torch.inference_mode():
        for i in range(warmup + repeats):
            start = time.perf_counter()
            network(image)
            if i >= warmup:
                times.append((time.perf_counter() - start) * 1000)
    return float(np.median(times))


def run_row(run_dir: str | Path, eval_dir: str | Path | None = None, latency: bool = True) -> dict[str, Any]:
    """One comparison row: model facts, per-head accuracy and macro-F1, points and latency."""
    from fashiontag.evaluate.run import model_info

    run_dir = Path(run_dir)
    model_dir = run_dir if (run_dir / SIDECAR_NAME).exists() else run_dir / "model"
    sidecar = read_sidecar(model_dir)
    info = model_info(model_dir, sidecar)
    metrics = find_metrics(Path(eval_dir) if eval_dir else run_dir) or find_metrics(model_dir) or {}
    row: dict[str, Any] = {
        "run": run_dir.name,
        "strategy": info["strategy"],
        "backbone": info["backbone"],
        "parameters": info["parameters"],
        "size_mb": round(info["file_bytes"] / 2**20, 3),
        "latency_ms": round(measure_latency(model_dir), 3) if latency else None,
    }
    for head, h in (metrics.get("heads") or {}).items():
        row[f"{head}.accuracy"] = h.get("accuracy")
        row[f"{head}.macro_f1"] = h.get("macro_f1")
    hierarchy = metrics.get("hierarchy") or {}
    if hierarchy:
        row["full_path_accuracy"] = hierarchy.get("full_path_accuracy")
        row["points"] = hierarchy.get("points", {}).get("points")
        row["max_points"] = hierarchy.get("points", {}).get("max_points")
    return row


def markdown_table(table: pd.DataFrame) -> str:
    """A GitHub markdown table (no tabulate dependency)."""

    def cell(value: Any) -> str:
        if isinstance(value, float):
            return "–" if np.isnan(value) else f"{value:.4f}"
        return "–" if value is None else str(value)

    lines = ["| " + " | ".join(table.columns) + " |", "|" + "---|" * len(table.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in table.itertuples(index=False)]
    return "\n".join(lines)


def strategy_points(table: pd.DataFrame) -> pd.DataFrame | None:
    """Seed 004's combined-vs-hierarchical view: points per strategy, when strategies differ."""
    if "points" not in table or table["strategy"].nunique() < 2:
        return None
    view = table[["run", "strategy", "points", "max_points", "full_path_accuracy"]].copy()
    view["points_fraction"] = view["points"] / view["max_points"]
    return view.sort_values("points", ascending=False)


def compare_runs(runs: list[str | Path], out_dir: str | Path | None = None, latency: bool = True) -> pd.DataFrame:
    """Table across runs; with ``out_dir`` also writes ``compare.md``, ``compare.csv`` and ``compare.png``."""
    rows = []
    for i, run in enumerate(runs, 1):  # latency is measured per run: seconds each, so say which one
        log.info("compare: %d/%d %s%s", i, len(runs), run, " (measuring CPU latency)" if latency else "")
        rows.append(run_row(run, latency=latency))
    table = pd.DataFrame(rows)
    if out_dir is not None:
        from fashiontag.evaluate._plots import bar_plot

        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        table.to_csv(out / "compare.csv", index=False)
        text = "# Run comparison\n\n" + markdown_table(table)
        points = strategy_points(table)
        if points is not None:
            text += "\n\n## Combined vs hierarchical (points: one per correct level, seed 004)\n\n"
            text += markdown_table(points)
        (out / "compare.md").write_text(text + "\n", encoding="utf-8")
        scores = [c for c in table.columns if c.endswith(".accuracy") or c.endswith(".macro_f1")]
        plot = {row["run"]: {c: row[c] for c in scores if pd.notna(row[c])} for _, row in table.iterrows()}
        bar_plot(plot, "score", out, "compare.png")
    return table
