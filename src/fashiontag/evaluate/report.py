"""The static report page: one ``report.html`` that opens from disk (PNGs beside it, thumbnails inline).

Example:
    >>> write_report("runs/eval", metrics, figures={"reliability": "figures/reliability.png"})  # doctest: +SKIP
"""

from __future__ import annotations

import base64
import io
import math
from pathlib import Path
from typing import Any

import numpy as np

REPORT_NAME = "report.html"


def thumbnail_data_uri(image: np.ndarray, size: int = 128) -> str:
    """A small PNG of a uint8 HxWx3 image as a ``data:`` URI (the gallery needs no extra files)."""
    from PIL import Image

    picture = Image.fromarray(np.asarray(image, dtype=np.uint8))
    picture.thumbnail((size, size))
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _pct(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{100 * float(value):.1f}%"


def _file_uri(path: str) -> str:
    """A link to a gallery photo: ``file://`` for a local path (the report opens from disk), URLs as given."""
    text = str(path)
    return text if "://" in text else Path(text).resolve().as_uri()


def render_report(
    metrics: dict[str, Any],
    figures: dict[str, Any],
    gallery: list[dict[str, Any]],
    title: str = "fashiontag evaluation",
) -> str:
    """The HTML text (Jinja2 template ``templates/report.html.j2``, autoescaped)."""
    from jinja2 import Environment, PackageLoader, select_autoescape

    env = Environment(
        loader=PackageLoader("fashiontag.evaluate", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["fmt"] = _fmt
    env.filters["pct"] = _pct
    env.filters["short"] = lambda label: str(label).split(" > ")[-1]
    env.filters["basename"] = lambda path: Path(str(path)).name
    env.filters["fileuri"] = _file_uri
    return env.get_template("report.html.j2").render(title=title, m=metrics, fig=figures, gallery=gallery)


def write_report(
    out_dir: str | Path,
    metrics: dict[str, Any],
    figures: dict[str, Any] | None = None,
    gallery: list[dict[str, Any]] | None = None,
    title: str = "fashiontag evaluation",
) -> Path:
    """Write ``out_dir/report.html``; ``figures`` values are paths relative to ``out_dir``."""
    from fashiontag._io import atomic_open

    out = Path(out_dir) / REPORT_NAME
    out.parent.mkdir(parents=True, exist_ok=True)
    html = render_report(metrics, figures or {}, gallery or [], title)
    with atomic_open(out, "w", encoding="utf-8") as handle:
        handle.write(html)
    return out
