from django.contrib import admin

from .models import ServiceCall


@admin.register(ServiceCall)
class ServiceCallAdmin(admin.ModelAdmin):
    """Read-only: what the fake services were asked, and how often (duplicates show)."""

    list_display = ["service", "operation", "reference", "executions", "failures", "applied_at"]
    list_filter = ["service", "operation"]
    search_fields = ["reference", "idempotency_key"]

    def has_add_permission(self, request):  # noqa: ANN001, ANN201
        return False

    def has_change_permission(self, request, obj=None):  # noqa: ANN001, ANN201
        return False

    def has_delete_permission(self, request, obj=None):  # noqa: ANN001, ANN201
        return False
