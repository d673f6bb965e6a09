"""Readers for class folders, DeepFashion2 annotations and NumPy ``.npz`` arrays (manifests: ``_readers_manifest``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fashiontag.data.formats import image_suffixes
from fashiontag.data.readers import Problem, ReadResult, register_reader
from fashiontag.data.sources import npz_item_path


@register_reader("folder")
def read_folder(root: Path) -> ReadResult:
    """One sub-folder per class: ``root/<class>/*.jpg`` or ``root/<group>/<class>/*.jpg``, optionally inside
    ``train/``, ``val/``, ``test/`` folders (ImageFolder / Ultralytics layout).

    Columns: ``label`` (innermost folder), ``parent`` (the folder above it, when there is one) and ``split``
    (from a split folder, else empty). Files beside the class folders (``labels.csv`` and friends) are skipped.
    """
    from fashiontag.data.folders import class_parts, split_folders  # noqa: PLC0415 - folders imports readers

    splits = split_folders(root)
    rows, problems = [], []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        split, parts = class_parts(root, path, splits)
        if not parts or any(part.startswith(".") for part in parts):
            if parts == () and path.parent != root and path.suffix.lower() in image_suffixes():
                problems.append(Problem(str(path), "image outside a class folder"))
            continue  # labels.csv beside the class folders, hidden folders
        if path.suffix.lower() not in image_suffixes():
            problems.append(Problem(str(path), f"unsupported file type {path.suffix or '(none)'!r}"))
            continue
        rows.append(
            {
                "item_id": path.relative_to(root).as_posix(),
                "path": str(path),
                "year": None,
                "crop": None,
                "label": parts[-1],
                "parent": parts[-2] if len(parts) > 1 else None,
                "split": split,
            }
        )
    return ReadResult(
        pd.DataFrame(rows, columns=["item_id", "path", "year", "crop", "label", "parent", "split"]), problems
    )


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
