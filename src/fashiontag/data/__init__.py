"""The data stage: readers, taxonomy, label mapping, splits and the decoded cache.

The public names load on first use (PEP 562), so ``import fashiontag.data.images`` from the service or the
ONNX path does not pull in pandas-heavy readers and the cache.

Example:
    >>> from fashiontag.data import load_taxonomy, map_items, read_dataset
    >>> items = map_items(read_dataset("fpi", "../shared/data/fpi_small").items, load_taxonomy("fpi"), "fpi")  # doctest: +SKIP
"""  # noqa: E501

from __future__ import annotations

from fashiontag._lazy import lazy_exports

_EXPORTS = {
    "read_dataset": "readers", "list_readers": "readers", "register_reader": "readers", "ReadResult": "readers",
    "map_items": "mapping", "MappingResult": "mapping",
    "load_taxonomy": "taxonomy", "list_taxonomies": "taxonomy", "parse_taxonomy": "taxonomy",
    "Taxonomy": "taxonomy", "TaxonomyError": "taxonomy",
    "make_split": "splits", "write_split": "splits", "load_split": "splits", "split_dataset": "splits",
    "Split": "splits",
    "prepare_cache": "cache", "open_cache": "cache", "DecodedCache": "cache",
    "load_image": "images", "letterbox": "images", "ImageError": "images",
    "load_item": "sources", "load_item_images": "sources",
    "image_suffixes": "formats", "unsupported_reason": "formats", "register_image_plugins": "formats",
    "label_index": "targets", "level_targets": "targets", "attribute_targets": "targets", "head_targets": "targets",
    "item_targets": "targets", "target_matrix": "targets", "name_targets": "targets",
    "DataConfig": "config",
    "make_synthetic_dataset": "synthetic",
}  # fmt: skip

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
