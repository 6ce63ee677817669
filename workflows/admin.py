"""Operator admin: read-only views of the durable state; actions call DurableClient.

Nothing here adds, edits or deletes rows: history is append-only and every change goes
through the client (which audits it). Payloads are shown only with view_payloads: the
columns of ``client.PAYLOAD_COLUMNS``, the same rule as the API's and the UI's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html

from .client import PAYLOAD_COLUMNS, DurableClient, may_see_payloads
from .engine import DurableError
from .models import (
    ActivityTask,
    ApprovalRequest,
    AuditEntry,
    CompensationRecord,
    ExternalEvent,
    HistoryEvent,
    InboxMessage,
    Instance,
    Timer,
)
from .templatetags.durable_ui import when

OPERATE = "workflows.operate_instance"


def _timed(model: type[models.Model], name: Any, style: str = "absolute") -> Any:
    """A date-time column as the UI shows times (browser's zone, labelled; time.js):
    short in lists ("relative", the exact time on hover), whole on a record."""
    try:
        field = model._meta.get_field(name) if isinstance(name, str) else None
    except FieldDoesNotExist:
        return name
    if not isinstance(field, models.DateTimeField):
        return name

    @admin.display(description=field.verbose_name, ordering=name)
    def show(obj: Any) -> str:
        return when(getattr(obj, name), style)

    show.__name__ = name
    return show


class ReadOnlyAdmin(admin.ModelAdmin):
    """Browse and search only. The model's payload columns are hidden without view_payloads.
    Times read as everywhere in the UI: the browser's time zone with its label."""

    list_per_page = 50

    class Media:
        js = ("workflows/time.js",)
        css = {"all": ("workflows/admin.css",)}

    def get_list_display(self, request: HttpRequest) -> Any:
        names = super().get_list_display(request)
        return tuple(_timed(self.model, name, "relative") for name in names)

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        # Every field is read-only here, so a date-time may be shown by a callable.
        return [_timed(self.model, name) for name in super().get_fields(request, obj)]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_exclude(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        if may_see_payloads(request.user):
            return ()
        return PAYLOAD_COLUMNS.get(self.model, ())

    def has_operate_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(OPERATE)


def _each(
    verb: str, call: Callable[[DurableClient, str, Any], Any]
) -> Callable[[ReadOnlyAdmin, HttpRequest, QuerySet[Instance]], None]:
    """An admin action applying ``call`` to every selected instance; refusals are reported."""

    def action(
        modeladmin: ReadOnlyAdmin, request: HttpRequest, queryset: QuerySet[Instance]
    ) -> None:
        client = DurableClient()
        done, refused = [], []
        for instance in queryset.order_by("pk"):
            try:
                call(client, instance.instance_id, request.user)
            except DurableError as exc:
                refused.append(str(exc))
            else:
                done.append(instance.instance_id)
        if done:
            modeladmin.message_user(request, f"{verb}: {', '.join(done)}.", messages.SUCCESS)
        for text in refused:
            modeladmin.message_user(request, text, messages.ERROR)

    return action


@admin.register(Instance)
class InstanceAdmin(ReadOnlyAdmin):
    list_display = (
        "instance_id",
        "name",
        "version",
        "status",
        "needs_attention",
        "business_key",
        "created_at",
        "updated_at",
        "page",
    )
    list_filter = ("status", "needs_attention", "name", "task_hub")
    search_fields = ("instance_id", "business_key", "name")
    date_hierarchy = "created_at"
    readonly_fields = ("page",)
    actions = ["terminate", "suspend", "resume", "rewind", "retry_episode"]

    @admin.display(description="UI")
    def page(self, obj: Instance) -> str:
        return format_html('<a href="{}">open</a>', reverse("ui:instance", args=[obj.instance_id]))

    @admin.action(description="Terminate selected instances…", permissions=["operate"])
    def terminate(
        self, request: HttpRequest, queryset: QuerySet[Instance]
    ) -> TemplateResponse | None:
        """A confirmation page (the count, a sample, a required reason), then one bulk
        operation that workers carry out (workflows/bulk): audited per instance, with
        its outcomes on the operation's page."""
        client = DurableClient()
        ids = list(queryset.order_by("pk").values_list("instance_id", flat=True))
        error = ""
        if request.POST.get("confirm") == "yes":
            try:
                state = client.start_bulk(
                    "terminate",
                    instance_ids=ids,
                    reason=request.POST.get("reason", ""),
                    by=request.user,
                    expected_count=int(request.POST.get("expected") or -1),
                )
            except (DurableError, ValueError) as exc:
                error = str(exc)
            else:
                page = reverse("ui:bulk-operation", args=[state.id])
                self.message_user(
                    request,
                    format_html(
                        'Terminating {} instance(s): bulk operation <a href="{}">#{}</a>.',
                        state.matched,
                        page,
                        state.id,
                    ),
                    messages.SUCCESS,
                )
                return None
        try:
            preview = client.preview_bulk("terminate", instance_ids=ids, user=request.user)
        except DurableError as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": "Terminate instances",
            "opts": self.model._meta,
            "preview": preview,
            "skipped": preview.matched - preview.allowed,
            "error": error,
            "reason": request.POST.get("reason", ""),
            "select_across": request.POST.get("select_across") == "1",
            "selected": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }
        status = 400 if error else 200
        return TemplateResponse(
            request, "workflows/bulk_admin_confirm.html", context, status=status
        )

    @admin.action(description="Suspend selected instances", permissions=["operate"])
    def suspend(self, request: HttpRequest, queryset: QuerySet[Instance]) -> None:
        _each("Suspended", lambda c, iid, by: c.suspend(iid, "from the admin", by=by))(
            self, request, queryset
        )

    @admin.action(description="Resume selected instances", permissions=["operate"])
    def resume(self, request: HttpRequest, queryset: QuerySet[Instance]) -> None:
        _each("Resumed", lambda c, iid, by: c.resume(iid, "from the admin", by=by))(
            self, request, queryset
        )

    @admin.action(description="Rewind selected failed instances", permissions=["operate"])
    def rewind(self, request: HttpRequest, queryset: QuerySet[Instance]) -> None:
        _each("Rewound", lambda c, iid, by: c.rewind(iid, "from the admin", by=by))(
            self, request, queryset
        )

    @admin.action(description="Retry the pending episode", permissions=["operate"])
    def retry_episode(self, request: HttpRequest, queryset: QuerySet[Instance]) -> None:
        _each("Episode retried", lambda c, iid, by: c.retry_episode(iid, "from the admin", by=by))(
            self, request, queryset
        )


@admin.register(HistoryEvent)
class HistoryEventAdmin(ReadOnlyAdmin):
    list_display = ("instance", "execution_id", "seq", "kind", "timestamp")
    list_filter = ("kind",)
    search_fields = ("instance__instance_id",)
    list_select_related = ("instance",)


@admin.register(ActivityTask)
class ActivityTaskAdmin(ReadOnlyAdmin):
    list_display = (
        "name",
        "instance",
        "task_id",
        "attempt",
        "status",
        "runs",
        "worker",
        "created_at",
    )
    list_filter = ("status", "name")
    search_fields = ("instance__instance_id", "name", "idempotency_key")
    list_select_related = ("instance",)


@admin.register(CompensationRecord)
class CompensationRecordAdmin(ReadOnlyAdmin):
    list_display = ("activity", "step", "instance", "order", "status", "attempts", "resolved_by")
    list_filter = ("status",)
    search_fields = ("instance__instance_id", "activity", "step")
    list_select_related = ("instance", "resolved_by")


@admin.register(ApprovalRequest)
class ApprovalRequestAdmin(ReadOnlyAdmin):
    list_display = (
        "name",
        "instance",
        "assignees",
        "status",
        "deadline",
        "decided_by",
        "decided_at",
    )
    list_filter = ("status", "assignees")
    search_fields = ("instance__instance_id", "name")
    list_select_related = ("instance", "decided_by")


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "actor", "action", "instance_ref", "note")
    list_filter = ("action",)
    search_fields = ("instance_ref", "actor", "note")
    date_hierarchy = "created_at"


@admin.register(ExternalEvent)
class ExternalEventAdmin(ReadOnlyAdmin):
    list_display = ("name", "instance", "event_id", "sender", "outcome", "created_at")
    list_filter = ("outcome",)
    search_fields = ("instance__instance_id", "name", "event_id")
    list_select_related = ("instance",)


@admin.register(InboxMessage)
class InboxMessageAdmin(ReadOnlyAdmin):
    list_display = ("instance", "kind", "execution_id", "created_at")
    list_filter = ("kind",)
    search_fields = ("instance__instance_id",)
    list_select_related = ("instance",)


@admin.register(Timer)
class TimerAdmin(ReadOnlyAdmin):
    list_display = ("instance", "task_id", "purpose", "fire_at", "fired")
    list_filter = ("fired", "purpose")
    search_fields = ("instance__instance_id",)
    list_select_related = ("instance",)
