"""Matplotlib figures for the report (Agg backend, PNG files); each returns the file name it wrote."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

PALETTE = ["#2563eb", "#dc2626", "#16a34a", "#d97706", "#7c3aed", "#0891b2", "#db2777", "#4b5563"]


def _figure(width: float = 6.0, height: float = 4.0) -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update(
        {"font.size": 9, "axes.spines.top": False, "axes.spines.right": False, "axes.grid": True, "grid.alpha": 0.3}
    )
    return plt.subplots(figsize=(width, height), dpi=110)


def _save(fig: Any, out_dir: Path, name: str) -> str:
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(out_dir / name)
    plt.close(fig)
    return name


def confusion_plot(matrix: list[list[int]], labels: list[str], out_dir: Path, name: str, limit: int = 30) -> str:
    """Row-normalised confusion matrix; above ``limit`` classes only the most frequent are drawn."""
    counts = np.asarray(matrix, dtype=np.float64)
    keep = np.argsort(-counts.sum(1), kind="stable")[:limit] if len(labels) > limit else np.arange(len(labels))
    sub = counts[np.ix_(keep, keep)]
    normed = np.divide(sub, sub.sum(1, keepdims=True), out=np.zeros_like(sub), where=sub.sum(1, keepdims=True) > 0)
    side = max(3.5, 0.28 * len(keep) + 2)
    fig, ax = _figure(side + 1, side)
    ax.grid(False)
    image = ax.imshow(normed, cmap="Blues", vmin=0, vmax=1)
    short = [labels[i].split(" > ")[-1][:18] for i in keep]
    ax.set_xticks(range(len(keep)), short, rotation=60, ha="right")
    ax.set_yticks(range(len(keep)), short)
    if len(keep) <= 12:
        for (r, c), v in np.ndenumerate(normed):
            if v >= 0.005:
                ax.text(c, r, f"{v:.2f}", ha="center", va="center", fontsize=7, color="white" if v > 0.5 else "#111")
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    fig.colorbar(image, ax=ax, fraction=0.046)
    return _save(fig, out_dir, name)


def per_class_plot(rows: list[dict[str, Any]], out_dir: Path, name: str, limit: int = 40) -> str:
    """Horizontal F1 and recall bars per class with test images, worst at the top."""
    rows = sorted([r for r in rows if r["support"]], key=lambda r: r["f1"])[:limit]
    fig, ax = _figure(6.0, max(2.5, 0.24 * len(rows) + 1))
    y = np.arange(len(rows))
    ax.barh(y + 0.2, [r["f1"] for r in rows], 0.4, color=PALETTE[0], label="F1")
    ax.barh(y - 0.2, [r["recall"] for r in rows], 0.4, color=PALETTE[2], label="recall (accuracy)")
    ax.set_yticks(y, [f"{r['label'].split(' > ')[-1][:22]} ({r['support']})" for r in rows])
    ax.set_xlim(0, 1)
    ax.legend(loc="lower right", fontsize=8)
    return _save(fig, out_dir, name)


def robustness_plot(rows: list[dict[str, Any]], head: str, out_dir: Path, name: str) -> str:
    """Accuracy vs severity step, one line per corruption, the clean accuracy dashed."""
    fig, ax = _figure(6.0, 3.6)
    clean = next((r["accuracy"].get(head) for r in rows if r["corruption"] == "clean"), None)
    names = list(dict.fromkeys(r["corruption"] for r in rows if r["corruption"] != "clean"))
    for i, corruption in enumerate(names):
        values = [r["accuracy"].get(head) for r in rows if r["corruption"] == corruption]
        ax.plot(range(1, len(values) + 1), values, marker="o", color=PALETTE[i % len(PALETTE)], label=corruption)
    if clean is not None:
        ax.axhline(clean, color="#111", linestyle="--", linewidth=1, label="clean")
    ax.set_xlabel("severity step (mild → strong)")
    ax.set_ylabel(f"{head} accuracy")
    ax.set_ylim(0, 1.02)
    ax.legend(fontsize=7, ncol=2)
    return _save(fig, out_dir, name)


def selective_plot(curve: dict[str, list[float]], out_dir: Path, name: str) -> str:
    """Accuracy vs coverage as the shared threshold rises (any level vs down to the leaf)."""
    fig, ax = _figure(5.0, 3.6)
    ax.plot(curve["coverage_any"], curve["accuracy_any"], marker=".", color=PALETTE[0], label="stop at any level")
    ax.plot(curve["coverage_full"], curve["accuracy_full"], marker=".", color=PALETTE[1], label="full path only")
    ax.set_xlabel("coverage (share of images auto-labelled)")
    ax.set_ylabel("accuracy of what is labelled")
    ax.set_xlim(0, 1.02)
    ax.set_ylim(0, 1.02)
    ax.legend(fontsize=8)
    return _save(fig, out_dir, name)


def reliability_plot(bins: dict[str, dict[str, list[float]]], out_dir: Path, name: str) -> str:
    """Accuracy vs confidence per head, the diagonal being perfect calibration."""
    fig, ax = _figure(5.0, 3.6)
    ax.plot([0, 1], [0, 1], color="#999", linestyle="--", linewidth=1)
    for i, (head, table) in enumerate(bins.items()):
        ax.plot(table["confidence"], table["accuracy"], marker="o", color=PALETTE[i % len(PALETTE)], label=head)
    ax.set_xlabel("confidence")
    ax.set_ylabel("accuracy")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.legend(fontsize=8)
    return _save(fig, out_dir, name)


def learning_curve_plot(csv_path: Path, out_dir: Path, name: str) -> str | None:
    """Every numeric column of a training log CSV against its epoch (or row) column."""
    import pandas as pd

    log = pd.read_csv(csv_path)
    x = log["epoch"] if "epoch" in log else np.arange(len(log))
    columns = [c for c in log.select_dtypes("number").columns if c not in ("epoch", "step")]
    if not columns:
        return None
    fig, ax = _figure(6.0, 3.6)
    for i, column in enumerate(columns[:8]):
        ax.plot(x, log[column], marker=".", color=PALETTE[i % len(PALETTE)], label=column)
    ax.set_xlabel("epoch")
    ax.legend(fontsize=7)
    return _save(fig, out_dir, name)


def bar_plot(table: dict[str, dict[str, float]], ylabel: str, out_dir: Path, name: str) -> str:
    """Grouped bars: ``table[run][metric]``."""
    runs = list(table)
    metrics = list(dict.fromkeys(m for row in table.values() for m in row))
    fig, ax = _figure(max(5.0, 0.6 * len(metrics) * len(runs) + 2), 3.6)
    width = 0.8 / max(len(runs), 1)
    for i, run in enumerate(runs):
        values = [table[run].get(m, np.nan) for m in metrics]
        ax.bar(np.arange(len(metrics)) + i * width, values, width, color=PALETTE[i % len(PALETTE)], label=run)
    ax.set_xticks(np.arange(len(metrics)) + width * (len(runs) - 1) / 2, metrics, rotation=20, ha="right")
    ax.set_ylabel(ylabel)
    ax.set_ylim(0, 1.02)
    ax.legend(fontsize=8)
    return _save(fig, out_dir, name)
