"""Token clients are throttled: 429 with Retry-After past API_THROTTLE_RATE."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from tests.support.tokens import token_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def token_client(django_user_model) -> APIClient:
    api = APIClient()
    user = django_user_model.objects.create_user("integration", password=None)
    api.credentials(HTTP_AUTHORIZATION=f"Token {token_for(user)}")
    return api


def test_past_the_rate_the_api_answers_429_with_retry_after(settings, token_client):
    settings.API_THROTTLE_RATE = "3/minute"

    answers = [token_client.get("/api/v1/instances/") for _ in range(4)]

    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert 1 <= int(answers[-1]["Retry-After"]) <= 60
    assert answers[-1].json()["error"] == "throttled"


def test_the_rate_counts_per_user(settings, token_client, django_user_model):
    settings.API_THROTTLE_RATE = "2/minute"
    other = APIClient()
    other.credentials(
        HTTP_AUTHORIZATION=f"Token {token_for(django_user_model.objects.create_user('b'))}"
    )

    for _ in range(2):
        token_client.get("/api/v1/instances/")

    assert token_client.get("/api/v1/instances/").status_code == 429
    assert other.get("/api/v1/instances/").status_code == 200


def test_no_rate_no_limit(settings, token_client):
    settings.API_THROTTLE_RATE = ""

    assert {token_client.get("/api/v1/instances/").status_code for _ in range(30)} == {200}
