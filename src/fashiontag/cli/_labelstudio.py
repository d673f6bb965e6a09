"""``fashiontag labelstudio config|export|import``: the files of a Label Studio review round (docs/review.md)."""

from __future__ import annotations

from pathlib import Path

import typer

from fashiontag.cli._options import THREADS, begin_command

HELP = """Label Studio review round: a labelling config for a taxonomy, predictions as pre-labelled tasks, reviewed annotations back as a training manifest (docs/review.md)."""  # noqa: E501

HELP_EXAMPLES = """Examples:

  fashiontag labelstudio config fpi --out config.xml

  fashiontag labelstudio export preds.csv --taxonomy fpi --root photos --out tasks.json

  fashiontag labelstudio export runs/best photos/ --out tasks.json        # predicts first (MODEL INPUTS...)

  fashiontag labelstudio import export.json --taxonomy fpi --out photos/reviewed.csv
"""

EXPORT_HELP = """Write tasks with the model's predictions as pre-annotations.

Give a `fashiontag predict` output (.csv/.jsonl, with --taxonomy) or a model directory and inputs (MODEL INPUTS...). Each prediction's score is its least sure head's confidence; needs-review tasks come first. Images are referenced as Label Studio local files under --root (start Label Studio with LOCAL_FILES_SERVING_ENABLED=true and LOCAL_FILES_DOCUMENT_ROOT=<root>, and add a local-files storage for the photo folder; docs/review.md), or as --url-prefix + relative path."""  # noqa: E501


def _taxonomy(name: str):  # noqa: ANN202
    from fashiontag.data.taxonomy import load_taxonomy

    return load_taxonomy(name)


def _export(
    sources: list[str],
    out: Path,
    taxonomy: str | None,
    root: Path | None,
    url_prefix: str | None,
    backend: str,
    batch_size: int,
) -> None:
    from fashiontag._io import write_json
    from fashiontag.artifact import SIDECAR_NAME
    from fashiontag.labelstudio import predict_results, read_prediction_file, tasks_from_predictions

    first = Path(sources[0])
    if (first / SIDECAR_NAME).is_file():
        if len(sources) < 2:
            raise typer.BadParameter("MODEL needs at least one input (file, folder, glob or list)")
        results, tax = predict_results(first, sources[1:], backend=backend, batch_size=batch_size)
        version = f"fashiontag:{first.resolve().name}"
    else:
        if len(sources) != 1:
            raise typer.BadParameter(f"{first} is not a model directory; give one predictions file or MODEL INPUTS...")
        if taxonomy is None:
            raise typer.BadParameter("a predictions file needs --taxonomy (the model's taxonomy)")
        if out.resolve() == first.resolve():
            raise typer.BadParameter("--out is the predictions file itself; choose another name")
        tax = _taxonomy(taxonomy)
        try:
            results = read_prediction_file(first, tax)
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from None
        version = "fashiontag"
    try:
        tasks, skipped = tasks_from_predictions(results, tax, root=root, url_prefix=url_prefix, model_version=version)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--root") from None
    write_json(out, tasks)
    typer.echo(
        f"wrote {out}: {len(tasks)} tasks, needs-review first (import it into a project made with "
        "`fashiontag labelstudio config`)"
    )
    for source, reason in skipped:
        typer.echo(f"  skipped {source}: {reason}")


def register(app: typer.Typer) -> None:
    group = typer.Typer(help=HELP + "\n\n" + HELP_EXAMPLES, no_args_is_help=True)
    app.add_typer(group, name="labelstudio")

    @group.command("config", help="Write the labelling config XML (Taxonomy tag + Choices per attribute).")
    def config(
        taxonomy: str = typer.Argument(..., help="Built-in taxonomy name or YAML path."),
        out: Path = typer.Option(None, "--out", "-o", help="XML file to write (default: print it)."),
        threads: int = THREADS,
    ) -> None:
        begin_command(threads)
        from fashiontag._io import atomic_open
        from fashiontag.labelstudio import labelling_config

        xml = labelling_config(_taxonomy(taxonomy))
        if out is None:
            typer.echo(xml, nl=False)
            return
        with atomic_open(out, "w", encoding="utf-8") as handle:
            handle.write(xml)
        typer.echo(f"wrote {out}")

    @group.command("export", help=EXPORT_HELP)
    def export(
        sources: list[str] = typer.Argument(..., help="PREDS.csv|.jsonl, or MODEL INPUTS..."),
        out: Path = typer.Option(..., "--out", "-o", help="Tasks JSON to write (import it in Label Studio)."),
        taxonomy: str = typer.Option(None, help="Taxonomy of a predictions file (name or YAML)."),
        root: Path = typer.Option(None, help="Label Studio's LOCAL_FILES_DOCUMENT_ROOT (default: each file's folder)."),
        url_prefix: str = typer.Option(None, help="Serve images as URL_PREFIX/<path under --root> instead."),
        backend: str = typer.Option("auto", help="Model backend when predicting: auto, onnx, torch."),
        batch_size: int = typer.Option(64, help="Images per forward pass when predicting."),
        threads: int = THREADS,
    ) -> None:
        begin_command(threads)
        _export(sources, out, taxonomy, root, url_prefix, backend, batch_size)

    @group.command("import", help="Turn a Label Studio JSON export into a manifest CSV for `train --reader manifest`.")
    def import_(
        export_file: Path = typer.Argument(..., help="Label Studio export, format JSON."),
        taxonomy: str = typer.Option(..., help="The project's taxonomy (name or YAML)."),
        out: Path = typer.Option(..., "--out", "-o", help="Manifest CSV; put it in a folder holding the images."),
        source: str = typer.Option(None, help="Taxonomy source to name columns after (default: manifest, ...)."),
        root: Path = typer.Option(None, help="LOCAL_FILES_DOCUMENT_ROOT, for tasks without data.path."),
        threads: int = THREADS,
    ) -> None:
        begin_command(threads)
        from fashiontag.labelstudio import ExportFormatError, import_export
        from fashiontag.labelstudio.importer import source_snippet

        tax = _taxonomy(taxonomy)
        try:
            summary = import_export(export_file, tax, out, source=source, root=root)
        except (ExportFormatError, ValueError) as exc:
            raise typer.BadParameter(str(exc)) from None
        typer.echo(f"wrote {summary.out}: {summary.written} reviewed items")
        for reason, count in summary.skipped_by_reason.items():
            typer.echo(f"  not imported: {count} task(s) {reason}")
        if summary.source is None:
            typer.echo(
                f"taxonomy {tax.name!r} has no path_columns source; add this to it to train on the manifest:\n"
                + source_snippet(tax)
            )
        else:
            typer.echo(
                f"train on it: fashiontag train --data {out} --reader manifest --source {summary.source} "
                f"--taxonomy {taxonomy} --init-from MODEL --out runs/reviewed"
            )
