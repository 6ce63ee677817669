"""`manage.py durable token create|list|revoke`: keys printed once, stored hashed."""

import hashlib
import json

import pytest
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from workflows.security.models import ApiToken

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice(django_user_model):
    return django_user_model.objects.create_user("alice", password=None)


def durable(*args: str) -> str:
    from io import StringIO

    out = StringIO()
    call_command("durable", *args, stdout=out)
    return out.getvalue().strip()


def status_with(key: str) -> int:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return api.get("/api/v1/instances/").status_code


def test_create_prints_the_key_as_the_last_word_and_it_works(alice):
    output = durable("token", "create", "alice")

    key = output.split()[-1]
    assert "not shown again" in output
    assert ApiToken.objects.get(user=alice).digest == hashlib.sha256(key.encode()).hexdigest()
    assert status_with(key) == 200


def test_create_again_makes_another_key_and_reset_revokes_the_others(alice):
    first = durable("token", "create", "alice").split()[-1]
    second = durable("token", "create", "alice").split()[-1]

    assert first != second
    assert (status_with(first), status_with(second)) == (200, 200)
    third = durable("token", "create", "alice", "--reset").split()[-1]
    assert (status_with(first), status_with(second), status_with(third)) == (401, 401, 200)


def test_an_unknown_user_is_an_error_naming_them(db):
    with pytest.raises(CommandError, match="No user 'mallory'"):
        durable("token", "create", "mallory")


def test_revoke_deletes_the_users_tokens(alice):
    key = durable("token", "create", "alice").split()[-1]

    assert "revoked 1 token of alice" in durable("token", "revoke", "alice")
    assert "had no token" in durable("token", "revoke", "alice")
    assert status_with(key) == 401


def test_revoke_by_id_leaves_the_other_tokens(alice):
    keep = durable("token", "create", "alice", "--name", "keep").split()[-1]
    drop = durable("token", "create", "alice", "--name", "drop").split()[-1]

    assert "revoked 1 token" in durable("token", "revoke", "alice", drop[:8])
    assert (status_with(keep), status_with(drop)) == (200, 401)
    with pytest.raises(CommandError, match="alice has no token"):
        durable("token", "revoke", "alice", drop[:8])


def test_list_names_tokens_without_their_keys(alice, django_user_model):
    bob = django_user_model.objects.create_user("bob", password=None)
    key = durable("token", "create", "alice", "--name", "billing sync").split()[-1]
    durable("token", "create", "bob")

    mine = durable("token", "list", "alice")
    everyone = json.loads(durable("token", "list", "--json"))

    assert key[:8] in mine and "billing sync" in mine and "active" in mine
    assert "never" in mine  # not used yet
    assert key not in mine
    assert {row["user"] for row in everyone} == {"alice", bob.username}
    assert not any(key in json.dumps(row) for row in everyone)


def test_days_sets_the_expiry_and_must_be_positive(alice):
    durable("token", "create", "alice", "--days", "7")

    token = ApiToken.objects.get(user=alice)
    assert (token.expires_at - token.created_at).days == 7
    with pytest.raises(CommandError, match="--days 0"):
        durable("token", "create", "alice", "--days", "0")
