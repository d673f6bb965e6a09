"""``fashiontag audit DATA --out DIR``: rank catalogue labels that are likely wrong (workflows/audit.py)."""

from __future__ import annotations

from pathlib import Path

import typer

from fashiontag.cli import _options as opt

AUDIT_HELP = """Find likely wrong labels in a labelled catalogue, and duplicate photos whose labels disagree.

Every item gets out-of-fold probabilities (K group-aware folds, as in `crossval`; probe mode by default, so minutes on CPU), then cleanlab ranks per head the items whose given label the held-out model finds least plausible, with the suggested label and its confidence.

Writes OUT/audit.csv (flagged items), OUT/duplicates.csv (conflicting duplicate groups), OUT/audit.json (counts per head), OUT/audit.html (thumbnails with file names) and, with --labelstudio, OUT/suspects_tasks.json (import into a Label Studio project made with `labelstudio config`).

Examples:

  fashiontag audit ../shared/data/fpi_small --out runs/audit

  fashiontag audit data/manifest.csv --reader manifest --source manifest --taxonomy data/taxonomy.yaml --out runs/audit --labelstudio backbone=smallcnn pretrained=false

  fashiontag audit ../shared/data/fpi_small --out runs/audit --folds 3 --no-near-duplicates max_items=5000
"""  # noqa: E501


def register(app: typer.Typer) -> None:
    @app.command("audit", help=AUDIT_HELP)
    def audit(
        data: str = typer.Argument(..., help="Dataset root (or manifest file)."),
        out: Path = typer.Option(..., "--out", "-o", help="Output folder (also holds the cache and fold models)."),
        folds: int = opt.FOLDS,
        seed: int = opt.FOLD_SEED,
        taxonomy: str | None = opt.TAXONOMY,
        reader: str | None = opt.READER,
        source: str | None = opt.SOURCE,
        backbone: str | None = typer.Option(None, help="Backbone of the fold models."),
        probe: bool = typer.Option(True, "--probe/--fine-tune", help="Frozen-backbone probe (fast) or fine-tune."),
        near_duplicates: bool = typer.Option(
            True,
            "--near-duplicates/--no-near-duplicates",
            help="Also group perceptual near-duplicates (byte copies always).",
        ),
        page_size: int = typer.Option(40, help="Suspects per head on the page and in the Label Studio tasks."),
        labelstudio: bool = typer.Option(False, "--labelstudio", help="Also write OUT/suspects_tasks.json."),
        root: str | None = typer.Option(
            None, help="Label Studio's LOCAL_FILES_DOCUMENT_ROOT for those tasks (default: the dataset folder)."
        ),
        threads: int = opt.THREADS,
        config: Path | None = opt.TRAIN_CONFIG,
        overrides: list[str] | None = opt.TRAIN_OVERRIDES,
    ) -> None:
        opt.begin_command(threads)
        from fashiontag.config import build_config
        from fashiontag.train import TrainConfig
        from fashiontag.workflows import AuditConfig
        from fashiontag.workflows import audit as run_audit

        cfg = build_config(
            TrainConfig,
            config,
            overrides or [],
            data=data,
            out=str(out),
            taxonomy=taxonomy,
            reader=reader,
            source=source,
            backbone=backbone,
            probe=probe,
        )
        settings = AuditConfig(
            folds=folds, seed=seed, near_duplicates=near_duplicates, page_size=page_size, tasks_root=root
        )
        try:
            result = run_audit(cfg, out, settings, echo=typer.echo, labelstudio=labelstudio)
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from None
        for head, counts in result.summary["heads"].items():
            typer.echo(f"{head}: {counts['flagged']} of {counts['labelled']} flagged")
        for kind, count in result.summary["duplicate_conflicts"].items():
            typer.echo(f"{kind} groups with conflicting labels: {count}")
        typer.echo("wrote " + ", ".join(str(p) for p in result.files.values()))
