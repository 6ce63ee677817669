"""``{% entity_links instance_id %}``: on the instance page, the entity locks the instance
holds and its entity operations still queued, each linked to the entity's page."""

from __future__ import annotations

from django import template
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from ...conf import conf
from ..models import Entity, EntityOperation

register = template.Library()


@register.simple_tag
def entity_links(instance_id: str) -> SafeString | str:
    held = list(
        Entity.objects.filter(task_hub=conf.TASK_HUB, lock_holder=instance_id)
        .order_by("name", "key")
        .values_list("name", "key")[:50]
    )
    queued = list(
        EntityOperation.objects.filter(entity__task_hub=conf.TASK_HUB, sender=instance_id)
        .order_by("pk")
        .values_list("entity__name", "entity__key", "operation", "kind")[:50]
    )
    if not held and not queued:
        return ""
    parts = []
    if held:
        links = format_html_join(
            ", ", '<a href="/console/entities/{}/{}/">@{}@{}</a>', ((n, k, n, k) for n, k in held)
        )
        parts.append(format_html('<p id="entity-locks">Holds the lock of {}</p>', links))
    if queued:
        items = format_html_join(
            ", ",
            '{} {} to <a href="/console/entities/{}/{}/">@{}@{}</a>',
            ((kind, op, n, k, n, k) for n, k, op, kind in queued),
        )
        parts.append(format_html('<p id="entity-queued">Entity operations queued: {}</p>', items))
    return format_html(
        '<section class="panel" id="entity-links">{}</section>', SafeString("".join(parts))
    )
