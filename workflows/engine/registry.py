"""Registration of orchestrators and activities by name (and version)."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .errors import RegistrationError, UnknownActivityError, UnknownOrchestratorError


@dataclass(frozen=True)
class OrchestratorDef:
    name: str
    version: int
    fn: Callable[..., Any]


@dataclass(frozen=True)
class ActivityDef:
    name: str
    fn: Callable[..., Any]
    options: dict[str, Any] = field(default_factory=dict)


def _check_name(kind: str, name: Any) -> str:
    if not isinstance(name, str) or not name.strip():
        raise RegistrationError(f"{kind} name must be a non-empty string, got {name!r}.")
    if name != name.strip():
        raise RegistrationError(f"{kind} name {name!r} has leading or trailing spaces.")
    return name


def _same_code(a: Callable[..., Any], b: Callable[..., Any]) -> bool:
    # A module imported twice (e.g. under two names) re-registers the same code.
    return (a.__module__, a.__qualname__) == (b.__module__, b.__qualname__)


def name_of(target: str | Callable[..., Any]) -> str:
    """The registered name of an orchestrator/activity given its name or function."""
    if isinstance(target, str):
        return target
    name = getattr(target, "__durable_name__", None)
    if name is None:
        raise RegistrationError(
            f"{getattr(target, '__qualname__', target)!r} is not a registered orchestrator "
            "or activity. Decorate it with @orchestrator or @activity, or pass its name."
        )
    return name


class Registry:
    """Holds orchestrators (several versions per name) and activities.

    Example::

        registry = Registry()

        @registry.activity(name="greet")
        def greet(ctx, who):
            return f"hello {who}"

        @registry.orchestrator(name="hello", version=1)
        def hello(ctx, who):
            return (yield ctx.call_activity(greet, who))
    """

    def __init__(self) -> None:
        self._orchestrators: dict[str, dict[int, OrchestratorDef]] = {}
        self._activities: dict[str, ActivityDef] = {}

    # -- registration -------------------------------------------------------
    def orchestrator(
        self, name: str | None = None, version: int = 1
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        def register(fn: Callable[..., Any]) -> Callable[..., Any]:
            self.add_orchestrator(fn, name or fn.__name__, version)
            return fn

        return register

    def activity(
        self, name: str | None = None, **options: Any
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        def register(fn: Callable[..., Any]) -> Callable[..., Any]:
            self.add_activity(fn, name or fn.__name__, **options)
            return fn

        return register

    def add_orchestrator(self, fn: Callable[..., Any], name: str, version: int = 1) -> None:
        _check_name("Orchestrator", name)
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise RegistrationError(
                f"Orchestrator {name!r}: version must be a positive integer, got {version!r}."
            )
        if not inspect.isgeneratorfunction(fn):
            raise RegistrationError(
                f"Orchestrator {name!r} must be a generator function: it should `yield` "
                "durable tasks such as ctx.call_activity(...)."
            )
        versions = self._orchestrators.setdefault(name, {})
        existing = versions.get(version)
        if existing is not None and not _same_code(existing.fn, fn):
            raise RegistrationError(
                f"Orchestrator {name!r} version {version} is already registered by "
                f"{existing.fn.__module__}.{existing.fn.__qualname__}. "
                "Give the new code another version number or another name."
            )
        versions[version] = OrchestratorDef(name, version, fn)
        fn.__durable_name__ = name  # type: ignore[attr-defined]

    def add_activity(self, fn: Callable[..., Any], name: str, **options: Any) -> None:
        _check_name("Activity", name)
        if options:
            raise RegistrationError(
                f"Activity {name!r}: unknown option(s) {', '.join(sorted(options))}. "
                "Activities take no options: pass retry=RetryPolicy(...) to "
                "ctx.call_activity(...) where the activity is called."
            )
        if inspect.isgeneratorfunction(fn):
            raise RegistrationError(
                f"Activity {name!r} is a generator function; activities are plain functions. "
                "Did you mean @orchestrator?"
            )
        existing = self._activities.get(name)
        if existing is not None and not _same_code(existing.fn, fn):
            raise RegistrationError(
                f"Activity {name!r} is already registered by "
                f"{existing.fn.__module__}.{existing.fn.__qualname__}. Choose another name."
            )
        self._activities[name] = ActivityDef(name, fn, dict(options))
        fn.__durable_name__ = name  # type: ignore[attr-defined]

    # -- look-up ------------------------------------------------------------
    def get_orchestrator(
        self, target: str | Callable[..., Any], version: int | None = None
    ) -> OrchestratorDef:
        name = name_of(target)
        versions = self._orchestrators.get(name)
        if not versions:
            raise UnknownOrchestratorError(name, known=list(self._orchestrators))
        if version is None:
            return versions[max(versions)]
        try:
            return versions[version]
        except KeyError:
            raise UnknownOrchestratorError(name, version, known=list(self._orchestrators)) from None

    def get_activity(self, target: str | Callable[..., Any]) -> ActivityDef:
        name = name_of(target)
        try:
            return self._activities[name]
        except KeyError:
            raise UnknownActivityError(name) from None

    def orchestrator_names(self) -> list[str]:
        return sorted(self._orchestrators)

    def orchestrator_versions(self, name: str) -> list[int]:
        return sorted(self._orchestrators.get(name, {}))

    def activity_names(self) -> list[str]:
        return sorted(self._activities)

    def has_orchestrator(self, name: str, version: int | None = None) -> bool:
        versions = self._orchestrators.get(name, {})
        return bool(versions) if version is None else version in versions


default_registry = Registry()
orchestrator = default_registry.orchestrator
activity = default_registry.activity
