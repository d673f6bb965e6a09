"""A YAML loader that remembers line numbers, so taxonomy errors can point at the offending line."""

from __future__ import annotations

from typing import Any

import yaml


class LineDict(dict):
    """A dict whose ``lines`` maps each key to its 1-based line in the source file."""

    lines: dict[Any, int]


class LineList(list):
    """A list whose ``lines`` holds the 1-based line of each item."""

    lines: list[int]


class _LineLoader(yaml.SafeLoader):
    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> LineDict:  # type: ignore[override]
        out = LineDict(super().construct_mapping(node, deep=True))
        out.lines = {self.construct_object(k, deep=True): k.start_mark.line + 1 for k, _ in node.value}
        out.lines["__self__"] = node.start_mark.line + 1
        return out

    def construct_sequence(self, node: yaml.SequenceNode, deep: bool = False) -> LineList:  # type: ignore[override]
        out = LineList(super().construct_sequence(node, deep=True))
        out.lines = [item.start_mark.line + 1 for item in node.value]
        return out


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _LineLoader.construct_mapping)
_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _LineLoader.construct_sequence)


def load_yaml_with_lines(text: str) -> Any:
    """Parse YAML text; mappings and sequences carry a ``lines`` attribute."""
    return yaml.load(text, Loader=_LineLoader)  # noqa: S506 - SafeLoader subclass


def line_of(container: Any, key: Any) -> int | None:
    lines = getattr(container, "lines", None)
    if isinstance(lines, dict):
        return lines.get(key)
    if isinstance(lines, list) and isinstance(key, int) and 0 <= key < len(lines):
        return lines[key]
    return None
