from django.apps import AppConfig


class SamplesConfig(AppConfig):
    """The sample workflows and the state of their fake outside services."""

    name = "workflows.samples"
    label = "samples"
    verbose_name = "Sample workflows"
    default_auto_field = "django.db.models.BigAutoField"
