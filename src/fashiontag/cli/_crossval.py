"""``fashiontag crossval``: parse args, build a TrainConfig, call ``cross_validate``, print the table."""

from __future__ import annotations

from pathlib import Path

import typer

from fashiontag.cli import _options as opt

CROSSVAL_HELP = """k-fold cross-validation: train and evaluate one model per fold, then mean ± std of every metric.

Fold i is the test set, fold i+1 (mod K) the val set (early stopping, thresholds), the rest train; duplicate groups never straddle folds. Images are decoded once into OUT/cache_<image_size>.

Writes OUT/fold_<i>/ (model + eval report), OUT/folds.json, OUT/crossval.json and OUT/crossval.md (printed at the end). Running the same command again skips the folds already done.

Examples:

  fashiontag crossval --data ../shared/data/fpi_small --taxonomy fpi --backbone tf_efficientnet_lite0 --probe --folds 5 --out runs/cv image_size=64 input_size=128

  fashiontag crossval --data ../shared/data/fpi_small --strategy multihead --folds 3 --out runs/cv_ft epochs=4 lr=3e-4

  fashiontag crossval --data data/manifest.csv --reader manifest --source manifest --taxonomy data/taxonomy.yaml --backbone smallcnn --probe --folds 3 --out runs/cv_tiny pretrained=false
"""  # noqa: E501


def register(app: typer.Typer) -> None:
    @app.command("crossval", help=CROSSVAL_HELP)
    def crossval(
        data: str = typer.Option(..., help="Dataset root (or manifest file)."),
        out: str = typer.Option(..., help="Run directory; fold i goes to OUT/fold_<i>."),
        folds: int = opt.FOLDS,
        seed: int = opt.FOLD_SEED,
        taxonomy: str | None = opt.TAXONOMY,
        backbone: str | None = typer.Option(None, help="Backbone name (see list in docs/train.md)."),
        strategy: str | None = typer.Option(None, help="flat | multihead | combined | cascade."),
        reader: str | None = opt.READER,
        source: str | None = opt.SOURCE,
        probe: bool = typer.Option(False, "--probe", help="Frozen-backbone probe mode."),
        robustness: bool = typer.Option(False, "--robustness", help="Also run the corruption sweep per fold."),
        threads: int = opt.THREADS,
        config: Path | None = opt.TRAIN_CONFIG,
        overrides: list[str] | None = opt.TRAIN_OVERRIDES,
    ) -> None:
        opt.begin_command(threads)
        from dataclasses import replace

        from fashiontag.config import build_config
        from fashiontag.train import TrainConfig
        from fashiontag.workflows.crossval import cross_validate, crossval_table, default_evaluate_config

        cfg = build_config(TrainConfig, config, overrides or [], data=data, out=out, taxonomy=taxonomy,
                           backbone=backbone, strategy=strategy, reader=reader, source=source,
                           probe=probe or None)  # fmt: skip
        settings = replace(default_evaluate_config(), robustness=robustness)
        result = cross_validate(cfg, folds, Path(out), settings, seed=seed, echo=typer.echo)
        typer.echo("\n" + crossval_table(result))
        typer.echo(f"\nwrote {Path(out) / 'crossval.json'}, {Path(out) / 'folds.json'} and {Path(out) / 'crossval.md'}")
