"""@activity limit options, rate parsing, the rate window maths, resolution with the setting.

None of these touch the database: they run everywhere.
"""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from workflows.conf import conf
from workflows.engine import RegistrationError, Registry
from workflows.engine.errors import InvalidInput
from workflows.engine.registry import parse_rate
from workflows.limits import config, rates
from workflows.runtime import queues
from workflows.runtime.worker import serve_queues


def register(**options):
    registry = Registry()

    @registry.activity(name="call_partner", **options)
    def call_partner(ctx, x):
        return x

    return registry.get_activity("call_partner")


def test_limit_options_are_accepted_and_kept():
    definition = register(max_concurrency=5, rate_limit="100/m", queue="partner-api")
    assert definition.options == {
        "max_concurrency": 5,
        "rate_limit": "100/m",
        "queue": "partner-api",
    }


@pytest.mark.parametrize("value", [0, -1, "5", 2.5, True])
def test_max_concurrency_must_be_a_whole_number_of_at_least_one(value):
    with pytest.raises(RegistrationError) as caught:
        register(max_concurrency=value)
    assert "'call_partner'" in str(caught.value)
    assert "max_concurrency must be a whole number >= 1" in str(caught.value)


@pytest.mark.parametrize(
    "value", ["20", "20/sec", "20 / s", "0/s", "x/s", "20/d", "-3/m", " 20/s", 20, "1.5/s"]
)
def test_rate_limit_must_be_n_per_second_minute_or_hour(value):
    with pytest.raises(RegistrationError) as caught:
        register(rate_limit=value)
    message = str(caught.value)
    assert "'call_partner'" in message and repr(value) in message
    assert "'20/s', '100/m' or '1000/h'" in message


@pytest.mark.parametrize(
    "value", ["", "-api", "partner api", "default", "orchestrations", "x.DQ", 5, "é"]
)
def test_queue_must_be_a_valid_queue_name(value):
    with pytest.raises(RegistrationError) as caught:
        register(queue=value)
    assert "queue must be a queue name" in str(caught.value)


def test_unknown_options_are_still_rejected_with_the_known_ones_named():
    with pytest.raises(RegistrationError) as caught:
        register(max_concurrency=2, retries=3, concurrency=5)
    message = str(caught.value)
    assert "retries" in message and "concurrency" in message
    assert "max_concurrency=N" in message and "RetryPolicy" in message


@pytest.mark.parametrize(
    ("text", "parsed"), [("20/s", (20, 1.0)), ("100/m", (100, 60.0)), ("1000/h", (1000, 3600.0))]
)
def test_parse_rate(text, parsed):
    assert parse_rate(text) == parsed


# -- the rate window (pure) --------------------------------------------------------------------
def greedy_starts(rate, until):
    """Start whenever allowed, on a fake clock; returns the start times."""
    recent, starts, now = [], [], 0.0
    while now < until:
        wait, recent = rates.rate_wait(recent, rate, now)
        if wait:
            now += wait  # the delayed wake-up
        else:
            rates.count_start(recent, rate, now)
            starts.append(now)
            now += 0.0001
    return starts


@pytest.mark.parametrize("rate", [(20, 1.0), (5, 1.0), (100, 60.0), (3, 3600.0)])
def test_no_period_ever_holds_more_than_the_limit(rate):
    limit, period = rate
    starts = greedy_starts(rate, until=period * 5)
    first = 0
    for last, moment in enumerate(starts):
        while moment - starts[first] >= period:
            first += 1
        assert last - first + 1 <= limit, f"{last - first + 1} starts within {period} s"
    # ... and a steady stream gets most of the rate: slots are 1/20 of the period.
    assert len(starts) >= limit * 5 * 0.9


def test_the_wait_is_until_the_oldest_slot_leaves_the_window():
    rate = (2, 1.0)  # slots of 0.05 s
    recent = []
    _, window = rates.rate_wait(recent, rate, 10.00)
    rates.count_start(window, rate, 10.00)
    _, window = rates.rate_wait(window, rate, 10.30)
    assert rates.count_start(window, rate, 10.30) == 2
    wait, window = rates.rate_wait(window, rate, 10.40)
    assert wait == pytest.approx(10.00 + 0.05 + 1.0 - 10.40)
    assert rates.rate_wait(window, rate, 11.06)[0] == 0


# -- resolution: decorator, then DURABLE_ACTIVITY_LIMITS -------------------------------------
def test_the_decorator_declares_limits(settings):
    settings.DURABLE_ACTIVITY_LIMITS = {}
    assert config.limits_for("lim_five") == config.Limits(max_concurrency=5)
    assert config.limits_for("lim_partner").queue == "lim-partner"
    assert config.limits_for("lim_rate").rate == (20, 1.0)
    assert config.limits_for("lim_plain") is config.NO_LIMITS
    assert {"lim_five", "lim_two", "lim_rate", "lim_partner"} <= config.limited_names()
    assert "lim_plain" not in config.limited_names()


def test_the_setting_wins_key_by_key_and_null_lifts_a_limit(settings):
    settings.DURABLE_ACTIVITY_LIMITS = {
        "lim_five": {"max_concurrency": 1, "rate_limit": "2/m"},
        "lim_partner": {"max_concurrency": None},
        "lim_plain": {"queue": "elsewhere"},
        "not_registered_here": {"max_concurrency": 3},
    }
    assert config.limits_for("lim_five") == config.Limits(max_concurrency=1, rate_limit="2/m")
    partner = config.limits_for("lim_partner")
    assert partner.max_concurrency is None and partner.queue == "lim-partner"
    assert not partner.limited and not config.runs_inline("lim_partner")
    assert config.limits_for("lim_plain").queue == "elsewhere"
    assert config.limits_for("not_registered_here").max_concurrency == 3
    assert "lim_partner" not in config.limited_names()


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ({"x": {"max_concurrency": 0}}, "max_concurrency"),
        ({"x": {"rate_limit": "5 per second"}}, "rate_limit"),
        ({"x": {"burst": 3}}, "unknown option"),
    ],
)
def test_a_bad_setting_says_which_entry(settings, value, words):
    settings.DURABLE_ACTIVITY_LIMITS = value
    with pytest.raises(ImproperlyConfigured) as caught:
        config.limits_for("x")
    assert "DURABLE_ACTIVITY_LIMITS['x']" in str(caught.value) and words in str(caught.value)


def test_without_any_limit_nothing_is_configured(settings):
    settings.DURABLE_ACTIVITY_LIMITS = {
        name: {"max_concurrency": None, "rate_limit": None, "queue": None}
        for name in ("lim_five", "lim_two", "lim_rate", "lim_partner")
    }
    assert not config.configured() and not config.limited_names()
    assert config.runs_inline("lim_five")


def test_limited_or_routed_activities_are_never_run_inline(settings):
    settings.DURABLE_ACTIVITY_LIMITS = {}
    assert config.runs_inline("lim_plain")
    assert not config.runs_inline("lim_two")
    assert not config.runs_inline("lim_partner")


# -- queues a worker serves --------------------------------------------------------------------
def test_a_worker_serves_every_queue_unless_told(settings):
    settings.DURABLE_ACTIVITY_LIMITS = {}
    hub = conf.TASK_HUB
    orchestrations = queues.queue_name("orchestration", hub)
    default = queues.queue_name("activity", hub)
    try:
        everything = serve_queues(None)
        partner = queues.queue_name("activity", hub, "lim-partner")
        assert {orchestrations, default, partner} <= everything
        assert serve_queues(["lim-partner"]) == {partner}
        assert not config.runs_inline("lim_plain")  # this process no longer runs "default"
        assert serve_queues(["orchestrations", "default"]) == {orchestrations, default}
        assert config.runs_inline("lim_plain")
        with pytest.raises(InvalidInput, match="lim-partnr"):
            serve_queues(["lim-partnr"])
    finally:
        serve_queues(None)
