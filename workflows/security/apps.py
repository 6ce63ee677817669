from django.apps import AppConfig


class SecurityConfig(AppConfig):
    """API tokens (stored hashed, with an expiry) and the API's throttle."""

    name = "workflows.security"
    label = "security"
    verbose_name = "Security"
    default_auto_field = "django.db.models.BigAutoField"
