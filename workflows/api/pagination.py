"""Cursor pages: ``{"results": [...], "next_cursor": "...", "next": "<url>"}``.

A cursor is opaque to callers: pass back ``next_cursor`` (or follow ``next``).
"""

from __future__ import annotations

from typing import Any

from rest_framework.request import Request
from rest_framework.utils.urls import replace_query_param


def page(request: Request, results: list[Any], next_cursor: str | None) -> dict[str, Any]:
    next_url = None
    if next_cursor is not None:
        next_url = replace_query_param(request.build_absolute_uri(), "cursor", next_cursor)
    return {"results": results, "next_cursor": next_cursor, "next": next_url}


def slice_after(
    rows: list[dict[str, Any]], key: str, cursor: str | None, limit: int
) -> tuple[list[dict[str, Any]], str | None]:
    """The ``limit`` rows whose ``key`` is greater than the cursor, and the next cursor."""
    after = int(cursor) if cursor else -1
    rest = [row for row in rows if row[key] > after]
    chunk = rest[:limit]
    next_cursor = str(chunk[-1][key]) if len(rest) > limit else None
    return chunk, next_cursor


def queryset_page(rows: Any, cursor: str | None, limit: int) -> tuple[list[Any], str | None]:
    """The newest ``limit`` rows of a queryset (highest pk first) below the cursor (a pk)."""
    if cursor:
        rows = rows.filter(pk__lt=int(cursor))
    found = list(rows.order_by("-pk")[: limit + 1])
    next_cursor = str(found[limit - 1].pk) if len(found) > limit else None
    return found[:limit], next_cursor
