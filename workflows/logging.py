"""Structured runtime logs: every line about an instance names it.

Runtime log calls pass ``extra=log_context(instance)``; the formatters here render
those fields (``instance_id``, ``execution_id``, ``business_key``) and any other
``extra`` values, as ``key=value`` text or as one JSON object per line
(``DURABLE_LOG_FORMAT``). :class:`ContextFilter` gives every record the three
fields (empty when a line is about no instance), so format strings may name them.

Example (settings.LOGGING)::

    "filters": {"durable_context": {"()": "workflows.logging.ContextFilter"}},
    "formatters": {"json": {"()": "workflows.logging.JsonFormatter"}},

Standard library only: settings.LOGGING imports this before Django is set up.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

CONTEXT_FIELDS = ("instance_id", "execution_id", "business_key")

# Attributes every LogRecord has; anything else on a record came in through ``extra``.
_RECORD_ATTRIBUTES = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message",
    "asctime",
    "taskName",
}
_SCALARS = (str, int, float, bool, type(None))


def log_context(instance: Any = None, **more: Any) -> dict[str, Any]:
    """The ``extra`` of a runtime log line about ``instance`` (an Instance row or None).

    Example::

        log.info("activity %s completed", name, extra=log_context(task.instance, task_pk=7))
    """
    context: dict[str, Any] = {}
    if instance is not None:
        context["instance_id"] = getattr(instance, "instance_id", "") or ""
        context["execution_id"] = getattr(instance, "execution_id", "") or ""
        context["business_key"] = getattr(instance, "business_key", "") or ""
    context.update(more)
    return context


def record_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The context fields and other ``extra`` values of a record, context first."""
    fields = {name: getattr(record, name, "") for name in CONTEXT_FIELDS}
    for key, value in record.__dict__.items():
        if key not in _RECORD_ATTRIBUTES and key not in fields and not key.startswith("_"):
            fields[key] = value
    return fields


class ContextFilter(logging.Filter):
    """Give every record ``instance_id``, ``execution_id`` and ``business_key`` ("" if none)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name in CONTEXT_FIELDS:
            if not hasattr(record, name):
                setattr(record, name, "")
        return True


def _text(value: Any) -> str:
    text = str(value)
    if not text or any(c.isspace() or c in '"=' for c in text):
        return json.dumps(text, ensure_ascii=False)
    return text


class StructuredFormatter(logging.Formatter):
    """The usual line, then ``key=value`` for the context and other scalar ``extra`` fields.

    ``2026-01-05 10:00:00 INFO workflows.runtime: activity charge completed
    instance_id=order-7 execution_id=3f2a… business_key=SO-1001 task_pk=12``
    """

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        pairs = [
            f"{key}={_text(value)}"
            for key, value in record_fields(record).items()
            if isinstance(value, _SCALARS) and value not in ("", None)
        ]
        if not pairs:
            return line
        head, newline, rest = line.partition("\n")  # keep a traceback below the fields
        return f"{head} {' '.join(pairs)}{newline}{rest}"


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, context, extras, exception."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record_fields(record).items():
            data[key] = value if isinstance(value, _SCALARS) else str(value)
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False, default=str)
