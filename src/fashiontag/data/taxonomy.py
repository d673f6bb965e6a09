"""Hierarchical taxonomies: a tree of any depth (group > type > ...) plus flat attributes.

A shop defines its own taxonomy in YAML; built-ins cover the seed projects. Node ids are full
paths joined by ``" > "`` so the same name ("Boots") may sit under two parents ("male", "female").

Example:
    >>> tax = load_taxonomy("slowfashion")
    >>> tax.levels
    ['group', 'type']
    >>> tax.ancestors("Shoes > Heels")
    ['Shoes', 'Shoes > Heels']
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from fashiontag.data._yaml_lines import YAMLSyntaxError, line_of, load_yaml_with_lines
from fashiontag.registry import unknown_name_message

PATH_SEP = " > "


class TaxonomyError(ValueError):
    """An invalid taxonomy definition; the message names the file and line."""


@dataclass(frozen=True)
class Node:
    id: str
    name: str
    parent: str | None
    depth: int


@dataclass
class Taxonomy:
    """A validated tree plus attributes and the mapping rules that feed it from source datasets."""

    name: str
    levels: list[str]
    nodes: dict[str, Node]
    attributes: dict[str, list[str]] = field(default_factory=dict)
    sources: dict[str, Any] = field(default_factory=dict)
    version: str = "1"

    def __post_init__(self) -> None:
        self._children: dict[str | None, list[str]] = {}
        for node in self.nodes.values():
            self._children.setdefault(node.parent, []).append(node.id)
        self._by_name: dict[str, list[str]] = {}
        for node in self.nodes.values():
            self._by_name.setdefault(node.name, []).append(node.id)

    # --- structure -------------------------------------------------------------------------
    @property
    def depth(self) -> int:
        return len(self.levels)

    @property
    def leaves(self) -> list[str]:
        return [nid for nid in self.nodes if not self._children.get(nid)]

    def children(self, node_id: str | None) -> list[str]:
        """Children of ``node_id``; ``None`` gives the top level."""
        return list(self._children.get(node_id, []))

    def is_leaf(self, node_id: str) -> bool:
        return not self._children.get(node_id)

    def ancestors(self, node_id: str) -> list[str]:
        """Path from the root-level node down to ``node_id`` inclusive."""
        path: list[str] = []
        current: str | None = node_id
        while current is not None:
            path.append(current)
            current = self.nodes[current].parent
        return path[::-1]

    def nodes_at(self, depth: int) -> list[str]:
        return [nid for nid, node in self.nodes.items() if node.depth == depth]

    def descendants(self, node_id: str) -> list[str]:
        out, stack = [], list(self.children(node_id))
        while stack:
            nid = stack.pop(0)
            out.append(nid)
            stack.extend(self.children(nid))
        return out

    def resolve(self, ref: str) -> str:
        """A node id from an id or a name that is unique in the tree."""
        if ref in self.nodes:
            return ref
        ids = self._by_name.get(ref, [])
        if len(ids) == 1:
            return ids[0]
        if len(ids) > 1:
            raise TaxonomyError(f"{self.name}: name {ref!r} is ambiguous; use one of the ids {ids}")
        raise TaxonomyError(unknown_name_message(f"node in taxonomy {self.name!r}", ref, sorted(self.nodes)[:50]))

    @property
    def heads(self) -> list[str]:
        """Output heads of a model over this taxonomy: levels, then attributes."""
        return [*self.levels, *self.attributes]

    def head_labels(self, head: str) -> list[str]:
        """Label order of a head: node ids for a level, values for an attribute."""
        if head in self.levels:
            return self.nodes_at(self.levels.index(head))
        return list(self.attributes[head])

    # --- derived taxonomies (cascade strategy) ---------------------------------------------
    def top(self) -> Taxonomy:
        """Only the first level, with the attributes: the cascade's router taxonomy."""
        nodes = {nid: self.nodes[nid] for nid in self.nodes_at(0)}
        return Taxonomy(f"{self.name}.top", self.levels[:1], nodes, dict(self.attributes), {}, self.version)

    def subtree(self, node_id: str) -> Taxonomy:
        """The tree under ``node_id`` (its children become the top level), without attributes."""
        base = self.nodes[node_id].depth + 1
        nodes = {}
        for nid in self.descendants(node_id):
            node = self.nodes[nid]
            parent = None if node.parent == node_id else node.parent
            nodes[nid] = Node(nid, node.name, parent, node.depth - base)
        max_depth = max(n.depth for n in nodes.values()) + 1
        return Taxonomy(f"{self.name}.{self.nodes[node_id].name}", self.levels[base : base + max_depth], nodes)

    # --- serialisation ---------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "levels": list(self.levels),
            "nodes": [{"id": n.id, "name": n.name, "parent": n.parent} for n in self.nodes.values()],
            "attributes": {k: list(v) for k, v in self.attributes.items()},
            "sources": self.sources,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Taxonomy:
        nodes: dict[str, Node] = {}
        for item in data["nodes"]:
            parent = item.get("parent")
            depth = 0 if parent is None else nodes[parent].depth + 1
            nodes[item["id"]] = Node(item["id"], item["name"], parent, depth)
        return cls(
            data["name"],
            list(data["levels"]),
            nodes,
            {k: list(v) for k, v in data.get("attributes", {}).items()},
            dict(data.get("sources", {})),
            str(data.get("version", "1")),
        )

    def fingerprint(self) -> str:
        payload = json.dumps({k: v for k, v in self.to_dict().items() if k != "sources"}, sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]


def _err(where: str, line: int | None, message: str) -> TaxonomyError:
    return TaxonomyError(f"{where}:{line}: {message}" if line else f"{where}: {message}")


def _nodes_from_tree(tree: Any, where: str) -> list[tuple[str, str, str | None, int | None]]:
    """Flatten the nested ``tree:`` form into (id, name, parent_id, line) tuples."""
    out: list[tuple[str, str, str | None, int | None]] = []

    def walk(children: Any, parent: str | None, container: Any, key: Any) -> None:
        line = line_of(container, key)
        if isinstance(children, Mapping):
            if not children:
                raise _err(where, line, f"{parent!r} has an empty level (no children)")
            items = [(name, sub, children, name) for name, sub in children.items()]
        elif isinstance(children, list):
            if not children:
                raise _err(where, line, f"{parent!r} has an empty level (no children)")
            items = []
            for i, child in enumerate(children):
                if isinstance(child, Mapping):
                    items.extend((name, sub, child, name) for name, sub in child.items())
                else:
                    items.append((child, None, children, i))
        else:
            raise _err(where, line, f"children of {parent!r} must be a mapping or a list, got {children!r}")
        seen: set[str] = set()
        for name, sub, cont, k in items:
            child_line = line_of(cont, k)
            if not isinstance(name, str) or not name.strip():
                raise _err(where, child_line, f"node names must be non-empty strings, got {name!r}")
            if name in seen:
                raise _err(where, child_line, f"duplicate name {name!r} under {parent or 'the top level'!r}")
            seen.add(name)
            name = str(name)  # a plain str, not the loader's scalar subclass
            node_id = name if parent is None else f"{parent}{PATH_SEP}{name}"
            out.append((node_id, name, parent, child_line))
            if sub is not None:
                walk(sub, node_id, cont, k)

    walk(tree, None, None, None)
    return out


def _nodes_from_list(items: Any, where: str, container: Any) -> list[tuple[str, str, str | None, int | None]]:
    """The parent-pointer form: ``nodes: [{name, parent, id?}]``; checks parents, duplicates, cycles."""
    if not isinstance(items, list) or not items:
        raise _err(where, line_of(container, "nodes"), "'nodes' must be a non-empty list")
    raw: dict[str, tuple[str, str | None, int | None]] = {}
    for i, item in enumerate(items):
        line = line_of(items, i)
        if not isinstance(item, Mapping) or "name" not in item:
            raise _err(where, line, f"each node needs a 'name', got {item!r}")
        node_id = str(item.get("id", item["name"]))
        if node_id in raw:
            raise _err(where, line, f"duplicate name {node_id!r} (first on line {raw[node_id][2]})")
        raw[node_id] = (str(item["name"]), item.get("parent"), line)
    for node_id, (_, parent, line) in raw.items():
        if parent is not None and parent not in raw:
            raise _err(where, line, unknown_name_message(f"parent of {node_id!r}:", str(parent), sorted(raw)))
    for start in raw:
        seen, current = [start], raw[start][1]
        while current is not None:
            if current in seen:
                cycle = " -> ".join([*seen[seen.index(current) :], current])
                raise _err(where, raw[start][2], f"cycle in parents: {cycle}")
            seen.append(current)
            current = raw[current][1]
    ordered: list[tuple[str, str, str | None, int | None]] = []
    placed: set[str | None] = {None}
    while len(ordered) < len(raw):  # parents before children, stable
        for node_id, (name, parent, line) in raw.items():
            if node_id not in placed and parent in placed:
                ordered.append((node_id, name, parent, line))
                placed.add(node_id)
    return ordered


def parse_taxonomy(text: str, where: str = "<taxonomy>") -> Taxonomy:
    """Parse and validate a taxonomy YAML document."""
    try:
        doc = load_yaml_with_lines(text)
    except YAMLSyntaxError as exc:
        raise _err(where, exc.line, exc.message) from None
    if not isinstance(doc, Mapping):
        raise _err(where, 1, "a taxonomy must be a mapping with 'name', 'levels' and 'tree' or 'nodes'")
    for key in doc:
        if key not in {"name", "version", "levels", "tree", "nodes", "attributes", "sources", "description"}:
            raise _err(where, line_of(doc, key), unknown_name_message("taxonomy key", str(key), ["name", "levels"]))
    if "tree" in doc:
        flat = _nodes_from_tree(doc["tree"], where)
    elif "nodes" in doc:
        flat = _nodes_from_list(doc["nodes"], where, doc)
    else:
        raise _err(where, 1, "a taxonomy needs 'tree' (nested) or 'nodes' (parent list)")
    nodes: dict[str, Node] = {}
    for node_id, name, parent, _ in flat:
        nodes[node_id] = Node(node_id, name, parent, 0 if parent is None else nodes[parent].depth + 1)
    depth = max(n.depth for n in nodes.values()) + 1
    levels = doc.get("levels") or [f"level{i + 1}" for i in range(depth)]
    if len(levels) != depth:
        raise _err(where, line_of(doc, "levels"), f"{len(levels)} level names for a tree {depth} levels deep")
    attributes: dict[str, list[str]] = {}
    for attr, values in (doc.get("attributes") or {}).items():
        if not isinstance(values, list) or not values:
            raise _err(where, line_of(doc["attributes"], attr), f"attribute {attr!r} needs a non-empty value list")
        if attr in levels:
            raise _err(where, line_of(doc["attributes"], attr), f"attribute {attr!r} clashes with a level name")
        attributes[str(attr)] = [str(v) for v in values]
    return Taxonomy(
        str(doc.get("name", Path(where).stem)),
        [str(level) for level in levels],
        nodes,
        attributes,
        _plain(doc.get("sources") or {}),
        str(doc.get("version", "1")),
    )


def _plain(value: Any) -> Any:
    """Strip the loader's position-keeping containers and scalar subclasses so the rules serialise as plain
    JSON and ``yaml.safe_dump`` (which refuses subclasses of str/int/float) can write them back."""
    if isinstance(value, Mapping):
        return {_plain(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    for kind in (bool, int, float, str):
        if isinstance(value, kind):
            return kind(value)
    return value


def list_taxonomies() -> list[str]:
    """Names of the built-in taxonomies."""
    folder = resources.files("fashiontag.data") / "taxonomies"
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))


def load_taxonomy(name_or_path: str | Path) -> Taxonomy:
    """Load a built-in taxonomy by name, or a YAML file by path."""
    path = Path(name_or_path)
    if path.suffix in {".yaml", ".yml"} or path.exists():
        if not path.exists():
            raise FileNotFoundError(f"Taxonomy file {path} does not exist")
        return parse_taxonomy(path.read_text(encoding="utf-8"), str(path))
    names = list_taxonomies()
    if str(name_or_path) not in names:
        raise TaxonomyError(unknown_name_message("taxonomy", str(name_or_path), names))
    text = (resources.files("fashiontag.data") / "taxonomies" / f"{name_or_path}.yaml").read_text(encoding="utf-8")
    return parse_taxonomy(text, f"{name_or_path}.yaml")


def taxonomy_from_paths(
    name: str, levels: list[str], paths: list[tuple[str, ...]], sources: dict[str, Any] | None = None
) -> Taxonomy:
    """A taxonomy whose leaves are ``paths`` (one name per level, e.g. ``("tops", "tee")``), sorted by name.

    Used to infer a taxonomy from a class-per-folder tree, so a shop's folders are its label set.

    Example:
        >>> taxonomy_from_paths("shop", ["group", "class"], [("tops", "tee"), ("shoes", "boot")]).leaves
        ['shoes > boot', 'tops > tee']
    """
    if not paths:
        raise TaxonomyError(f"{name}: no classes to build a taxonomy from")
    nodes: dict[str, Node] = {}
    for path in sorted(set(paths)):
        if len(path) != len(levels):
            raise TaxonomyError(f"{name}: {PATH_SEP.join(path)!r} has {len(path)} levels, expected {len(levels)}")
        parent: str | None = None
        for depth, part in enumerate(path):
            if not part.strip() or PATH_SEP in part:
                raise TaxonomyError(f"{name}: class name {part!r} is empty or contains {PATH_SEP!r}; rename it")
            node_id = part if parent is None else f"{parent}{PATH_SEP}{part}"
            nodes.setdefault(node_id, Node(node_id, part, parent, depth))
            parent = node_id
    return Taxonomy(name, list(levels), nodes, {}, dict(sources or {}))


def save_taxonomy(taxonomy: Taxonomy, path: str | Path) -> Path:
    """Write ``taxonomy`` as YAML (the parent-list form :func:`load_taxonomy` reads back), atomically."""
    import yaml

    from fashiontag._io import atomic_open

    path = Path(path)
    with atomic_open(path, "w", encoding="utf-8") as handle:
        yaml.safe_dump(taxonomy.to_dict(), handle, sort_keys=False, allow_unicode=True)
    return path
