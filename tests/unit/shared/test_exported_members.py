"""The shared library's public API is a tested promise (STYLE.md; as httpx's test_exported_members).

``ail_shared`` itself re-exports nothing: callers import from the submodules. A submodule that
declares ``__all__`` lists what the rest of the tree (services, sandboxes, clients, benchmarks,
scripts) may import from it: every listed name exists, and nothing outside the list is imported
from it. Tests may reach a module's internals; they do not count."""

from __future__ import annotations

import ast
import importlib
import pkgutil
from collections import defaultdict
from functools import cache
from pathlib import Path

import pytest

import ail_shared

REPO = Path(__file__).resolve().parents[3]
CALLERS = ("services", "sandbox", "clients", "benchmarks", "scripts", "shared")


def _modules_with_all() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for info in pkgutil.iter_modules(ail_shared.__path__, "ail_shared."):
        module = importlib.import_module(info.name)
        if hasattr(module, "__all__"):
            out[info.name] = list(module.__all__)
    return out


@cache
def _imported_names() -> dict[str, dict[str, set[str]]]:
    """module -> name -> files outside tests that import it (``from m import n`` or ``m.n``
    after ``from ail_shared import m``)."""
    used: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for top in CALLERS:
        for path in (REPO / top).rglob("*.py"):
            if ".venv" in path.parts:
                continue
            where = str(path.relative_to(REPO))
            tree = ast.parse(path.read_text(encoding="utf-8"))
            aliases: dict[str, str] = {}
            for node in ast.walk(tree):
                if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("ail_shared"):
                    for alias in node.names:
                        if node.module == "ail_shared":
                            aliases[alias.asname or alias.name] = f"ail_shared.{alias.name}"
                        else:
                            used[node.module][alias.name].add(where)
            for node in ast.walk(tree):
                if (
                    isinstance(node, ast.Attribute)
                    and isinstance(node.value, ast.Name)
                    and node.value.id in aliases
                ):
                    used[aliases[node.value.id]][node.attr].add(where)
    return used


def test_the_package_re_exports_nothing() -> None:
    assert not hasattr(ail_shared, "__all__")
    own = {n for n in vars(ail_shared) if not n.startswith("_")}
    submodules = {info.name for info in pkgutil.iter_modules(ail_shared.__path__)}
    assert own <= submodules, f"names defined in ail_shared/__init__.py: {sorted(own - submodules)}"


MODULES = _modules_with_all()


def test_some_modules_declare_their_api() -> None:
    assert {"ail_shared.canonical", "ail_shared.netguard"} <= set(MODULES), MODULES


@pytest.mark.parametrize("name", sorted(MODULES))
def test_all_lists_what_the_tree_imports(name: str) -> None:
    module = importlib.import_module(name)
    listed = MODULES[name]
    assert len(listed) == len(set(listed)), f"{name}.__all__ lists a name twice"
    missing = [n for n in listed if not hasattr(module, n)]
    assert not missing, f"{name}.__all__ lists names it does not define: {missing}"
    used = _imported_names()[name]
    outside = {n: sorted(files) for n, files in used.items() if n not in listed}
    assert not outside, f"imported from {name} but not in its __all__: {outside}"
