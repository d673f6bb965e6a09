"""Class-per-folder datasets: layout detection, the taxonomy the folders imply, and the split they carry.

A shop's photos usually arrive as ``photos/<class>/*.jpg`` (or ``photos/<group>/<class>/*.jpg``), often inside
``train/``, ``val/``, ``test/`` folders (the torchvision ImageFolder / Ultralytics layout). Such a tree *is* a
dataset: the folder names are the label set, so no taxonomy file is needed, and the split folders decide
the split. ``reader=auto`` / ``taxonomy=auto`` (the defaults) pick the FPI layout when ``styles.csv`` exists,
else this one.

Example:
    >>> layout = scan_layout("photos")  # doctest: +SKIP
    >>> layout.depth, sorted(layout.splits)  # doctest: +SKIP
    (1, ['test', 'train', 'val'])
    >>> infer_folder_taxonomy("photos").levels  # doctest: +SKIP
    ['class']
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd

from fashiontag.data.config import DataConfig
from fashiontag.data.formats import image_suffixes
from fashiontag.data.taxonomy import Taxonomy, TaxonomyError, load_taxonomy, taxonomy_from_paths

#: Folder names that mean a split (lower-cased) -> the split they hold.
SPLIT_FOLDERS = {"train": "train", "val": "val", "valid": "val", "validation": "val", "test": "test"}
#: Level names of an inferred taxonomy, by folder depth.
FOLDER_LEVELS = {1: ["class"], 2: ["group", "class"]}
#: Mapping-rule key (``taxonomy.sources``) of an inferred taxonomy.
FOLDER_SOURCE = "folder"


@dataclass(frozen=True)
class FolderLayout:
    """What a class-folder tree holds: split folder names (``{}`` when none), class depth, classes."""

    root: Path
    splits: dict[str, str]
    depth: int
    classes: list[tuple[str, ...]]
    images: int


def split_folders(root: Path) -> dict[str, str]:
    """``{folder name: split}`` when every sub-folder of ``root`` is a split folder, else ``{}``."""
    subdirs = [p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")] if root.is_dir() else []
    if subdirs and all(name.lower() in SPLIT_FOLDERS for name in subdirs):
        return {name: SPLIT_FOLDERS[name.lower()] for name in sorted(subdirs)}
    return {}


def image_files(root: Path) -> list[Path]:
    """Image files under ``root`` (recursive, sorted, hidden folders skipped)."""
    return sorted(
        p for p in root.rglob("*")
        if p.is_file() and p.suffix.lower() in image_suffixes()
        and not any(part.startswith(".") for part in p.relative_to(root).parts)
    )  # fmt: skip


def class_parts(root: Path, path: Path, splits: dict[str, str]) -> tuple[str | None, tuple[str, ...]]:
    """``(split or None, class folder names)`` of an image: the folders between root (or its split folder) and it."""
    parts = path.relative_to(root).parts[:-1]
    if splits and parts and parts[0] in splits:
        return splits[parts[0]], tuple(parts[1:])
    return None, tuple(parts)


def scan_layout(root: str | Path) -> FolderLayout:
    """Look at a class-folder tree without decoding anything; raises when it is not one.

    Raises:
        FileNotFoundError: ``root`` does not exist.
        TaxonomyError: no images in class folders, or images at mixed or too many folder depths.
    """
    root = Path(root).expanduser().resolve()
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: not a folder (a class-folder dataset is photos/<class>/*.jpg)")
    splits = split_folders(root)
    classes = [class_parts(root, p, splits)[1] for p in image_files(root)]
    classes = [c for c in classes if c]  # images beside the class folders are not labelled
    if not classes:
        raise TaxonomyError(
            f"{root}: no images inside class folders; expected {root}/<class>/*.jpg "
            f"(or {root}/train/<class>/*.jpg), or pass --reader and --taxonomy for another layout"
        )
    depths = Counter(len(c) for c in classes)
    if len(depths) > 1:
        example = {d: "/".join(next(c for c in classes if len(c) == d)) for d in sorted(depths)}
        raise TaxonomyError(
            f"{root}: images sit at mixed folder depths {dict(sorted(depths.items()))} (e.g. {example}); put every "
            "image at <class>/ or every image at <group>/<class>/, or write a taxonomy file (--taxonomy)"
        )
    depth = next(iter(depths))
    if depth not in FOLDER_LEVELS:
        raise TaxonomyError(
            f"{root}: images are {depth} folders deep; an inferred taxonomy has one (<class>/) or two "
            "(<group>/<class>/) levels - write a taxonomy file with a `sources: folder:` rule (--taxonomy)"
        )
    return FolderLayout(root, splits, depth, sorted(set(classes)), len(classes))


def infer_folder_taxonomy(root: str | Path) -> Taxonomy:
    """The taxonomy a class-folder tree implies: levels ``class`` or ``group``/``class``, source ``folder``.

    Example:
        >>> infer_folder_taxonomy("photos").heads  # doctest: +SKIP
        ['group', 'class']
    """
    layout = scan_layout(root)
    columns = ["label"] if layout.depth == 1 else ["parent", "label"]
    name = layout.root.name if layout.root.name.lower() not in SPLIT_FOLDERS else layout.root.parent.name
    sources = {FOLDER_SOURCE: {"path_columns": columns}}
    return taxonomy_from_paths(name or "folders", FOLDER_LEVELS[layout.depth], layout.classes, sources)


def detect_reader(root: str | Path) -> str:
    """``reader=auto``: ``fpi`` with a ``styles.csv``, ``npz``/``manifest`` for such files, else ``folder``."""
    path = Path(root).expanduser()
    if path.suffix.lower() == ".npz":
        return "npz"
    if path.suffix.lower() in (".csv", ".jsonl", ".ndjson"):
        return "manifest"
    if (path / "styles.csv").exists():
        return "fpi"
    if (path / "manifest.csv").exists() or (path / "manifest.jsonl").exists():
        return "manifest"
    return "folder"


def resolve_data(config: DataConfig) -> tuple[DataConfig, Taxonomy]:
    """Turn ``reader``/``taxonomy`` ``auto`` into a concrete reader, taxonomy and mapping source.

    ``taxonomy=auto`` is ``fpi`` for the FPI layout and the inferred folder taxonomy for class folders; other
    readers need a taxonomy file with rules for them.
    """
    reader = detect_reader(config.root) if config.reader == "auto" else config.reader
    if config.taxonomy != "auto":
        return replace(config, reader=reader), load_taxonomy(config.taxonomy)
    if reader == "fpi":
        return replace(config, reader=reader, source=config.source or "fpi"), load_taxonomy("fpi")
    if reader == "folder":
        return replace(config, reader=reader, source=config.source or FOLDER_SOURCE), infer_folder_taxonomy(config.root)
    raise TaxonomyError(
        f"{config.root}: reader {reader!r} has no default taxonomy; pass --taxonomy FILE.yaml with a "
        f"`sources: {reader}:` rule (see docs/data.md)"
    )


def folder_splits(folder_split: pd.Series, hashed: pd.Series) -> pd.Series:
    """The split the folders give, completed from ``hashed`` (a train/val/test hash split) where they give none.

    Without a ``val`` folder, validation items are carved out of ``train`` by the hash; without ``val`` and
    ``test`` folders, test items too. Items outside split folders take the hash split.
    """
    given = folder_split.where(folder_split.notna(), None)
    present = set(given.dropna())
    out = given.where(given.notna(), hashed)
    carve = {"val"} if "test" in present else {"val", "test"}
    if "val" not in present:
        from_train = (out == "train") & hashed.isin(carve)
        out = out.where(~from_train, hashed)
    return out


def infers_taxonomy(reader: str, taxonomy: str, root: str | Path) -> bool:
    """Whether these settings infer the taxonomy from class folders (``taxonomy=auto`` on a folder layout)."""
    return taxonomy == "auto" and (detect_reader(root) if reader == "auto" else reader) == "folder"


def resolve_taxonomy(taxonomy: str, reader: str, root: str | Path, source: str = "") -> Taxonomy:
    """The taxonomy a run over ``root`` uses: by name/path, or the ``auto`` one (see :func:`resolve_data`)."""
    return resolve_data(DataConfig(reader=reader, root=str(root), taxonomy=taxonomy, source=source))[1]
