import importlib
import importlib.util
from typing import Any

from django.apps import AppConfig
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed

from . import conf
from .engine import default_registry
from .engine.converter import DEFAULT_CONVERTER


class WorkflowsConfig(AppConfig):
    name = "workflows"
    verbose_name = "Durable workflows"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import bulk_actor  # noqa: F401 - every worker of the hub runs bulk chunks
        from .payloads import purge  # noqa: F401 - offloaded objects go with their instance
        from .ui import live  # noqa: F401 - pushes instance_changed to websockets

        # Orchestrators and activities register themselves on import: the samples, then
        # the project's own modules (DURABLE_WORKFLOW_MODULES), in every process.
        if importlib.util.find_spec("workflows.samples") is not None:
            importlib.import_module("workflows.samples")
        for module in conf.conf.WORKFLOW_MODULES:
            importlib.import_module(module)
        _use_data_converter()
        setting_changed.connect(_use_data_converter)


def _use_data_converter(setting: str = "DURABLE_DATA_CONVERTER", **_: Any) -> None:
    """Hand DURABLE_DATA_CONVERTER to the engine (it reads no settings); again when a test
    overrides it. A bad one keeps the default: the settings check reports it (durable.E001)."""
    if setting != "DURABLE_DATA_CONVERTER":
        return
    try:
        default_registry.converter = conf.conf.DATA_CONVERTER
    except ImproperlyConfigured:
        default_registry.converter = DEFAULT_CONVERTER
