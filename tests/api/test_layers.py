"""The API sits above DurableClient (docs/architecture.md, "Layers"): it never imports
models, episodes, runtime or recovery."""

import ast
from pathlib import Path

import pytest

import workflows.api

FORBIDDEN = ("workflows.models", "workflows.episodes", "workflows.runtime", "workflows.recovery")
MODULES = sorted(Path(workflows.api.__file__).parent.glob("*.py"))


def imported(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative to workflows.api
                package = ["workflows", "api"][: 3 - node.level]
                base = ".".join([*package, base] if base else package)
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_the_api_goes_through_the_client_only(path):
    bad = sorted(n for n in imported(path) if n.startswith(FORBIDDEN))

    assert not bad, f"{path.name} imports {bad}; call workflows.client.DurableClient instead"
