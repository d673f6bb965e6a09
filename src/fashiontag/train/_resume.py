"""Resume only the run that was interrupted: ``OUT/run.json`` records what ``OUT/checkpoints`` are of.

``train --out DIR`` resumes from ``DIR/checkpoints/last.ckpt``. Without a record of the settings, a second
command with other settings (another cut, input size, learning rate) would silently continue the first run and
save its network as the new model. So the settings that define the run are written next to the checkpoints; a
resume with different ones stops with the differing keys and the fix. Settings that only say how long or how
visibly to train (``epochs``, ``time_limit``, ``progress_bar``, threads) may change on resume, but never to fewer
epochs than the checkpoint's (that stops with the count to ask for). With a time limit the planner sets the
epochs (a run may lower them after its first pass or an epoch: ``run.json`` records those), and an
interrupted run keeps its recorded recipe and epochs (see :func:`recorded_recipe`) and never re-fits them: its
cosine schedule was sized to them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fashiontag._io import write_json
from fashiontag.config import ConfigError, to_dict
from fashiontag.train._config import TrainConfig

if TYPE_CHECKING:
    from fashiontag.train._budget import Recipe

RECORD = "run.json"
_TRAINER_KEYS = ("mode", "probe", "trunk_cut", "trunk_views", "batch_size", "head_epochs")


def run_settings(config: TrainConfig) -> dict[str, Any]:
    """What a run's checkpoints are of: data, model, optimiser, the training mode and its cut/views, seed."""
    values = json.loads(json.dumps(to_dict(config), default=str))  # as run.json holds them (tuples -> lists)
    trainer = {key: values["trainer"][key] for key in _TRAINER_KEYS}
    return {
        "data": values["data"],
        "model": values["model"],
        "optim": values["optim"],
        "trainer": trainer,
        "seed": values["seed"],
    }


def _with_defaults(old: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
    """``old`` with the keys it lacks taken from ``defaults``: a key added to the settings after a run was recorded
    had its default's effect then (the feature did not exist), so resuming that run must not count it as changed."""
    out = dict(old)
    for key, value in defaults.items():
        if key not in out:
            out[key] = value
        elif isinstance(out[key], dict) and isinstance(value, dict):
            out[key] = _with_defaults(out[key], value)
    return out


def _differences(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> list[str]:
    out = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            out += _differences(a, b, f"{prefix}{key}.")
        elif a != b:
            out.append(f"{prefix}{key}: {a!r} -> {b!r}")
    return out


def check_resume(run_dir: Path, config: TrainConfig) -> bool:
    """Record this run's settings; True when ``run_dir`` holds a checkpoint of the same run to resume from.

    Raises:
        ConfigError: the checkpoints there belong to a run with other settings.
    """
    folder = run_dir / "checkpoints"
    settings = run_settings(config)
    record = run_dir / RECORD  # beside checkpoints/, not in it (Lightning warns about a non-empty folder)
    resumable = (folder / "last.ckpt").exists()
    if resumable and record.exists():
        old = json.loads(record.read_text(encoding="utf-8")).get("settings", {})
        changed = _differences(_with_defaults(old, run_settings(TrainConfig())), settings)
        if changed:
            raise ConfigError(
                f"{folder} holds checkpoints of a run with other settings ({'; '.join(changed[:6])}); "
                f"resuming needs the same settings: train into another --out, or delete {folder} to start over"
            )
    if resumable:
        saved_in = checkpoint_epoch(folder / "last.ckpt") + 1
        if saved_in > config.trainer.epochs:  # Lightning would train nothing, or (one more) stop with a traceback
            raise ConfigError(
                f"{folder / 'last.ckpt'} was saved in epoch {saved_in} and this run asks for "
                f"{config.trainer.epochs} epochs: resume with epochs={saved_in} or more, train into another --out, "
                f"or delete {folder} to start over"
            )
    run_dir.mkdir(parents=True, exist_ok=True)
    write_json(record, {"settings": settings, "epochs": config.trainer.epochs})
    return resumable


def checkpoint_epoch(path: Path) -> int:
    """The 0-based epoch a Lightning checkpoint was saved in (memory-mapped: the weights are not read)."""
    import torch

    try:
        return int(torch.load(path, map_location="cpu", weights_only=True, mmap=True).get("epoch", 0))
    except Exception as exc:  # truncated by a crash mid-write, or not a checkpoint at all
        raise ConfigError(
            f"{path} cannot be read ({type(exc).__name__}); delete it (or its folder) to start "
            "over, or train into another --out"
        ) from None


def recorded_recipe(run_dir: Path, max_epochs: int) -> Recipe | None:
    """The recipe of an interrupted trunk or full run in ``run_dir`` (None: nothing to resume), so that a
    time-limited run resumes with the recipe its planner chose, whatever a new measurement would choose."""
    from fashiontag.train._budget import Recipe

    if not (run_dir / "checkpoints" / "last.ckpt").exists() or not (run_dir / RECORD).exists():
        return None
    record = json.loads((run_dir / RECORD).read_text(encoding="utf-8"))
    settings = record.get("settings", {})
    trainer = settings.get("trainer", {})
    if trainer.get("mode") not in ("trunk", "full"):
        return None
    epochs = record.get("epochs")  # the planned (or re-fitted) epochs; older records: whatever fits, up to max
    return Recipe(
        trainer["mode"],
        settings.get("model", {}).get("input_size"),
        min_epochs=epochs or 1,
        max_epochs=epochs or max_epochs,
        trunk_cut=trainer.get("trunk_cut", -3),
        trunk_views=trainer.get("trunk_views", 2),
    )


def record_epochs(run_dir: Path, epochs: int) -> None:
    """Set the epochs ``run.json`` records (a time-limited run that re-fitted them mid-run): what a resume asks for."""
    record = run_dir / RECORD
    if record.exists():
        write_json(record, {**json.loads(record.read_text(encoding="utf-8")), "epochs": epochs})
