from django.apps import AppConfig


class EntitiesConfig(AppConfig):
    """Durable entities: state, queued operations, locks (label "entities")."""

    name = "workflows.entities"
    label = "entities"
    verbose_name = "Entities"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # The entity actor must exist in every process of the hub (like bulk_actor).
        from . import actor  # noqa: F401
