"""No stage imports another stage's private module (issue 11: one public home for each contract).

A stage is a top-level subpackage of ``fashiontag`` (``data``, ``models``, ``train``, ``cli``, ...). Inside its
own stage a module may import anything; from another stage (or from a top-level module such as
``fashiontag.artifact``) it imports only public names: the package itself or a module without a leading
underscore. Imports inside functions count too, since they are how the CLI keeps start-up fast.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import fashiontag

ROOT = Path(fashiontag.__file__).parent


def _module_parts(path: Path, root: Path) -> tuple[list[str], list[str]]:
    """(the module's dotted name as parts, the package it resolves relative imports against)."""
    parts = ["fashiontag", *path.relative_to(root).with_suffix("").parts]
    if parts[-1] == "__init__":
        parts = parts[:-1]
        return parts, parts
    return parts, parts[:-1]


def _imported(tree: ast.AST, package: list[str]) -> list[tuple[int, str]]:
    """(line, dotted name) of every module or name the tree imports, relative imports resolved."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            found += [(node.lineno, module)] + [(node.lineno, f"{module}.{alias.name}") for alias in node.names]
    return found


def cross_stage_private_imports(root: Path = ROOT) -> list[str]:
    """``module:line -> name`` for each import of another stage's ``_private`` module."""
    bad = []
    for path in sorted(root.rglob("*.py")):
        parts, package = _module_parts(path, root)
        stage = parts[1] if len(parts) > 1 and (path.name == "__init__.py" or len(parts) > 2) else None
        for line, name in _imported(ast.parse(path.read_text(encoding="utf-8")), package):
            target = name.split(".")
            if len(target) >= 3 and target[0] == "fashiontag" and target[2].startswith("_") and target[1] != stage:
                bad.append(f"{'.'.join(parts)}:{line} -> {name}")
    return sorted(set(bad))


def _scan_in_fresh_interpreter(root: Path = ROOT) -> list[str]:
    """Run the scan in a child Python: CPython 3.11's ``ast.parse`` can raise a spurious ``SystemError: AST
    constructor recursion depth mismatch`` in a process where other threads have run (gh-106905), which a
    long pytest session with servers and loaders is."""
    out = subprocess.run(
        [sys.executable, __file__, str(root)], capture_output=True, text=True, check=True, timeout=120
    ).stdout
    return json.loads(out)


def test_no_stage_imports_another_stages_private_module():
    assert _scan_in_fresh_interpreter() == []


def test_the_check_catches_a_private_import(tmp_path):
    """The check itself can fail: a fake tree with one offending import in a function body."""
    (tmp_path / "export").mkdir()
    (tmp_path / "evaluate").mkdir()
    for package in ("export", "evaluate"):
        (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / "evaluate" / "_data.py").write_text("from . import _other\n")  # same stage: fine
    (tmp_path / "export" / "_int8.py").write_text(
        "def load():\n    from fashiontag.evaluate._data import head_targets\n    from ..evaluate import _predict\n"
    )
    (tmp_path / "artifact.py").write_text("import fashiontag.infer._onnx\n")
    assert _scan_in_fresh_interpreter(tmp_path) == [
        "fashiontag.artifact:1 -> fashiontag.infer._onnx",
        "fashiontag.export._int8:2 -> fashiontag.evaluate._data",
        "fashiontag.export._int8:2 -> fashiontag.evaluate._data.head_targets",
        "fashiontag.export._int8:3 -> fashiontag.evaluate._predict",
    ]


if __name__ == "__main__":
    print(json.dumps(cross_stage_private_imports(Path(sys.argv[1]))))
