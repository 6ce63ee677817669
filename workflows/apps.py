import importlib
import importlib.util

from django.apps import AppConfig


class WorkflowsConfig(AppConfig):
    name = "workflows"
    verbose_name = "Durable workflows"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import (
            bulk_actor,  # noqa: F401 - every worker of the hub runs bulk chunks
            conf,  # noqa: F401 - registers the settings' system check
        )
        from .ui import live  # noqa: F401 - pushes instance_changed to websockets

        # Orchestrators and activities register themselves on import: the samples, then
        # the project's own modules (DURABLE_WORKFLOW_MODULES), in every process.
        if importlib.util.find_spec("workflows.samples") is not None:
            importlib.import_module("workflows.samples")
        for module in conf.conf.WORKFLOW_MODULES:
            importlib.import_module(module)
