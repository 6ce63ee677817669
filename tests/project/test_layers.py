"""The layers of docs/architecture.md hold for every import, function bodies included.

The order is the one `make lint` gives import-linter (pyproject.toml); this test reads it
from there, parses every module of ``workflows`` itself and also fails on a cycle, so a
function-level import that dodges one cannot hide.
"""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "workflows"


def layer_ranks() -> tuple[dict[str, int], set[frozenset[str]]]:
    """Rank of each layer entry (0 = top), and the groups of independent siblings."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    (layers,) = [c for c in config["contracts"] if c["id"] == "layers"]
    ranks: dict[str, int] = {}
    independent: set[frozenset[str]] = set()
    for rank, layer in enumerate(layers["layers"]):
        separator = "|" if "|" in layer else ":"
        names = [f"workflows.{name.strip()}" for name in layer.split(separator)]
        if separator == "|":
            independent.add(frozenset(names))
        for name in names:
            ranks[name] = rank
    return ranks, independent


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {
    module_name(p): p
    for p in PACKAGE.rglob("*.py")
    if "migrations" not in p.relative_to(ROOT).parts
}


def import_nodes(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    """Import statements anywhere, except under ``if TYPE_CHECKING:`` (never run)."""
    found: list[ast.Import | ast.ImportFrom] = []

    def walk(node: ast.AST) -> None:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.orelse:
                walk(child)
            return
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.append(node)
        for child in ast.iter_child_nodes(node):
            walk(child)

    walk(tree)
    return found


def imports_of(name: str, path: Path) -> set[str]:
    """Every module of ours that ``name`` imports, anywhere in the file."""
    found: set[str] = set()
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    for node in import_nodes(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, node.module] if node.module else base)
            targets = [f"{module}.{alias.name}" for alias in node.names] + [module]
        for target in targets:
            while target and target not in MODULES:
                target = target.rpartition(".")[0]
            if target and target != name and not name.startswith(target + "."):
                found.add(target)
    return found


GRAPH = {name: imports_of(name, path) for name, path in MODULES.items()}
RANKS, INDEPENDENT = layer_ranks()


def layer_of(name: str) -> str | None:
    while name and name not in RANKS:
        name = name.rpartition(".")[0]
    return name or None


def test_every_module_has_a_layer():
    # Packages' own __init__ files only carry docstrings; everything else needs a place.
    unplaced = sorted(
        name for name, path in MODULES.items() if layer_of(name) is None and GRAPH[name]
    )
    assert not unplaced, f"add {unplaced} to a layer in pyproject.toml and the architecture doc"


@pytest.mark.parametrize("name", sorted(MODULES))
def test_imports_point_down_the_layers(name):
    mine = layer_of(name)
    if mine is None:
        return
    wrong = []
    for target in sorted(GRAPH[name]):
        theirs = layer_of(target)
        if theirs is None or theirs == mine:
            continue
        if RANKS[theirs] < RANKS[mine]:
            wrong.append(f"{target} (layer {theirs!r} is above {mine!r})")
        elif any({mine, theirs} <= group for group in INDEPENDENT):
            wrong.append(f"{target} ({mine!r} and {theirs!r} are independent)")
    assert not wrong, f"{name} imports {wrong}"


def test_no_import_cycles():
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in GRAPH[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(GRAPH):
        if node not in index:
            visit(node)
    assert not cycles, f"import cycles: {cycles}"


def test_the_checks_catch_an_upward_import():
    # The test itself must be able to fail: episodes importing the client breaks the order.
    assert RANKS["workflows.client"] < RANKS["workflows.episodes"]
    assert "workflows.inbox" in GRAPH["workflows.episodes"]
    assert layer_of("workflows.runtime.dispatch") == "workflows.runtime.dispatch"
    assert layer_of("workflows.api.views") == "workflows.api"
