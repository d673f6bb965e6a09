"""Dataset readers: each turns one on-disk layout into the item table of docs/design.md.

Readers never raise on a bad row: they report it as a :class:`Problem` and go on, so one broken file
in 40k never stops a run. Every reader adds ``dup_group`` from file bytes, because copies on both sides
of a split inflate test scores.

Example:
    >>> result = read_dataset("fpi", "../shared/data/fpi_small")  # doctest: +SKIP
    >>> len(result.items), len(result.problems)  # doctest: +SKIP
    (37462, 374)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from fashiontag.data._dupes import assign_dup_groups
from fashiontag.registry import Registry

#: Columns every reader returns, before its own raw label columns.
BASE_COLUMNS = ["item_id", "path", "dup_group", "year", "crop"]
#: Files the folder readers collect: what this install decodes (HEIC with pillow-heif, AVIF with Pillow >= 11.3).


@dataclass(frozen=True)
class Problem:
    """One row or file a reader skipped, with a short user-facing reason."""

    path: str
    reason: str
    item_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ReadResult:
    """The item table plus everything that was skipped on the way."""

    items: pd.DataFrame
    problems: list[Problem] = field(default_factory=list)

    def problem_counts(self) -> dict[str, int]:
        """Skipped rows by reason, most frequent first."""
        counts = pd.Series([p.reason for p in self.problems], dtype=object).value_counts()
        return {str(k): int(v) for k, v in counts.items()}


READERS: Registry[ReadResult] = Registry("reader")


def register_reader(name: str) -> Callable[[Callable[..., ReadResult]], Callable[..., ReadResult]]:
    """Decorator: ``@register_reader("mine")`` on ``def read(root: Path, **kw) -> ReadResult``."""
    return READERS.register(name)


def list_readers() -> list[str]:
    """Names of the registered readers."""
    return READERS.names()


def read_dataset(name: str, root: str | Path, hash_files: bool = True, **kwargs: Any) -> ReadResult:
    """Read dataset ``root`` with reader ``name``; ``dup_group`` comes from file bytes when ``hash_files``.

    Args:
        name: a registered reader (``list_readers()``).
        root: dataset folder (or file, for ``manifest`` and ``npz``).
        hash_files: hash every file to find byte-identical copies; off only for quick looks.
        **kwargs: reader options, e.g. ``path_column`` for ``manifest``.

    Example:
        >>> read_dataset("folder", "../shared/data/clothing_photos/train").items.label.nunique()  # doctest: +SKIP
        10
    """
    result = READERS.get(name)(root=Path(root).expanduser().resolve(), **kwargs)
    items = result.items
    for column in BASE_COLUMNS:
        if column not in items.columns:
            items[column] = None
    items["year"] = pd.array(items["year"], dtype="Int64")
    items = items[BASE_COLUMNS + [c for c in items.columns if c not in BASE_COLUMNS]]
    extra_groups = _groups_file(Path(root))
    items = assign_dup_groups(items, hash_files=hash_files, extra_groups=extra_groups)
    return ReadResult(items.reset_index(drop=True), result.problems)


def _groups_file(root: Path) -> list[list[str]]:
    """Known duplicate groups, one group of ids per line, when the dataset ships such a file."""
    path = (root if root.is_dir() else root.parent) / "duplicate_image_groups.txt"
    if not path.exists():
        return []
    groups = []
    for line in path.read_text(encoding="utf-8").splitlines():
        ids = [t for t in line.replace(",", " ").split() if t and not t.startswith("#")]
        if len(ids) > 1:
            groups.append(ids)
    return groups


def empty_to_none(value: Any) -> Any:
    """Empty cells become None so mapping treats them as missing, never as a label ''."""
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return None
    if isinstance(value, str) and not value.strip():
        return None
    return value


def inside(root: Path, path: Path) -> bool:
    """Whether ``path`` resolves inside ``root`` (symlinks and ``..`` included)."""
    try:
        path.resolve().relative_to(root.resolve())
        return True
    except ValueError:
        return False


# Readers register themselves on import; keep these last to avoid a cycle.
from fashiontag.data import _readers_fpi, _readers_manifest, _readers_more  # noqa: E402,F401
