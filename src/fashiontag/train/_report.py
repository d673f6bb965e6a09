"""Learning curves from the CSV log (matplotlib, headless)."""

from __future__ import annotations

from pathlib import Path


def plot_learning_curves(run_dir: str | Path) -> Path | None:
    """Write ``<run_dir>/learning_curves.png`` from every ``metrics.csv`` under the run; None when no log."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    logs = sorted(Path(run_dir).rglob("logs/version_0/metrics.csv"))
    if not logs:
        return None
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for path in logs:
        frame = pd.read_csv(path)
        label = path.parent.parent.parent.name
        if "train_loss_epoch" in frame:
            rows = frame.dropna(subset=["train_loss_epoch"])
            axes[0].plot(rows["epoch"], rows["train_loss_epoch"], marker="o", label=label)
        if "val_macro_f1" in frame:
            rows = frame.dropna(subset=["val_macro_f1"])
            axes[1].plot(rows["epoch"], rows["val_macro_f1"], marker="o", label=label)
    axes[0].set(title="train loss", xlabel="epoch")
    axes[1].set(title="validation macro-F1 (mean over levels)", xlabel="epoch")
    for ax in axes:
        ax.legend(fontsize=7)
    out = Path(run_dir) / "learning_curves.png"
    fig.tight_layout()
    fig.savefig(out, dpi=80)
    plt.close(fig)
    return out
