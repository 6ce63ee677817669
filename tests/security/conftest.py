"""Fixtures of the security tests."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _empty_cache():
    """The API throttle counts in the cache: every test starts and leaves it empty."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def fast_hashing(settings):
    """Wrong and right passwords alike are hashed on every login: a fast hasher here."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
