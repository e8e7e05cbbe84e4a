"""No import cycle in `ledger/`, counting every import.

An import counts wherever it is written: at module level, under `if TYPE_CHECKING:`, or inside
a function. A function-level import only delays a cycle to the first call, and a TYPE_CHECKING
import is a dependency the type checker (and a reader) follows: either way the two modules
need each other, which is what layering is meant to rule out.

The graph is built from the source (AST), not from `sys.modules`, so it sees imports that a
test run never executes. Packages (`ledger/store/`) are handled like modules: a package is its
`__init__.py`, and `from ledger.store import x` names `ledger.store.x` when that is a module.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from pathlib import Path

import pytest

import ledger

ROOT = Path(ledger.__file__).parent


def modules(root: Path, package: str) -> dict[str, Path]:
    """Every module under `root` (the directory of `package`) by its dotted name."""
    found = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join([package, *parts])] = path
    return found


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    """The absolute name a `from ... import` starts from."""
    if node.level == 0:
        return node.module or ""
    base = module.split(".")
    if not is_package:
        base.pop()  # a module's level-1 import is relative to its package
    drop = node.level - 1
    if drop:
        if drop > len(base) - 1:
            raise ValueError(f"{module}: relative import beyond the top-level package")
        base = base[:-drop]
    return ".".join([*base, node.module] if node.module else base)


def imports(module: str, path: Path, known: Iterable[str]) -> set[str]:
    """The modules of `known` that `module` imports, anywhere in its source."""
    known = set(known)
    is_package = path.name == "__init__.py"
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()

    def add(name: str) -> None:
        # `import a.b.c` imports a, a.b and a.b.c; the deepest one known is the dependency.
        parts = name.split(".")
        for end in range(len(parts), 0, -1):
            candidate = ".".join(parts[:end])
            if candidate in known:
                found.add(candidate)
                return

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(alias.name)
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(module, is_package, node)
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                add(submodule if submodule in known else base)
    found.discard(module)
    return found


def graph(root: Path, package: str) -> dict[str, set[str]]:
    found = modules(root, package)
    return {name: imports(name, path, found) for name, path in found.items()}


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One cycle as [a, b, ..., a], or None. Depth-first, in sorted order so it is stable."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state:
                cycle = visit(nxt)
                if cycle:
                    return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def test_no_import_cycle_in_ledger() -> None:
    edges = graph(ROOT, "ledger")
    assert len(edges) > 20 and edges["ledger.app"], "the graph was not built"
    cycle = find_cycle(edges)
    assert cycle is None, "import cycle in ledger/: " + " -> ".join(cycle or [])


def _write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / "pkg" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root / "pkg"


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        # plain module-level imports, absolute and relative
        (
            {"__init__.py": "", "a.py": "from . import b\n", "b.py": "import pkg.a\n"},
            ["pkg.a", "pkg.b", "pkg.a"],
        ),
        # under TYPE_CHECKING
        (
            {
                "__init__.py": "",
                "a.py": "from .b import thing\n",
                "b.py": (
                    "from typing import TYPE_CHECKING\n"
                    "if TYPE_CHECKING:\n    from .a import other\n"
                ),
            },
            ["pkg.a", "pkg.b", "pkg.a"],
        ),
        # inside a function, through a subpackage and a `..` import
        (
            {
                "__init__.py": "",
                "a.py": "def f():\n    from .store import backend\n",
                "store/__init__.py": "",
                "store/backend.py": "def g():\n    from ..a import f\n",
            },
            ["pkg.a", "pkg.store.backend", "pkg.a"],
        ),
        # a package's __init__ importing its own module, which imports the package back
        (
            {
                "__init__.py": "",
                "store/__init__.py": "from .sqlite import X\n",
                "store/sqlite.py": "from pkg.store import Y\n",
            },
            ["pkg.store", "pkg.store.sqlite", "pkg.store"],
        ),
    ],
)
def test_the_finder_catches_a_planted_cycle(
    tmp_path: Path, files: dict[str, str], expected: list[str]
) -> None:
    root = _write(tmp_path, files)
    assert find_cycle(graph(root, "pkg")) == expected


def test_the_finder_passes_layered_modules(tmp_path: Path) -> None:
    root = _write(
        tmp_path,
        {
            "__init__.py": "from .a import f\n",
            "a.py": "from . import b\nfrom .store import sqlite\nimport json\n",
            "b.py": (
                "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .store import X\n"
            ),
            "store/__init__.py": "from .sqlite import X\n",
            "store/sqlite.py": "def f():\n    from .. import c\n",
            "c.py": "import json\n",
        },
    )
    edges = graph(root, "pkg")
    assert edges["pkg"] == {"pkg.a"}
    assert edges["pkg.a"] == {"pkg.b", "pkg.store.sqlite"}
    assert edges["pkg.store.sqlite"] == {"pkg.c"}
    assert find_cycle(edges) is None
