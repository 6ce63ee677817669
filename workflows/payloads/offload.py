"""Large payloads by reference: above ``DURABLE_PAYLOAD_OFFLOAD_BYTES`` a payload goes to
Django's storage API and its column keeps a reference::

    {"$p": "ref", "ref": "payloads/3f/3fa2....json", "n": 812345, "sha": "<sha256>"}

(plus ``"$k"``, the key id, when the object is encrypted: the object holds exactly what
the column would have held, so the codec applies to it the same way). The storage is the
``DURABLE_PAYLOAD_STORAGE`` alias of Django's ``STORAGES`` (e.g. django-storages' S3),
or, by default, a ``FileSystemStorage`` in ``DURABLE_PAYLOAD_DIR`` (never served).

The hard limit stays: ``DURABLE_MAX_PAYLOAD_BYTES`` is checked on the value before it is
stored, offloaded or not, so offloading moves payloads out of the rows but never lets a
larger one in (docs/architecture.md, "Payloads").

Example::

    stored = store({"pdf": "..."})       # a reference when over the threshold
    value = load(stored)                # the value again, read from the storage
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage, Storage, storages
from django.db import transaction
from django.db.models import Model, Q, QuerySet, TextField
from django.db.models.functions import Cast

from ..conf import conf
from . import codec
from .errors import PayloadTampered, StoredPayloadMissing

REF = "ref"


def payload_storage() -> Storage:
    """The storage offloaded payloads are written to (DURABLE_PAYLOAD_STORAGE)."""
    alias = conf.PAYLOAD_STORAGE
    if alias:
        return storages[alias]
    return FileSystemStorage(location=_folder(), base_url=None)


def _folder() -> str:
    return conf.PAYLOAD_DIR or str(Path(getattr(settings, "BASE_DIR", ".")) / "var" / "payloads")


def _describe() -> str:
    return conf.PAYLOAD_STORAGE or f"the folder {_folder()}"


def is_ref(stored: Any) -> bool:
    return codec.is_envelope(stored) and stored[codec.MARK] == REF


def store(value: Any, offload: bool = True) -> Any:
    """What to store for ``value``: the codec's form, moved to the storage when large
    (and ``offload``)."""
    stored = codec.encode(value)
    threshold = conf.PAYLOAD_OFFLOAD_BYTES if offload else 0
    if not threshold:
        return stored
    data = codec.dumps(stored)
    if len(data) <= threshold:
        return stored
    digest = hashlib.sha256(data).hexdigest()
    name = f"payloads/{digest[:2]}/{uuid.uuid4().hex}.json"
    name = payload_storage().save(name, ContentFile(data))
    ref: dict[str, Any] = {codec.MARK: REF, "ref": name, "n": len(data), "sha": digest}
    key_id = codec.key_id_of(stored)
    if key_id is not None:
        ref[codec.KEY_ID] = key_id
    return ref


def load(stored: Any) -> Any:
    """The value ``stored`` (a column's JSON) holds, reading an offloaded one back."""
    if is_ref(stored):
        name = str(stored["ref"])
        try:
            with payload_storage().open(name, "rb") as handle:
                data = handle.read()
        except (FileNotFoundError, OSError):
            raise StoredPayloadMissing(name, _describe()) from None
        if hashlib.sha256(data).hexdigest() != stored.get("sha"):
            raise PayloadTampered(codec.key_id_of(stored) or "(none: not encrypted)")
        stored = json.loads(data)
    return codec.decode(stored)


def may_hold_objects() -> bool:
    """Could the payload storage hold objects? (Not when offloading was never used: then
    a purge need not look for references.)"""
    if conf.PAYLOAD_OFFLOAD_BYTES or conf.PAYLOAD_STORAGE:
        return True
    return Path(_folder()).exists()


# How a reference's format reads in a column's JSON text: PostgreSQL's jsonb output and
# Django's json.dumps both write ": " between a key and its value.
REF_TEXT = f'"{codec.MARK}": "{REF}"'


def refs_in_rows(rows: QuerySet, fields: list[str]) -> list[str]:
    """The object names referenced by ``fields`` of ``rows`` (read as raw JSON text, with
    no decoding: only the rows holding a reference leave the database)."""
    raw = {f"raw_{name}": Cast(name, TextField()) for name in fields}
    holding = Q()
    for alias in raw:
        holding |= Q(**{f"{alias}__contains": REF_TEXT})
    texts = rows.annotate(**raw).filter(holding).values_list(*raw)
    return refs_in(text for row in texts for text in row)


def refs_in(texts: Iterable[str | None]) -> list[str]:
    """The object names of the references among raw column texts (JSON as stored)."""
    names = []
    for text in texts:
        if text and f'"{REF}"' in text:
            stored = json.loads(text)
            if is_ref(stored):
                names.append(str(stored["ref"]))
    return names


def offloaded_columns(model: type[Model]) -> list[str]:
    """The columns of ``model`` whose large values go to the storage (``offload=True``)."""
    return [f.name for f in model._meta.concrete_fields if getattr(f, "offload", False)]


def delete_objects_of(rows: QuerySet, fields: list[str] | None = None) -> None:
    """Delete the objects ``rows`` reference (in ``fields``, default every offloaded
    column) once the transaction commits. Call it before the rows are deleted, or before
    their references are replaced by new values: an object belongs to one row's column
    (names are never shared), so nothing else can still need it.

    Example::

        dropped = HistoryEvent.objects.filter(instance=inst, execution_id=old)
        delete_objects_of(dropped)
        dropped.delete()
    """
    if not may_hold_objects():
        return
    names = refs_in_rows(rows, fields or offloaded_columns(rows.model))
    delete_after_commit(names, using=rows.db)


def delete_after_commit(names: list[str], using: str = "default") -> None:
    """Delete stored objects once the transaction that dropped their rows commits (a
    rolled-back purge keeps them); a missing object is fine."""
    if not names:
        return

    def delete() -> None:
        storage = payload_storage()
        for name in names:
            storage.delete(name)

    transaction.on_commit(delete, using=using)
