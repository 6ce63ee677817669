"""Template tags and filters of the UI (``{% load durable_ui %}``).

Here, in the ``workflows`` app, because Django finds tag libraries only in the
``templatetags`` package of an installed app (``workflows.ui`` is not one).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from django import template
from django.utils import timezone
from django.utils.html import format_html

from workflows import retention
from workflows.ui import display
from workflows.ui.access import Capabilities

register = template.Library()


@register.filter
def duration(value: timedelta | None) -> str:
    return display.human_duration(value)


@register.filter
def since(value: datetime | None) -> str:
    """Age of a timestamp: ``"3 min"``."""
    return display.human_duration(timezone.now() - value) if value else ""


@register.simple_tag
def when(value: datetime | None, style: str = "relative") -> str:
    """A time the browser shows in its own zone with the zone's label (static/workflows/
    time.js; a UTC toggle in the top bar): ``relative`` ("3 min ago", absolute on hover),
    ``absolute`` ("2026-12-06 17:43:38 CET", relative on hover) or ``clock`` (a history
    row's "17:43:38.120"). Without script it reads in UTC, labelled so.

    Example::

        {% when state.created_at "absolute" %}
    """
    if value is None:
        return "—"
    utc = value.astimezone(UTC)
    absolute = f"{utc:%Y-%m-%d %H:%M:%S} UTC"
    ago = f"{display.human_duration(timezone.now() - value)} ago"
    text = {"relative": ago, "absolute": absolute, "clock": f"{utc:%H:%M:%S}.{utc:%f}"[:12]}
    hover = ago if style == "absolute" else absolute
    return format_html(
        '<time datetime="{}" data-when="{}" title="{}">{}</time>',
        utc.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        style,
        hover,
        text.get(style, ago),
    )


@register.filter
def deadline(value: datetime | None) -> display.Deadline:
    return display.time_left(value, timezone.now())


@register.filter
def progress(value: Any) -> display.Progress | None:
    return display.progress_of(value)


@register.filter
def failure_summary(value: Any) -> str:
    return display.failure_summary(value)


@register.filter
def pretty_json(value: Any) -> str:
    return display.pretty_json(value)


@register.filter
def fields(value: Any) -> list[tuple[str, str]] | None:
    return display.fields_of(value)


@register.filter
def summary_fields(value: Any) -> list[display.Field]:
    """An approval's summary as card lines (empty ones left out, numbers and dates
    formatted)."""
    return display.summary_fields(value)


@register.filter
def history_warning(instance: Any) -> str | None:
    """The long-history warning of an instance (``workflows.retention``), or None."""
    return retention.history_warning(instance)


@register.filter
def format_id(template_text: str, instance_id: str) -> str:
    """``"Rewind {id}?"|format_id:"order-1"`` -> ``"Rewind order-1?"``."""
    return str(template_text).replace("{id}", str(instance_id))


@register.filter
def label(value: str) -> str:
    """``"resolved_manually"`` -> ``"resolved manually"``."""
    return str(value).replace("_", " ")


@register.simple_tag(takes_context=True)
def capabilities(context: template.Context) -> Capabilities:
    return Capabilities.of(context["request"].user)


@register.inclusion_tag("workflows/partials/_status.html")
def status_badge(status: str, ending: display.Ending | None = None) -> dict[str, Any]:
    """The status; a failed saga whose undo ran shows its ending instead (``endings``)."""
    return {"status": status, "ending": ending}


@register.filter
def ending_for(endings: dict[str, display.Ending] | None, instance_id: str) -> Any:
    """``endings|ending_for:item.instance_id``: the item's Ending or None."""
    return (endings or {}).get(instance_id)


@register.simple_tag(takes_context=True)
def pending_approvals(context: template.Context) -> int:
    """How many requests wait for the signed-in user's groups (the nav's badge)."""
    from workflows.client import DurableClient
    from workflows.statuses import ApprovalStatus

    user = context["request"].user
    if not user.is_authenticated:
        return 0
    return DurableClient().approvals(user=user, status=ApprovalStatus.PENDING).count()


_SECTIONS = {
    "approvals": "approvals",
    "console": "console",
    "dashboard": "dashboard",
    "instance": "console",
    "start": "start",
}


@register.simple_tag(takes_context=True)
def nav_section(context: template.Context) -> str:
    match = getattr(context["request"], "resolver_match", None)
    name = (match.url_name or "") if match else ""
    return _SECTIONS.get(name.split("-")[0], "")
