"""The codec alone: round trips, tampering, keys, compression (no database)."""

from __future__ import annotations

import base64
import json

import pytest

from tests.payloads.conftest import K1, SECRET
from workflows.conf import check_settings
from workflows.payloads import codec
from workflows.payloads.errors import PayloadCodecError, PayloadKeyMissing, PayloadTampered

VALUES = [
    {"card": SECRET, "items": [1, 2.5, None, True], "nested": {"é": "ü"}},
    [SECRET, {"a": 1}],
    SECRET,
    42,
    0,
    False,
    {},
    {"$p": "user data that looks like an envelope", "v": SECRET},
]


@pytest.mark.parametrize("value", VALUES)
def test_plain_round_trip_keeps_json_as_it_was(value):
    stored = codec.encode(value)
    assert codec.decode(stored) == value
    if not (isinstance(value, dict) and "$p" in value):
        assert stored == value  # codec off: nothing changes for existing users


@pytest.mark.parametrize("value", VALUES)
def test_encrypted_round_trip_holds_no_clear_text(encrypted, value):
    stored = codec.encode(value)
    assert stored["$p"] == "aesgcm" and stored["$k"] == "k1"
    assert SECRET not in json.dumps(stored)
    assert codec.decode(stored) == value


def test_each_encryption_differs_and_reads_under_any_configured_key(encrypted):
    first, second = codec.encode(SECRET), codec.encode(SECRET)
    assert first["ct"] != second["ct"]  # a fresh nonce each time
    encrypted.DURABLE_PAYLOAD_KEY_ID = "k2"
    assert codec.decode(first) == SECRET  # k1 still configured: old rows stay readable
    assert codec.encode(SECRET)["$k"] == "k2"


def _flip(text: str) -> str:
    blob = bytearray(base64.b64decode(text))
    blob[-1] ^= 1
    return base64.b64encode(bytes(blob)).decode()


@pytest.mark.parametrize(
    "change",
    [
        lambda e: {**e, "ct": _flip(e["ct"])},
        lambda e: {**e, "z": 1},  # the flag is authenticated data
        lambda e: {**e, "$k": "k2"},  # another configured key
        lambda e: {**e, "ct": e["ct"][:20]},  # truncated
    ],
)
def test_a_changed_envelope_fails_authentication(encrypted, change):
    stored = codec.encode({"card": SECRET})
    with pytest.raises(PayloadTampered) as caught:
        codec.decode(change(stored))
    assert "failed authentication" in str(caught.value)


def test_a_missing_key_names_the_key_id_and_the_setting(encrypted):
    stored = codec.encode(SECRET)
    encrypted.DURABLE_PAYLOAD_KEYS = {"k2": K1}
    encrypted.DURABLE_PAYLOAD_KEY_ID = "k2"
    with pytest.raises(PayloadKeyMissing) as caught:
        codec.decode(stored)
    assert "'k1'" in str(caught.value) and "DURABLE_PAYLOAD_KEYS" in str(caught.value)


def test_a_damaged_or_unknown_envelope_says_so():
    with pytest.raises(PayloadCodecError, match="unknown envelope format 'v9'"):
        codec.decode({"$p": "v9"})
    with pytest.raises(PayloadCodecError, match="damaged"):
        codec.decode({"$p": "zlib", "b": "not base64!"})


def test_compression_starts_above_the_threshold(encrypted):
    encrypted.DURABLE_PAYLOAD_COMPRESS_BYTES = 100
    small, large = "x" * 50, "x" * 5000
    assert codec.encode(small)["z"] == 0
    packed = codec.encode(large)
    assert packed["z"] == 1 and len(packed["ct"]) < 500
    assert codec.decode(packed) == large


def test_compression_without_encryption(settings):
    settings.DURABLE_PAYLOAD_COMPRESS_BYTES = 100
    assert codec.encode("x" * 50) == "x" * 50
    packed = codec.encode(["x" * 5000])
    assert packed["$p"] == "zlib" and codec.decode(packed) == ["x" * 5000]


@pytest.mark.parametrize(
    ("changes", "problem", "text"),
    [
        ({"DURABLE_PAYLOAD_KEY_ID": "k9"}, "durable.E002", "DURABLE_PAYLOAD_KEY_ID='k9'"),
        ({"DURABLE_PAYLOAD_KEYS": '{"k1": "short"}'}, "durable.E001", "DURABLE_PAYLOAD_KEYS"),
        ({"DURABLE_PAYLOAD_CODEC": "rot13"}, "durable.E001", "DURABLE_PAYLOAD_CODEC"),
        ({"DURABLE_PAYLOAD_KEYS": {"K1": K1}}, "durable.E001", "lower-case"),
        ({"DURABLE_PAYLOAD_STORAGE": "nowhere"}, "durable.E002", "'nowhere'"),
        ({"DURABLE_PAYLOAD_OFFLOAD_BYTES": 10**9}, "durable.W002", "no payload is ever"),
    ],
)
def test_the_system_check_names_bad_payload_settings(encrypted, changes, problem, text):
    for name, value in changes.items():
        setattr(encrypted, name, value)
    found = [p for p in check_settings() if p.id == problem]
    assert found and text in found[0].msg


def test_the_system_check_accepts_keys_from_the_environment_as_json(encrypted):
    encrypted.DURABLE_PAYLOAD_KEYS = json.dumps({"k1": K1})
    assert [p.id for p in check_settings() if p.id.startswith("durable.")] == []
