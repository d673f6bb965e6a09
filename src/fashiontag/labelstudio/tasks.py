"""Model predictions as Label Studio tasks with pre-annotations (what a reviewer sees pre-filled).

A prediction's ``score`` is the confidence of its least sure head, so Label Studio's "prediction score"
ordering and our ``needs_review`` agree; the exported file lists needs-review tasks first, least sure first.
Each task keeps the original file path in ``data.path`` so ``import`` maps answers back to the file no matter
how Label Studio was told to serve the image.

Example:
    >>> rows = read_prediction_file("preds.csv")  # doctest: +SKIP
    >>> tasks, skipped = tasks_from_predictions(rows, taxonomy, root="photos")  # doctest: +SKIP
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fashiontag.data.taxonomy import PATH_SEP, Taxonomy
from fashiontag.labelstudio.config import ConfigNames, default_names

LOCAL_FILES_PREFIX = "/data/local-files/?d="


def taxonomy_path(labels: dict[str, Any], taxonomy: Taxonomy) -> list[str]:
    """Node names top-down from a result's level labels, stopped where the tree ends (ragged) or breaks."""
    names: list[str] = []
    for level in taxonomy.levels:
        entry = labels.get(level) or {}
        name = entry.get("label") if isinstance(entry, dict) else None
        if not name:
            break
        node_id = PATH_SEP.join([*names, str(name)])
        if node_id not in taxonomy.nodes:
            break
        names.append(str(name))
    return names


def prediction_from_result(
    result: dict[str, Any], taxonomy: Taxonomy, names: ConfigNames | None = None, model_version: str = "fashiontag"
) -> dict[str, Any]:
    """One Labeller result (docs/design.md) as a Label Studio prediction ``{model_version, score, result}``.

    Example:
        >>> prediction_from_result({"labels": {}}, tax)["result"]  # doctest: +SKIP
        []
    """
    names = names or default_names(taxonomy)
    labels = result.get("labels") or {}
    items: list[dict[str, Any]] = []
    path = taxonomy_path(labels, taxonomy)
    if path:
        deepest = labels[taxonomy.levels[len(path) - 1]]
        items.append(
            {
                "from_name": names.taxonomy,
                "to_name": names.image,
                "type": "taxonomy",
                "value": {"taxonomy": [path]},
                "score": float(deepest["confidence"]),
            }
        )
    for attribute, control in names.choices.items():
        entry = labels.get(attribute)
        if entry and entry.get("label"):
            items.append(
                {
                    "from_name": control,
                    "to_name": names.image,
                    "type": "choices",
                    "value": {"choices": [str(entry["label"])]},
                    "score": float(entry["confidence"]),
                }
            )
    confidences = [float(e["confidence"]) for e in labels.values() if isinstance(e, dict) and "confidence" in e]
    return {"model_version": model_version, "score": min(confidences) if confidences else 0.0, "result": items}


def image_url(path: str, root: str | Path | None = None, url_prefix: str | None = None) -> str:
    """How Label Studio fetches the image: ``url_prefix`` + relative path, else its local-files URL under ``root``.

    Example:
        >>> image_url("/srv/photos/a b.jpg", root="/srv")
        '/data/local-files/?d=photos/a%20b.jpg'
    """
    if str(path).startswith(("http://", "https://")):
        return str(path)
    absolute = Path(path).resolve()
    base = Path(root).resolve() if root else absolute.parent
    try:
        rel = absolute.relative_to(base).as_posix()
    except ValueError:
        raise ValueError(
            f"{path} is not under --root {base}; Label Studio can only serve files below its LOCAL_FILES_DOCUMENT_ROOT"
        ) from None
    if url_prefix:
        return url_prefix.rstrip("/") + "/" + quote(rel)
    return LOCAL_FILES_PREFIX + quote(rel)


def _csv_result(row: dict[str, str], heads: list[str]) -> dict[str, Any]:
    labels = {}
    for head in heads:
        if row.get(head):
            confidence = row.get(f"{head}_confidence") or "0"
            labels[head] = {"label": row[head], "confidence": float(confidence)}
    return {
        "source": row.get("path") or row.get("source"),
        "labels": labels,
        "needs_review": str(row.get("needs_review", "true")).lower() != "false",
        "error": row.get("error") or None,
    }


def read_prediction_file(path: str | Path, taxonomy: Taxonomy) -> list[dict[str, Any]]:
    """Results from a ``fashiontag predict`` output (.csv or .jsonl), in the Labeller result shape.

    Raises:
        ValueError: the file is neither, or a CSV without a ``path`` column.
    """
    path = Path(path)
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        lines = path.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines if line.strip()]
    if path.suffix.lower() != ".csv":
        raise ValueError(f"{path}: expected a .csv or .jsonl file written by `fashiontag predict`")
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        if "path" not in (reader.fieldnames or []):
            raise ValueError(f"{path}: no 'path' column; is it a `fashiontag predict` output?")
        return [_csv_result(row, taxonomy.heads) for row in reader]


def tasks_from_predictions(
    results: list[dict[str, Any]],
    taxonomy: Taxonomy,
    root: str | Path | None = None,
    url_prefix: str | None = None,
    model_version: str = "fashiontag",
) -> tuple[list[dict[str, Any]], list[tuple[str, str]]]:
    """Tasks ``{data: {image, path}, predictions: [...]}``, needs-review first then least sure first.

    Returns:
        (tasks, skipped) where skipped lists ``(source, reason)`` for results with an error (unreadable image).
    """
    names = default_names(taxonomy)
    keyed, skipped = [], []
    for result in results:
        source = str(result.get("source") or result.get("path") or "")
        if result.get("error") or not source:
            skipped.append((source, str(result.get("error") or "no source path")))
            continue
        prediction = prediction_from_result(result, taxonomy, names, model_version)
        data = {names.image_key: image_url(source, root, url_prefix), "path": os.path.abspath(source)}
        task = {"data": data, "predictions": [prediction]}
        keyed.append(((not result.get("needs_review", True), prediction["score"]), task))
    keyed.sort(key=lambda pair: pair[0])
    return [task for _, task in keyed], skipped


def predict_results(
    model: str | Path, inputs: list[str], backend: str = "auto", batch_size: int = 64, progress: bool = True
) -> tuple[list[dict[str, Any]], Taxonomy]:
    """Label ``inputs`` (files, folders, globs, lists) with the model at ``model`` through ``fashiontag.load``.

    Returns:
        (results, the model's taxonomy).
    """
    from tqdm import tqdm

    from fashiontag.infer import collect_inputs, load

    labeller = load(model, backend=backend)
    paths = collect_inputs(inputs)
    if not paths:
        raise ValueError(f"no images found in {inputs}")
    results: list[dict[str, Any]] = []
    with tqdm(total=len(paths), unit="img", disable=not progress, desc="predict") as bar:
        for start in range(0, len(paths), batch_size):
            results += labeller.predict(paths[start : start + batch_size], top_k=1, batch_size=batch_size)
            bar.update(min(batch_size, len(paths) - start))
    return results, labeller.taxonomy
