"""/metrics: Prometheus text, for workflows.view_instance or the bearer token; counters,
histograms and gauges."""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
import urllib.request
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from tests.support import workers
from tests.support.checks import wait_until
from tests.support.episodes import run_episode
from tests.support.observed import row
from tests.support.private_services import free_port
from tests.support.versioning_workflows import old_release
from workflows.client import DurableClient
from workflows.models import ApprovalRequest, Instance
from workflows.runtime.cache import sticky_cache

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(http) -> Samples:
    response = http.get("/metrics")
    assert response.status_code == 200, response.content
    samples: Samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples[sample.name, tuple(sorted(sample.labels.items()))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_need_view_instance_or_the_token(client, django_user_model, settings):
    """Being staff is not enough: /metrics counts every instance, so it follows the
    console's rule (workflows.view_instance, or operate_instance)."""
    from django.contrib.auth.models import Permission

    def allow(user, codename: str):  # noqa: ANN001, ANN202 - a fresh user, permissions reread
        user.user_permissions.add(Permission.objects.get(codename=codename))
        return django_user_model.objects.get(pk=user.pk)

    anonymous = client.get("/metrics")
    user = django_user_model.objects.create_user("viewer", password="pw", is_staff=True)
    client.force_login(user)
    staff_only = client.get("/metrics")
    client.force_login(allow(django_user_model.objects.create_user("vic"), "view_instance"))
    viewer = client.get("/metrics")
    client.force_login(allow(django_user_model.objects.create_user("op"), "operate_instance"))
    operator = client.get("/metrics")
    client.logout()
    settings.DURABLE_METRICS_TOKEN = "s3cret-token"
    with_token = client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-token")
    wrong_token = client.get("/metrics", HTTP_AUTHORIZATION="Bearer guess")
    settings.DURABLE_METRICS_TOKEN = ""
    no_token_configured = client.get("/metrics", HTTP_AUTHORIZATION="Bearer ")

    assert anonymous.status_code == 401
    assert anonymous["WWW-Authenticate"].startswith("Bearer")
    assert staff_only.status_code == 403
    assert b"workflows.view_instance" in staff_only.content
    assert viewer.status_code == operator.status_code == 200
    assert viewer["Content-Type"].startswith("text/plain")
    assert b'durable_instances{status="running"}' in viewer.content
    assert with_token.status_code == 200
    assert b"durable_queue_depth" in with_token.content
    assert wrong_token.status_code == 401
    assert no_token_configured.status_code == 401


def test_gauges_show_the_durable_state(admin_client):
    from tests.support import workflows  # noqa: F401 - t_timer

    client = DurableClient()
    client.start("tv_wait", None)
    client.start("tv_wait", None)
    running = {
        name: client.start(name, arg)
        for name, arg in [
            ("tv_fan_out", 4),
            ("t_timer", 0),
            ("tv_approval", {"amount": 12}),
            ("tv_wait", None),
        ]
    }
    for iid in running.values():
        run_episode(row(iid).pk)
    client.terminate(client.start("tv_wait", None), "not needed")
    retired = DurableClient(registry=old_release()).start("tv_retired", None)
    run_episode(row(retired).pk)  # refused: its version is gone -> needs attention
    # Everything began an hour ago, so the ages below are known without reading a clock.
    hour_ago = timezone.now() - timedelta(hours=1)
    Instance.objects.update(created_at=hour_ago, updated_at=hour_ago)
    ApprovalRequest.objects.update(created_at=hour_ago)

    m = scrape(admin_client)

    assert value(m, "durable_instances", status="pending") == 3
    assert value(m, "durable_instances", status="running") == 4
    assert value(m, "durable_instances", status="terminated") == 1
    assert value(m, "durable_instances_needing_attention") == 1
    assert value(m, "durable_queue_depth", queue="inbox") == 3  # two unstarted, one refused
    assert value(m, "durable_queue_depth", queue="activities") == 4
    assert value(m, "durable_queue_depth", queue="timers_due") == 1
    assert value(m, "durable_activity_tasks", activity="tv_step", status="scheduled") == 4
    assert value(m, "durable_fan_outs_in_flight") == 1
    assert value(m, "durable_fan_out_tasks", state="open") == 4
    assert value(m, "durable_fan_out_tasks", state="done") == 0
    assert value(m, "durable_oldest_running_instance_age_seconds") >= 3600
    assert value(m, "durable_oldest_wait_age_seconds", kind="approval") >= 3600
    # Only tv_wait waits with nothing scheduled; the others have tasks, a timer, an approval.
    assert value(m, "durable_oldest_wait_age_seconds", kind="external_event") >= 3600
    client.raise_event(running["tv_wait"], "go", 1)
    run_episode(row(running["tv_wait"]).pk)
    after = scrape(admin_client)
    assert value(after, "durable_oldest_wait_age_seconds", kind="external_event") == 0


def delta(before: Samples, after: Samples, name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


@pytest.mark.integration
def test_episode_and_activity_counters(worker, durable_client, admin_client):
    before = scrape(admin_client)
    cache = sticky_cache()
    size, cache.size = cache.size, 0  # nothing kept in memory: later episodes replay
    try:
        ids = [
            durable_client.start("tv_retry", 2),
            durable_client.start("tv_fan_out", 5),
            durable_client.start("tv_boom", None),
        ]
        states = [durable_client.wait_for_completion(iid, timeout=30) for iid in ids]
    finally:
        cache.size = size
    assert [s.status for s in states] == ["completed", "completed", "failed"]

    after = scrape(admin_client)

    assert (
        delta(
            before, after, "durable_activity_attempts_total", activity="tv_flaky", outcome="failed"
        )
        == 2
    )
    assert (
        delta(
            before,
            after,
            "durable_activity_attempts_total",
            activity="tv_flaky",
            outcome="completed",
        )
        == 1
    )
    assert delta(before, after, "durable_activity_retries_total", activity="tv_flaky") == 2
    assert delta(before, after, "durable_activity_duration_seconds_count", activity="tv_flaky") == 3
    assert delta(before, after, "durable_fan_out_width_count", orchestrator="tv_fan_out") == 1
    assert delta(before, after, "durable_fan_out_width_sum", orchestrator="tv_fan_out") == 5
    assert delta(before, after, "durable_fan_in_results_sum", orchestrator="tv_fan_out") == 5
    finished = "durable_orchestrations_finished_total"
    assert delta(before, after, finished, orchestrator="tv_boom", status="failed") == 1
    assert delta(before, after, finished, orchestrator="tv_fan_out", status="completed") == 1
    assert delta(before, after, "durable_episodes_total", orchestrator="tv_fan_out") >= 2
    assert (
        delta(before, after, "durable_history_length_events_count", orchestrator="tv_fan_out") >= 2
    )
    assert delta(before, after, "durable_replay_seconds_count", orchestrator="tv_fan_out") >= 1
    assert delta(before, after, "durable_episode_engine_seconds_count", orchestrator="tv_boom") >= 2
    assert value(after, "durable_instances", status="completed") == 2
    assert value(after, "durable_instances", status="failed") == 1


@pytest.mark.integration
def test_compensation_metrics(worker, durable_client, admin_client):
    iid = durable_client.start("tv_saga", None)
    wait_until(lambda: row(iid).needs_attention, what="the compensation to fail")

    m = scrape(admin_client)

    assert value(m, "durable_compensations", status="failed") == 1
    assert value(m, "durable_compensations_failed", activity="tv_undo_fails") == 1
    assert value(m, "durable_compensation_attempts", activity="tv_undo_fails") >= 1
    assert value(m, "durable_instances_needing_attention") == 1


def test_multiprocess_mode_adds_up_every_process(tmp_path, monkeypatch, admin_client):
    code = (
        "import django; django.setup()\n"
        "from workflows.counters import observe_activity\n"
        "for _ in range(3): observe_activity('tv_mp', 1, 1, True, 0.2)\n"
    )
    env = {
        **os.environ,
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path),
        "DJANGO_SETTINGS_MODULE": "durableapp.settings",
        "PYTHONPATH": str(workers.ROOT),
    }
    for _ in range(2):  # two worker processes
        subprocess.run([sys.executable, "-c", code], env=env, check=True, cwd=workers.ROOT)
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))

    m = scrape(admin_client)

    assert value(m, "durable_activity_attempts_total", activity="tv_mp", outcome="completed") == 6
    assert value(m, "durable_activity_duration_seconds_count", activity="tv_mp") == 6
    assert ("durable_instances", (("status", "running"),)) in m  # database gauges as well


@pytest.mark.integration
def test_durable_worker_serves_its_own_metrics_port(transactional_db):
    port = free_port()
    command = workers.DurableWorkerCommand(
        "--metrics-port",
        str(port),
        modules="tests.support.workflows,tests.support.versioning_workflows",
    )
    try:
        command.wait_for_output("worker running")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
            body = response.read().decode()
    finally:
        code = command.stop()

    assert "# TYPE durable_activity_attempts_total counter" in body
    assert "durable_instances{" not in body  # the database gauges are the web's job
    assert code == 0, command.output


def test_a_metrics_port_that_is_taken_stops_the_worker_with_a_clear_error(db):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", free_port()))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(CommandError, match=f"--metrics-port {port}: cannot serve metrics"):
            call_command("durable", "worker", "--metrics-port", str(port), stdout=io.StringIO())


@pytest.mark.parametrize("port", ["0", "70000", "ninety"])
def test_a_metrics_port_out_of_range_is_refused(db, port):
    with pytest.raises(CommandError, match=f"'{port}' is not a port: give a number 1-65535"):
        call_command("durable", "worker", "--metrics-port", port, stdout=io.StringIO())
