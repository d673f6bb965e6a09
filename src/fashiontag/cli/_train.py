"""``fashiontag train`` and ``fashiontag tune``: parse args, build a TrainConfig, call one library function."""

from __future__ import annotations

from pathlib import Path

import typer

from fashiontag.cli._options import THREADS, begin_command

TRAIN_HELP = """Train a tagger: mode=full (every layer, Lightning), mode=trunk (frozen early stages cached once,
last stages + heads trained: most of a fine-tune's gain on CPU), --probe (frozen features + heads, seconds), or
--time-limit to let it pick the best recipe that fits the budget on this machine.

Examples:

  fashiontag train --data ../shared/data/fpi_small --out runs/budget --time-limit 10m image_size=80 batch_size=128

  fashiontag train --data ../shared/data/fpi_small --out runs/trunk mode=trunk trunk_cut=-3 trunk_views=2 image_size=80 input_size=128 epochs=4 batch_size=128 lr=2e-3

  fashiontag train --data ../shared/data/fpi_small --taxonomy fpi --backbone tf_efficientnet_lite0 --probe --out runs/probe image_size=64 input_size=128

  fashiontag train --data ../shared/data/fpi_small --taxonomy fpi --strategy multihead --out runs/ft epochs=8 lr=3e-4 augment=strong

  fashiontag train --data data/manifest.csv --reader manifest --source manifest --taxonomy data/taxonomy.yaml --backbone smallcnn --out runs/tiny pretrained=false

  fashiontag train --data shop/manifest.csv --reader manifest --source manifest --taxonomy shop/taxonomy.yaml --init-from runs/ft/model --out runs/shop epochs=3 lr=3e-4

Distillation: teacher=MODEL_DIR (same taxonomy heads and strategy) adds its softened logits to the loss
(distill_alpha, distill_temperature); in mode=trunk they are computed once per image and view, beside the
activations.

Running the same command again after a crash resumes from OUT/checkpoints/last.ckpt.
--init-from adapts a trained model: its backbone (its --backbone unless you pass one), and its heads when the
taxonomy and strategy are the same; the new sidecar records the source's path and sha256.
"""  # noqa: E501

TUNE_HELP = """Optuna search over lr, weight_decay and augment (TPE sampler seeded by seed=N); one train run per trial.

Examples:

  fashiontag tune --data ../shared/data/fpi_small --out runs/tune --trials 6 epochs=1

  fashiontag tune --data data/manifest.csv --reader manifest --source manifest --taxonomy data/taxonomy.yaml --out runs/tune --trials 3 --probe backbone=smallcnn pretrained=false probe_steps=200

Writes OUT/trial_<n>/model, OUT/tune.json (all trials, best params and model dir) and OUT/tune.db; running
the same command again continues the study until --trials trials have completed.
"""  # noqa: E501


def _config(config_file: Path | None, overrides: list[str], **values: object):  # noqa: ANN202
    """TrainConfig from defaults, YAML, options and key=value; with ``init_from`` and no backbone given
    anywhere, the backbone is the source model's."""
    import yaml

    from fashiontag.artifact import read_sidecar
    from fashiontag.config import build_config, parse_overrides, resolve_keys, updated
    from fashiontag.train import TrainConfig

    cfg = build_config(TrainConfig, config_file, overrides, **values)
    layers = [yaml.safe_load(config_file.read_text("utf-8")) or {}] if config_file is not None else []
    layers += [parse_overrides([o]) for o in overrides]  # backbone, model.backbone or model: {backbone: ...}
    given = values.get("backbone") or any("backbone" in resolve_keys(TrainConfig, x).get("model", {}) for x in layers)
    if not cfg.model.init_from or given:
        return cfg
    return updated(cfg, backbone=read_sidecar(cfg.model.init_from, verify=False)["backbone"]["name"])


def settings_help() -> str:
    """Every TrainConfig key with its default, one paragraph per section (read from the dataclasses: importing
    ``fashiontag.train.TrainConfig`` loads no torch)."""
    import dataclasses

    from fashiontag.train import TrainConfig

    lines = [
        "Settings (key=value, flat or dotted: lr=2e-3 is optim.lr=2e-3; --config YAML nests them: "
        "optim: {lr: 2e-3}; --data PATH is data.root), with their defaults:"
    ]
    default = TrainConfig()
    for f in dataclasses.fields(TrainConfig):
        value = getattr(default, f.name)
        if dataclasses.is_dataclass(value):
            keys = "  ".join(f"{g.name}={getattr(value, g.name)!r}" for g in dataclasses.fields(value))
            lines.append(f"{f.name}:  {keys}")
    top = [f.name for f in dataclasses.fields(TrainConfig) if not dataclasses.is_dataclass(getattr(default, f.name))]
    lines.append("top level:  " + "  ".join(f"{name}={getattr(default, name)!r}" for name in top))
    lines.append(
        "image_size=None sizes the decoded cache from a sample of the images (64 px for thumbnails up to "
        "128 px, 224 px for photos; printed); input_size=None is the backbone's own."
    )
    return "\n\n".join(lines)


def _default(name: str) -> str:
    """TrainConfig's default of ``name`` for an option's ``show_default`` (the options default to None, so a
    YAML value is not overridden)."""
    from fashiontag.config import resolve_keys
    from fashiontag.train import TrainConfig

    section = next(iter(resolve_keys(TrainConfig, {name: None})))
    return str(getattr(getattr(TrainConfig(), section), name))


def register(app: typer.Typer) -> None:
    @app.command("train", help=f"{TRAIN_HELP}\n{settings_help()}")
    def train(
        data: str = typer.Option(..., help="Dataset root (or manifest file)."),
        out: str = typer.Option(..., help="Run directory; the model goes to OUT/model."),
        taxonomy: str | None = typer.Option(
            None, show_default=_default("taxonomy"), help="Built-in taxonomy name or YAML path."
        ),
        backbone: str | None = typer.Option(
            None, show_default=_default("backbone"), help="Backbone name (`fashiontag backbones` lists them)."
        ),
        strategy: str | None = typer.Option(
            None, show_default=_default("strategy"), help="flat | multihead | combined | cascade."
        ),
        reader: str | None = typer.Option(
            None, show_default=_default("reader"), help="Dataset reader (fpi, folder, manifest, ...)."
        ),
        source: str | None = typer.Option(
            None, show_default="the reader's name", help="Mapping source in the taxonomy's 'sources'."
        ),
        split: str | None = typer.Option(
            None,
            show_default="hash of each duplicate group",
            help="Split file (item_id,split) from `fashiontag data split`; never "
            "rewritten, its path and sha256 go into the sidecar.",
        ),
        probe: bool = typer.Option(False, "--probe", help="Frozen-backbone probe mode."),
        time_limit: str | None = typer.Option(
            None,
            "--time-limit",
            show_default="none",
            help="Wall-clock budget, e.g. 10m, 90s, 1h30m: measures this "
            "machine, picks the best recipe (mode, size, epochs) that fits, "
            "prints why (a cached-trunk run re-fits its epochs to the time left "
            "after its first pass and each epoch, the last in part, the learning "
            "rate annealed to its last step), and stops at the limit with the "
            "best checkpoint.",
        ),
        init_from: str | None = typer.Option(None, help="Adapt an existing model directory (its backbone)."),
        unlabelled: str | None = typer.Option(
            None,
            "--unlabelled",
            help="Unlabelled photos: a teacher trained on "
            "DATA pseudo-labels them, a student trains on both (OUT/model).",
        ),
        pseudo_threshold: float = typer.Option(
            0.9, "--pseudo-threshold", min=0.01, max=1.0, help="With --unlabelled: the teacher's minimum confidence."
        ),
        pseudo_rounds: int = typer.Option(
            1,
            "--pseudo-rounds",
            min=1,
            max=10,
            help="With --unlabelled: label again with each student as the next teacher, this many times.",
        ),
        adapt_bn: bool = typer.Option(
            False,
            "--adapt-bn",
            help="With --unlabelled: re-estimate BatchNorm "
            "statistics on the unlabelled photos (AdaBN) for each teacher before it "
            "labels them and for the final model (OUT/model; before: OUT/unadapted/model). "
            "For photos of another domain than DATA (packshots -> phone photos).",
        ),
        pseudo_soft: bool = typer.Option(
            False,
            "--pseudo-soft",
            help="With --unlabelled: the student also "
            "learns the teacher's soft labels (distillation: distill_alpha, "
            "distill_temperature) on every row, and the photos under the threshold "
            "join with soft labels only.",
        ),
        pseudo_teachers: int = typer.Option(
            1,
            "--pseudo-teachers",
            min=1,
            max=8,
            help="With --unlabelled: train this many teachers, each with its own "
            "seed (OUT/teacher, OUT/teacher2, ...); their mean probabilities "
            "label the photos (and, with --pseudo-soft, are the soft labels).",
        ),
        pseudo_teacher: list[str] | None = typer.Option(
            None,
            "--pseudo-teacher",
            metavar="MODEL_DIR",
            help="With --unlabelled: label the photos with this saved "
            "model instead of training a teacher on DATA (repeat for "
            "an ensemble; any backbone or size, the run's taxonomy).",
        ),
        threads: int = THREADS,
        config: Path | None = typer.Option(None, "--config", help="YAML file with TrainConfig keys."),
        overrides: list[str] | None = typer.Argument(None, help="key=value overrides, e.g. lr=1e-3 epochs=5."),
    ) -> None:
        begin_command(threads)
        from fashiontag.artifact import ModelFileError
        from fashiontag.config import ConfigError
        from fashiontag.train import fit

        if adapt_bn and not unlabelled:
            raise typer.BadParameter(
                "needs --unlabelled (the photos whose statistics it takes)", param_hint="--adapt-bn"
            )
        for flag, given in (
            ("--pseudo-soft", pseudo_soft),
            ("--pseudo-teachers", pseudo_teachers > 1),
            ("--pseudo-teacher", bool(pseudo_teacher)),
        ):
            if given and not unlabelled:
                raise typer.BadParameter("needs --unlabelled (the photos to label)", param_hint=flag)
        try:
            cfg = _config(
                config,
                overrides or [],
                data=data,
                out=out,
                taxonomy=taxonomy,
                backbone=backbone,
                strategy=strategy,
                reader=reader,
                source=source,
                split=split,
                probe=probe or None,
                init_from=init_from,
                time_limit=time_limit,
            )
            if unlabelled:
                from fashiontag.workflows.pseudo import train_with_unlabelled

                summary = train_with_unlabelled(
                    cfg,
                    unlabelled,
                    pseudo_threshold,
                    pseudo_rounds,
                    adapt_bn,
                    pseudo_soft,
                    pseudo_teachers,
                    pseudo_teacher,
                )
                rounds = "" if pseudo_rounds == 1 else f" (per round: {summary['used_per_round']})"
                soft = f", {summary['soft_only']} more with soft labels only" if pseudo_soft else ""
                typer.echo(
                    f"pseudo-labels: {summary['used']} of {summary['unlabelled']} unlabelled photos at "
                    f">= {pseudo_threshold}{rounds}{soft} ({summary['table']}); teacher: "
                    f"{', '.join(summary['teachers'])}"
                )
                if summary["unadapted"]:
                    typer.echo(
                        "BatchNorm statistics adapted to the unlabelled photos: the teacher labelled them "
                        "adapted (its saved model is not), the model below is the adapted student (before: "
                        f"{summary['unadapted']})"
                    )
                model = summary["model"]
            else:
                model = fit(cfg)
        except ModelFileError as exc:
            raise typer.BadParameter(str(exc), param_hint="--init-from") from None
        except ConfigError as exc:
            raise typer.BadParameter(str(exc)) from None
        typer.echo(f"model: {model}")

    @app.command("tune", help=TUNE_HELP)
    def tune(
        data: str = typer.Option(..., help="Dataset root (or manifest file)."),
        out: str = typer.Option(..., help="Run directory (one sub-run per trial, tune.json, tune.db)."),
        trials: int = typer.Option(6, help="Completed trials to reach (a rerun continues the study)."),
        taxonomy: str | None = typer.Option(None, help="Built-in taxonomy name or YAML path."),
        reader: str | None = typer.Option(None, help="Dataset reader (fpi, folder, manifest, ...)."),
        source: str | None = typer.Option(None, help="Mapping source in the taxonomy's 'sources'."),
        probe: bool = typer.Option(False, "--probe", help="Frozen-backbone probe mode (searches lr, weight_decay)."),
        threads: int = THREADS,
        config: Path | None = typer.Option(None, "--config", help="YAML file with TrainConfig keys."),
        overrides: list[str] | None = typer.Argument(None, help="key=value overrides."),
    ) -> None:
        begin_command(threads)
        import optuna

        from fashiontag.artifact import ModelFileError
        from fashiontag.config import ConfigError
        from fashiontag.workflows.tune import tune as run_tune

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        try:
            cfg = _config(
                config,
                overrides or [],
                data=data,
                out=out,
                taxonomy=taxonomy,
                reader=reader,
                source=source,
                probe=probe or None,
            )
            best, table = run_tune(cfg, trials)
        except ModelFileError as exc:
            raise typer.BadParameter(str(exc), param_hint="init_from") from None
        except ConfigError as exc:
            raise typer.BadParameter(str(exc)) from None
        typer.echo(table.to_string(index=False))
        params = " ".join(f"{k}={getattr(best.optim, k)}" for k in ("lr", "weight_decay", "augment") if k in table)
        typer.echo(f"best: {params}  model: {table['model_dir'].iloc[0]}\nresults: {Path(out) / 'tune.json'}")
