"""Expanding ``predict`` inputs (files, folders, globs, path lists) into image paths, with every skip explained.

A folder scan used to drop HEIC photos, SVGs, broken symlinks and folders named ``*.jpg`` without a word,
so a folder of iPhone photos reported "0 labelled, 0 failed". Now each file a scan passes over is returned
with its reason. Files named explicitly (on the command line or in a list) are never skipped: they are
attempted, and a bad one becomes a failed row with the decoder's reason.
"""

from __future__ import annotations

import csv
import glob
import os
from dataclasses import dataclass, field
from pathlib import Path

from fashiontag.data import image_suffixes, unsupported_reason

LIST_EXTENSIONS = {".csv", ".txt"}


@dataclass
class InputScan:
    """``paths`` to label, in order, one per file; ``skipped`` are (path, reason) for files a scan passed over."""

    paths: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)


def resolved(path: str) -> str:
    """The key that identifies a file across runs: absolute, symlinks and ``..`` resolved."""
    return os.path.realpath(path)


def _from_list(path: Path) -> list[str]:
    try:
        if path.suffix.lower() == ".txt":
            lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
            entries = [line for line in lines if line and not line.startswith("#")]
        else:
            with open(path, newline="", encoding="utf-8") as handle:
                reader = csv.DictReader(handle)
                if "path" not in (reader.fieldnames or []):
                    raise ValueError(f"{path}: a path list CSV needs a 'path' column (has {reader.fieldnames})")
                entries = [row["path"] for row in reader if row["path"]]
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: a path list must be UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except csv.Error as exc:
        raise ValueError(f"{path}: not a readable CSV ({exc})") from None
    return [e if Path(e).is_absolute() else str(path.parent / e) for e in entries]


def _classify(path: Path, suffixes: frozenset[str]) -> str | None:
    """None when a scan should collect ``path``, else why it is skipped."""
    suffix = path.suffix.lower()
    if path.is_symlink() and not path.exists():
        return "broken symlink"
    if path.is_dir():
        return "a folder named like an image" if suffix in suffixes else None
    if not path.is_file():
        return "not a regular file"
    if suffix not in suffixes:
        return unsupported_reason(suffix)
    return None


def _walk(folder: Path, scan: InputScan, suffixes: frozenset[str]) -> list[str]:
    found: list[str] = []

    def unreadable(error: OSError) -> None:
        scan.skipped.append((str(error.filename), f"folder not readable ({error.strerror})"))

    for top, dirs, files in os.walk(folder, onerror=unreadable):
        dirs.sort()
        for name in sorted(files + [d for d in dirs if Path(d).suffix.lower() in suffixes]):
            path = Path(top) / name
            reason = _classify(path, suffixes)
            if reason is None and not path.is_dir():
                found.append(str(path))
            elif reason is not None:
                scan.skipped.append((str(path), reason))
    return sorted(found)  # full-path order, as a sorted recursive glob gives


def _glob(pattern: str, scan: InputScan, suffixes: frozenset[str]) -> list[str]:
    found = []
    for match in sorted(glob.glob(pattern, recursive=True)):
        reason = _classify(Path(match), suffixes)
        if reason is None and not Path(match).is_dir():
            found.append(match)
        elif reason is not None:
            scan.skipped.append((match, reason))
    return found


def scan_inputs(inputs: list[str]) -> InputScan:
    """Expand files, folders (recursive), globs and .csv/.txt path lists; keeps order and lists each file once
    (by its resolved path). A named path that does not exist is kept, so it is reported as a failure."""
    scan, suffixes = InputScan(), image_suffixes()
    out: list[str] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            out.extend(_walk(path, scan, suffixes))
        elif path.is_file() and path.suffix.lower() in LIST_EXTENSIONS:
            out.extend(_from_list(path))
        elif not path.exists() and glob.has_magic(item):
            out.extend(_glob(item, scan, suffixes))
        else:
            out.append(str(path))
    seen: set[str] = set()
    for entry in out:
        key = resolved(entry)
        if key not in seen:
            seen.add(key)
            scan.paths.append(entry)
    return scan


def collect_inputs(inputs: list[str]) -> list[str]:
    """The image paths of :func:`scan_inputs` (skipped files dropped)."""
    return scan_inputs(inputs).paths
