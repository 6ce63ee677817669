"""Payload fixtures: codec settings with test keys, and a payload storage in a temporary folder."""

from __future__ import annotations

import base64

import pytest

K1 = base64.urlsafe_b64encode(bytes(range(32))).decode()
K2 = base64.urlsafe_b64encode(bytes(range(32, 64))).decode()
SECRET = "SECRET-4111-1111-1111-1111"


@pytest.fixture(autouse=True)
def codec_off(settings):
    """Each test starts from the defaults, whatever the environment sets (the Redis suite
    turns the codec on for everything)."""
    settings.DURABLE_PAYLOAD_CODEC = ""
    settings.DURABLE_PAYLOAD_COMPRESS_BYTES = 0
    settings.DURABLE_PAYLOAD_OFFLOAD_BYTES = 0
    return settings


@pytest.fixture
def encrypted(settings, tmp_path):
    """The codec on with key k1 (k2 known too, not current); offloading off."""
    settings.DURABLE_PAYLOAD_CODEC = "aesgcm"
    settings.DURABLE_PAYLOAD_KEYS = {"k1": K1, "k2": K2}
    settings.DURABLE_PAYLOAD_KEY_ID = "k1"
    settings.DURABLE_PAYLOAD_DIR = str(tmp_path / "payloads")
    return settings


@pytest.fixture
def offloading(settings, tmp_path):
    """Payloads over 1 KiB go to a FileSystemStorage in a temporary folder."""
    settings.DURABLE_PAYLOAD_OFFLOAD_BYTES = 1024
    settings.DURABLE_PAYLOAD_DIR = str(tmp_path / "payloads")
    return tmp_path / "payloads"


def stored_files(folder) -> list:
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []
