"""``fashiontag train`` and ``fashiontag tune``: parse args, build a TrainConfig, call one library function."""

from __future__ import annotations

from pathlib import Path

import typer

TRAIN_HELP = """Train a tagger (full fine-tune on Lightning, or --probe: frozen features + heads, fast on CPU).

Examples:

  fashiontag train --data ../shared/data/fpi_small --taxonomy fpi --backbone tf_efficientnet_lite0 --probe --out runs/probe image_size=64 input_size=128

  fashiontag train --data ../shared/data/fpi_small --taxonomy fpi --strategy multihead --out runs/ft epochs=8 lr=3e-4 augment=strong

  fashiontag train --data data/manifest.csv --reader manifest --source manifest --taxonomy data/taxonomy.yaml --backbone smallcnn --out runs/tiny pretrained=false

Running the same command again after a crash resumes from OUT/checkpoints/last.ckpt.
"""


def _config(config_file: Path | None, overrides: list[str], **values: object):  # noqa: ANN202
    from fashiontag.config import build_config
    from fashiontag.train import TrainConfig

    return build_config(TrainConfig, config_file, overrides, **values)


def register(app: typer.Typer) -> None:
    @app.command("train", help=TRAIN_HELP)
    def train(
        data: str = typer.Option(..., help="Dataset root (or manifest file)."),
        out: str = typer.Option(..., help="Run directory; the model goes to OUT/model."),
        taxonomy: str | None = typer.Option(None, help="Built-in taxonomy name or YAML path."),
        backbone: str | None = typer.Option(None, help="Backbone name (see list in docs/train.md)."),
        strategy: str | None = typer.Option(None, help="flat | multihead | combined | cascade."),
        reader: str | None = typer.Option(None, help="Dataset reader (fpi, folder, manifest, ...)."),
        source: str | None = typer.Option(None, help="Mapping source in the taxonomy's 'sources'."),
        split: str | None = typer.Option(None, help="CSV with item_id,split."),
        probe: bool = typer.Option(False, "--probe", help="Frozen-backbone probe mode."),
        init_from: str | None = typer.Option(None, help="Adapt an existing model directory."),
        config: Path | None = typer.Option(None, "--config", help="YAML file with TrainConfig keys."),
        overrides: list[str] | None = typer.Argument(None, help="key=value overrides, e.g. lr=1e-3 epochs=5."),
    ) -> None:
        from fashiontag.train import fit

        cfg = _config(config, overrides or [], data=data, out=out, taxonomy=taxonomy, backbone=backbone,
                      strategy=strategy, reader=reader, source=source, split=split, probe=probe or None,
                      init_from=init_from)
        typer.echo(f"model: {fit(cfg)}")

    @app.command("tune", help="Small Optuna search over lr, weight_decay and augment.\n\nExample:\n\n"
                 "  fashiontag tune --data ../shared/data/fpi_small --out runs/tune --trials 6 epochs=1")
    def tune(
        data: str = typer.Option(..., help="Dataset root."),
        out: str = typer.Option(..., help="Run directory (one sub-run per trial)."),
        trials: int = typer.Option(6, help="Number of trials."),
        config: Path | None = typer.Option(None, "--config", help="YAML file with TrainConfig keys."),
        overrides: list[str] | None = typer.Argument(None, help="key=value overrides."),
    ) -> None:
        from fashiontag.train._tune import tune as run_tune

        best, table = run_tune(_config(config, overrides or [], data=data, out=out), trials)
        typer.echo(table.to_markdown(index=False) if hasattr(table, "to_markdown") else table.to_string())
        typer.echo(f"best: lr={best.lr} weight_decay={best.weight_decay} augment={best.augment}")
