"""API tokens. Only a SHA-256 digest of each key is stored: the key itself is shown once,
when it is made (workflows/security/tokens.py), and can never be read back."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class ApiToken(models.Model):
    """One key of a user for the REST API (``Authorization: Token <key>``).

    ``prefix`` (the key's first 8 of 40 characters) names the token in lists, the admin
    and ``durable token revoke``; it is not enough to use it.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100, blank=True, default="", help_text="what it is for")
    prefix = models.CharField(max_length=8, db_index=True, editable=False)
    digest = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    expires_at = models.DateTimeField()
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        verbose_name = "API token"
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.prefix}… of {self.user}"

    @property
    def expired(self) -> bool:
        return self.expires_at <= timezone.now()
