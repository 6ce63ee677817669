"""``durable payloads gc``: delete stored objects no row references.

Deletions that follow a row (purge, continue-as-new dropping history, rewind, rotation)
delete that row's objects after their commit. What is left: the object of a write whose
transaction rolled back after the object was saved, and anything a crash interrupted
between a commit and its deletions. This walks the payload storage, takes the objects
older than the grace period (``older_than``: a write's transaction still open cannot be
that old), checks them against every offloaded column ``batch`` names at a time, and
deletes the ones no row references (each batch checked right before its deletions).
Names are per row and never reused, so an object unreferenced and older than the grace
period stays unreferenced (docs/architecture.md, "Payloads").

Example::

    result = collect(timedelta(hours=1), report=print)   # GcProgress lines as it goes
    result.deleted                                       # objects deleted
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.apps import apps
from django.core.files.storage import Storage
from django.db import models
from django.db.models import TextField
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast
from django.utils import timezone

from .offload import offloaded_columns, payload_storage

ROOT = "payloads"  # every object name starts here (offload.store)
DEFAULT_BATCH = 500
DEFAULT_GRACE = timedelta(hours=1)


@dataclass
class GcProgress:
    """Where a run stands after a batch: objects looked at, old enough, unreferenced
    (deleted unless a dry run)."""

    scanned: int = 0
    old: int = 0
    unreferenced: int = 0
    deleted: int = 0
    dry_run: bool = False
    batch_unreferenced: list[str] = field(default_factory=list)  # the last batch's

    def line(self) -> str:
        done = "would delete" if self.dry_run else "deleted"
        count = self.unreferenced if self.dry_run else self.deleted
        return (
            f"{self.scanned} object(s) scanned, {self.old} past the grace period, "
            f"{self.unreferenced} unreferenced, {done} {count}"
        )


def stored_names(storage: Storage, folder: str = ROOT) -> Iterator[str]:
    """Every object name under ``folder`` of ``storage`` (a missing folder has none)."""
    try:
        folders, files = storage.listdir(folder)
    except FileNotFoundError:
        return
    for name in sorted(files):
        yield f"{folder}/{name}"
    for sub in sorted(folders):
        yield from stored_names(storage, f"{folder}/{sub}")


def offloaded_tables() -> list[tuple[type[models.Model], list[str]]]:
    """Every model with offloaded columns, and those columns (all installed apps)."""
    found = [(model, offloaded_columns(model)) for model in apps.get_models()]
    return [(model, columns) for model, columns in found if columns]


def referenced(names: list[str], tables: list[tuple[type[models.Model], list[str]]]) -> set[str]:
    """Which of ``names`` some row's offloaded column references (one query per column;
    the Cast makes it a plain text ``IN``, not a JSON one)."""
    found: set[str] = set()
    for model, columns in tables:
        for column in columns:
            refs = (
                model._default_manager.annotate(
                    _ref=Cast(KeyTextTransform("ref", column), TextField())
                )
                .filter(_ref__in=names)
                .values_list("_ref", flat=True)
            )
            found.update(refs)
    return found


def _old_enough(storage: Storage, names: Iterator[str], cutoff: datetime) -> Iterator[str]:
    for name in names:
        try:
            modified = storage.get_modified_time(name)
        except FileNotFoundError:  # deleted meanwhile (a purge): nothing to do
            continue
        if timezone.is_naive(modified):
            modified = timezone.make_aware(modified)
        if modified < cutoff:
            yield name


def collect(
    older_than: timedelta = DEFAULT_GRACE,
    dry_run: bool = False,
    batch: int = DEFAULT_BATCH,
    report: Callable[[GcProgress], None] = lambda _progress: None,
) -> GcProgress:
    """Delete (``dry_run``: only count) the stored objects older than ``older_than`` that
    no row references; ``report`` gets the progress after each batch."""
    storage = payload_storage()
    tables = offloaded_tables()
    progress = GcProgress(dry_run=dry_run)
    cutoff = timezone.now() - older_than

    def counted() -> Iterator[str]:
        for name in stored_names(storage):
            progress.scanned += 1
            yield name

    pending: list[str] = []
    for name in _old_enough(storage, counted(), cutoff):
        pending.append(name)
        if len(pending) == batch:
            _sweep(storage, pending, tables, progress)
            report(progress)
            pending = []
    if pending or not progress.old:
        _sweep(storage, pending, tables, progress)
        report(progress)
    return progress


def _sweep(
    storage: Storage,
    names: list[str],
    tables: list[tuple[type[models.Model], list[str]]],
    progress: GcProgress,
) -> None:
    progress.old += len(names)
    progress.batch_unreferenced = []
    if not names:
        return
    unreferenced = [name for name in names if name not in referenced(names, tables)]
    progress.unreferenced += len(unreferenced)
    progress.batch_unreferenced = unreferenced
    if progress.dry_run:
        return
    for name in unreferenced:
        storage.delete(name)
        progress.deleted += 1
