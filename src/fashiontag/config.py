"""Typed configuration: dataclass defaults, then a YAML file, then ``key=value`` overrides.

One loader checks every key and type for all stages, so an unknown key fails with a hint
instead of being silently ignored.

A config may hold sections (fields that are dataclasses themselves, e.g. ``TrainConfig.optim``). A key of a
section is written nested (YAML ``optim: {lr: 2e-3}``), dotted (``optim.lr=2e-3``) or flat (``lr=2e-3``) when
exactly one section has it (a field of the config itself wins over a section's); a flat key that several
sections have fails and names the dotted spellings. A section whose class names a ``SHORTHAND`` field takes a
plain value for it (``data: photos/`` is ``data: {root: photos/}``). :func:`updated` changes keys of a built
config with the same grammar.

Example:
    >>> from dataclasses import dataclass
    >>> @dataclass(frozen=True)
    ... class Opt:
    ...     lr: float = 1e-3
    ...     epochs: int = 5
    >>> build_config(Opt, overrides=["lr=0.01"]).lr
    0.01
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar, cast

import yaml

from fashiontag.registry import unknown_name_message

T = TypeVar("T")


class ConfigError(ValueError):
    """A config key or value that does not fit the dataclass schema."""


def parse_overrides(overrides: Sequence[str]) -> dict[str, Any]:
    """Turn ``["train.lr=1e-3", "aug=light"]`` into a nested dict; values are parsed as YAML scalars."""
    nested: dict[str, Any] = {}
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"Override {item!r} is not of the form key=value")
        key, raw = item.split("=", 1)
        value = yaml.safe_load(raw) if raw != "" else ""
        node = nested
        parts = key.strip().split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return nested


def _merge(base: dict[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in update.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _merge(dict(out[key]), value)
        else:
            out[key] = value
    return out


def _coerce(value: Any, annotation: Any, where: str) -> Any:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if annotation is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, where)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0] if errors else f"{where}: cannot be None")
    if origin is typing.Literal:
        if value not in args:
            raise ConfigError(f"{where}: {value!r} is not one of {list(args)}")
        return value
    if dataclasses.is_dataclass(annotation):
        if isinstance(value, annotation):  # a section given as the object itself
            return value
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        return from_dict(annotation, value, prefix=f"{where}.")
    if origin in (tuple, list, Sequence) or annotation in (tuple, list):
        if not isinstance(value, (list, tuple)):
            value = [value]
        item_type = args[0] if args else Any
        items = [_coerce(v, item_type, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple or annotation is tuple else items
    if origin in (dict, Mapping) or annotation is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        value_type = args[1] if len(args) == 2 else Any
        return {str(k): _coerce(v, value_type, f"{where}.{k}") for k, v in value.items()}
    if annotation is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if annotation is float and isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    if annotation in (int, str, bool, float) and not (annotation is int and isinstance(value, bool)):
        if isinstance(value, annotation):
            return value
        if annotation is str and isinstance(value, (int, float)):
            return str(value)
    raise ConfigError(f"{where}: expected {getattr(annotation, '__name__', annotation)}, got {value!r}")


def _sections(cls: type) -> dict[str, type]:
    """The fields of ``cls`` that are config sections (dataclasses), by name."""
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls) if dataclasses.is_dataclass(hints[f.name])}


def valid_keys(cls: type, prefix: str = "") -> list[str]:
    """Every spelling ``cls`` accepts: its own fields, then each section's keys dotted and (unambiguous) flat."""
    own = [f"{prefix}{f.name}" for f in dataclasses.fields(cls)]
    dotted = [key for name, section in _sections(cls).items() for key in valid_keys(section, f"{prefix}{name}.")]
    flat = [k for k, owners in _flat_owners(cls).items() if len(owners) == 1]
    return own + dotted + [f"{prefix}{k}" for k in flat if f"{prefix}{k}" not in own]


def _flat_owners(cls: type) -> dict[str, list[str]]:
    """Each key of a section (at any depth) -> the dotted sections that have it."""
    owners: dict[str, list[str]] = {}
    for name, section in _sections(cls).items():
        for f in dataclasses.fields(section):
            owners.setdefault(f.name, []).append(name)
        for key, inner in _flat_owners(section).items():
            owners.setdefault(key, []).extend(f"{name}.{path}" for path in inner)
    return owners


def resolve_keys(cls: type, data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``data`` with every flat or dotted key of a section moved into its section (nested, as ``cls`` is).

    Raises ConfigError for an unknown key (with the closest valid ones), a flat key two sections have, or a key
    given twice (flat and nested) in the same mapping.
    """
    own = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    sections = _sections(cls)
    owners = _flat_owners(cls)
    out: dict[str, Any] = {}
    for key, value in data.items():
        path = str(key).split(".") if "." in str(key) else None
        if path is not None:  # dotted: optim.lr
            value = {".".join(path[1:]): value} if len(path) > 1 else value
            key = path[0]
        if key in own:
            if key in sections:
                shorthand = getattr(sections[key], "SHORTHAND", None)
                value = {} if value is None else value  # YAML "optim:" with nothing under it
                if shorthand and not isinstance(value, Mapping) and not dataclasses.is_dataclass(value):
                    value = {shorthand: value}
                if isinstance(value, Mapping):
                    value = resolve_keys(sections[key], value, f"{prefix}{key}.")
            _put(out, [key], value, f"{prefix}{key}")
            continue
        found = owners.get(key, [])
        if len(found) > 1:
            spelled = ", ".join(repr(f"{prefix}{where}.{key}") for where in found)
            raise ConfigError(f"Config key {prefix}{key!r} is in several sections; write one of {spelled}")
        if not found:
            valid = valid_keys(cls, prefix)
            listed = [k for k in valid if "." in k[len(prefix) :] or k[len(prefix) :] in own]
            raise ConfigError(unknown_name_message("config key", f"{prefix}{key}", valid, listed))
        _put(out, [*found[0].split("."), key], value, f"{prefix}{found[0]}.{key}")
    return out


def _put(out: dict[str, Any], path: list[str], value: Any, where: str) -> None:
    node = out
    for part in path[:-1]:
        node = node.setdefault(part, {})
    last = path[-1]
    if last in node and isinstance(node[last], Mapping) and isinstance(value, Mapping):
        clash = set(node[last]) & set(value)
        if clash:
            raise ConfigError(f"Config key {where}.{sorted(clash)[0]} is given twice (flat and in its section)")
        node[last] = {**node[last], **value}
    elif last in node:
        raise ConfigError(f"Config key {where} is given twice (flat and in its section)")
    else:
        node[last] = value


def from_dict(cls: type[T], data: Mapping[str, Any], prefix: str = "") -> T:
    """Build dataclass ``cls`` from ``data``, rejecting unknown keys and wrong types (sections: see above)."""
    hints = typing.get_type_hints(cls)
    resolved = resolve_keys(cls, data, prefix)
    return cls(**{key: _coerce(value, hints[key], f"{prefix}{key}") for key, value in resolved.items()})


def updated(config: T, **changes: Any) -> T:
    """A copy of ``config`` with ``changes`` applied, keys spelled as on the command line (flat when
    unambiguous: ``updated(cfg, lr=1e-3, epochs=2)``; a whole section: ``updated(cfg, optim=OptimConfig())``).
    Values are type-checked as the loader checks them."""
    cls = type(config)
    current = to_dict(config)
    sections = _sections(cls)
    for key, value in resolve_keys(cls, changes).items():
        if key in sections and dataclasses.is_dataclass(value):
            value = to_dict(value)
        current = _merge(current, {key: value}) if key in sections else {**current, key: value}
    return cast(T, from_dict(cls, current))


def to_dict(config: Any) -> dict[str, Any]:
    """A JSON-ready dict of a (nested) config dataclass."""
    return dataclasses.asdict(config)


def build_config(cls: type[T], yaml_path: str | Path | None = None, overrides: Sequence[str] = (), **values: Any) -> T:
    """Defaults, then ``yaml_path``, then keyword ``values``, then ``key=value`` ``overrides``."""
    data: dict[str, Any] = {}
    if yaml_path is not None:
        loaded = yaml.safe_load(Path(yaml_path).read_text(encoding="utf-8")) or {}
        if not isinstance(loaded, Mapping):
            raise ConfigError(f"{yaml_path}: top level must be a mapping")
        data = _merge(data, resolve_keys(cls, loaded))
    data = _merge(data, resolve_keys(cls, {k: v for k, v in values.items() if v is not None}))
    for override in overrides:  # one at a time: a later one wins, whichever way each key is spelled
        data = _merge(data, resolve_keys(cls, parse_overrides([override])))
    return from_dict(cls, data)
