"""Every ``DURABLE_*`` setting in one place: its default, its type, its rule.

``durableapp/settings.py`` only copies ``DURABLE_*`` variables from the environment (as
text); a project may also set them in its own settings module (typed values). Either
way they are read here, and nowhere else::

    from workflows.conf import conf

    lease = conf.ACTIVITY_LEASE_SECONDS  # float, DURABLE_ACTIVITY_LEASE_SECONDS or 300

A bad value is reported once at start-up by a Django system check (``durable.E001``,
naming the variable and what it accepts; ``manage.py check`` shows it, and every
management command, ``durable worker`` included, refuses to run), and again, as
ImproperlyConfigured, by any code that reads it anyway. A good value is parsed once and
kept until Django says the setting changed (``setting_changed``: ``override_settings`` and
pytest-django's ``settings`` send it), so tests can change any of them.
"""

from __future__ import annotations

import base64
import difflib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.utils.module_loading import import_string

T = TypeVar("T")

PREFIX = "DURABLE_"
# Read by durableapp/settings.py itself (they shape Dramatiq's and logging's settings).
READ_BY_SETTINGS = frozenset({"DURABLE_BROKER_URL", "DURABLE_LOG_FORMAT", "DURABLE_LOG_LEVEL"})


# -- parsers: text from the environment, or a typed value from a settings module -----------
def _integer(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError("not a number")
    if isinstance(value, float) and not value.is_integer():
        raise ValueError("not a whole number")
    return int(str(value).strip()) if isinstance(value, str) else int(value)


def _number(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError("not a number")
    return float(value.strip()) if isinstance(value, str) else float(value)


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError("not a boolean")


def _optional_boolean(value: Any) -> bool | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return _boolean(value)


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("not a string")
    return value.strip()


def _names(value: Any) -> list[str]:
    items = value.split(",") if isinstance(value, str) else list(value)
    return [str(item).strip() for item in items if str(item).strip()]


def _objects(value: Any) -> dict[str, dict[str, Any]]:
    parsed = json.loads(value) if isinstance(value, str) else value
    if parsed in ("", None):
        return {}
    if not isinstance(parsed, dict) or not all(isinstance(v, dict) for v in parsed.values()):
        raise ValueError("not an object of objects")
    return parsed


def _keys(value: Any) -> dict[str, str]:
    """Key id -> urlsafe base64 of 32 random bytes (an AES-256 key)."""
    parsed = json.loads(value) if isinstance(value, str) and value.strip() else value
    if parsed in ("", None):
        return {}
    if not isinstance(parsed, dict):
        raise ValueError("not an object")
    for key_id, key in parsed.items():
        # Lower case: SQLite compares the ids rotate-key searches for without case.
        if not re.fullmatch(r"[a-z0-9_.-]{1,32}", str(key_id)) or not isinstance(key, str):
            raise ValueError("bad key id")
        if len(base64.urlsafe_b64decode(key.encode())) != 32:
            raise ValueError("not 32 bytes")
    return {str(k): v for k, v in parsed.items()}


def _optional_integer(value: Any) -> int | None:
    return None if value in (None, "") else _integer(value)


# -- the settings ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Setting(Generic[T]):
    """One ``DURABLE_*`` setting; a descriptor on :class:`DurableSettings`."""

    name: str
    default: T
    parse: Callable[[Any], T]
    accepts: str  # what a valid value is, for the error message
    valid: Callable[[T], bool] = lambda _value: True

    def read(self) -> T:
        """The current value, parsed; ImproperlyConfigured (naming it) when it is bad."""
        try:
            return _parsed[self.name]
        except KeyError:
            value = _parsed[self.name] = self.parse_current()
            return value

    def parse_current(self) -> T:
        """The value in Django's settings now, parsed (not kept)."""
        raw = getattr(settings, self.name, self.default)
        try:
            value = self.parse(raw)
            if value is not None and not self.valid(value):
                raise ValueError("out of range")
        except (TypeError, ValueError):
            raise ImproperlyConfigured(
                f"{self.name}={raw!r} is not valid: use {self.accepts}."
            ) from None
        return value

    def __get__(self, obj: object, owner: type | None = None) -> T:
        return self.read()


# Good values, parsed once. A step reads some twenty settings, and each read cost 16-70 us
# (measured on a loaded 2-core machine): Django's lookup of a DURABLE_* name that the
# settings module does not define (an AttributeError each time) and the parse.
_parsed: dict[str, Any] = {}


def _forget(setting: str, **_: Any) -> None:
    # Connected when this module is imported, so before any receiver that reads the new
    # value through conf (workflows/apps.py's data converter).
    _parsed.pop(setting, None)


setting_changed.connect(_forget, dispatch_uid="workflows.conf")


def _positive(value: float) -> bool:
    return value > 0


def _at_least(low: int) -> Callable[[float], bool]:
    return lambda value: value >= low


def _data_converter(value: Any) -> Any:
    """A dotted path to a data converter class (made once per read) or instance."""
    try:
        target = import_string(value.strip()) if isinstance(value, str) else value
    except ImportError:
        raise ValueError("cannot be imported") from None
    if isinstance(target, type):
        target = target()
    if not all(callable(getattr(target, name, None)) for name in ("to_json", "from_json")):
        raise ValueError("not a data converter")
    return target


class DurableSettings:
    """The runtime's settings, read through ``conf.NAME`` (without the DURABLE_ prefix)."""

    TASK_HUB = Setting(
        "DURABLE_TASK_HUB",
        "default",
        _text,
        "1-64 letters, digits or _",
        lambda v: re.fullmatch(r"[A-Za-z0-9_]{1,64}", v) is not None,
    )
    # Modules that define your orchestrators and activities, imported at start-up by
    # every process (web and workers), e.g. "shop.workflows,billing.workflows".
    WORKFLOW_MODULES = Setting(
        "DURABLE_WORKFLOW_MODULES", [], _names, "comma-separated module names"
    )
    # Typed payloads (README "Payloads"): what turns inputs and results into the JSON that
    # history stores and back, by type hint. A subclass adds types; read once at start-up.
    DATA_CONVERTER = Setting(
        "DURABLE_DATA_CONVERTER",
        "workflows.engine.converter.DataConverter",
        _data_converter,
        "the dotted path of an importable DataConverter subclass or instance (with "
        "to_json and from_json), e.g. 'workflows.engine.converter.DataConverter'",
    )
    # A wake-up or task message not acted on for this long is considered lost and re-sent.
    REDELIVER_AFTER_SECONDS = Setting(
        "DURABLE_REDELIVER_AFTER_SECONDS", 5.0, _number, "seconds above 0", _positive
    )
    # Largest JSON payload entering history: inputs, events, activity results, outputs.
    MAX_PAYLOAD_BYTES = Setting(
        "DURABLE_MAX_PAYLOAD_BYTES", 256 * 1024, _integer, "a byte count above 0", _positive
    )
    # A running task's lease; a live worker renews it every third of this (so a task may
    # run for hours), a dead one stops, and its tasks run again once it lapses.
    ACTIVITY_LEASE_SECONDS = Setting(
        "DURABLE_ACTIVITY_LEASE_SECONDS", 30.0, _number, "seconds above 0", _positive
    )
    SWEEP_INTERVAL_SECONDS = Setting(
        "DURABLE_SWEEP_INTERVAL_SECONDS", 1.0, _number, "seconds above 0", _positive
    )
    # ctx.heartbeat() in an activity writes at most this often (or every third of the
    # activity's heartbeat_timeout when that is shorter); beats in between keep only their
    # details for the next write. 0 writes every beat.
    HEARTBEAT_INTERVAL_SECONDS = Setting(
        "DURABLE_HEARTBEAT_INTERVAL_SECONDS", 3.0, _number, "seconds, 0 or more", _at_least(0)
    )
    # Largest heartbeat details (JSON bytes); MAX_PAYLOAD_BYTES when that is smaller.
    HEARTBEAT_MAX_BYTES = Setting(
        "DURABLE_HEARTBEAT_MAX_BYTES", 16 * 1024, _integer, "a byte count above 0", _positive
    )
    # Threads of a worker process running activities, and (separately, so episodes never
    # wait behind long activities) threads running orchestration episodes.
    WORKER_THREADS = Setting(
        "DURABLE_WORKER_THREADS", 4, _integer, "a whole number of at least 1", _at_least(1)
    )
    ORCHESTRATION_THREADS = Setting(
        "DURABLE_ORCHESTRATION_THREADS",
        2,
        _integer,
        "a whole number of at least 1",
        _at_least(1),
    )
    # `async def` activities run on one event loop per worker process (runtime/eventloop.py),
    # at most this many at once. A full loop takes no more: a worker thread waits for room
    # to hand its message's task over (taking no further message meanwhile), and a batch's
    # or an episode's further async tasks go back to the broker unstarted.
    ASYNC_ACTIVITY_CONCURRENCY = Setting(
        "DURABLE_ASYNC_ACTIVITY_CONCURRENCY",
        100,
        _integer,
        "a whole number of at least 1",
        _at_least(1),
    )
    # On SIGTERM a worker stops taking work and lets running activities finish this long;
    # then it releases the leases of what still runs (others take it over at once).
    SHUTDOWN_GRACE_SECONDS = Setting(
        "DURABLE_SHUTDOWN_GRACE_SECONDS", 30.0, _number, "seconds, 0 or more", _at_least(0)
    )
    # Tasks of a large fan-out sent to one worker thread per message (1: one a message);
    # a batch running longer than ACTIVITY_BATCH_SECONDS gives the rest back.
    ACTIVITY_BATCH_SIZE = Setting(
        "DURABLE_ACTIVITY_BATCH_SIZE",
        25,
        _integer,
        "a whole number of at least 1 (1 turns batching off)",
        _at_least(1),
    )
    ACTIVITY_BATCH_SECONDS = Setting(
        "DURABLE_ACTIVITY_BATCH_SECONDS", 1.0, _number, "seconds above 0", _positive
    )
    STICKY_CACHE_SIZE = Setting(
        "DURABLE_STICKY_CACHE_SIZE", 1000, _integer, "a whole number, 0 or more", _at_least(0)
    )
    # Deployment safety (workflows/versioning.py): a worker refuses to start when active
    # instances use orchestrator versions (or activities) its code no longer registers.
    SKIP_REPLAY_CHECK = Setting("DURABLE_SKIP_REPLAY_CHECK", False, _boolean, "1 or 0")
    # Also replay every active instance's history at worker start (slower).
    STARTUP_FULL_REPLAY = Setting("DURABLE_STARTUP_FULL_REPLAY", False, _boolean, "1 or 0")
    # A history longer than this logs a warning and suggests continue-as-new.
    HISTORY_WARNING_EVENTS = Setting(
        "DURABLE_HISTORY_WARNING_EVENTS",
        10000,
        _integer,
        "an event count, 0 or more (0 turns the warning off)",
        _at_least(0),
    )
    # Retention (workflows/retention.py): the sweeper purges instances finished more than
    # this many days ago, at most every RETENTION_INTERVAL_SECONDS. 0 keeps everything.
    RETENTION_DAYS = Setting(
        "DURABLE_RETENTION_DAYS", 0.0, _number, "days, 0 or more (0 keeps all)", _at_least(0)
    )
    RETENTION_INTERVAL_SECONDS = Setting(
        "DURABLE_RETENTION_INTERVAL_SECONDS",
        300.0,
        _number,
        "seconds, 0 or more (0: every sweep)",
        _at_least(0),
    )
    RETENTION_BATCH = Setting(
        "DURABLE_RETENTION_BATCH", 1000, _integer, "a whole number of at least 1", _at_least(1)
    )
    # Per-activity limits across all workers (workflows/limits/), by activity name; a key
    # here wins over the same option of @activity(...) (null lifts it), e.g.
    # '{"call_partner": {"max_concurrency": 5, "rate_limit": "20/s"}}'.
    ACTIVITY_LIMITS = Setting(
        "DURABLE_ACTIVITY_LIMITS",
        {},
        _objects,
        'a JSON object of objects, e.g. {"call_partner": {"max_concurrency": 5, '
        '"rate_limit": "20/s", "queue": "partner"}}',
    )
    # Payloads at rest (workflows/payloads/, README "Payloads"). "aesgcm" encrypts every
    # stored payload with the key DURABLE_PAYLOAD_KEY_ID names in DURABLE_PAYLOAD_KEYS
    # (a JSON object, key id -> urlsafe base64 of 32 random bytes); "" stores plain JSON.
    PAYLOAD_CODEC = Setting(
        "DURABLE_PAYLOAD_CODEC",
        "",
        lambda v: _text(v).lower(),
        '"" (plain JSON) or "aesgcm"',
        lambda v: v in {"", "aesgcm"},
    )
    PAYLOAD_KEYS = Setting(
        "DURABLE_PAYLOAD_KEYS",
        {},
        _keys,
        "a JSON object of key ids (lower-case letters, digits, _.-) to urlsafe base64 of 32 "
        "bytes, e.g. "
        '{"k1": "<python -c \'import base64,os;print(base64.urlsafe_b64encode(os.urandom(32))'
        ".decode())'>\"}",
    )
    PAYLOAD_KEY_ID = Setting(
        "DURABLE_PAYLOAD_KEY_ID", "", _text, "a key id of DURABLE_PAYLOAD_KEYS"
    )
    # Payload JSON larger than this is zlib-compressed before it is stored (0: never).
    PAYLOAD_COMPRESS_BYTES = Setting(
        "DURABLE_PAYLOAD_COMPRESS_BYTES", 0, _integer, "a byte count, 0 or more", _at_least(0)
    )
    # Payloads (inputs, outputs, results, history values) stored larger than this go to
    # the payload storage, the row keeps a reference (0: never). DURABLE_MAX_PAYLOAD_BYTES
    # still caps every payload, offloaded or not.
    PAYLOAD_OFFLOAD_BYTES = Setting(
        "DURABLE_PAYLOAD_OFFLOAD_BYTES", 0, _integer, "a byte count, 0 or more", _at_least(0)
    )
    # A STORAGES alias for offloaded payloads (e.g. an S3 bucket of django-storages); "":
    # a FileSystemStorage in DURABLE_PAYLOAD_DIR (never served by the web server).
    PAYLOAD_STORAGE = Setting("DURABLE_PAYLOAD_STORAGE", "", _text, "a STORAGES alias")
    # "": var/payloads under the project's BASE_DIR.
    PAYLOAD_DIR = Setting("DURABLE_PAYLOAD_DIR", "", _text, "a folder")
    # Tracing (workflows/tracing.py) exports a failure's type only: its message and
    # traceback are payloads (encrypted at rest, shown with workflows.view_payloads), and
    # the collector is outside that. 1 exports them too.
    TRACE_FAILURE_MESSAGES = Setting("DURABLE_TRACE_FAILURE_MESSAGES", False, _boolean, "1 or 0")
    # Log lines of failed activities and compensations quote the failure's message
    # ("ValueError: card 4111... declined"). "" (default): they do while payloads are
    # stored in clear text and give the type only once DURABLE_PAYLOAD_CODEC encrypts them
    # (the logs must not hold what the database may not); 1 or 0 decides either way.
    LOG_FAILURE_MESSAGES = Setting(
        "DURABLE_LOG_FAILURE_MESSAGES", None, _optional_boolean, '"", 1 or 0'
    )
    # /metrics (workflows/metrics.py): users with workflows.view_instance, or
    # `Authorization: Bearer <token>`.
    METRICS_TOKEN = Setting("DURABLE_METRICS_TOKEN", "", _text, "a string")
    # Largest request body the API parses; unset: twice MAX_PAYLOAD_BYTES plus room for
    # the JSON envelope (workflows/api/parsers.py).
    API_MAX_BODY_BYTES = Setting(
        "DURABLE_API_MAX_BODY_BYTES",
        None,
        _optional_integer,
        "a byte count above 0",
        _positive,
    )
    # Retry-After of a 202 answer for a running instance.
    API_RETRY_AFTER_SECONDS = Setting(
        "DURABLE_API_RETRY_AFTER_SECONDS",
        1,
        _integer,
        "whole seconds, 0 or more",
        _at_least(0),
    )
    # The fan-out sample's parallelism when its input does not say (workflows/samples).
    SAMPLE_MAX_PARALLEL = Setting(
        "DURABLE_SAMPLE_MAX_PARALLEL",
        4,
        _integer,
        "a whole number of at least 1",
        _at_least(1),
    )


conf = DurableSettings()

SETTINGS: dict[str, Setting[Any]] = {
    s.name: s for s in vars(DurableSettings).values() if isinstance(s, Setting)
}


@checks.register(checks.Tags.compatibility)
def check_settings(app_configs: Any = None, **_: Any) -> list[checks.CheckMessage]:
    """Every DURABLE_* setting parses and is in range; unknown DURABLE_* names are typos."""
    problems: list[checks.CheckMessage] = []
    for setting in SETTINGS.values():
        try:
            setting.parse_current()
        except ImproperlyConfigured as exc:
            problems.append(checks.Error(str(exc), id="durable.E001"))
    known = set(SETTINGS) | READ_BY_SETTINGS
    for name in dir(settings):
        if name.startswith(PREFIX) and name not in known:
            close = difflib.get_close_matches(name, sorted(known), n=1)
            hint = f"did you mean {close[0]}?" if close else "see workflows/conf.py"
            problems.append(
                checks.Warning(f"{name} is not a durableapp setting", hint=hint, id="durable.W001")
            )
    return problems + _payload_problems()


def _payload_problems() -> list[checks.CheckMessage]:
    """The payload settings that only make sense together (README, "Payloads")."""
    try:
        codec, keys, key_id = conf.PAYLOAD_CODEC, conf.PAYLOAD_KEYS, conf.PAYLOAD_KEY_ID
        offload, limit = conf.PAYLOAD_OFFLOAD_BYTES, conf.MAX_PAYLOAD_BYTES
        alias = conf.PAYLOAD_STORAGE
    except ImproperlyConfigured:
        return []  # reported above as durable.E001
    problems: list[checks.CheckMessage] = []
    if codec and key_id not in keys:
        known = ", ".join(sorted(keys)) or "none"
        problems.append(
            checks.Error(
                f"DURABLE_PAYLOAD_CODEC={codec} encrypts with the key "
                f"DURABLE_PAYLOAD_KEY_ID={key_id!r} names, but DURABLE_PAYLOAD_KEYS holds "
                f"no such key (key ids: {known}).",
                hint="Set DURABLE_PAYLOAD_KEY_ID to one of DURABLE_PAYLOAD_KEYS' ids.",
                id="durable.E002",
            )
        )
    if alias and alias not in getattr(settings, "STORAGES", {}):
        problems.append(
            checks.Error(
                f"DURABLE_PAYLOAD_STORAGE={alias!r} is not an alias of settings.STORAGES.",
                hint="Add it to STORAGES, or leave DURABLE_PAYLOAD_STORAGE empty "
                "(a folder, DURABLE_PAYLOAD_DIR).",
                id="durable.E002",
            )
        )
    if offload and offload >= limit:
        problems.append(
            checks.Warning(
                f"DURABLE_PAYLOAD_OFFLOAD_BYTES={offload} is not below "
                f"DURABLE_MAX_PAYLOAD_BYTES={limit}: no payload is ever offloaded (the hard "
                "limit refuses larger ones first).",
                hint="Offload below the hard limit, e.g. DURABLE_PAYLOAD_OFFLOAD_BYTES=65536.",
                id="durable.W002",
            )
        )
    return problems
