"""API tokens are stored as digests, expire, and are listed and revoked without keys."""

from __future__ import annotations

import hashlib
import importlib
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from workflows.security.models import ApiToken
from workflows.security.tokens import issue

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice(django_user_model):
    return django_user_model.objects.create_user("alice", password=None)


def answer(key: str):
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return api.get("/api/v1/instances/")


def test_only_a_digest_of_the_key_is_stored(alice):
    token, key = issue(alice)

    row = ApiToken.objects.filter(pk=token.pk).values().get()
    assert len(key) == 40
    assert row["digest"] == hashlib.sha256(key.encode()).hexdigest()
    assert not any(key in str(value) for value in row.values())
    assert row["prefix"] == key[:8]


def test_a_token_expires_after_api_token_days(alice, settings):
    token, _ = issue(alice)
    settings.API_TOKEN_DAYS = 10
    short, _ = issue(alice)

    assert token.expires_at - token.created_at == timedelta(days=90)
    assert short.expires_at - short.created_at == timedelta(days=10)


def test_an_expired_token_is_refused_saying_so(alice):
    token, key = issue(alice)
    assert answer(key).status_code == 200

    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now())
    refused = answer(key)

    assert refused.status_code == 401
    assert "expired" in refused.json()["detail"]


def test_a_key_sharing_the_id_but_not_the_rest_is_refused(alice):
    _, key = issue(alice)

    assert answer(key[:8] + "A" * 32).status_code == 401
    assert answer(key + "x").status_code == 401
    assert answer("x" * 500).status_code == 401


def test_an_inactive_users_token_is_refused(alice):
    _, key = issue(alice)
    alice.is_active = False
    alice.save()

    assert answer(key).status_code == 401


def test_use_is_recorded(alice):
    token, key = issue(alice)
    assert token.last_used_at is None

    answer(key)

    token.refresh_from_db()
    assert token.last_used_at is not None


def test_the_admin_lists_and_revokes_tokens_but_never_shows_keys(admin_client, alice):
    token, key = issue(alice, name="billing sync")

    listing = admin_client.get("/admin/security/apitoken/").content.decode()
    detail = admin_client.get(f"/admin/security/apitoken/{token.pk}/change/").content.decode()

    assert token.prefix in listing and "billing sync" in listing and "active" in listing
    for page in (listing, detail):
        assert key not in page
        assert token.digest not in page
    assert 'name="_save"' not in detail
    assert admin_client.get("/admin/security/apitoken/add/").status_code == 403
    deleted = admin_client.post(f"/admin/security/apitoken/{token.pk}/delete/", {"post": "yes"})
    assert deleted.status_code == 302
    assert answer(key).status_code == 401


def test_plaintext_drf_tokens_are_carried_over_hashed_and_erased(alice):
    migration = importlib.import_module("workflows.security.migrations.0002_import_drf_tokens")
    legacy_key = "9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b"
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE authtoken_token (key varchar(40) PRIMARY KEY, created timestamp, "
            "user_id integer)"
        )
        cursor.execute(
            "INSERT INTO authtoken_token VALUES (%s, %s, %s)",
            [legacy_key, timezone.now(), alice.pk],
        )

    class SchemaEditor:
        pass

    editor = SchemaEditor()
    editor.connection = connection
    from django.apps import apps

    migration.import_drf_tokens(apps, editor)

    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM authtoken_token")
        assert cursor.fetchone() == (0,)
        cursor.execute("DROP TABLE authtoken_token")
    imported = ApiToken.objects.get(user=alice)
    assert imported.digest == hashlib.sha256(legacy_key.encode()).hexdigest()
    assert imported.expires_at > timezone.now() + timedelta(days=89)
    assert answer(legacy_key).status_code == 200
