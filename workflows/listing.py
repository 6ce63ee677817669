"""Finding instances: sort orders with keyset pages both ways, search-attribute filters,
and a total count that stays cheap (DurableClient.query uses these).

Every sort is a keyset over (column, pk): a page is "the rows after (or before) this
row in the order", correct while rows come and go. Where an index holds the order it is
one index range read from the cursor on (newest first: the primary key; last change of
active instances: inst_active_updated_idx); other sorts read their matches and keep the
first page (docs/architecture.md, "Pages at scale"). A cursor is
opaque to callers: ``a`` (the page after) or ``b`` (the page before) and the boundary
row's (value, pk), as URL-safe base64 JSON. A bare number is the old cursor of the
default order (newest first): the page after that pk.

Example::

    page = keyset_page(Instance.objects.all(), parse_sort("-updated"), None, 25)
    page.rows, page.next_cursor, page.previous_cursor
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from django.db.models import Q, QuerySet

from .engine.errors import InvalidInput
from .engine.search_attributes import name_problem
from .models import Instance

# Public name -> column. "created" is the pk: ids grow with creation, so it is the same
# order as created_at, read from the primary key (backwards for newest first).
SORT_COLUMNS: Final = {
    "created": "pk",
    "updated": "updated_at",
    "name": "name",
    "status": "status",
}
DEFAULT_SORT: Final = "-created"
SORT_CHOICES: Final = tuple(f"{sign}{key}" for key in SORT_COLUMNS for sign in ("-", ""))
# A total beyond this is shown as "10,000+": counting stops there (a bounded index read).
COUNT_CAP: Final = 10_000
# base64 of a JSON array always starts with W ("[").
CURSOR_PATTERN: Final = r"^([0-9]{1,18}|[ab]W[A-Za-z0-9_-]{2,600})$"
ATTRIBUTE_PREFIX: Final = "attr."
MAX_ATTRIBUTE_FILTERS: Final = 5
MAX_ATTRIBUTE_VALUE: Final = 200
# What a cursor may name: a bigint pk, a time a database column holds after the UTC
# conversion, a name or status no longer than their columns.
MAX_PK: Final = 2**63
MIN_CURSOR_YEAR: Final = 2
MAX_CURSOR_YEAR: Final = 9998
MAX_CURSOR_TEXT: Final = 200

_CURSOR = re.compile(CURSOR_PATTERN)


@dataclass(frozen=True)
class Sort:
    key: str  # "created", "updated", ...
    descending: bool

    @property
    def column(self) -> str:
        return SORT_COLUMNS[self.key]

    def __str__(self) -> str:
        return f"{'-' if self.descending else ''}{self.key}"


def parse_sort(text: str | None) -> Sort:
    """``"-updated"`` -> Sort("updated", descending=True); empty -> newest first.

    Raises InvalidInput naming the choices for anything else.
    """
    text = text or DEFAULT_SORT
    if text not in SORT_CHOICES:
        raise InvalidInput(
            f"Unknown sort {text!r}; use one of {', '.join(SORT_CHOICES)} "
            "(a leading - sorts descending)."
        )
    return Sort(text.lstrip("-"), text.startswith("-"))


@dataclass(frozen=True)
class KeysetPage:
    rows: list[Instance]
    next_cursor: str | None  # the page after (older, for newest first)
    previous_cursor: str | None  # the page before (newer)


def _encode(direction: str, value: Any, pk: int) -> str:
    if isinstance(value, datetime):
        value = value.isoformat()
    raw = json.dumps([value, pk], separators=(",", ":")).encode()
    return direction + base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _bad_cursor(value: Any) -> InvalidInput:
    return InvalidInput(
        f"cursor: {str(value)[:40]!r} is not a cursor of this list; pass back the next_cursor "
        "or previous_cursor of a page unchanged (with the same sort), or leave it out for the "
        "first page."
    )


def _decode(cursor: str, sort: Sort) -> tuple[str, Any, int]:
    if not isinstance(cursor, str) or not _CURSOR.fullmatch(cursor):
        raise _bad_cursor(cursor)
    if cursor.isdigit():  # the default order's old cursor: the page after this pk
        if str(sort) != DEFAULT_SORT:
            raise _bad_cursor(cursor)
        return "a", int(cursor), int(cursor)
    try:
        padded = cursor[1:] + "=" * (-len(cursor[1:]) % 4)
        value, pk = json.loads(base64.urlsafe_b64decode(padded))
    except (ValueError, TypeError, binascii.Error):
        raise _bad_cursor(cursor) from None
    if not isinstance(pk, int) or isinstance(pk, bool) or not 0 < pk < MAX_PK:
        raise _bad_cursor(cursor)
    if sort.key == "created":
        value = pk
    elif sort.key == "updated":
        value = _cursor_time(value)
        if value is None:
            raise _bad_cursor(cursor)
    elif not isinstance(value, str) or len(value) > MAX_CURSOR_TEXT:
        raise _bad_cursor(cursor)
    return cursor[0], value, pk


def _cursor_time(text: Any) -> datetime | None:
    """A cursor's updated_at: an aware time within the years a database stores (a naive
    time, or year 1 or 9999 with an offset, would be a warning or an overflow), in UTC."""
    try:
        value = datetime.fromisoformat(text)
        if value.utcoffset() is None:
            return None
        value = value.astimezone(UTC)
    except (TypeError, ValueError, OverflowError):
        return None
    return value if MIN_CURSOR_YEAR <= value.year <= MAX_CURSOR_YEAR else None


def keyset_query(
    qs: QuerySet[Instance], sort: Sort, cursor: str | None
) -> tuple[QuerySet[Instance], bool]:
    """``qs`` ordered for a page after or before ``cursor``'s row, and whether that page
    reads forward (the page after). keyset_page takes the first rows of it.

    The boundary is ``col < v OR (col = v AND pk < p)`` (``>`` ascending) with the
    redundant ``col <= v`` ANDed to it: the OR alone gives PostgreSQL no start key for an
    index on ``col``, so it would read the index from its beginning.
    """
    column = sort.column
    forward = True
    if cursor:
        direction, value, pk = _decode(cursor, sort)
        forward = direction == "a"
        # Rows after the boundary in the page's reading direction.
        down = sort.descending == forward
        op = "lt" if down else "gt"
        after = Q(**{f"pk__{op}": pk})
        if column != "pk":
            ties = Q(**{f"{column}__{op}": value}) | (Q(**{column: value}) & after)
            after = Q(**{f"{column}__{op}e": value}) & ties
        qs = qs.filter(after)
    sign = "-" if sort.descending == forward else ""
    order = [f"{sign}pk"] if column == "pk" else [f"{sign}{column}", f"{sign}pk"]
    return qs.order_by(*order), forward


def keyset_page(qs: QuerySet[Instance], sort: Sort, cursor: str | None, limit: int) -> KeysetPage:
    """One page of ``qs`` in ``sort`` order, after or before ``cursor``'s row."""
    column = sort.column
    qs, forward = keyset_query(qs, sort, cursor)
    rows = list(qs[: limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    if not forward:
        rows.reverse()
    if not rows:
        return KeysetPage([], None, None)

    def key(row: Instance) -> Any:
        return row.pk if column == "pk" else getattr(row, column)

    first, last = rows[0], rows[-1]
    has_next = more if forward else True
    has_previous = more if not forward else bool(cursor)
    return KeysetPage(
        rows,
        _encode("a", key(last), last.pk) if has_next else None,
        _encode("b", key(first), first.pk) if has_previous else None,
    )


def capped_count(qs: QuerySet[Instance], cap: int = COUNT_CAP) -> tuple[int, bool]:
    """How many rows ``qs`` has, counting at most ``cap + 1``: (count, exact).

    ``(10000, False)`` reads "10,000+". The count runs over ``LIMIT cap + 1`` in a
    subquery, so it never reads more than that many index entries or rows.
    """
    found = qs.order_by()[: cap + 1].count()
    return (min(found, cap), found <= cap)


def attribute_problems(pairs: dict[str, str]) -> dict[str, str]:
    """What is wrong with each ``attr.<name>`` filter, by parameter name (empty: nothing)."""
    problems: dict[str, str] = {}
    for name, text in list(pairs.items())[: MAX_ATTRIBUTE_FILTERS + 1]:
        try:
            attribute_filters({name: text})
        except InvalidInput as exc:
            problems[f"{ATTRIBUTE_PREFIX}{name}"] = str(exc)
    if not problems and len(pairs) > MAX_ATTRIBUTE_FILTERS:
        first = f"{ATTRIBUTE_PREFIX}{next(iter(pairs))}"
        problems[first] = f"At most {MAX_ATTRIBUTE_FILTERS} attr.<name> filters at a time."
    return problems


def attribute_filters(pairs: dict[str, str]) -> dict[str, list[Any]]:
    """Filter texts by attribute name -> the values each may equal.

    A text also matches the number or true/false it spells (``"5"`` finds 5 and "5"), since
    a query string has no types. Raises InvalidInput naming ``attr.<name>``.

    Example::

        attribute_filters({"customer": "acme", "amount": "5"})
        # -> {"customer": ["acme"], "amount": ["5", 5]}
    """
    if len(pairs) > MAX_ATTRIBUTE_FILTERS:
        raise InvalidInput(
            f"At most {MAX_ATTRIBUTE_FILTERS} attr.<name> filters at a time; got {len(pairs)}."
        )
    found: dict[str, list[Any]] = {}
    for name, text in pairs.items():
        problem = name_problem(name)
        if problem:
            raise InvalidInput(f"Filter {ATTRIBUTE_PREFIX}{name}: {problem}.")
        if not isinstance(text, str) or len(text) > MAX_ATTRIBUTE_VALUE:
            raise InvalidInput(
                f"Filter {ATTRIBUTE_PREFIX}{name}: give text of at most "
                f"{MAX_ATTRIBUTE_VALUE} characters."
            )
        values: list[Any] = [text]
        folded = text.lower()  # "True" as a template prints it, "true" as JSON spells it
        try:
            typed = json.loads(folded if folded in ("true", "false") else text)
        except ValueError:
            typed = None
        if isinstance(typed, bool) or (
            isinstance(typed, int | float) and math.isfinite(typed) and abs(typed) < 2**53
        ):
            values.append(typed)
        found[name] = values
    return found


def parse_attribute_pair(text: str) -> tuple[str, str]:
    """``"customer=acme"`` -> ("customer", "acme") (the CLI's ``--attr``)."""
    name, sep, value = text.partition("=")
    if not sep:
        raise InvalidInput(f"--attr {text!r}: use name=value, e.g. --attr customer=acme.")
    return name.strip(), value
