"""`manage.py durable token create|revoke USER`."""

import pytest
from django.core.management import CommandError, call_command
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice(django_user_model):
    return django_user_model.objects.create_user("alice", password=None)


def durable(*args: str) -> str:
    from io import StringIO

    out = StringIO()
    call_command("durable", *args, stdout=out)
    return out.getvalue().strip()


def test_create_prints_the_key_as_the_last_word_and_it_works(alice):
    output = durable("token", "create", "alice")

    key = output.split()[-1]
    assert Token.objects.get(user=alice).key == key
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert api.get("/api/v1/instances/").status_code == 200


def test_create_again_keeps_the_key_and_reset_replaces_it(alice):
    first = durable("token", "create", "alice").split()[-1]

    assert durable("token", "create", "alice").split()[-1] == first
    assert durable("token", "create", "alice", "--reset").split()[-1] != first


def test_an_unknown_user_is_an_error_naming_them(db):
    with pytest.raises(CommandError, match="No user 'mallory'"):
        durable("token", "create", "mallory")


def test_revoke_deletes_the_token(alice):
    key = durable("token", "create", "alice").split()[-1]

    assert "revoked" in durable("token", "revoke", "alice")
    assert "had no token" in durable("token", "revoke", "alice")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert api.get("/api/v1/instances/").status_code == 401
