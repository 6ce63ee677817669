"""The engine stays pure: standard library only, checked on its source.

See docs/architecture.md, "Layers".
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import workflows.engine

ENGINE = Path(workflows.engine.__file__).parent


def imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_engine_imports_only_the_standard_library():
    sources = sorted(ENGINE.glob("*.py"))
    assert len(sources) > 10
    foreign = {
        f"{path.name}: {name}"
        for path in sources
        for name in imported_modules(path)
        if name not in sys.stdlib_module_names and name != "__future__"
    }
    assert not foreign, f"workflows/engine must import the standard library only: {foreign}"
