"""The payload codec: what a stored payload looks like in its column.

With ``DURABLE_PAYLOAD_CODEC`` off (the default) a value is stored as the plain JSON it
always was. With ``aesgcm`` every value becomes an envelope::

    {"$p": "aesgcm", "$k": "k2", "z": 1, "ct": "<base64 of nonce + ciphertext>"}

AES-256-GCM under the key ``DURABLE_PAYLOAD_KEY_ID`` names in ``DURABLE_PAYLOAD_KEYS``;
the key id, format and compression flag are authenticated data, so changing any of them
(or a byte of ``ct``) fails the read with :class:`PayloadTampered`. Values whose JSON is
larger than ``DURABLE_PAYLOAD_COMPRESS_BYTES`` (0: never) are zlib-compressed first
(``{"$p": "zlib", "b": ...}`` without a codec). A user's own top-level object with a
``"$p"`` key is stored as ``{"$p": "raw", "v": value}``, so it is never mistaken for an
envelope. Reading understands every form whatever the current settings, as long as the
key of an envelope is still configured (docs/architecture.md, "Payloads").

Example::

    stored = encode({"card": "4111..."})   # an envelope when the codec is on
    assert decode(stored) == {"card": "4111..."}
"""

from __future__ import annotations

import base64
import json
import os
import threading
import zlib
from collections.abc import Callable
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ..conf import conf
from .errors import PayloadCodecError, PayloadKeyMissing, PayloadTampered

MARK = "$p"  # the envelope's format key
KEY_ID = "$k"  # the key id of an encrypted envelope (searched by rotate-key)
AESGCM_CODEC = "aesgcm"
NONCE_BYTES = 12

_ciphers: dict[tuple[str, str], AESGCM] = {}
_lock = threading.Lock()


def dumps(value: Any) -> bytes:
    """The compact JSON bytes of ``value`` (what is compressed, encrypted or offloaded)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def is_envelope(stored: Any) -> bool:
    return isinstance(stored, dict) and MARK in stored


def _cipher(key_id: str) -> AESGCM:
    keys = conf.PAYLOAD_KEYS
    if key_id not in keys:
        raise PayloadKeyMissing(key_id)
    text = keys[key_id]
    cipher = _ciphers.get((key_id, text))
    if cipher is None:
        cipher = AESGCM(base64.urlsafe_b64decode(text))
        with _lock:
            _ciphers[(key_id, text)] = cipher
    return cipher


def _aad(key_id: str, compressed: int) -> bytes:
    return f"durable-payload:{AESGCM_CODEC}:{key_id}:{compressed}".encode()


def _squeeze(data: bytes) -> tuple[bytes, int]:
    """``data`` compressed when it is over DURABLE_PAYLOAD_COMPRESS_BYTES (and gains)."""
    threshold = conf.PAYLOAD_COMPRESS_BYTES
    if threshold and len(data) > threshold:
        packed = zlib.compress(data, 6)
        if len(packed) < len(data):
            return packed, 1
    return data, 0


def encrypt(data: bytes, key_id: str) -> dict[str, Any]:
    """An ``aesgcm`` envelope of the JSON bytes ``data`` under ``key_id``."""
    data, compressed = _squeeze(data)
    nonce = os.urandom(NONCE_BYTES)
    sealed = _cipher(key_id).encrypt(nonce, data, _aad(key_id, compressed))
    text = base64.b64encode(nonce + sealed).decode("ascii")
    return {MARK: AESGCM_CODEC, KEY_ID: key_id, "z": compressed, "ct": text}


def encode(value: Any) -> Any:
    """What to store for ``value`` under the current settings (an envelope or ``value``)."""
    codec = conf.PAYLOAD_CODEC
    if codec == AESGCM_CODEC:
        return encrypt(dumps(value), conf.PAYLOAD_KEY_ID)
    if conf.PAYLOAD_COMPRESS_BYTES:
        data, compressed = _squeeze(dumps(value))
        if compressed:
            return {MARK: "zlib", "b": base64.b64encode(data).decode("ascii")}
    if is_envelope(value):
        return {MARK: "raw", "v": value}
    return value


def _raw(envelope: dict[str, Any]) -> Any:
    return envelope["v"]


def _zlib(envelope: dict[str, Any]) -> Any:
    return json.loads(zlib.decompress(base64.b64decode(envelope["b"])))


def _aesgcm(envelope: dict[str, Any]) -> Any:
    key_id = str(envelope.get(KEY_ID, ""))
    compressed = int(envelope.get("z", 0))
    blob = base64.b64decode(envelope["ct"])
    try:
        data = _cipher(key_id).decrypt(
            blob[:NONCE_BYTES], blob[NONCE_BYTES:], _aad(key_id, compressed)
        )
    except InvalidTag:
        raise PayloadTampered(key_id) from None
    return json.loads(zlib.decompress(data) if compressed else data)


# Envelope format -> reader. "ref" (offloaded) is read one level up (payloads/offload.py).
READERS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "raw": _raw,
    "zlib": _zlib,
    AESGCM_CODEC: _aesgcm,
}


def decode(stored: Any) -> Any:
    """The value ``stored`` holds (``stored`` itself when it is no envelope)."""
    if not is_envelope(stored):
        return stored
    reader = READERS.get(stored[MARK])
    if reader is None:
        raise PayloadCodecError(
            f"A stored payload has the unknown envelope format {stored[MARK]!r}: it was "
            "written by a newer durableapp, or by hand. Upgrade, or restore the row."
        )
    try:
        return reader(stored)
    except (KeyError, ValueError, TypeError, zlib.error) as exc:
        raise PayloadCodecError(
            f"A stored {stored[MARK]!r} payload is damaged ({exc.__class__.__name__}: "
            f"{exc}). Restore the row from a backup."
        ) from None


def key_id_of(stored: Any) -> str | None:
    """The key id an envelope was encrypted with, None for a clear one."""
    return str(stored[KEY_ID]) if is_envelope(stored) and KEY_ID in stored else None
