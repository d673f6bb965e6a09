"""Decoding inputs (paths, bytes, PIL images, numpy arrays) into letterboxed uint8 arrays, never raising."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from fashiontag.artifact import Preprocess
from fashiontag.data.images import ImageError, ImageSource, load_letterboxed


def source_name(source: Any, index: int) -> str:
    """The ``source`` field of a result: the path for files, ``<kind #i>`` otherwise."""
    if isinstance(source, (str, Path)):
        return str(source)
    return f"<{type(source).__name__} #{index}>"


def prepare(source: ImageSource, preprocess: Preprocess) -> np.ndarray | str:
    """Letterboxed uint8 [S,S,3], or the reason the input is unusable.

    Decoded at reduced scale (``load_letterboxed``): a 64 MP photo costs its decoded frame, not several
    full-size copies, and JPEGs decode at 1/2-1/8 scale.
    """
    try:
        return load_letterboxed(source, preprocess.size, preprocess.fill)
    except ImageError as exc:
        return exc.reason
    except Exception as exc:  # a decoder bug on one hostile file must not stop a batch
        return f"cannot decode image: {type(exc).__name__}: {exc}"


def prepare_many(sources: list[Any], preprocess: Preprocess, workers: int = 1) -> list[np.ndarray | str]:
    """Decode a chunk of inputs; PIL releases the GIL while decoding, so threads help on files."""
    if workers <= 1 or len(sources) < 2:
        return [prepare(s, preprocess) for s in sources]
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(lambda s: prepare(s, preprocess), sources))
