"""Reader + taxonomy mapping in one call: the labelled item table every data command starts from.

Example:
    >>> cfg = DataConfig(root="../shared/data/fpi_small")  # doctest: +SKIP
    >>> read, mapping = load_mapped(cfg)  # doctest: +SKIP
    >>> mapping.mapped.columns[:6].tolist()  # doctest: +SKIP
    ['item_id', 'path', 'dup_group', 'year', 'crop', 'gender']
"""

from __future__ import annotations

from fashiontag.data.config import DataConfig
from fashiontag.data.folders import resolve_data
from fashiontag.data.mapping import MappingResult, map_items
from fashiontag.data.readers import ReadResult, read_dataset
from fashiontag.data.taxonomy import Taxonomy


def load_mapped(
    config: DataConfig, limit: int | None = None, hash_files: bool = True
) -> tuple[ReadResult, MappingResult, Taxonomy]:
    """Read ``config.root`` and map it onto ``config.taxonomy``; ``limit`` keeps the first rows (quick looks, tests)."""
    if not config.root:
        raise ValueError("DataConfig.root is empty: pass the dataset path")
    config, taxonomy = resolve_data(config)  # reader/taxonomy "auto": FPI layout, else class folders
    read = read_dataset(config.reader, config.root, hash_files=hash_files)
    if limit is not None:
        read = ReadResult(read.items.head(limit).reset_index(drop=True), read.problems)
    return read, map_items(read.items, taxonomy, config.mapping_source), taxonomy
