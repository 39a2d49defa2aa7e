"""How the code is laid out: layers that import one way, no cycles, small classes, clean linters.

The import graph is read from the source (every `import`, at any depth: function-level imports
and `if TYPE_CHECKING:` blocks count), with an edge from every module to the packages that
contain it, since importing `tui.api.client` runs `tui/api/__init__.py` first.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "tui"
MAX_CLASS_LINES = 450


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def imported_names(path: Path) -> set[str]:
    """Every module a file imports, anywhere in it, resolved to a name (tui.x.y or top-level)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    here = module_name(path)
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            names.add(target)
            for alias in node.names:  # `from tui.core import paths` imports the module tui.core.paths
                if f"{target}.{alias.name}" in MODULES:
                    names.add(f"{target}.{alias.name}")
    return names


def graph() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {}
    for name, path in MODULES.items():
        targets = {n for n in imported_names(path) if n in MODULES}
        parts = name.split(".")
        targets |= {".".join(parts[:k]) for k in range(1, len(parts))}  # the packages it sits in
        edges[name] = targets - {name}
    return edges


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_the_graph_reader_sees_function_level_and_type_checking_imports(tmp_path):
    sample = PACKAGE / "monitor" / "launch.py"  # imports the simulator inside a function
    assert "tui.simulator.service" in imported_names(sample)
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycle_anywhere_under_tui():
    assert find_cycle(graph()) is None, " -> ".join(find_cycle(graph()) or [])


def test_package_init_files_re_export_nothing():
    # a re-export in __init__ makes a cycle with every module of the package it names
    for name, path in MODULES.items():
        if path.name == "__init__.py" and name != "tui":
            assert not any(n.startswith("tui") for n in imported_names(path)), path


def _reachable(start: str, edges: dict[str, set[str]]) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        node = todo.pop()
        if node not in seen:
            seen.add(node)
            todo.extend(n for n in edges.get(node, ()) if n in MODULES)
    return seen


@pytest.mark.parametrize("layer", ["tui.api", "tui.core"])
def test_api_and_core_import_neither_textual_nor_rich(layer):
    edges = graph()
    for name in MODULES:
        if name == layer or name.startswith(layer + "."):
            for reached in _reachable(name, edges):
                outside = {n.split(".")[0] for n in imported_names(MODULES[reached])}
                assert not outside & {"textual", "rich"}, f"{name} reaches {reached}, which imports {outside & {'textual', 'rich'}}"


@pytest.mark.parametrize("module", ["tui.monitor.job_view", "tui.monitor.watchlist_sync", "tui.monitor.notices"])
def test_the_monitor_s_models_are_plain_python(module):
    edges = graph()
    for reached in _reachable(module, edges):
        assert not {n.split(".")[0] for n in imported_names(MODULES[reached])} & {"textual", "rich"}, reached


def test_api_imports_nothing_of_the_project_outside_api():
    for name, path in MODULES.items():
        if name.startswith("tui.api"):
            mine = {n for n in imported_names(path) if n.startswith("tui")}
            assert all(n == "tui.api" or n.startswith("tui.api.") for n in mine), (name, mine)


@pytest.mark.parametrize("layer", ["tui.headless", "tui.simulator"])
def test_headless_and_simulator_stand_on_api_and_core_only(layer):
    for name, path in MODULES.items():
        if name.startswith(layer):
            mine = {n for n in imported_names(path) if n.startswith("tui.")}
            allowed = ("tui.api", "tui.core", layer)
            assert all(n.startswith(allowed) for n in mine), (name, mine)


def test_no_class_is_over_450_lines():
    sizes = {}
    for name, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef):
                sizes[f"{name}.{node.name}"] = node.end_lineno - node.lineno + 1
    assert sizes["tui.monitor.app.VclmWatchApp"] <= MAX_CLASS_LINES
    too_big = {k: v for k, v in sizes.items() if v > MAX_CLASS_LINES}
    assert not too_big, too_big


def _tool(name: str) -> list[str]:
    if shutil.which(name, path=str(Path(sys.executable).parent)) is None:
        pytest.fail(f"{name} is not installed: it comes with the test extra (pip install '.[test]')")
    return [sys.executable, "-m", name]


def test_ruff_finds_nothing():
    out = subprocess.run(_tool("ruff") + ["check", "tui", "tests"], cwd=REPO, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_the_type_checker_finds_nothing_in_api_and_core():
    out = subprocess.run(_tool("mypy") + ["--no-incremental"], cwd=REPO, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
