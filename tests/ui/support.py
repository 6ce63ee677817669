"""Helpers of the UI tests."""

from __future__ import annotations

import html
from typing import Any


def text(response: Any) -> str:
    """The response body as text, HTML entities decoded (``&#x27;`` -> ``'``)."""
    return html.unescape(response.content.decode())
