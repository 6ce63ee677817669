from django.apps import AppConfig


class SchedulesConfig(AppConfig):
    """Durable cron and interval starts of orchestrators (label "schedules")."""

    name = "workflows.schedules"
    label = "schedules"
    verbose_name = "Schedules"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # The driver's actor must exist in every process of the hub (like bulk_actor).
        from . import actor  # noqa: F401
