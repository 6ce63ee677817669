"""Each test sees the registrations it asked for, and none that another test or module made.

Orchestrators and activities register into ``workflows.engine.default_registry`` as a
side effect of importing the module that defines them. Left alone, whatever an earlier
module imported stays registered for every later test: the limited activities of
tests/limits make every runtime test take the limits path in a full run and not when run
alone, and a test passes or fails with the order of the modules.

So the registry holds, during a test:

* the application's registrations (``workflows.samples`` and the like), always;
* those of the test modules (``tests.*``) that the test's module, or a fixture it uses,
  imports (directly, or through another ``tests.*`` module), wherever the import is
  written (also inside a function);
* whatever the test registers itself, until it ends.

After the test, the registry goes back to the application's registrations. What a
``tests.*`` module registered is remembered, so a later test importing the module gets it
back although Python does not run the module a second time.
"""

from __future__ import annotations

import ast
import inspect
import sys
import textwrap
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

from workflows.engine import default_registry
from workflows.engine.registry import ActivityDef, OrchestratorDef, Registry

ROOT = Path(__file__).resolve().parents[2]
Definition = OrchestratorDef | ActivityDef

# Registrations of tests.* modules, by module: what a later import of it would register.
_by_module: dict[str, dict[tuple[str, str, int], Definition]] = {}


# -- the registry's content ----------------------------------------------------------------
# Registry has no API to take its content out and put it back: these two functions are
# the only code here that knows its attributes (workflows/engine/registry.py).
def _definitions(registry: Registry) -> list[Definition]:
    found: list[Definition] = list(registry._activities.values())
    for versions in registry._orchestrators.values():
        found.extend(versions.values())
    return found


def _replace(registry: Registry, definitions: Iterable[Definition]) -> None:
    orchestrators: dict[str, dict[int, OrchestratorDef]] = {}
    activities: dict[str, ActivityDef] = {}
    for each in definitions:
        if isinstance(each, OrchestratorDef):
            orchestrators.setdefault(each.name, {})[each.version] = each
        else:
            activities[each.name] = each
    registry._orchestrators = orchestrators
    registry._activities = activities
    # Never back to an earlier number: callers cache what they derive by this counter.
    registry.changes += 1


def _key(each: Definition) -> tuple[str, str, int]:
    if isinstance(each, OrchestratorDef):
        return ("orchestrator", each.name, each.version)
    return ("activity", each.name, 0)


def _owner(each: Definition) -> str | None:
    """The module whose import registered ``each``; None for a test's own (local) code."""
    module = getattr(each.fn, "__module__", None)
    if module is None or module not in sys.modules or "<locals>" in each.fn.__qualname__:
        return None
    return module


def _is_test_module(name: str) -> bool:
    return name == "tests" or name.startswith("tests.")


def remember(registry: Registry = default_registry) -> None:
    """Note what each tests.* module registered (call before taking registrations away)."""
    for each in _definitions(registry):
        owner = _owner(each)
        if owner is not None and _is_test_module(owner):
            _by_module.setdefault(owner, {})[_key(each)] = each


def application_definitions(registry: Registry = default_registry) -> list[Definition]:
    """Registrations of the application (and library) modules: they stay for every test."""
    kept = []
    for each in _definitions(registry):
        owner = _owner(each)
        if owner is not None and not _is_test_module(owner):
            kept.append(each)
    return kept


# -- which tests.* modules a test imports ---------------------------------------------------
def _module_name(path: Path) -> str | None:
    try:
        parts = path.resolve().relative_to(ROOT).with_suffix("").parts
    except ValueError:
        return None
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _resolve(node: ast.ImportFrom, here: str | None, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    package = (here or "").split(".")
    if not is_package:
        package = package[:-1]
    package = package[: len(package) - (node.level - 1)]
    return ".".join([*package, node.module] if node.module else package)


def _file_of(name: str) -> Path | None:
    """The source file of module ``name`` of this project, found without importing it."""
    base = ROOT.joinpath(*name.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def _imported(tree: ast.AST, here: str | None, is_package: bool) -> set[str]:
    """tests.* modules named by the import statements anywhere in ``tree``."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(node, here, is_package)
            for alias in node.names:
                child = f"{base}.{alias.name}"
                names.add(child if _is_test_module(child) and _file_of(child) else base)
    return {name for name in names if _is_test_module(name)}


def _parse(path: Path) -> ast.Module:
    """ast.parse, again on CPython 3.11.7's "AST constructor recursion depth mismatch"
    SystemError: its AST recursion counter is not safe while another thread builds an AST
    (fixed in later releases), which failed a test's set-up once under pytest-xdist."""
    source = path.read_text()
    for _ in range(4):
        try:
            return ast.parse(source, str(path))
        except SystemError:
            continue
    return ast.parse(source, str(path))


@cache
def _imports_of_file(path: Path) -> frozenset[str]:
    here = _module_name(path)
    tree = _parse(path)
    return frozenset(_imported(tree, here, path.name == "__init__.py"))


@cache
def _top_level_imports_of_file(path: Path) -> frozenset[str]:
    """Only the module's own import statements (not those inside its functions)."""
    here = _module_name(path)
    tree = _parse(path)
    top = ast.Module(
        body=[n for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom)],
        type_ignores=[],
    )
    return frozenset(_imported(top, here, path.name == "__init__.py"))


@cache
def _imports_of_function(fn: Any) -> frozenset[str]:
    try:
        source = textwrap.dedent(inspect.getsource(fn))
        path = Path(inspect.getsourcefile(fn) or "")
    except (OSError, TypeError):
        return frozenset()
    return frozenset(_imported(ast.parse(source), _module_name(path), False))


@cache
def _closure(start: frozenset[str]) -> frozenset[str]:
    """``start`` and every tests.* module these import, all the way down."""
    seen: set[str] = set()
    todo = list(start)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        path = _file_of(name)
        if path is not None:
            todo.extend(_imports_of_file(path))
    return frozenset(seen)


def modules_seen_by(item: Any) -> frozenset[str]:
    """The tests.* modules whose registrations the test ``item`` may use.

    Its own module (all of it), the imports at the top of each conftest.py above it (a
    conftest importing a module registers it for its package), and each fixture it uses:
    the fixture's function and the imports at the top of the file defining it.
    """
    start: set[str] = set()
    module = getattr(item, "module", None)
    if module is not None and getattr(module, "__file__", None):
        path = Path(module.__file__)
        start.update(_imports_of_file(path))
        if (name := _module_name(path)) is not None:
            start.add(name)
        for folder in path.resolve().parents:
            if (folder / "conftest.py").is_file():
                start.update(_top_level_imports_of_file(folder / "conftest.py"))
            if folder == ROOT:
                break
    for name in getattr(item, "fixturenames", ()):
        for fixturedef in item._fixtureinfo.name2fixturedefs.get(name, ()):
            fn = fixturedef.func
            start.update(_imports_of_function(fn))
            source = inspect.getsourcefile(fn)
            if source and Path(source).is_relative_to(ROOT):
                start.update(_top_level_imports_of_file(Path(source)))
    return _closure(frozenset(start))


# -- the fixture's work ---------------------------------------------------------------------
@contextmanager
def isolated(item: Any, registry: Registry = default_registry) -> Iterator[None]:
    """Registrations for ``item`` while it runs, then only the application's again."""
    modules = modules_seen_by(item)  # reads source files, imports nothing
    remember(registry)
    application = application_definitions(registry)
    seen = {key: each for module in modules for key, each in _by_module.get(module, {}).items()}
    _replace(registry, [*application, *seen.values()])
    try:
        yield
    finally:
        remember(registry)  # a module first imported during the test registered just now
        _replace(registry, application_definitions(registry))
