"""Registration of orchestrators and activities by name (and version)."""

from __future__ import annotations

import collections.abc as cabc
import inspect
import re
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .converter import DEFAULT_CONVERTER, DataConverter
from .entities import EntityDef, define_entity
from .errors import (
    PayloadError,
    RegistrationError,
    UnknownActivityError,
    UnknownEntityError,
    UnknownOrchestratorError,
)
from .timeouts import NO_TIMEOUTS, TIMEOUT_OPTIONS, ActivityTimeouts


@dataclass(frozen=True)
class OrchestratorDef:
    name: str
    version: int
    fn: Callable[..., Any]
    # ``@orchestrator(schedule=...)`` as declared: a cron text or a dict of plain data,
    # parsed and kept in the database by the schedules app (workflows/schedules).
    schedule: str | dict[str, Any] | None = None
    # For people starting it by hand (the Start page): what it does, and an input to try.
    description: str = ""
    example: Any = None


@dataclass(frozen=True)
class ActivityDef:
    name: str
    fn: Callable[..., Any]
    options: dict[str, Any] = field(default_factory=dict)  # limits (workflows/limits)
    timeouts: ActivityTimeouts = NO_TIMEOUTS  # defaults of every call (engine/timeouts.py)


@dataclass(frozen=True)
class PayloadTypes:
    """The type hints a function's input and result are converted with (engine/converter.py).

    ``Any`` (no hint) keeps the value in its JSON form.
    """

    input: Any = Any
    output: Any = Any


PLAIN_JSON = PayloadTypes()
# An orchestrator is a generator: its result is the third argument of Generator[Y, S, R].
_GENERATORS = {cabc.Generator, cabc.Iterator, cabc.Iterable}


class _Annotations:
    """What typing.get_type_hints reads: one function's chosen annotations."""

    def __init__(self, annotations: dict[str, Any]) -> None:
        self.__annotations__ = annotations


def payload_types(fn: Callable[..., Any], what: str) -> PayloadTypes:
    """The hints of ``fn(ctx, input) -> result``: its second parameter and its return.

    Only these two are resolved (a ``ctx`` hint that names a type imported only under
    TYPE_CHECKING does not matter). One that cannot be resolved raises PayloadError.
    """
    params = [
        p
        for p in inspect.signature(fn).parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    raw = getattr(fn, "__annotations__", {})
    wanted = {"return": "result"}
    if len(params) > 1:
        wanted[params[1].name] = f"parameter {params[1].name!r}"
    chosen = {name: raw[name] for name in wanted if name in raw}
    try:
        hints = typing.get_type_hints(_Annotations(chosen), globalns=getattr(fn, "__globals__", {}))
    except Exception as exc:  # noqa: BLE001 - NameError, SyntaxError in a string hint...
        raise PayloadError(
            f"The type hints of {what} cannot be resolved ({type(exc).__name__}: {exc}). "
            "Define or import the types they name at module level (not only under "
            "TYPE_CHECKING), or remove the hint."
        ) from None
    output = hints.get("return", Any)
    if typing.get_origin(output) in _GENERATORS:
        args = typing.get_args(output)
        output = args[2] if len(args) == 3 else Any
    input_hint = hints.get(params[1].name, Any) if len(params) > 1 else Any
    return PayloadTypes(input_hint, output)


def _check_name(kind: str, name: Any) -> str:
    if not isinstance(name, str) or not name.strip():
        raise RegistrationError(f"{kind} name must be a non-empty string, got {name!r}.")
    if name != name.strip():
        raise RegistrationError(f"{kind} name {name!r} has leading or trailing spaces.")
    return name


def _same_code(a: Callable[..., Any], b: Callable[..., Any]) -> bool:
    # A module imported twice (e.g. under two names) re-registers the same code.
    return (a.__module__, a.__qualname__) == (b.__module__, b.__qualname__)


ACTIVITY_OPTIONS = ("max_concurrency", "rate_limit", "queue")
PERIOD_SECONDS = {"s": 1.0, "m": 60.0, "h": 3600.0}
_RATE = re.compile(r"([0-9]+)/([smh])")
# A dramatiq queue name (its actor.py pattern); the broker queue is durable-<hub>-activities-<name>.
_QUEUE = re.compile(r"[a-zA-Z_][a-zA-Z0-9._-]{0,99}")
# `durable worker --queues` names the hub's own two queues so.
RESERVED_QUEUES = frozenset({"default", "orchestrations"})


def parse_rate(text: Any) -> tuple[int, float]:
    """``"100/m"`` -> ``(100, 60.0)``: at most that many starts per that many seconds."""
    match = _RATE.fullmatch(text) if isinstance(text, str) else None
    if match is None or int(match[1]) < 1:
        raise ValueError(
            f"rate_limit must look like '20/s', '100/m' or '1000/h' (a positive whole number "
            f"of starts per second, minute or hour), got {text!r}."
        )
    return int(match[1]), PERIOD_SECONDS[match[2]]


def check_activity_options(name: str, options: dict[str, Any]) -> dict[str, Any]:
    """Validate ``@activity`` options (also used for DURABLE_ACTIVITY_LIMITS); returns them.

    ``None`` means "not set", so a setting can lift a limit the decorator declared.
    """
    unknown = sorted(set(options) - set(ACTIVITY_OPTIONS))
    if unknown:
        raise RegistrationError(
            f"Activity {name!r}: unknown option(s) {', '.join(unknown)}. Activities take "
            "max_concurrency=N, rate_limit='N/s|m|h', queue='name', start_to_close=seconds and "
            "heartbeat_timeout=seconds; retrying is set where the activity is called: "
            "ctx.call_activity(..., retry=RetryPolicy(...))."
        )
    limit = options.get("max_concurrency")
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 1):
        raise RegistrationError(
            f"Activity {name!r}: max_concurrency must be a whole number >= 1, got {limit!r}."
        )
    if options.get("rate_limit") is not None:
        try:
            parse_rate(options["rate_limit"])
        except ValueError as exc:
            raise RegistrationError(f"Activity {name!r}: {exc}") from None
    queue = options.get("queue")
    if queue is not None and (
        not isinstance(queue, str)
        or not _QUEUE.fullmatch(queue)
        or queue.endswith((".DQ", ".XQ"))
        or queue in RESERVED_QUEUES
    ):
        raise RegistrationError(
            f"Activity {name!r}: queue must be a queue name of letters, digits, '.', '_' or "
            f"'-' (1-100 characters, starting with a letter or '_'; not 'default' or "
            f"'orchestrations', not ending in .DQ/.XQ), got {queue!r}."
        )
    return dict(options)


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

    def __init__(self, converter: DataConverter | None = None) -> None:
        # Turns payloads into their stored JSON form and back (DURABLE_DATA_CONVERTER).
        self.converter = converter or DEFAULT_CONVERTER
        self._types: dict[Callable[..., Any], PayloadTypes] = {}
        self._orchestrators: dict[str, dict[int, OrchestratorDef]] = {}
        self._activities: dict[str, ActivityDef] = {}
        self._entities: dict[str, EntityDef] = {}
        self.changes = 0  # bumped by every registration: callers cache what they derive

    # -- registration -------------------------------------------------------
    def orchestrator(
        self,
        name: str | None = None,
        version: int = 1,
        *,
        schedule: str | dict[str, Any] | None = None,
        description: str | None = None,
        example: Any = None,
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Register an orchestrator; ``schedule`` also starts it on a timetable.

        Example::

            @orchestrator(name="monitor", schedule="*/5 * * * *")
            def monitor(ctx, scheduled_at): ...

            @orchestrator(name="order", description="Reserve, charge, ship.",
                          example={"order_id": "o-1", "amount": 59.9})
            def order(ctx, order): ...

        ``description`` (else the docstring's first paragraph) and ``example`` (JSON
        input) are shown on the Start page, the example pre-filled.

        ``schedule`` is a cron text or a dict (``{"cron": "30 2 * * *", "timezone":
        "Europe/Berlin", "overlap": "skip"}``: docs/architecture.md, "Schedules").
        """

        def register(fn: Callable[..., Any]) -> Callable[..., Any]:
            self.add_orchestrator(
                fn,
                name or fn.__name__,
                version,
                schedule=schedule,
                description=description,
                example=example,
            )
            return fn

        return register

    def activity(
        self, name: str | None = None, **options: Any
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Register an activity; options limit it across all workers (workflows/limits.py).

        Example::

            @activity(name="call_partner", max_concurrency=5, rate_limit="100/m",
                      queue="partner-api")
            def call_partner(ctx, request): ...

        ``max_concurrency``: at most N running at once; ``rate_limit``: at most N starts
        per second/minute/hour ("N/s", "N/m", "N/h"); ``queue``: its own broker queue,
        served by ``durable worker --queues partner-api``. DURABLE_ACTIVITY_LIMITS wins.

        Timeouts, in seconds or as a timedelta, for every call (a call's own win):
        ``start_to_close``: one run may take at most this long; ``heartbeat_timeout``:
        a run that calls ``ctx.heartbeat()`` less often is treated as hung. Either fails
        the attempt with ActivityTimedOut (retried by the call's policy)::

            @activity(name="import_rows", start_to_close=3600, heartbeat_timeout=60)
            def import_rows(ctx, rows): ...
        """

        def register(fn: Callable[..., Any]) -> Callable[..., Any]:
            self.add_activity(fn, name or fn.__name__, **options)
            return fn

        return register

    def add_orchestrator(
        self,
        fn: Callable[..., Any],
        name: str,
        version: int = 1,
        schedule: str | dict[str, Any] | None = None,
        description: str | None = None,
        example: Any = None,
    ) -> None:
        _check_name("Orchestrator", name)
        if description is not None and not isinstance(description, str):
            raise RegistrationError(f"Orchestrator {name!r}: description must be text.")
        try:
            example = self.converter.to_json(example, f"example input of orchestrator {name!r}")
        except Exception as exc:  # noqa: BLE001 - any reason it is not JSON: one message
            raise RegistrationError(f"Orchestrator {name!r}: {exc}") from None
        if description is None:
            description = (inspect.getdoc(fn) or "").split("\n\n")[0].replace("\n", " ")
        if schedule is not None and not isinstance(schedule, str | dict):
            raise RegistrationError(
                f"Orchestrator {name!r}: schedule must be a cron text such as '*/5 * * * *' "
                f"or a dict of schedule fields, got {schedule!r}."
            )
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
        versions[version] = OrchestratorDef(name, version, fn, schedule, description, example)
        fn.__durable_name__ = name  # type: ignore[attr-defined]

    def add_activity(self, fn: Callable[..., Any], name: str, **options: Any) -> None:
        _check_name("Activity", name)
        timeouts = {key: options.pop(key) for key in TIMEOUT_OPTIONS if key in options}
        try:
            declared = ActivityTimeouts.of(**timeouts)
        except ValueError as exc:
            raise RegistrationError(f"Activity {name!r}: {exc}") from None
        check_activity_options(name, options)
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
        self._activities[name] = ActivityDef(name, fn, dict(options), declared)
        self.changes += 1
        fn.__durable_name__ = name  # type: ignore[attr-defined]

    def entity(
        self, name: str | None = None, *, operations: list[str] | None = None
    ) -> Callable[[Any], Any]:
        """Register an entity: a function ``fn(ctx, operation, input)``, or a class whose
        public methods are the operations and whose public fields are the state.

        ``operations`` (functions only) lists the operation names, so an unknown one is
        refused where it is sent. See ``workflows/engine/entities.py``.

        Example::

            @entity(name="bank_account")
            class BankAccount:
                balance = 0

                def deposit(self, amount):
                    self.balance += amount
                    return self.balance
        """

        def register(target: Any) -> Any:
            self.add_entity(target, name or target.__name__, operations)
            return target

        return register

    def add_entity(self, target: Any, name: str, operations: list[str] | None = None) -> None:
        _check_name("Entity", name)
        definition = define_entity(target, name, operations)
        existing = self._entities.get(name)
        if existing is not None and not _same_code(existing.target, target):
            raise RegistrationError(
                f"Entity {name!r} is already registered by "
                f"{existing.target.__module__}.{existing.target.__qualname__}. Choose another name."
            )
        self._entities[name] = definition
        self.changes += 1
        target.__durable_name__ = name

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

    def get_entity(self, name: str) -> EntityDef:
        try:
            return self._entities[name]
        except KeyError:
            raise UnknownEntityError(name, known=list(self._entities)) from None

    def has_entity(self, name: str) -> bool:
        return name in self._entities

    def entity_names(self) -> list[str]:
        return sorted(self._entities)

    def check_entity_call(self, name: str, operation: str | None = None) -> None:
        """Raise :class:`UnknownEntityError` for an unknown entity or operation."""
        definition = self.get_entity(name)
        if operation is not None:
            definition.check_operation(operation)

    def activity_timeouts(self, name: str) -> ActivityTimeouts:
        """The timeouts ``@activity(...)`` declared for ``name`` (none if not registered here)."""
        definition = self._activities.get(name)
        return definition.timeouts if definition is not None else NO_TIMEOUTS

    def orchestrator_names(self) -> list[str]:
        return sorted(self._orchestrators)

    def payload_types(self, kind: str, name: str, version: int | None = None) -> PayloadTypes:
        """The input and result hints of activity or orchestrator ``name`` (``kind``).

        Plain JSON for one not registered here (the other side converts it). Resolved at
        first use, not at registration: a type defined below the function is found then.

        Example::

            registry.payload_types("activity", "charge").input  # e.g. <class 'Order'>
        """
        if kind == "activity":
            definition = self._activities.get(name)
            fn = definition.fn if definition is not None else None
        elif self.has_orchestrator(name, version):
            fn = self.get_orchestrator(name, version).fn
        else:
            fn = None
        if fn is None:
            return PLAIN_JSON
        # By function, not by name: what is registered under a name may change.
        found = self._types.get(fn)
        if found is None:
            found = self._types[fn] = payload_types(fn, f"{kind} {name!r}")
        return found

    def declared_schedules(self) -> dict[str, str | dict[str, Any]]:
        """``{orchestrator name: schedule}`` of the newest version declaring one."""
        found: dict[str, str | dict[str, Any]] = {}
        for name, versions in self._orchestrators.items():
            for version in sorted(versions):
                if versions[version].schedule is not None:
                    found[name] = versions[version].schedule  # type: ignore[assignment]
        return found

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
entity = default_registry.entity
