"""YAML with line numbers (ruamel.yaml's round-trip loader keeps them), so taxonomy errors can point at a line.

ruamel.yaml reads YAML 1.2: ``yes``/``no``/``on``/``off`` are strings (PyYAML's 1.1 made them booleans), and a
key given twice in one mapping is an error rather than silently keeping the last value.
"""

from __future__ import annotations

from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError


class YAMLSyntaxError(ValueError):
    """The text is not valid YAML; ``line`` (1-based, or None) and ``message`` say where and why."""

    def __init__(self, line: int | None, message: str) -> None:
        super().__init__(f"line {line}: {message}" if line else message)
        self.line = line
        self.message = message


def load_yaml_with_lines(text: str) -> Any:
    """Parse YAML text; mappings and sequences keep their source positions for :func:`line_of`."""
    try:
        return YAML(typ="rt", pure=True).load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        message = " ".join(str(part) for part in (exc.context, exc.problem) if part) or "invalid YAML"
        raise YAMLSyntaxError(line, message) from None
    except YAMLError as exc:
        raise YAMLSyntaxError(None, f"invalid YAML: {exc}") from None


def line_of(container: Any, key: Any) -> int | None:
    """1-based line of ``key`` (a mapping key or list index) in ``container``; None when unknown."""
    lc = getattr(container, "lc", None)
    if lc is None:
        return None
    try:
        line = lc.key(key)[0] if isinstance(container, dict) else lc.item(key)[0]
    except (KeyError, IndexError, TypeError):
        return None
    return line + 1
