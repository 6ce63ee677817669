"""Errors of reading and writing stored payloads (part of the one error tree)."""

from __future__ import annotations

from ..engine.errors import DurableError


class PayloadCodecError(DurableError):
    """A stored payload cannot be read back or written with the configured codec."""


class PayloadKeyMissing(PayloadCodecError):
    """A payload was encrypted with a key id the settings no longer hold."""

    def __init__(self, key_id: str):
        self.key_id = key_id
        super().__init__(
            f"This payload was encrypted with key id {key_id!r}, which DURABLE_PAYLOAD_KEYS "
            "does not hold. Add that key back to DURABLE_PAYLOAD_KEYS (remove an old key "
            "only after `durable rotate-key` finished with the new DURABLE_PAYLOAD_KEY_ID)."
        )


class PayloadTampered(PayloadCodecError):
    """An encrypted payload failed authentication: changed, truncated or not ours."""

    def __init__(self, key_id: str):
        self.key_id = key_id
        super().__init__(
            f"A stored payload encrypted with key id {key_id!r} failed authentication: it was "
            "changed or damaged in the database, or the key under that id in "
            "DURABLE_PAYLOAD_KEYS is not the one it was written with. Restore the row or "
            "the key."
        )


class StoredPayloadMissing(PayloadCodecError):
    """An offloaded payload's object is gone from the payload storage."""

    def __init__(self, name: str, storage: str):
        self.name = name
        super().__init__(
            f"The offloaded payload {name!r} is missing from the payload storage ({storage}, "
            "DURABLE_PAYLOAD_STORAGE). Restore it from a backup of that storage."
        )
