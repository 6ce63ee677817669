"""API tokens in the admin: listed and revoked (deleted), never added or shown.

Keys exist only when `durable token create` prints them; the admin shows a token's id
(the key's first 8 of 40 characters), owner, purpose, dates and state, never the digest.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from .models import ApiToken


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ("token_id", "user", "name", "created_at", "expires_at", "last_used_at", "state")
    list_select_related = ("user",)
    search_fields = ("user__username", "name", "prefix")
    date_hierarchy = "created_at"
    fields = ("token_id", "user", "name", "created_at", "expires_at", "last_used_at", "state")
    readonly_fields = fields

    @admin.display(description="id", ordering="prefix")
    def token_id(self, obj: ApiToken) -> str:
        return obj.prefix

    @admin.display(description="state")
    def state(self, obj: ApiToken) -> str:
        return "expired" if obj.expired else "active"

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # `durable token create`: the key is printed once, to the operator

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
