"""The OpenAPI schema at /api/schema/ is complete and true: schemathesis checks every
operation against it (no 500, no response that the schema does not describe)."""

from dataclasses import dataclass

import pytest
import schemathesis
from django.core.wsgi import get_wsgi_application
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.schemas import APIOperation
from schemathesis.specs.openapi.checks import positive_data_acceptance
from schemathesis.specs.openapi.schemas import OpenApiSchema

pytestmark = pytest.mark.django_db

# Per operation and run (5 runs): 12 took 270 s of CI test time for the 41 operations.
MAX_EXAMPLES = 6

OPERATIONS = {
    ("/api/v1/instances/", "get"),
    ("/api/v1/instances/", "post"),
    ("/api/v1/instances/{instance_id}/", "get"),
    ("/api/v1/instances/{instance_id}/", "delete"),
    ("/api/v1/instances/{instance_id}/history/", "get"),
    ("/api/v1/instances/{instance_id}/events/{event}/", "post"),
    ("/api/v1/instances/{instance_id}/terminate/", "post"),
    ("/api/v1/instances/{instance_id}/suspend/", "post"),
    ("/api/v1/instances/{instance_id}/resume/", "post"),
    ("/api/v1/instances/{instance_id}/rewind/", "post"),
    ("/api/v1/instances/{instance_id}/restart/", "post"),
    ("/api/v1/approvals/", "get"),
    ("/api/v1/approvals/{approval_id}/", "get"),
    ("/api/v1/approvals/{approval_id}/decision/", "post"),
    ("/api/v1/approvals/{approval_id}/claim/", "post"),
    ("/api/v1/approvals/{approval_id}/claim/", "delete"),
    ("/api/v1/compensations/", "get"),
    ("/api/v1/compensations/{record_id}/", "get"),
    ("/api/v1/compensations/{record_id}/retry/", "post"),
    ("/api/v1/compensations/{record_id}/resolve/", "post"),
    ("/api/v1/compensations/{record_id}/skip/", "post"),
    ("/api/v1/bulk-operations/", "get"),
    ("/api/v1/bulk-operations/", "post"),
    ("/api/v1/bulk-operations/{operation_id}/", "get"),
    ("/api/v1/bulk-operations/{operation_id}/outcomes/", "get"),
    ("/api/v1/bulk-operations/{operation_id}/cancel/", "post"),
    ("/api/v1/schedules/", "get"),
    ("/api/v1/schedules/", "post"),
    ("/api/v1/schedules/{schedule_id}/", "get"),
    ("/api/v1/schedules/{schedule_id}/", "patch"),
    ("/api/v1/schedules/{schedule_id}/", "delete"),
    ("/api/v1/schedules/{schedule_id}/pause/", "post"),
    ("/api/v1/schedules/{schedule_id}/resume/", "post"),
    ("/api/v1/schedules/{schedule_id}/trigger/", "post"),
    ("/api/v1/schedules/{schedule_id}/backfill/", "post"),
    ("/api/v1/entities/", "get"),
    ("/api/v1/entities/{name}/{key}/", "get"),
    ("/api/v1/entities/{name}/{key}/", "delete"),
    ("/api/v1/entities/{name}/{key}/signals/{operation}/", "post"),
}


def test_the_schema_lists_every_operation(api):
    schema = api.get("/api/schema/", {"format": "json"}).json()

    found = {(path, method) for path, item in schema["paths"].items() for method in item}
    assert found == OPERATIONS


def test_the_docs_page_loads_its_assets_from_our_static_files(api):
    html = api.get("/api/docs/").content.decode()

    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/" in html
    for cdn in ("cdn.jsdelivr", "unpkg.com", "cdnjs"):
        assert cdn not in html


@pytest.fixture
def auth(make_api) -> dict[str, str]:
    return {"Authorization": f"Token {make_api(superuser=True, username='fuzzer').token}"}


@pytest.fixture
def keeps_connection():
    """Django's WSGI app keeps the test's database connection open across requests (as
    Django's test client does): the test's transaction rolls everything back."""
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@dataclass(frozen=True)
class LoadedSchema:
    schema: OpenApiSchema
    routes: dict[tuple[str, str], list[APIOperation]]  # its operations by (path, method)


# The schema as schemathesis loads it, once per process: generating and parsing it took a
# third of this module's CPU time when each of its 41 tests did it. Nothing in it depends
# on the test database; the requests reach each test's own data.
_LOADED: list[LoadedSchema] = []


def loaded_schema(headers: dict[str, str]) -> LoadedSchema:
    if not _LOADED:
        app = get_wsgi_application()
        schema = schemathesis.openapi.from_wsgi("/api/schema/", app, headers=headers)
        routes: dict[tuple[str, str], list[APIOperation]] = {}
        for result in schema.get_all_operations():
            operation = result.ok()
            routes.setdefault((operation.path, operation.method.lower()), []).append(operation)
        _LOADED.append(LoadedSchema(schema, routes))
    return _LOADED[0]


SEEDED: dict[str, str] = {}


@pytest.fixture
def api_schema(auth, durable, keeps_connection):
    # The schema's example ids exist, so the example phase reaches real instances too.
    durable.start("t_wait_event", None, instance_id="order-42")
    approval, record = seed_approval_and_compensation(durable)
    SEEDED.update(approval_id=str(approval.pk), record_id=str(record.pk))
    return loaded_schema(auth)


def seed_approval_and_compensation(durable):
    """A pending approval and a failed compensation on a running instance (no worker)."""
    from datetime import timedelta

    from django.utils import timezone

    from workflows.models import ApprovalRequest, CompensationRecord, Instance

    durable.start("t_wait_event", None, instance_id="claim-7")
    Instance.objects.filter(instance_id="claim-7").update(status="running")
    instance = Instance.objects.get(instance_id="claim-7")
    common = {"instance": instance, "execution_id": instance.execution_id}
    approval = ApprovalRequest.objects.create(
        **common,
        task_id=1,
        request_id="claim-7:approval",
        name="expense",
        assignees="managers",
        details={"amount": 80},
        deadline=timezone.now() + timedelta(hours=1),
    )
    record = CompensationRecord.objects.create(
        **common,
        task_id=2,
        compensation_id="claim-7:comp:2",
        step="release",
        activity="ui_fail",
        order=1,
        status="failed",
        attempts=1,
        last_error={"type": "NonRetryableError", "message": "down"},
    )
    return approval, record


# A request the schema allows may still be refused with a 400 for reasons no schema can
# state: an orchestrator (or version) that is not registered, a payload over the byte
# limit, a NUL character the database cannot store. Every other check runs: no 5xx, status
# codes, content types, headers and bodies as documented, schema-violating data refused.
EXCLUDED = [positive_data_acceptance]

# Random data, schema-violating data, and valid data aimed at the seeded instance,
# approval and compensation (the "seeded" ids are filled in once they exist).
RUNS = [
    (GenerationMode.POSITIVE, {}),
    (GenerationMode.NEGATIVE, {}),
    (GenerationMode.POSITIVE, {"path_parameters": {"instance_id": "order-42"}}),
    (GenerationMode.POSITIVE, {"seeded": "approval_id"}),
    (GenerationMode.POSITIVE, {"seeded": "record_id"}),
]


# Operations whose only inputs are free-text path parameters: every value that violates
# their schema (a '/', an empty text) routes to another URL, so schemathesis cannot make
# a negative case for them ("Unable to satisfy assumptions"); their positive cases run.
NO_NEGATIVE_CASES = {
    ("/api/v1/entities/{name}/{key}/", "get"),
    ("/api/v1/entities/{name}/{key}/", "delete"),
}


# The status long-poll (?wait=N) would hold each generated request up to 30 s on the
# seeded instance, which never finishes: its valid cases ask for no wait (2 min -> seconds).
POSITIVE_QUERY = {("/api/v1/instances/{instance_id}/", "get"): {"wait": "0"}}


# One test per operation (the set above is checked to be the schema's): pytest-xdist
# spreads them over its workers, where one test of every operation took a worker ~4 min.
@pytest.mark.parametrize(
    ("path", "method"), sorted(OPERATIONS), ids=[f"{m} {p}" for p, m in sorted(OPERATIONS)]
)
def test_every_operation_keeps_to_the_schema(api_schema, auth, path, method):
    failures = []
    chosen = api_schema.routes.get((path, method), [])
    assert len(chosen) == 1, f"{method.upper()} {path} is not in the schema once"
    for operation in chosen:
        for mode, overrides in RUNS:
            if mode is GenerationMode.NEGATIVE and (path, method) in NO_NEGATIVE_CASES:
                continue
            if mode is GenerationMode.POSITIVE and (path, method) in POSITIVE_QUERY:
                overrides = {**overrides, "query": POSITIVE_QUERY[(path, method)]}
            if "seeded" in overrides:
                name = overrides["seeded"]
                if f"{{{name}}}" not in operation.path:
                    continue
                overrides = {"path_parameters": {name: int(SEEDED[name])}}

            @given(case=operation.as_strategy(mode, **overrides))
            @settings(
                max_examples=MAX_EXAMPLES,
                deadline=None,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            def check(case):
                case.call_and_validate(headers=auth, excluded_checks=EXCLUDED)

            try:
                check()
            except Exception as exc:  # noqa: BLE001 - collect every operation's failure
                failures.append(f"{operation.label} ({mode}, {overrides}):\n{exc}")
    assert not failures, "\n\n".join(failures)
