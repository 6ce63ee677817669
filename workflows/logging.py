"""Structured runtime logs: every line about an instance names it.

Runtime log calls pass ``extra=log_context(instance)``; the formatters here render
those fields (``instance_id``, ``execution_id``, ``business_key``) and any other
``extra`` values, as ``key=value`` text or as one JSON object per line
(``DURABLE_LOG_FORMAT``). :class:`ContextFilter` gives every record the three
fields (empty when a line is about no instance), so format strings may name them.

Example (settings.LOGGING)::

    "filters": {"durable_context": {"()": "workflows.logging.ContextFilter"}},
    "formatters": {"json": {"()": "workflows.logging.JsonFormatter"}},

One record is one line, whatever it quotes: a business key, an event name or a URL path
holding a newline would otherwise forge a log line. The text formatter writes line breaks
and other control characters of the line as escapes (``\\n``, ``\\x1b``, ``\\u2028``);
the JSON formatter escapes them inside its strings, so each line is one valid JSON object
that reads back to the exact message. A traceback stays below its line, multi-line.

Standard library only: settings.LOGGING imports this before Django is set up.
"""

from __future__ import annotations

import json
import logging
import math
import re
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

# What must not reach a text log line as itself: C0 control characters (line feed, carriage
# return, escape, ...), DEL and C1 (U+0085 is a line break to str.splitlines), the Unicode
# line and paragraph separators, and lone surrogates (a UTF-8 stream cannot encode them:
# the handler would print "--- Logging error ---" instead of the line).
_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
# The ones json.dumps leaves as they are (it escapes C0 itself).
_UNSAFE_IN_JSON = re.compile(r"[\x7f-\x9f\u2028\u2029\ud800-\udfff]")
_SHORT_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape_char(match: re.Match[str]) -> str:
    char = match.group()
    if char in _SHORT_ESCAPES:
        return _SHORT_ESCAPES[char]
    code = ord(char)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def escape(text: str) -> str:
    """``text`` with line breaks and other control characters written as escapes, so that
    it cannot start a new log line or drive the terminal that shows it.

    Example::

        escape("SO-1\\nERROR forged")  # -> 'SO-1\\\\nERROR forged' (prints as SO-1\\nERROR ...)
    """
    return _UNSAFE.sub(_escape_char, text)


def _json_escape_char(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


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
    if not text or _UNSAFE.search(text) or any(c.isspace() or c in '"=' for c in text):
        # Quoted; json.dumps escapes quotes and C0, escape() what it leaves as it is.
        return escape(json.dumps(text, ensure_ascii=False))
    return text


class StructuredFormatter(logging.Formatter):
    """The usual line, then ``key=value`` for the context and other scalar ``extra`` fields.

    ``2026-01-05 10:00:00 INFO workflows.runtime: activity charge completed
    instance_id=order-7 execution_id=3f2a… business_key=SO-1001 task_pk=12``
    """

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 - logging's name
        # The line only: format() appends the traceback and stack after this, multi-line.
        return escape(super().formatMessage(record))

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
    """One JSON object per line: time, level, logger, message, context, extras, exception.

    Always valid JSON on one line: NaN and infinities of extra fields are written as text,
    and what json.dumps leaves unescaped but a reader may take as a line break or cannot
    encode (U+0085, U+2028, U+2029, DEL, C1, lone surrogates) is written as a ``\\u``
    escape, which reads back as the same character.
    """

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record_fields(record).items():
            if not isinstance(value, _SCALARS) or (
                isinstance(value, float) and not math.isfinite(value)
            ):
                value = str(value)  # json.dumps would write NaN or Infinity: not JSON
            data[key] = value
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        line = json.dumps(data, ensure_ascii=False, default=str)
        # These characters occur only inside JSON strings, where \\uXXXX means the same.
        return _UNSAFE_IN_JSON.sub(_json_escape_char, line)
