"""``durable rotate-key``: every stored payload re-written under the current key.

After a new key is added to ``DURABLE_PAYLOAD_KEYS`` and named by ``DURABLE_PAYLOAD_KEY_ID``
(every process restarted with it: new writes use it), this re-encrypts the rows still under
another key, or in clear text, table by table, ``batch`` rows per transaction, each row
locked (``FOR NO KEY UPDATE SKIP LOCKED`` on PostgreSQL: a row an episode holds is left for
the next pass, never waited for). Offloaded payloads are written anew and their old objects
deleted after the commit. With the codec off it decrypts instead.

It is resumable by construction: a row already under the current key is never selected
again, so a run stopped at any point (Ctrl-C, a crash) continues where it was when run
again. Progress goes to ``report`` after every batch. Once it reports nothing left, the
old key may be removed from DURABLE_PAYLOAD_KEYS.

Example::

    totals = rotate(report=print)   # {"workflows.historyevent": 1200, ...}
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.apps import apps
from django.db import connections, models, transaction
from django.db.models import Q, TextField
from django.db.models.functions import Cast

from ..conf import conf
from . import codec, offload
from .fields import PayloadField, PayloadTextField

DEFAULT_BATCH = 500
MAX_PASSES = 20  # rows held by running episodes are tried again, this many times at most


@dataclass
class Progress:
    """One batch done: which table, how far (primary key), rows rewritten, rows left busy."""

    table: str
    last_pk: Any
    rewritten: int
    busy: int
    totals: dict[str, int] = field(default_factory=dict)

    def line(self) -> str:
        busy = f", {self.busy} busy (next pass)" if self.busy else ""
        return f"{self.table}: {self.rewritten} rewritten up to id {self.last_pk}{busy}"


def payload_tables() -> list[tuple[type[models.Model], list[str]]]:
    """Every model with payload columns, and those columns (all installed apps)."""
    found = []
    for model in apps.get_models():
        names = [
            f.name
            for f in model._meta.concrete_fields
            if isinstance(f, (PayloadField, PayloadTextField))
        ]
        if names:
            found.append((model, names))
    return found


def _stale(alias: str) -> Q:
    """Rows of one raw column not yet in the current form (an empty text has none)."""
    key_id = conf.PAYLOAD_KEY_ID if conf.PAYLOAD_CODEC else ""
    if key_id:
        current = f'"{codec.KEY_ID}": "{key_id}"'
        filled = Q(**{f"{alias}__isnull": False}) & ~Q(**{alias: ""})
        return filled & ~Q(**{f"{alias}__contains": current})
    return Q(**{f"{alias}__contains": f'"{codec.KEY_ID}": '})


def _is_stale(text: str | None) -> bool:
    if not text:
        return False
    key_id = conf.PAYLOAD_KEY_ID if conf.PAYLOAD_CODEC else ""
    if key_id:
        return f'"{codec.KEY_ID}": "{key_id}"' not in text
    return f'"{codec.KEY_ID}": ' in text


def _rotate_batch(
    model: type[models.Model], columns: list[str], after: Any, batch: int
) -> tuple[Any, int, int]:
    """One transaction: the next ``batch`` stale rows after pk ``after``; returns the last
    pk looked at (None: table done), rows rewritten, rows skipped as busy."""
    raw = {f"raw_{name}": Cast(name, TextField()) for name in columns}
    stale = Q()
    for alias in raw:
        stale |= _stale(alias)
    base = model._default_manager
    using = base.db
    with transaction.atomic(using=using):
        pks = list(
            base.annotate(**raw)
            .filter(stale, pk__gt=after)
            .order_by("pk")
            .values_list("pk", flat=True)[:batch]
        )
        if not pks:
            return None, 0, 0
        locking = base.filter(pk__in=pks).order_by("pk").annotate(**raw).only("pk", *columns)
        if connections[using].features.has_select_for_update_skip_locked:
            locking = locking.select_for_update(skip_locked=True, no_key=True, of=("self",))
        rewritten, old_objects = 0, []
        rows = list(locking)
        for row in rows:
            changed = {}
            for name in columns:
                text = getattr(row, f"raw_{name}")
                if _is_stale(text):
                    changed[name] = getattr(row, name)
                    old_objects += offload.refs_in([text])
            if changed:
                base.filter(pk=row.pk).update(**changed)
                rewritten += 1
        offload.delete_after_commit(old_objects, using=using)
    return pks[-1], rewritten, len(pks) - len(rows)


def rotate(
    batch: int = DEFAULT_BATCH,
    report: Callable[[Progress], None] = lambda _progress: None,
    tables: list[tuple[type[models.Model], list[str]]] | None = None,
) -> dict[str, int]:
    """Rewrite every stale payload; returns rows rewritten per table ("app.model").
    Raises nothing for busy rows: those left after MAX_PASSES are reported as busy."""
    totals: dict[str, int] = {}
    for model, columns in tables or payload_tables():
        table = model._meta.label_lower
        totals.setdefault(table, 0)
        for _pass in range(MAX_PASSES):
            after: Any = 0
            busy_this_pass = 0
            while True:
                last, rewritten, busy = _rotate_batch(model, columns, after, batch)
                if last is None:
                    break
                totals[table] += rewritten
                busy_this_pass += busy
                after = last
                report(Progress(table, last, rewritten, busy, totals))
            if not busy_this_pass:
                break
    return totals


def remaining(tables: list[tuple[type[models.Model], list[str]]] | None = None) -> dict[str, int]:
    """Rows per table not yet in the current form (0 everywhere: rotation is complete)."""
    left = {}
    for model, columns in tables or payload_tables():
        raw = {f"raw_{name}": Cast(name, TextField()) for name in columns}
        stale = Q()
        for alias in raw:
            stale |= _stale(alias)
        left[model._meta.label_lower] = model._default_manager.annotate(**raw).filter(stale).count()
    return left
