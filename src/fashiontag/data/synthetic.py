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


def manifest_cli_args(manifest: str | Path, taxonomy: str | Path) -> list[str]:
    """The CLI options that read :func:`make_synthetic_dataset`'s output (``train``, ``tune``, ``adapt`` ...), so
    that every test spelling them out does not repeat the same eight words."""
    return ["--data", str(manifest), "--taxonomy", str(taxonomy), "--reader", "manifest", "--source", "manifest"]


def make_class_folders(
    root: str | Path, classes: dict[str, int], splits: dict[str, float] | None = None, size: int = 32, seed: int = 0
) -> Path:
    """A class-per-folder tree: ``root/[split/]<class>/NNN.png``, class names may hold ``/`` (``tops/tee``).

    Each class gets its own fill colour and shape size so a small CNN separates them; ``splits`` (e.g.
    ``{"train": 0.7, "val": 0.3}``) puts that share of each class's images under ``root/<split>/``.

    Example:
        >>> make_class_folders(tmp_path, {"tee": 8, "hat": 8}, {"train": 0.75, "val": 0.25})  # doctest: +SKIP
    """
    root = Path(root)
    rng = np.random.default_rng(seed)
    for k, (name, count) in enumerate(sorted(classes.items())):
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        shares = list((splits or {"": 1.0}).items())
        for i in range(count):
            share = np.cumsum([s for _, s in shares]) * count
            split = shares[int(np.searchsorted(share, i, side="right"))][0] if splits else ""
            folder = root / split / name if split else root / name
            folder.mkdir(parents=True, exist_ok=True)
            image = Image.fromarray(rng.integers(225, 256, size=(size, size, 3), dtype=np.uint8))
            half = size * (0.15 + 0.08 * (k % 4)) + rng.uniform(-1, 1)
            centre = size / 2 + rng.uniform(-2, 2)
            ImageDraw.Draw(image).rectangle((centre - half, centre - half, centre + half, centre + half), fill=colour)
            image.save(folder / f"{i:03d}.png")
    return root


FPI_HEADER = "id,gender,masterCategory,subCategory,articleType,baseColour,season,year,usage,productDisplayName"
_FPI_CLASSES = [  # (masterCategory, subCategory, articleType, gender, usage): shape and colour tell them apart
    ("Apparel", "Topwear", "Tshirts", "Men", "Casual"),
    ("Apparel", "Topwear", "Shirts", "Men", "Formal"),
    ("Apparel", "Bottomwear", "Jeans", "Women", "Casual"),
    ("Footwear", "Shoes", "Casual Shoes", "Men", "Casual"),
    ("Footwear", "Shoes", "Heels", "Women", "Party"),
]


def make_synthetic_fpi(root: str | Path, per_class: int = 12, seed: int = 0) -> Path:
    """A tiny dataset in the Kaggle Fashion Product Images layout (``styles.csv`` + ``images/<id>.jpg``, 60x80
    JPEGs) over five ``fpi`` articleTypes, so every command runs on it as on the real data (README tests).

    Example:
        >>> root = make_synthetic_fpi(tmp_path / "fpi_small", per_class=20)  # doctest: +SKIP
    """
    root = Path(root)
    (root / "images").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    lines = [FPI_HEADER]
    for k, (master, sub, article, gender, usage) in enumerate(_FPI_CLASSES):
        for i in range(per_class):
            item_id = 10000 + 1000 * k + i
            colour = "Red" if i % 2 == 0 else "Blue"
            image = Image.fromarray(rng.integers(230, 256, size=(80, 60, 3), dtype=np.uint8))
            draw = ImageDraw.Draw(image)
            half = 8 + 4 * k + rng.uniform(-1, 1)
            box = (30 - half, 40 - half, 30 + half, 40 + half)
            fill = tuple(int(c + rng.integers(-20, 20)) for c in _COLOURS[colour])
            (draw.rectangle if master == "Apparel" else draw.ellipse)(box, fill=fill)
            image.save(root / "images" / f"{item_id}.jpg", quality=92)
            season = "Summer" if i % 3 else "Fall"
            lines.append(
                f"{item_id},{gender},{master},{sub},{article},{colour},{season},{2011 + i % 2},{usage},"
                f"{colour} {article} {i}"
            )
    (root / "styles.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root
