"""The shared input rules (workflows.rules): pure functions, no database.

The client, the API, the UI forms and the CLI all call these, so these tests pin the rules
and their messages once: what was wrong, and what to do instead.
"""

from __future__ import annotations

import math
from datetime import datetime

import pytest

from workflows import rules
from workflows.engine.approvals import APPROVAL_EVENT_PREFIX
from workflows.engine.errors import (
    ClientError,
    DurableError,
    InstanceExists,
    InstanceFinished,
    InstanceNotFound,
    InvalidInput,
    InvalidState,
    NotAllowed,
    PayloadTooLarge,
    UnknownOrchestratorError,
)
from workflows.engine.saga import COMPENSATION_EVENT_PREFIX


def refusal(call, *args, **kwargs) -> str:
    """The message of the InvalidInput that ``call`` raises."""
    with pytest.raises(InvalidInput) as caught:
        call(*args, **kwargs)
    return str(caught.value)


# -- ids ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("good", ["a", "order-42", "A.b:c@d_e-f", "9" * 200, "x" * 200])
def test_valid_ids_pass_unchanged(good):
    assert rules.check_instance_id(good) == good
    assert rules.id_problem(good) is None


@pytest.mark.parametrize(
    ("bad", "problem"),
    [
        ("", "it is empty"),
        ("has space", "it contains ' ' (character 4)"),
        ("a/b", "it contains '/' (character 2)"),
        ("-lead", "it starts with '-'"),
        ("_lead", "it starts with '_'"),
        ("éclair", "it starts with 'é'"),
        ("ok\n", "it contains '\\n' (character 3)"),  # fullmatch: no trailing newline
        ("nul\x00", "it contains '\\x00'"),
        ("x" * 201, "it is 201 characters long"),
        (42, "it is int, not text"),
        (None, "it is NoneType, not text"),
    ],
)
def test_a_bad_id_is_refused_naming_the_problem_and_the_rule(bad, problem):
    message = refusal(rules.check_instance_id, bad, "event id")

    assert message.startswith("Invalid event id ")
    assert problem in message
    assert rules.ID_RULE in message


def test_a_huge_value_is_shortened_in_the_message():
    message = refusal(rules.check_instance_id, "x" * 100_000)

    assert len(message) < 300
    assert "(100000 characters)" in message


def test_the_published_patterns_are_the_ones_enforced():
    """The API's schema states ID_PATTERN; a value it allows must pass, and vice versa."""
    import re

    for value in ("a", "a b", "-a", "a" * 200, "a" * 201, "a\n", "a:b@c"):
        published = re.fullmatch(rules.ID_PATTERN, value) is not None
        assert published == (rules.id_problem(value) is None), value


# -- event names ----------------------------------------------------------------------------------


@pytest.mark.parametrize("good", ["approve", "a", "order.paid:v2", "x" * 200, "-dash_first"])
def test_valid_event_names_pass(good):
    assert rules.check_event_name(good) == good


@pytest.mark.parametrize(
    ("bad", "words"),
    [
        ("", "it is empty"),
        ("has space", "it contains ' '"),
        ("at@sign", "it contains '@'"),
        ("x" * 201, "201 characters"),
        (None, "not text"),
    ],
)
def test_a_bad_event_name_is_refused_naming_the_problem(bad, words):
    message = refusal(rules.check_event_name, bad)

    assert message.startswith("Invalid event name")
    assert words in message
    assert rules.EVENT_NAME_RULE in message


@pytest.mark.parametrize(
    "reserved", ["durable:approval", APPROVAL_EVENT_PREFIX + "7", COMPENSATION_EVENT_PREFIX + "1"]
)
def test_decision_events_cannot_be_forged(reserved):
    assert "reserved" in refusal(rules.check_event_name, reserved)


def test_the_reserved_prefix_covers_the_engines_decision_events():
    assert APPROVAL_EVENT_PREFIX.startswith(rules.RESERVED_EVENT_PREFIX)
    assert COMPENSATION_EVENT_PREFIX.startswith(rules.RESERVED_EVENT_PREFIX)


# -- record ids and cursors ---------------------------------------------------------------------


def test_record_ids_are_positive_whole_numbers_that_fit_a_bigint():
    assert rules.check_record_id("17", "approval id") == 17
    assert rules.check_record_id("9" * 18, "approval id") == 10**18 - 1
    for bad in ("0", "017", "-1", "1.0", "9" * 19, " 1", "", 5):
        assert "Invalid approval id" in refusal(rules.check_record_id, bad, "approval id")


def test_cursors_are_what_a_page_handed_out():
    assert rules.check_cursor("1234") == 1234
    for bad in ("abc", "-1", "+1", "1_000", "9" * 19, " 1", 12):
        assert "next_cursor" in refusal(rules.check_cursor, bad)


# -- texts ----------------------------------------------------------------------------------------


def test_text_within_the_limit_passes():
    assert rules.check_text("EXP-7", "business key", 200) == "EXP-7"
    assert rules.check_text("", "reason", 10) == ""


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("x" * 201, "is 201 characters long; use at most 200"),
        ("a\x00b", "NUL character"),
        ("a\ud800", "unpaired surrogate"),
        (7, "must be text, not int"),
    ],
)
def test_text_that_cannot_be_stored_is_refused(value, words):
    message = refusal(rules.check_text, value, "business key", 200)

    assert message.startswith("The business key ")
    assert words in message


def test_a_business_key_is_one_line_of_text():
    assert rules.check_business_key("SO 1001 / Müller") == "SO 1001 / Müller"
    assert rules.check_business_key("") == ""


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("SO-1\nERROR forged line", "contains '\\n' (character 5), a control character"),
        ("SO-1\r", "contains '\\r' (character 5)"),
        ("a\tb", "'\\t'"),
        ("\x1b[31mred", "'\\x1b' (character 1)"),
        ("a\x85b", "'\\x85'"),
        ("a\u2028b", "'\\u2028'"),
        ("x" * 201, "is 201 characters long; use at most 200"),
        ("a\x00b", "NUL character"),
        (7, "must be text, not int"),
    ],
)
def test_a_business_key_with_a_control_character_is_refused(value, words):
    message = refusal(rules.check_business_key, value)

    assert message.startswith("The business key ")
    assert words in message


# -- payloads ---------------------------------------------------------------------------------


def nested(depth: int) -> list:
    value: list = []
    for _ in range(depth - 1):
        value = [value]
    return value


def test_a_payload_returns_its_stored_size():
    assert rules.check_payload({"order_id": 17}, "input", limit=1000) == 15
    assert rules.check_payload("é", "input", limit=None) == 4  # '"é"': UTF-8 bytes
    assert rules.check_payload(None, "input", limit=4) == 4
    assert rules.check_payload(nested(100), "input", limit=None) == 200


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ({"a": "nul\x00"}, "NUL character"),
        ({"nul\x00": 1}, "NUL character"),
        (["\ud800"], "unpaired surrogate"),
        ((("\udfff",),), "unpaired surrogate"),
        (nested(101), "nested deeper than 100 levels"),
        ({1, 2}, "not JSON-serializable"),
        (datetime(2026, 1, 1), "not JSON-serializable"),
        (math.nan, "NaN, which JSON cannot carry"),
        ({"x": math.inf}, "an infinite number"),
        (object(), "not JSON-serializable"),
    ],
)
def test_a_payload_that_cannot_be_stored_is_refused(value, words):
    message = refusal(rules.check_payload, value, "event data", 10_000)

    assert message.startswith("The event data ")
    assert words in message


@pytest.mark.parametrize(
    ("value", "words"),
    [
        (10**4300, "a whole number of more than 4300 digits"),
        ({"n": -(10**5000)}, "a whole number of more than 4300 digits"),
        (math.inf, "an infinite number"),
        ([-math.inf], "an infinite number"),
        ({"x": math.nan}, "NaN"),
    ],
    ids=["4301-digits", "5001-digits-nested", "inf", "minus-inf", "nan"],  # str() would fail
)
def test_numbers_json_cannot_carry_are_refused_naming_what_to_do(value, words):
    message = refusal(rules.check_payload, value, "input", None)

    assert message.startswith("The input contains ")
    assert words in message
    assert "send it as text" in message


def test_a_payload_that_contains_itself_is_refused_not_a_recursion_error():
    loop: list = []
    loop.append(loop)

    assert "nested deeper" in refusal(rules.check_payload, loop, "input", None)


def test_an_oversized_payload_is_input_too_large_naming_size_limit_and_what_to_do():
    with pytest.raises(rules.InputTooLarge) as caught:
        rules.check_payload("x" * 1200, "input", limit=1000)

    error = caught.value
    assert isinstance(error, InvalidInput)  # callers catching InvalidInput still do
    assert (error.what, error.size, error.limit) == ("input", 1202, 1000)
    assert "1202 bytes, over the limit of 1000 bytes" in str(error)
    assert "DURABLE_MAX_PAYLOAD_BYTES" in str(error)
    assert "pass a reference" in str(error)


def test_a_payload_right_at_the_limit_passes():
    assert rules.check_payload("x" * 998, "input", limit=1000) == 1000


# -- typed JSON ----------------------------------------------------------------------------------


def test_typed_json_parses_and_empty_means_none():
    assert rules.parse_json('{"order_id": 17}', "input") == {"order_id": 17}
    assert rules.parse_json("", "input") is None
    assert rules.parse_json("  \n", "input") is None
    assert rules.parse_json(None, "--data") is None


def test_typed_json_that_is_broken_says_where_and_how_it_should_look():
    message = refusal(rules.parse_json, "{'amount': 1}", "--data")

    assert message.startswith("The --data is not valid JSON")
    assert "line 1, column 2" in message
    assert 'Write e.g. {"order_id": 17}' in message


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("[" * 5000 + "]" * 5000, "nested deeper than 100 levels"),  # RecursionError before
        (str(nested(150)), "nested deeper than 100 levels"),  # parses, but deeper than allowed
        ("1" * 5000, "a number of 5000 digits; at most 4300"),  # ValueError before
        ('{"n": -' + "9" * 4301 + "}", "a number of 4301 digits; at most 4300"),
        ("NaN", "NaN, which is not JSON"),
        ('{"x": -Infinity}', "-Infinity, which is not JSON"),
        ("1e400", "infinite number"),
        ('"\\ud800"', "unpaired surrogate"),
        ('{"a": "\\u0000"}', "NUL character"),
    ],
    ids=[
        "5000-deep",
        "150-deep",
        "5000-digits",
        "4301-digits",
        "nan",
        "infinity",
        "1e400",
        "surrogate",
        "nul",
    ],
)
def test_typed_json_is_held_to_the_payload_rules_with_a_message_not_a_crash(text, words):
    message = refusal(rules.parse_json, text, "input")

    assert message.startswith("The input ")
    assert words in message


def test_typed_json_at_the_limits_passes():
    assert rules.parse_json(str(nested(100)), "input") == nested(100)
    assert rules.parse_json("-" + "9" * 4300, "input") == -(10**4300 - 1)
    assert rules.parse_json("1e308", "input") == 1e308


def test_loading_json_refuses_what_python_cannot_read_and_leaves_the_rest_to_check_payload():
    """The API parses a whole body with load_json; its fields are checked one by one later,
    so a NUL or a depth of 150 inside a field is not the parser's business."""
    assert rules.load_json('{"a": "\\u0000"}', "request body") == {"a": "\x00"}
    assert rules.load_json(str(nested(150)), "request body") == nested(150)
    assert "nested deeper than 100" in refusal(rules.load_json, "[" * 5000, "request body")
    assert "5000 digits" in refusal(rules.load_json, "1" * 5000, "request body")
    assert "NaN" in refusal(rules.load_json, "NaN", "request body")
    assert "line 1, column 9" in refusal(rules.load_json, '{"a": 1,}', "request body")


# -- HTTP statuses ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (InvalidInput("bad"), 400),
        (rules.InputTooLarge("input", 2000, 1000), 413),
        (UnknownOrchestratorError("x"), 400),
        (InstanceNotFound("x"), 404),
        (InstanceExists("x", "running"), 409),
        (InvalidState("no"), 409),
        (InstanceFinished("x", "completed", "terminate it"), 409),
        (NotAllowed("not yours"), 403),
        (ClientError("some new refusal"), 400),
        (DurableError("not a refusal"), None),
        (PayloadTooLarge("result", 2, 1), None),  # the runtime's, never a request's
        (ValueError("a bug"), None),
    ],
)
def test_every_refusal_has_one_status(error, status):
    assert rules.http_status(error) == status


def test_an_override_wins_for_its_class_only():
    overrides = {InstanceFinished: 410}

    assert rules.http_status(InstanceFinished("x", "completed", "deliver"), overrides) == 410
    assert rules.http_status(InvalidState("no"), overrides) == 409


def test_the_table_cannot_be_changed_by_accident():
    with pytest.raises(TypeError):
        rules.ERROR_STATUSES[InstanceExists] = 400  # type: ignore[index]


def test_every_client_error_class_has_a_4xx():
    """A new ClientError subclass is covered by the table (via its base), never a 500."""

    def subclasses(cls: type) -> list[type]:
        return [cls, *(s for sub in cls.__subclasses__() for s in subclasses(sub))]

    for cls in subclasses(ClientError):
        status = next(rules.ERROR_STATUSES[c] for c in cls.__mro__ if c in rules.ERROR_STATUSES)
        assert 400 <= status < 500, cls
