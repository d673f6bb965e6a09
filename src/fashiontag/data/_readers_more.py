"""Readers for class folders, CSV/JSONL manifests, DeepFashion2 annotations and NumPy ``.npz`` arrays."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fashiontag.data.readers import IMAGE_SUFFIXES, Problem, ReadResult, empty_to_none, inside, register_reader
from fashiontag.data.sources import npz_item_path


@register_reader("folder")
def read_folder(root: Path) -> ReadResult:
    """One sub-folder per class (``root/<label>/*.jpg``); nested folders use the innermost name."""
    rows, problems = [], []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        if path.parent == root:
            continue  # labels.csv and friends beside the class folders
        if path.suffix.lower() not in IMAGE_SUFFIXES:
            problems.append(Problem(str(path), f"unsupported file type {path.suffix or '(none)'!r}"))
            continue
        rel = path.relative_to(root).as_posix()
        rows.append({"item_id": rel, "path": str(path), "year": None, "crop": None, "label": path.parent.name})
    return ReadResult(pd.DataFrame(rows, columns=["item_id", "path", "year", "crop", "label"]), problems)


def _manifest_file(root: Path) -> Path:
    if root.is_file():
        return root
    for name in ("manifest.csv", "manifest.jsonl", "labels.csv"):
        if (root / name).exists():
            return root / name
    raise FileNotFoundError(f"{root}: no manifest.csv, manifest.jsonl or labels.csv; pass the manifest file")


def _manifest_rows(file: Path) -> pd.DataFrame:
    if file.suffix.lower() in (".jsonl", ".ndjson"):
        records = [json.loads(line) for line in file.read_text(encoding="utf-8").splitlines() if line.strip()]
        return pd.DataFrame.from_records(records)
    return pd.read_csv(file, dtype=str, keep_default_na=False)


@register_reader("manifest")
def read_manifest(root: Path, path_column: str = "path", id_column: str | None = None) -> ReadResult:
    """A CSV/JSONL manifest; paths are relative to its folder and must stay inside it.

    Example:
        >>> read_dataset("manifest", "data/manifest.csv").items.columns[:5].tolist()  # doctest: +SKIP
        ['item_id', 'path', 'dup_group', 'year', 'crop']
    """
    file = _manifest_file(root)
    base = file.parent
    table = _manifest_rows(file)
    if path_column not in table.columns:
        raise ValueError(f"{file}: no {path_column!r} column (columns: {list(table.columns)})")
    id_column = id_column or next((c for c in ("item_id", "id") if c in table.columns), None)
    rows, problems = [], []
    for record in table.to_dict("records"):
        rel = str(record.get(path_column) or "")
        path = (base / rel).resolve() if rel else base
        item_id = str(record[id_column]) if id_column else rel
        if not rel:
            problems.append(Problem(str(file), "row without a path", item_id))
        elif not inside(base, base / rel):
            problems.append(Problem(rel, "path resolves outside the dataset root", item_id))
        elif not path.is_file():
            problems.append(Problem(str(path), "file not found", item_id))
        else:
            row = {k: empty_to_none(v) for k, v in record.items() if k not in (path_column, id_column)}
            row.update(item_id=item_id, path=str(path), crop=row.get("crop"))
            row.setdefault("year", None)
            rows.append(row)
    return ReadResult(pd.DataFrame(rows), problems)


@register_reader("deepfashion2")
def read_deepfashion2(root: Path, annos_dir: str = "annos", image_dir: str = "image") -> ReadResult:
    """DeepFashion2: ``annos/<id>.json`` with ``item1, item2, ...``; one item per garment, cropped to its box."""
    rows, problems = [], []
    for anno in sorted((root / annos_dir).glob("*.json")):
        image = root / image_dir / f"{anno.stem}.jpg"
        if not image.is_file():
            problems.append(Problem(str(image), "annotation without an image file", anno.stem))
            continue
        try:
            data = json.loads(anno.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            problems.append(Problem(str(anno), f"unreadable annotation: {exc}", anno.stem))
            continue
        for key in sorted((k for k in data if k.startswith("item")), key=lambda k: int(k[4:] or 0)):
            garment: dict[str, Any] = data[key]
            box = garment.get("bounding_box")
            item_id = f"{anno.stem}_{key}"
            if not (isinstance(box, list) and len(box) == 4 and box[2] > box[0] and box[3] > box[1]):
                problems.append(Problem(str(anno), f"{key}: invalid bounding_box {box!r}", item_id))
                continue
            rows.append({
                "item_id": item_id, "path": str(image), "year": None, "crop": [float(v) for v in box],
                "category_name": garment.get("category_name"), "category_id": garment.get("category_id"),
                "style": garment.get("style"), "source": data.get("source"),
            })  # fmt: skip
    columns = ["item_id", "path", "year", "crop", "category_name", "category_id", "style", "source"]
    return ReadResult(pd.DataFrame(rows, columns=columns), problems)


def _npz_files(root: Path) -> list[Path]:
    return [root] if root.is_file() else sorted(root.glob("*.npz"))


@register_reader("npz")
def read_npz(root: Path) -> ReadResult:
    """``.npz`` with ``images`` (N,H,W,3 uint8), ``labels`` and optional ``label_names``/``genders``.

    Items point at ``/abs/file.npz#row`` (see :mod:`fashiontag.data.sources`).
    """
    rows, problems = [], []
    for file in _npz_files(root):
        try:
            with np.load(file, allow_pickle=False) as data:
                shape = data["images"].shape
                labels = data["labels"] if "labels" in data else None
                names = [str(n) for n in data["label_names"]] if "label_names" in data else None
                genders = [str(g) for g in data["genders"]] if "genders" in data else None
        except (OSError, KeyError, ValueError) as exc:
            problems.append(Problem(str(file), f"unreadable npz: {exc}"))
            continue
        if len(shape) != 4 or shape[-1] != 3:
            problems.append(Problem(str(file), f"images has shape {shape}, expected (N,H,W,3)"))
            continue
        for i in range(shape[0]):
            raw = None if labels is None else labels[i]
            label = names[int(raw)] if names is not None and raw is not None else raw
            rows.append({
                "item_id": f"{file.stem}_{i}", "path": npz_item_path(file, i), "year": None, "crop": None,
                "label": None if label is None else str(label),
                "gender": genders[i] if genders is not None else None,
            })  # fmt: skip
    return ReadResult(pd.DataFrame(rows, columns=["item_id", "path", "year", "crop", "label", "gender"]), problems)
