"""Can this data train a model? Empty mappings and too-small classes, with messages that name the fix.

A run on data that mapped to nothing used to decode zero images, save a model trained on nothing and exit
0. Training, ``data prepare`` and ``data inspect`` now share these checks: training and prepare stop with a
:class:`DataError`, inspect lists the same messages.

Example:
    >>> problems = class_count_problems(mapped, taxonomy, min_count=5)  # doctest: +SKIP
    >>> problems[0]["message"]  # doctest: +SKIP
    "class 'hat' has 2 images (min_class_count=5): add photos to its folder, remove it, or set min_class_count=2"
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from fashiontag.data.taxonomy import Taxonomy


class DataError(ValueError):
    """The data cannot train or score a model as configured; the message says what to change."""


def empty_mapping_message(
    root: str, reader: str, taxonomy: Taxonomy, source: str, unmapped: dict[str, int], read: int
) -> str:
    """Why nothing mapped, and what to try: the reader, the taxonomy/source rules, or an inferred taxonomy."""
    if read == 0:
        return (
            f"{root}: reader {reader!r} found no items; check --data and --reader (auto: FPI when styles.csv "
            "exists, else class folders <class>/*.jpg); `fashiontag data inspect DATA` shows what was skipped"
        )
    reasons = ", ".join(f"{k}: {v}" for k, v in list(unmapped.items())[:3]) or "no reasons recorded"
    hint = (
        f"drop --taxonomy to infer one from the class folders, or add a `sources: {source}:` rule to it"
        if reader == "folder"
        else f"check --source (the taxonomy's `sources: {source}:` rules) and --reader"
    )
    return (
        f"{root}: none of the {read} items mapped onto taxonomy {taxonomy.name!r} with source {source!r} "
        f"({reasons}); {hint}; `fashiontag data inspect DATA` lists every unmapped reason"
    )


def class_count_problems(
    items: pd.DataFrame, taxonomy: Taxonomy, min_count: int, folders: bool = True
) -> list[dict[str, Any]]:
    """Leaf classes with images but fewer than ``min_count`` of them, smallest first, each with its fix
    (``folders``: the classes are folders the user made, else nodes of a given taxonomy)."""
    if min_count <= 0 or "leaf" not in items or items.empty:
        return []
    counts = items["leaf"].dropna().value_counts()
    out = []
    for leaf, count in sorted(((str(k), int(v)) for k, v in counts.items() if v < min_count), key=lambda x: x[1]):
        name = taxonomy.nodes[leaf].name if leaf in taxonomy.nodes else leaf
        fix = (
            f"add photos to its folder ({name}/), remove the folder, or set min_class_count={count}"
            if folders
            else "add labelled images of it, or merge it into its parent in the taxonomy"
        )
        out.append(
            {
                "leaf": leaf,
                "count": count,
                "message": (
                    f"class {leaf!r} has {count} image{'s' if count != 1 else ''} (min_class_count={min_count}): {fix}"
                ),
            }
        )
    return out


def check_trainable(
    items: pd.DataFrame, taxonomy: Taxonomy, min_count: int, strict: bool, where: str = "data"
) -> list[str]:
    """Raise :class:`DataError` when ``items`` (leaf + split columns) cannot train; returns warnings.

    Empty data, or no ``train`` rows, always stop the run. Classes below ``min_count`` stop it when ``strict``
    (a taxonomy inferred from folders: each class is a folder the user made); otherwise they are warnings,
    since a given taxonomy (FPI) has a long tail of one-image classes by design.
    """
    if items.empty:
        raise DataError(
            f"{where}: no image has a label of taxonomy {taxonomy.name!r} to train on; drop --taxonomy to infer one "
            "from class folders, or check the taxonomy's `sources:` rules for this data (accept rules only score); "
            "`fashiontag data inspect DATA` lists the unmapped reasons"
        )
    if "split" in items and not (items["split"] == "train").any():
        raise DataError(f"{where}: no image landed in the train split; add images or check the split file/folders")
    messages = [p["message"] for p in class_count_problems(items, taxonomy, min_count, folders=strict)]
    if messages and strict:
        raise DataError(
            f"{where}: " + "; ".join(messages[:5]) + (f"; and {len(messages) - 5} more" if len(messages) > 5 else "")
        )
    return messages
