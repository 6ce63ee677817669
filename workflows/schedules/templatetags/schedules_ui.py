"""``{% schedule_link instance_id %}``: on the instance page, the schedule that started it."""

from __future__ import annotations

from django import template
from django.urls import reverse
from django.utils.html import format_html

from ...client import DurableClient

register = template.Library()


@register.simple_tag
def schedule_link(instance_id: str) -> str:
    """A link to the schedules page when a schedule started ``instance_id`` ("" if none).

    Example::

        {% load schedules_ui %}{% schedule_link state.instance_id %}
    """
    schedule_id = DurableClient().schedule_of_instance(instance_id)
    if schedule_id is None:
        return ""
    url = reverse("schedules:list") + f"#schedule-{schedule_id}"
    return format_html(
        '<p class="small" id="started-by-schedule">Started by schedule <a href="{}">{}</a></p>',
        url,
        schedule_id,
    )
