"""tune(config): a small Optuna search over lr, weight decay and augmentation; returns best config + table."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pandas as pd

from fashiontag.train._config import TrainConfig


def tune(config: TrainConfig, trials: int = 6) -> tuple[TrainConfig, pd.DataFrame]:
    """Each trial is a full ``fit`` into ``<out>/trial_<i>``; the score is validation macro-F1."""
    import json

    import optuna

    from fashiontag.train._fit import fit

    rows = []

    def objective(trial: optuna.Trial) -> float:
        cfg = dataclasses.replace(
            config, out=str(Path(config.out) / f"trial_{trial.number}"),
            lr=trial.suggest_float("lr", 1e-4, 3e-2, log=True),
            weight_decay=trial.suggest_float("weight_decay", 1e-6, 1e-2, log=True),
            augment=trial.suggest_categorical("augment", ["none", "light", "strong"]),
        )
        model = fit(cfg)
        metrics = json.loads((model / "fashiontag.json").read_text())["metrics"]
        score = float(metrics.get("val_macro_f1", 0.0))
        rows.append({"trial": trial.number, "lr": cfg.lr, "weight_decay": cfg.weight_decay,
                     "augment": cfg.augment, "val_macro_f1": score})
        return score

    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=config.seed))
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study.optimize(objective, n_trials=trials)
    best = dataclasses.replace(config, **study.best_params)
    return best, pd.DataFrame(rows).sort_values("val_macro_f1", ascending=False)
