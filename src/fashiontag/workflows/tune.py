"""tune(config, trials): an Optuna search over lr, weight decay and augmentation, resumable, results on disk.

Run it as ``fashiontag tune --data ../shared/data/fpi_small --out runs/tune --trials 6 epochs=1``.
Writes ``OUT/trial_<n>/`` (one ``fit`` run each), ``OUT/tune.db`` (the Optuna study, so re-running the same
command continues it) and ``OUT/tune.json`` (every trial and the best one, rewritten after each trial).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pandas as pd

from fashiontag._io import write_json
from fashiontag.config import ConfigError, from_dict, to_dict, updated
from fashiontag.train import TrainConfig

METRIC = "val_macro_f1"
STUDY_NAME = "fashiontag-tune"


def suggest(trial: Any, config: TrainConfig) -> dict[str, Any]:
    """The search space; augmentation only outside probe mode (probe features are never augmented)."""
    params = {
        "lr": trial.suggest_float("lr", 1e-4, 3e-2, log=True),
        "weight_decay": trial.suggest_float("weight_decay", 1e-6, 1e-2, log=True),
    }
    if not config.trainer.probe:
        params["augment"] = trial.suggest_categorical("augment", ["none", "light", "strong"])
    return params


def score(metrics: dict[str, Any]) -> float:
    """Validation macro-F1 of a run; a cascade's is the mean over its parts (router and specialists)."""
    if METRIC in metrics:
        return float(metrics[METRIC])
    parts = [m[METRIC] for m in metrics.values() if isinstance(m, dict) and METRIC in m]
    if not parts:
        raise ValueError(f"no {METRIC!r} in the run's metrics: {sorted(metrics)}")
    return float(sum(parts) / len(parts))


def _trial_rows(study: Any) -> list[dict[str, Any]]:
    return [
        {
            "trial": t.number,
            "state": t.state.name,
            METRIC: t.value,
            **t.params,
            "model_dir": t.user_attrs.get("model_dir"),
            "duration_s": t.duration.total_seconds() if t.duration else None,
        }
        for t in study.trials
    ]


def write_results(study: Any, path: Path) -> dict[str, Any]:
    """``tune.json``: every trial, and the best one's params, value and model directory (atomic write)."""
    from optuna.trial import TrialState

    done = [t for t in study.trials if t.state == TrialState.COMPLETE]
    best = study.best_trial if done else None
    results = {
        "metric": METRIC,
        "direction": "maximize",
        "study_name": study.study_name,
        "storage": f"sqlite:///{path.parent.resolve() / 'tune.db'}",
        "best": None
        if best is None
        else {
            "trial": best.number,
            METRIC: best.value,
            "params": best.params,
            "model_dir": best.user_attrs.get("model_dir"),
        },
        "trials": _trial_rows(study),
    }
    write_json(path, results)
    return results


def _settings(config: TrainConfig) -> dict[str, Any]:
    """The settings a continued study must share, JSON-ready (progress bar and workers do not change results)."""
    settings = to_dict(config)
    settings["trainer"] = {k: v for k, v in settings["trainer"].items() if k not in ("progress_bar", "num_workers")}
    return json.loads(json.dumps(settings))


def _stored_settings(stored: Any) -> Any:
    """A study's recorded settings in today's nested form (studies begun before the config was nested
    recorded it flat)."""
    try:
        return _settings(from_dict(TrainConfig, stored))
    except (ConfigError, TypeError, AttributeError):
        return stored


def _open_study(config: TrainConfig, out: Path) -> Any:
    """Create or continue ``OUT/tune.db``; a continued study must have been run with the same settings."""
    import optuna
    from optuna.trial import TrialState

    settings = _settings(config)
    study = optuna.create_study(
        storage=f"sqlite:///{out.resolve() / 'tune.db'}",
        study_name=STUDY_NAME,
        direction="maximize",
        load_if_exists=True,
    )
    if study.trials and _stored_settings(study.user_attrs.get("config")) != settings:
        raise ConfigError(f"{out}: holds a study run with other settings; use another --out or delete {out}")
    study.set_user_attr("config", settings)
    for trial in study.trials:  # a killed run leaves its trial RUNNING forever; one process per OUT
        if trial.state == TrialState.RUNNING:
            study.tell(trial.number, state=TrialState.FAIL)
    # a seeded sampler would repeat the first run's draws; offset the seed by the trials already there
    study.sampler = optuna.samplers.TPESampler(seed=config.seed + len(study.trials))
    return study


def tune(config: TrainConfig, trials: int = 6) -> tuple[TrainConfig, pd.DataFrame]:
    """Search until ``trials`` trials have completed in ``config.out``; each is a ``fit`` into ``OUT/trial_<n>``.

    The data is read and decoded once (``OUT/cache_<S>``), and in probe mode the backbone features are
    extracted once for all trials. Scores are validation macro-F1.
    Returns the config with the best params (``out`` unchanged) and the completed trials, best first.

    Example:
        >>> from fashiontag.config import build_config
        >>> config = build_config(TrainConfig, data="../shared/data/fpi_small", out="runs/tune", epochs=1)
        >>> best, table = tune(config, trials=3)  # doctest: +SKIP
    """
    from optuna.trial import TrialState

    from fashiontag.artifact import read_sidecar
    from fashiontag.data.folders import resolve_taxonomy
    from fashiontag.train import FeatureMemo, fit, load_train_data

    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    study = _open_study(config, out)
    dataset = config.data
    data = load_train_data(config, resolve_taxonomy(dataset.taxonomy, dataset.reader, dataset.root, dataset.source))
    # lr / weight decay do not change frozen-backbone features: probe trials extract them once
    data = dataclasses.replace(data, feature_memo=FeatureMemo())

    def objective(trial: Any) -> float:
        params = suggest(trial, config)
        run_dir = out / f"trial_{trial.number}"
        trial.set_user_attr("model_dir", str(run_dir / "model"))
        model = fit(updated(config, out=str(run_dir), **params), data)
        return score(read_sidecar(model, verify=False)["metrics"])

    done = sum(t.state == TrialState.COMPLETE for t in study.trials)
    study.optimize(
        objective, n_trials=max(0, trials - done), callbacks=[lambda s, _: write_results(s, out / "tune.json")]
    )
    write_results(study, out / "tune.json")
    table = pd.DataFrame([r for r in _trial_rows(study) if r["state"] == "COMPLETE"])
    table = table.drop(columns=["state"]).sort_values(METRIC, ascending=False, kind="stable")
    return updated(config, **study.best_params), table.reset_index(drop=True)
