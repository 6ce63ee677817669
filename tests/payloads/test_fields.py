"""PayloadField: every payload column written and read through the codec, every path."""

from __future__ import annotations

import json

import pytest

from tests.payloads.conftest import SECRET
from tests.payloads.support import envelope, raw_text, rows_of_every_kind
from workflows import compiled, row_writes
from workflows.models import HistoryEvent, Instance
from workflows.payloads.rotation import payload_tables

pytestmark = pytest.mark.django_db

VALUE = {"card": SECRET, "amounts": [1, 2.5], "$p": "looks like an envelope"}

# Text columns that may quote workflow data (failure text): PayloadTextField.
TEXT = {("workflows.instance", "attention_reason"), ("workflows.externalevent", "reason")}
TEXT |= {("entities.entityoperationlog", "error"), ("workflows.bulkitem", "reason")}
TEXT |= {("schedules.schedule", "last_error")}
# Columns holding workflow data (docs/architecture.md, "Payloads"). A new JSON column
# must be added here, as a payload or deliberately not.
EXPECTED = {
    "workflows.instance": ["input", "output", "failure", "custom_status", "attention_reason"],
    "workflows.historyevent": ["payload"],
    "workflows.inboxmessage": ["payload"],
    "workflows.activitytask": ["input", "result", "failure", "heartbeat_details"],
    "workflows.externalevent": ["data", "reason"],
    "workflows.compensationrecord": ["input", "last_error"],
    "workflows.approvalrequest": ["details", "summary"],
    "workflows.bulkoperation": ["parameters"],
    "workflows.bulkitem": ["reason"],
    "entities.entity": ["state"],
    "entities.entityoperation": ["input"],
    "entities.entityoperationlog": ["error"],
    "schedules.schedule": ["input", "last_error"],
}
NOT_PAYLOADS = {  # metadata: searched or shown without view_payloads
    "workflows.activitylimitstate": ["recent_starts"],
    "workflows.auditentry": ["detail"],
    "workflows.bulkoperation": ["filter"],
    # searched by the database (ui lists, API filters): never put secrets there (README)
    # trace_context: the start's W3C trace context (ids of a trace, no workflow data)
    "workflows.instance": ["search_attributes", "trace_context"],
}


def test_every_json_column_is_a_payload_or_listed_as_metadata():
    from django.apps import apps
    from django.db.models import JSONField

    found = {model._meta.label_lower: names for model, names in payload_tables()}
    found = {k: v for k, v in found.items() if not k.startswith("samples.")}
    assert found == EXPECTED
    plain = {}
    for model in apps.get_models():
        names = [
            f.name
            for f in model._meta.concrete_fields
            if isinstance(f, JSONField) and f.name not in found.get(model._meta.label_lower, [])
        ]
        if names and not model._meta.label_lower.startswith(("samples.", "security.")):
            plain[model._meta.label_lower] = names
    assert plain == NOT_PAYLOADS


def _columns():
    return [
        (label, column)
        for label, names in EXPECTED.items()
        for column in names
        if (label, column) not in TEXT
    ]


@pytest.mark.parametrize(("label", "column"), sorted(TEXT))
def test_each_text_column_round_trips_with_no_clear_text(encrypted, label, column):
    rows = {m._meta.label_lower: (m, row) for m, row in rows_of_every_kind().items()}
    model, row = rows[label]
    text = f"boom: {SECRET}"
    model.objects.filter(pk=row.pk).update(**{column: text})
    stored = raw_text(model, column, row.pk)
    assert SECRET not in stored and envelope(stored)["$k"] == "k1"
    assert getattr(model.objects.get(pk=row.pk), column) == text
    model.objects.filter(pk=row.pk).update(**{column: ""})
    assert raw_text(model, column, row.pk) == ""  # "none" stays empty (and filterable)
    assert model.objects.filter(pk=row.pk, **{column: ""}).exists()


@pytest.mark.parametrize(("label", "column"), _columns())
def test_each_column_round_trips_with_no_clear_text_in_the_database(encrypted, label, column):
    rows = {m._meta.label_lower: (m, row) for m, row in rows_of_every_kind().items()}
    model, row = rows[label]
    model.objects.filter(pk=row.pk).update(**{column: VALUE})  # update()
    stored = json.loads(raw_text(model, column, row.pk))
    assert SECRET not in json.dumps(stored) and stored["$k"] == "k1"
    assert getattr(model.objects.get(pk=row.pk), column) == VALUE  # model rows
    assert model.objects.filter(pk=row.pk).values_list(column, flat=True)[0] == VALUE
    setattr(row, column, [SECRET])
    row.save(update_fields=[column])  # save()
    assert SECRET not in raw_text(model, column, row.pk)
    assert model.objects.values(column).get(pk=row.pk)[column] == [SECRET]


@pytest.mark.parametrize(("label", "column"), _columns())
def test_with_the_codec_off_columns_hold_plain_json_as_before(label, column):
    rows = {m._meta.label_lower: (m, row) for m, row in rows_of_every_kind().items()}
    model, row = rows[label]
    model.objects.filter(pk=row.pk).update(**{column: {"card": SECRET}})
    assert json.loads(raw_text(model, column, row.pk)) == {"card": SECRET}


def test_the_compiled_sql_paths_go_through_the_codec(encrypted):
    rows = rows_of_every_kind()
    inst = rows[Instance]
    row_writes.insert_rows(
        HistoryEvent,
        ["instance", "execution_id", "seq", "kind", "payload", "timestamp"],
        [(inst.pk, "e1", 2, "event_raised", {"data": SECRET}, inst.created_at)],
    )
    event = HistoryEvent.objects.get(instance=inst, seq=2)
    assert SECRET not in raw_text(HistoryEvent, "payload", event.pk)
    inst.output = {"total": SECRET}
    row_writes.update_fields(inst, ["output", "updated_at"])
    assert SECRET not in raw_text(Instance, "output", inst.pk)
    lock = compiled.CompiledQuery(Instance, lambda pk: Instance.objects.filter(pk=pk)[:1])
    assert lock.first(inst.pk).output == {"total": SECRET}  # raw() decodes too
    # ... and so does the lock sent with a batch (a merged step's), on every database
    assert lock.first(inst.pk, then=compiled.StatementBatch()).output == {"total": SECRET}


def test_bulk_update_goes_through_the_codec(encrypted):
    task = rows_of_every_kind()[Instance].tasks.get()
    task.result = {"card": SECRET}
    type(task).objects.bulk_update([task], ["result"])
    assert SECRET not in raw_text(type(task), "result", task.pk)
    task.refresh_from_db()
    assert task.result == {"card": SECRET}


MARKED = '$p:{"$p": "raw", "v": "user text"} and "$p:" again'


@pytest.mark.parametrize("codec_on", [False, True])
def test_a_text_that_starts_with_the_mark_round_trips(request, codec_on):
    if codec_on:
        request.getfixturevalue("encrypted")
    row = rows_of_every_kind()[Instance]
    for text in (MARKED, "$p:", "$p:not json", '$p:{"a": 1}'):
        Instance.objects.filter(pk=row.pk).update(attention_reason=text)
        stored = raw_text(Instance, "attention_reason", row.pk)
        assert stored.startswith("$p:") and stored != text  # escaped, never stored as is
        assert Instance.objects.get(pk=row.pk).attention_reason == text
        assert Instance.objects.values_list("attention_reason", flat=True).get(pk=row.pk) == text


def test_a_marked_text_stored_raw_by_an_earlier_version_reads_as_itself():
    from django.db import connection

    row = rows_of_every_kind()[Instance]
    for text in ("$p:not json", '$p:{"a": 1}', '$p:["$p"]'):
        with connection.cursor() as cursor:  # as written before texts were escaped
            cursor.execute(
                "UPDATE workflows_instance SET attention_reason = %s WHERE id = %s", [text, row.pk]
            )
        assert Instance.objects.get(pk=row.pk).attention_reason == text
