"""The input rules of durableapp, and the HTTP status of each refusal: one place for both.

DurableClient, the REST API (its serializers and OpenAPI schema), the UI forms and the CLI
all check ids, event names, texts and payloads with these functions, so a value one of them
accepts every other accepts too, and a refusal reads the same everywhere: what was wrong,
and what to do instead. Each check raises :class:`~workflows.engine.errors.InvalidInput`
(a ``ClientError``), which the API and the UI answer with the status in
:data:`ERROR_STATUSES`.

Only the standard library and ``workflows.engine`` are imported, so that every layer (even
one without Django settings, and the engine's own tests) can use this module. Settings such
as ``DURABLE_MAX_PAYLOAD_BYTES`` are therefore passed in by the caller.

Example::

    from workflows import rules

    rules.check_instance_id("order-42")          # -> "order-42"
    rules.check_instance_id("order 42")          # InvalidInput: ... contains ' ' ...
    rules.check_payload({"n": 1}, "input", limit=1000)  # -> 7 (bytes as stored)
    rules.parse_json('{"n": 1}', "input")                # -> {"n": 1}
    rules.parse_json("[" * 5000, "input")  # InvalidInput: ... nested deeper than 100 levels ...
    rules.http_status(InstanceExists("order-42", "running"))  # -> 409
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from functools import partial
from http import HTTPStatus
from types import MappingProxyType
from typing import Any, Final

from .engine.errors import (
    ClientError,
    InstanceExists,
    InstanceNotFound,
    InvalidInput,
    InvalidState,
    NotAllowed,
    PayloadError,
    UnknownOrchestratorError,
)
from .engine.payloads import encode

# -- patterns and lengths ---------------------------------------------------------------------

MAX_ID_LENGTH: Final = 200
# Anchored, so the OpenAPI schema can publish them as they are; always used with fullmatch
# (with search/match, ``$`` would let a trailing newline through).
ID_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,199}$"
ID_RULE: Final = "use 1-200 letters, digits and _ . : @ -, starting with a letter or digit"

MAX_EVENT_NAME_LENGTH: Final = 200
EVENT_NAME_PATTERN: Final = r"^[A-Za-z0-9_.:-]{1,200}$"
EVENT_NAME_RULE: Final = "use 1-200 letters, digits and _ . : -"
# Approvals and compensation decisions travel as events under this prefix (the engine's
# APPROVAL_EVENT_PREFIX and COMPENSATION_EVENT_PREFIX); a caller must not forge them.
RESERVED_EVENT_PREFIX: Final = "durable:"

# Approval and compensation ids are database keys: at most 18 digits, so they fit a bigint.
RECORD_ID_PATTERN: Final = r"^[1-9][0-9]{0,17}$"
# Page cursors are the primary key of the last row shown, handed back as text.
CURSOR_PATTERN: Final = r"^[0-9]{1,18}$"

MAX_BUSINESS_KEY_LENGTH: Final = 200
MAX_REASON_LENGTH: Final = 1000  # operator actions' reasons (audit log, terminate reason)
MAX_NOTE_LENGTH: Final = 4000  # approval comments and compensation notes
# Deeper JSON is almost surely a mistake, and recursive encoders (json, DRF, psycopg) would
# hit Python's recursion limit long before PostgreSQL's jsonb does.
MAX_PAYLOAD_DEPTH: Final = 100

# Python will not turn longer digit strings into an int (``sys.get_int_max_str_digits()``,
# 4300 by default, because int() of long text takes quadratic time), so json.loads and
# json.dumps fail with a bare ValueError past it. No quantity needs more digits: such a value
# is an identifier or a blob and travels as text. Held as a rule of its own, so the answer does
# not change with an interpreter setting.
MAX_NUMBER_DIGITS: Final = 4300
_FIRST_TOO_LONG_INT: Final = 10**MAX_NUMBER_DIGITS  # the smallest int with more digits

# Control characters (C0, DEL, C1) and the Unicode line and paragraph separators: a business
# key holding one could start a new line in a text log or move a terminal's cursor.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")

_ID = re.compile(ID_PATTERN)
_EVENT_NAME = re.compile(EVENT_NAME_PATTERN)
_RECORD_ID = re.compile(RECORD_ID_PATTERN)
_CURSOR = re.compile(CURSOR_PATTERN)
_ID_CHAR = re.compile(r"[A-Za-z0-9_.:@-]")
_EVENT_CHAR = re.compile(r"[A-Za-z0-9_.:-]")


class InputTooLarge(InvalidInput):
    """A payload is over the size limit (``DURABLE_MAX_PAYLOAD_BYTES``): HTTP 413.

    An ``InvalidInput`` like every other refusal of a value, so callers that catch that
    need no change; the status table tells it apart.
    """

    def __init__(self, what: str, size: int, limit: int) -> None:
        self.what = what
        self.size = size
        self.limit = limit
        super().__init__(
            f"The {what} is {size} bytes, over the limit of {limit} bytes "
            "(DURABLE_MAX_PAYLOAD_BYTES). Store large data elsewhere (object storage, a file "
            "or a table) and pass a reference to it, such as a key or URL."
        )


# -- ids and names ----------------------------------------------------------------------------


def _shown(value: Any) -> str:
    """``value`` for a message: a huge value must not make a huge error (or log line)."""
    if isinstance(value, str) and len(value) > 60:
        return f"{value[:40]!r}... ({len(value)} characters)"
    return repr(value)


def _problem(value: Any, max_length: int, allowed: re.Pattern[str], first_alnum: bool) -> str:
    """Why ``value`` breaks a name rule, in a few words (for a value known not to match)."""
    if not isinstance(value, str):
        return f"it is {type(value).__name__}, not text"
    if not value:
        return "it is empty"
    if len(value) > max_length:
        return f"it is {len(value)} characters long"
    if first_alnum and not (value[0].isascii() and value[0].isalnum()):
        return f"it starts with {value[0]!r}"
    for position, char in enumerate(value, 1):
        if not allowed.fullmatch(char):
            return f"it contains {char!r} (character {position})"
    return "it does not match"  # unreachable for the patterns above; kept as a safe answer


def id_problem(value: Any) -> str | None:
    """Why ``value`` is not a valid instance id (or event id); None when it is.

    Example::

        id_problem("order-42")   # -> None
        id_problem("-order")     # -> "it starts with '-'"
    """
    if isinstance(value, str) and _ID.fullmatch(value):
        return None
    return _problem(value, MAX_ID_LENGTH, _ID_CHAR, first_alnum=True)


def check_instance_id(value: Any, what: str = "instance id") -> str:
    """``value`` if it is a valid id, else InvalidInput naming ``what`` and the problem.

    Example::

        check_instance_id("order-42")               # -> "order-42"
        check_instance_id("a b", what="event id")
        # InvalidInput: Invalid event id 'a b': it contains ' ' (character 2); use 1-200 ...
    """
    problem = id_problem(value)
    if problem is not None:
        raise InvalidInput(f"Invalid {what} {_shown(value)}: {problem}; {ID_RULE}.")
    return value


def check_event_name(value: Any) -> str:
    """``value`` if callers may raise an event by that name, else InvalidInput.

    Names under ``durable:`` are refused: they carry approval and compensation decisions,
    which have their own checked operations.

    Example::

        check_event_name("approve")           # -> "approve"
        check_event_name("durable:approval")  # InvalidInput: ... is reserved ...
    """
    if not isinstance(value, str) or not _EVENT_NAME.fullmatch(value):
        problem = _problem(value, MAX_EVENT_NAME_LENGTH, _EVENT_CHAR, first_alnum=False)
        raise InvalidInput(f"Invalid event name {_shown(value)}: {problem}; {EVENT_NAME_RULE}.")
    if value.startswith(RESERVED_EVENT_PREFIX):
        raise InvalidInput(
            f"Event name {value!r} is reserved for approvals and compensation decisions; "
            "use DurableClient.decide or the compensation operations instead."
        )
    return value


def check_record_id(value: Any, what: str) -> int:
    """An approval or compensation id given as text (a URL part), as an int.

    Example::

        check_record_id("17", "approval id")   # -> 17
        check_record_id("017", "approval id")  # InvalidInput: Invalid approval id '017': ...
    """
    if not isinstance(value, str) or not _RECORD_ID.fullmatch(value):
        raise InvalidInput(
            f"Invalid {what} {_shown(value)}: use a positive whole number of at most 18 "
            "digits, as in the id field of a list."
        )
    return int(value)


def check_cursor(value: Any) -> int:
    """A page cursor (the ``next_cursor`` of a previous page) as an int.

    Example::

        check_cursor("1234")  # -> 1234
        check_cursor("abc")   # InvalidInput: Invalid cursor 'abc': ...
    """
    if not isinstance(value, str) or not _CURSOR.fullmatch(value):
        raise InvalidInput(
            f"Invalid cursor {_shown(value)}: pass back the next_cursor of the previous page "
            "unchanged, or leave it out for the first page."
        )
    return int(value)


# -- texts and payloads -----------------------------------------------------------------------


def text_problem(text: str) -> str | None:
    """Why ``text`` cannot be stored (PostgreSQL refuses both), or None when it can."""
    if "\x00" in text:
        return "contains a NUL character (\\u0000), which cannot be stored"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "contains an unpaired surrogate (\\ud800-\\udfff), which is not valid Unicode text"
    return None


def check_text(value: Any, what: str, max_length: int) -> str:
    """``value`` if it is storable text of at most ``max_length`` characters.

    For business keys, reasons, comments and notes: free text, but a string, not too long
    and without what the database cannot store.

    Example::

        check_text("EXP-7", "business key", MAX_BUSINESS_KEY_LENGTH)  # -> "EXP-7"
        check_text("x" * 300, "business key", 200)
        # InvalidInput: The business key is 300 characters long; use at most 200.
    """
    if not isinstance(value, str):
        raise InvalidInput(f"The {what} must be text, not {type(value).__name__}.")
    if len(value) > max_length:
        raise InvalidInput(f"The {what} is {len(value)} characters long; use at most {max_length}.")
    problem = text_problem(value)
    if problem is not None:
        raise InvalidInput(f"The {what} {problem}. Remove it.")
    return value


def check_business_key(value: Any) -> str:
    """``value`` if it can be a business key: storable text of at most
    :data:`MAX_BUSINESS_KEY_LENGTH` characters on one line, without control characters.

    The key is written into every log line about its instance; a newline in it would forge a
    line in a text log, an escape sequence would drive the terminal of whoever reads it.

    Example::

        check_business_key("SO-1001")          # -> "SO-1001"
        check_business_key("SO-1\\nERROR ...")
        # InvalidInput: The business key contains '\\n' (character 5), a control character ...
    """
    check_text(value, "business key", MAX_BUSINESS_KEY_LENGTH)
    found = _CONTROL.search(value)
    if found is not None:
        raise InvalidInput(
            f"The business key contains {found.group()!r} (character {found.start() + 1}), "
            "a control character; a business key is one line of text: use letters, digits, "
            "spaces and punctuation."
        )
    return value


def check_payload(value: Any, what: str, limit: int | None) -> int:
    """Check that ``value`` can enter history as JSON; return its stored size in bytes.

    Refused with InvalidInput: values that are not plain JSON data, NaN and infinities,
    whole numbers of more than :data:`MAX_NUMBER_DIGITS` digits, text the database cannot
    store (NUL, unpaired surrogates, also in keys) and nesting deeper than
    :data:`MAX_PAYLOAD_DEPTH`; with :class:`InputTooLarge` (HTTP 413): more than ``limit``
    bytes (None: no limit). ``what`` names the value in the message.

    Example::

        check_payload({"order_id": 17}, "input", limit=262144)  # -> 15
        check_payload({"at": datetime.now()}, "input", limit=None)
        # InvalidInput: The input is not JSON-serializable (...). Pass plain JSON data ...
    """
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:  # a loop, not recursion: the depth is what is being checked
        item, depth = stack.pop()
        if depth > MAX_PAYLOAD_DEPTH:
            raise InvalidInput(_too_deep(what))
        if isinstance(item, str):
            _check_payload_text(item, what)
        elif isinstance(item, float) and not math.isfinite(item):
            raise InvalidInput(_not_finite(what, nan=math.isnan(item)))
        elif isinstance(item, int) and abs(item) >= _FIRST_TOO_LONG_INT:
            raise InvalidInput(
                f"The {what} contains a whole number of more than {MAX_NUMBER_DIGITS} digits, "
                "which JSON readers cannot take as a number; send it as text."
            )
        elif isinstance(item, dict):
            for key, child in item.items():
                if isinstance(key, str):
                    _check_payload_text(key, what)
                stack.append((child, depth + 1))
        elif isinstance(item, (list, tuple)):
            stack.extend((child, depth + 1) for child in item)
    try:
        text = encode(value, what)
    except PayloadError as exc:
        raise InvalidInput(str(exc)) from None
    size = len(text.encode("utf-8", "surrogatepass"))
    if limit is not None and size > limit:
        raise InputTooLarge(what, size, limit)
    return size


def _check_payload_text(text: str, what: str) -> None:
    problem = text_problem(text)
    if problem is not None:
        raise InvalidInput(
            f"The {what} {problem}. Remove it, or encode binary data (e.g. as base64)."
        )


def _too_deep(what: str) -> str:
    return (
        f"The {what} is nested deeper than {MAX_PAYLOAD_DEPTH} levels. Flatten it, "
        "or store it elsewhere and pass a reference."
    )


def _not_finite(what: str, nan: bool) -> str:
    kind = "NaN" if nan else "an infinite number"
    return (
        f"The {what} contains {kind}, which JSON cannot carry; use a finite number "
        "(at most about 1.8e308), or send it as text."
    )


# -- reading JSON text ----------------------------------------------------------------------

_TYPED_JSON_HINT: Final = (
    'Write e.g. {"order_id": 17} or "text" in double quotes, or leave it empty for null.'
)


def _whole_number(what: str, digits: str) -> int:
    """json's ``parse_int``: refuse before int() would (it raises a bare ValueError)."""
    length = len(digits.lstrip("-"))
    if length > MAX_NUMBER_DIGITS:
        raise InvalidInput(
            f"The {what} contains a number of {length} digits; at most {MAX_NUMBER_DIGITS} "
            "are allowed in a number. Send it as text (in double quotes)."
        )
    return int(digits)


def _no_constant(what: str, name: str) -> Any:
    """json's ``parse_constant``: Python's json reads NaN and Infinity; JSON has neither."""
    raise InvalidInput(
        f"The {what} contains {name}, which is not JSON; use a finite number, null, "
        "or text (in double quotes)."
    )


def load_json(text: str, what: str, hint: str = "") -> Any:
    """Parse JSON ``text``; whatever is wrong with it is an InvalidInput naming ``what``.

    ``json.loads`` alone lets a few inputs crash a caller instead of being refused: deep
    nesting raises RecursionError, a number of more than :data:`MAX_NUMBER_DIGITS` digits a
    bare ValueError, and NaN or Infinity parse as if they were JSON. This checks only what
    is needed to read the text; :func:`check_payload` judges the value (depth, storable text,
    size), so that a request body can be read first and its fields judged one by one.
    ``hint`` follows the message of a syntax error (how valid JSON looks).

    Example::

        load_json('{"a": [1, 2]}', "request body")  # -> {"a": [1, 2]}
        load_json("1" * 5000, "request body")
        # InvalidInput: The request body contains a number of 5000 digits; at most 4300 ...
    """
    try:
        return json.loads(
            text,
            parse_int=partial(_whole_number, what),
            parse_constant=partial(_no_constant, what),
        )
    except InvalidInput:
        raise
    except json.JSONDecodeError as exc:
        where = f"{exc.msg} (line {exc.lineno}, column {exc.colno})"
        raise InvalidInput(f"The {what} is not valid JSON: {where}. {hint}".rstrip()) from None
    except RecursionError:
        # json's decoder recurses per level and stops at the interpreter's recursion limit
        # (about 1000), far deeper than MAX_PAYLOAD_DEPTH, so the rule's message is true.
        raise InvalidInput(_too_deep(what)) from None
    except ValueError as exc:  # any other refusal of json or int(): still the input's fault
        raise InvalidInput(f"The {what} is not valid JSON: {exc}. {hint}".rstrip()) from None


def parse_json(text: str | None, what: str) -> Any:
    """JSON typed by a person (a form field, a command-line option); empty means None.

    Read with :func:`load_json` and held to the payload rules (:func:`check_payload`
    without a size limit: the caller's DurableClient checks the size, HTTP 413), so a form
    or an option refuses what the API refuses, with a message instead of a crash: where the
    text broke and how valid JSON looks, too deep, too long a number, NaN, NUL, ...

    Example::

        parse_json('{"order_id": 17}', "input")  # -> {"order_id": 17}
        parse_json("", "input")                  # -> None
        parse_json("{'a': 1}", "input")
        # InvalidInput: The input is not valid JSON: Expecting property name enclosed in
        # double quotes (line 1, column 2). Write e.g. {"order_id": 17} or ...
        parse_json("[" * 5000 + "]" * 5000, "input")
        # InvalidInput: The input is nested deeper than 100 levels. Flatten it, ...
    """
    if text is None or not text.strip():
        return None
    value = load_json(text, what, hint=_TYPED_JSON_HINT)
    check_payload(value, what, limit=None)
    return value


# -- HTTP statuses ------------------------------------------------------------------------------

# The database away (a restart, no connection slots left): the REST API and the pages answer
# 503 with this Retry-After, in seconds, instead of a 500.
DATABASE_RETRY_AFTER: Final = 5

# The REST API and the UI answer every refusal with the status listed here. The most specific
# class wins (looked up along the exception's MRO); an error not listed is a bug (a 500).
ERROR_STATUSES: Final[Mapping[type[Exception], int]] = MappingProxyType(
    {
        ClientError: HTTPStatus.BAD_REQUEST,
        InvalidInput: HTTPStatus.BAD_REQUEST,
        InputTooLarge: HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
        UnknownOrchestratorError: HTTPStatus.BAD_REQUEST,
        InstanceNotFound: HTTPStatus.NOT_FOUND,
        InstanceExists: HTTPStatus.CONFLICT,
        InvalidState: HTTPStatus.CONFLICT,
        NotAllowed: HTTPStatus.FORBIDDEN,
    }
)


def http_status(
    exc: BaseException, overrides: Mapping[type[Exception], int] | None = None
) -> int | None:
    """The HTTP status that answers ``exc``, or None when it is not a refusal (a bug).

    ``overrides`` lets one endpoint answer a class differently (the API's events endpoint
    says 410 Gone for InstanceFinished); it is consulted first at each step of the MRO, so
    a more specific class in the table still beats a more general override.

    Example::

        http_status(InstanceExists("order-42", "running"))  # -> 409
        http_status(ValueError("a bug"))                      # -> None
    """
    overrides = overrides or {}
    for cls in type(exc).__mro__:
        if cls in overrides:
            return int(overrides[cls])
        if cls in ERROR_STATUSES:
            return int(ERROR_STATUSES[cls])
    return None
