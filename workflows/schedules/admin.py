"""Read-only admin of schedules: changes go through the API, the CLI or the console (the
client checks who may and keeps the next time in step)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin

from .models import Schedule, ScheduleRun


class ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request: Any) -> bool:
        return False

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: Any, obj: Any = None) -> bool:
        return False


@admin.register(Schedule)
class ScheduleAdmin(ReadOnly):
    list_display = (
        "schedule_id",
        "orchestrator",
        "cron",
        "interval_seconds",
        "paused",
        "next_run_at",
        "started",
        "skipped",
        "missed",
    )
    list_filter = ("paused", "overlap", "catchup", "source")
    search_fields = ("schedule_id", "orchestrator")
    exclude = ("input",)  # workflow data: shown by the API/console to view_payloads only


@admin.register(ScheduleRun)
class ScheduleRunAdmin(ReadOnly):
    list_display = ("schedule", "scheduled_at", "kind", "outcome", "instance_id", "decided_at")
    list_filter = ("kind", "outcome")
    search_fields = ("instance_id",)
