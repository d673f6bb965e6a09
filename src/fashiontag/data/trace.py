"""``fashiontag data summary``: one item traced through every data step, to debug a pipeline by eye."""

from __future__ import annotations

from fashiontag.data.config import DataConfig
from fashiontag.data.images import ImageError, letterbox
from fashiontag.data.mapped import load_mapped
from fashiontag.data.sources import load_item
from fashiontag.data.splits import make_split


def trace_item(config: DataConfig, index: int = 0) -> str:
    """A text trace of item ``index``: raw row, mapped labels, split side, decoded and letterboxed shapes."""
    read, mapping, taxonomy = load_mapped(config)
    lines = [f"reader {config.reader!r} on {config.root}: {len(read.items)} items, {len(read.problems)} skipped"]
    row = mapping.items.iloc[index]
    raw = read.items.iloc[index].to_dict()
    lines.append(f"1. raw item: {raw}")
    labels = {h: row.get(h) for h in ["leaf", "accept", *taxonomy.heads]}
    lines.append(f"2. mapped with {taxonomy.name!r}/{config.mapping_source!r}: {labels}")
    split = make_split(mapping.mapped, config.split_method, config.seed)
    side = split.loc[split.item_id == row["item_id"], "split"].tolist()
    lines.append(f"3. split {config.split_method!r} seed {config.seed}: {side[0] if side else 'not split (unmapped)'}")
    try:
        image = load_item(row["path"], row["crop"])
        array = letterbox(image, config.size, config.fill)
        lines.append(f"4. decoded {image.size[0]}x{image.size[1]} RGB -> letterbox {array.shape} {array.dtype}")
    except ImageError as exc:
        lines.append(f"4. decode failed: {exc.reason}")
    return "\n".join(lines)
