import importlib
import importlib.util

from django.apps import AppConfig


class WorkflowsConfig(AppConfig):
    name = "workflows"
    verbose_name = "Durable workflows"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # The sample workflows register their orchestrators and activities on import.
        if importlib.util.find_spec("workflows.samples") is not None:
            importlib.import_module("workflows.samples")
