"""A tiny generated dataset with a 2-group taxonomy, for tests and smoke runs (Lightning's BoringModel idea).

Groups differ by shape (tops are squares, shoes are discs), types by the shape's size, and the
``colour`` attribute by fill colour, so even a small CNN can learn it in a few steps.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

TAXONOMY_YAML = """\
name: tiny
version: '1'
levels: [group, type]
tree:
  Tops: [Tshirts, Shirts]
  Shoes: [Heels, Flats]
attributes:
  colour: [Red, Blue]
sources:
  manifest:
    path_columns: [group, type]
    attributes: {colour: colour}
"""

_COLOURS = {"Red": (200, 30, 30), "Blue": (30, 40, 200)}


def _draw(group: str, kind: str, colour: str, size: int, rng: np.random.Generator) -> Image.Image:
    noise = rng.integers(235, 256, size=(size, size, 3), dtype=np.uint8)
    image = Image.fromarray(noise)
    draw = ImageDraw.Draw(image)
    big = kind in ("Tshirts", "Heels")
    half = size * (0.38 if big else 0.2) + rng.uniform(-1, 1)
    cx, cy = size / 2 + rng.uniform(-2, 2), size / 2 + rng.uniform(-2, 2)
    box = (cx - half, cy - half, cx + half, cy + half)
    fill = tuple(int(c + rng.integers(-20, 20)) for c in _COLOURS[colour])
    (draw.rectangle if group == "Tops" else draw.ellipse)(box, fill=fill)
    return image


def make_synthetic_dataset(root: str | Path, per_leaf: int = 12, size: int = 32, seed: int = 0) -> tuple[Path, Path]:
    """Write images, ``manifest.csv`` and ``taxonomy.yaml`` under ``root``; returns (manifest, taxonomy).

    Example:
        >>> manifest, taxonomy = make_synthetic_dataset(tmp_path)  # doctest: +SKIP
    """
    root = Path(root)
    (root / "images").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    rows = []
    for group, kinds in (("Tops", ("Tshirts", "Shirts")), ("Shoes", ("Heels", "Flats"))):
        for kind in kinds:
            for i in range(per_leaf):
                colour = "Red" if i % 2 == 0 else "Blue"
                name = f"images/{kind.lower()}_{i:03d}.png"
                _draw(group, kind, colour, size, rng).save(root / name)
                rows.append({"path": name, "group": group, "type": kind, "colour": colour})
    manifest = root / "manifest.csv"
    with open(manifest, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=["path", "group", "type", "colour"])
        writer.writeheader()
        writer.writerows(rows)
    taxonomy = root / "taxonomy.yaml"
    taxonomy.write_text(TAXONOMY_YAML, encoding="utf-8")
    return manifest, taxonomy
