"""The data converter (workflows/engine/converter.py): each type to its JSON form and back,
nested paths in errors, and the forms of type hints."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from enum import Enum, IntEnum, StrEnum
from typing import Annotated, Any, Literal, NewType, Optional, TypedDict, Union
from uuid import UUID
from zoneinfo import ZoneInfo

import pydantic
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workflows.engine import NonRetryableError, PayloadError
from workflows.engine.converter import DataConverter
from workflows.engine.errors import PayloadMismatch

converter = DataConverter()
OrderId = NewType("OrderId", str)


class Color(Enum):
    RED = "red"
    BLUE = "blue"


class Level(IntEnum):
    LOW = 1
    HIGH = 2


class Mode(StrEnum):
    FAST = "fast"


@dataclass(frozen=True)
class Line:
    sku: str
    price: Decimal
    qty: int = 1


@dataclass
class Order:
    id: UUID
    placed_at: datetime
    lines: list[Line]
    color: Color = Color.RED
    note: str | None = None
    tags: tuple[str, ...] = ()
    by_day: dict[date, int] = field(default_factory=dict)


class Customer(pydantic.BaseModel):
    name: str
    since: date
    credit: Decimal


class Point(TypedDict):
    x: int
    y: int


class Money:
    """A class without a converter of its own."""

    def __init__(self, cents: int) -> None:
        self.cents = cents

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Money) and other.cents == self.cents


class MoneyConverter(DataConverter):
    encoders = {**DataConverter.encoders, Money: lambda m: m.cents}
    decoders = {**DataConverter.decoders, Money: lambda data: Money(data)}


def stored(value: Any, hint: Any = Any) -> Any:
    """``value`` as history stores it (through real JSON text), then rebuilt by ``hint``."""
    text = json.dumps(converter.to_json(value, "value"))
    return converter.from_json(json.loads(text), hint, "value")


BERLIN = ZoneInfo("Europe/Berlin")
ORDER = Order(
    UUID("12345678-1234-5678-1234-567812345678"),
    datetime(2026, 3, 29, 1, 30, tzinfo=BERLIN),
    [Line("A-1", Decimal("9.90"), 2), Line("B-2", Decimal("0.10"))],
    Color.BLUE,
    tags=("gift", "express"),
    by_day={date(2026, 3, 29): 2},
)


# -- each type round-trips by its hint ---------------------------------------------------
@pytest.mark.parametrize(
    ("value", "hint", "form"),
    [
        (Decimal("12.30"), Decimal, "12.30"),
        (UUID(int=1), UUID, "00000000-0000-0000-0000-000000000001"),
        (date(2026, 2, 28), date, "2026-02-28"),
        (time(13, 5, 1), time, "13:05:01"),
        (datetime(2026, 1, 1, 12), datetime, "2026-01-01T12:00:00"),
        (datetime(2026, 1, 1, 12, tzinfo=UTC), datetime, "2026-01-01T12:00:00+00:00"),
        (
            datetime(2026, 7, 1, 9, tzinfo=timezone(timedelta(hours=-4))),
            datetime,
            "2026-07-01T09:00:00-04:00",
        ),
        (
            datetime(2026, 7, 1, 9, tzinfo=BERLIN),
            datetime,
            "2026-07-01T09:00:00+02:00[Europe/Berlin]",
        ),
        (timedelta(minutes=1, milliseconds=500), timedelta, 60.5),
        (Color.BLUE, Color, "blue"),
        (Level.HIGH, Level, 2),
        (Mode.FAST, Mode, "fast"),
        (Line("A-1", Decimal("1.5")), Line, {"sku": "A-1", "price": "1.5", "qty": 1}),
        (("a", 1), tuple[str, int], ["a", 1]),
        ({Level.LOW: "x"}, dict[Level, str], {"1": "x"}),
        ({3: 4}, dict[int, int], {"3": 4}),
    ],
)
def test_each_type_has_a_json_form_and_comes_back_equal(value, hint, form):
    assert converter.to_json(value, "value") == form
    back = stored(value, hint)
    assert back == value
    assert type(back) is type(value)


def test_a_zone_is_kept_with_its_rules_not_just_the_offset():
    back = stored(datetime(2026, 3, 29, 1, 30, tzinfo=BERLIN), datetime)
    assert back.tzinfo == BERLIN
    # The zone's rules still apply: the same wall time in July is summer time (+02:00).
    assert back.replace(month=7).utcoffset() == timedelta(hours=2)


def test_nested_dataclasses_round_trip():
    data = converter.to_json(ORDER, "order")
    assert data["lines"][0] == {"sku": "A-1", "price": "9.90", "qty": 2}
    assert data["placed_at"] == "2026-03-29T01:30:00+01:00[Europe/Berlin]"
    assert data["by_day"] == {"2026-03-29": 2}
    back = stored(ORDER, Order)
    assert back == ORDER
    assert type(back.lines[0].price) is Decimal and type(back.tags) is tuple


def test_pydantic_models_round_trip_found_by_duck_typing():
    customer = Customer(name="Ada", since=date(2020, 1, 2), credit=Decimal("10.50"))
    assert converter.to_json(customer, "c") == {
        "name": "Ada",
        "since": "2020-01-02",
        "credit": "10.50",
    }
    assert stored(customer, Customer) == customer
    assert stored([customer], list[Customer]) == [customer]


def test_without_a_hint_the_receiver_gets_the_json_form():
    assert stored(ORDER) == converter.to_json(ORDER, "order")
    assert stored((1, Decimal("2.5"))) == [1, "2.5"]
    assert converter.from_json({"a": [1]}, Any) == {"a": [1]}
    assert converter.from_json({"a": [1]}, object) == {"a": [1]}


def test_plain_json_is_copied_not_shared():
    value = {"a": [1, 2], "b": {"c": None}}
    data = converter.to_json(value, "value")
    assert data == value
    data["a"].append(3)
    assert value["a"] == [1, 2]


# -- hint forms -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("data", "hint", "expected"),
    [
        (None, Optional[Line], None),  # noqa: UP045 - the typing spelling is a hint form too
        ({"sku": "a", "price": "1"}, Line | None, Line("a", Decimal(1))),
        ("5", Union[int, Decimal], Decimal(5)),  # noqa: UP007
        (5, int | str, 5),
        ([1, 2], list[int], [1, 2]),
        ([1, 2], Sequence[int], [1, 2]),
        ([1, 2], tuple[int, ...], (1, 2)),
        ([1, "a"], tuple[int, str], (1, "a")),
        ([2, 1], set[int], {1, 2}),
        ([2, 1], frozenset[int], frozenset({1, 2})),
        ({"a": "1.5"}, dict[str, Decimal], {"a": Decimal("1.5")}),
        ({"a": "1.5"}, Mapping[str, Decimal], {"a": Decimal("1.5")}),
        ("blue", Literal["red", "blue"], "blue"),
        ("2026-01-01", Annotated[date, "a note"], date(2026, 1, 1)),
        ("o-1", OrderId, "o-1"),
        ({"x": 1, "y": 2}, Point, {"x": 1, "y": 2}),
        (3, float, 3.0),
        ({"k": 1}, dict, {"k": 1}),
        ([1], list, [1]),
    ],
)
def test_hint_forms(data, hint, expected):
    back = converter.from_json(data, hint, "value")
    assert back == expected
    assert type(back) is type(expected)


def test_keys_no_longer_in_a_dataclass_are_left_out_and_defaults_fill_in():
    # History written by older code (a removed field, a field added since) still decodes.
    back = converter.from_json({"sku": "a", "price": "1", "gone": True}, Line, "v")
    assert back == Line("a", Decimal(1), 1)


def test_a_converter_subclass_adds_types():
    money = MoneyConverter()
    assert money.to_json({"total": Money(250)}, "v") == {"total": 250}
    assert money.from_json([250], list[Money], "v") == [Money(250)]


# -- errors name the payload and the path of the bad field -------------------------------
@pytest.mark.parametrize(
    ("value", "path", "words"),
    [
        ({"items": [1, 2, {"price": {1, 2}}]}, " at .items[2].price ", "set is not a JSON type"),
        ([Line("a", Decimal(1)), Money(1)], " at [1] ", "test_converter.Money has no JSON form"),
        (
            Order(UUID(int=0), datetime(2026, 1, 1), [Line("a", float("nan"))]),
            " at .lines[0].price ",
            "NaN",
        ),  # noqa: E501
        ({"data": b"raw"}, " at .data ", "bytes is not a JSON type"),
        ({"odd key": frozenset()}, " at ['odd key'] ", "frozenset"),
        ({(1, 2): "x"}, " at [(1, 2)] ", "dict key must be text or a whole number"),
        (object(), " ", "builtins.object has no JSON form"),
    ],
)
def test_a_value_without_a_json_form_is_refused_with_its_path(value, path, words):
    with pytest.raises(PayloadError) as caught:
        converter.to_json(value, "input of activity 'charge'")
    message = str(caught.value)
    assert message.startswith(f"The input of activity 'charge'{path}is not JSON-serializable")
    assert words in message
    assert "dataclasses, pydantic models" in message  # what to pass instead


@pytest.mark.parametrize(
    ("data", "hint", "path", "words"),
    [
        ({"sku": "a"}, Line, "", "Line needs the field 'price', which is missing"),
        ([{"sku": "a", "price": "x"}], list[Line], " at [0].price", "'x' is not a decimal"),
        ({"sku": 5, "price": "1"}, Line, " at .sku", "expected text, got int 5"),
        ("green", Color, "", "'green' is not a Color (one of 'red', 'blue')"),
        ("yesterday", datetime, "", "'yesterday' is not a datetime"),
        ("2026-01-01T00:00:00+01:00[Mars/Base]", datetime, "", "is not a datetime"),
        ([1, 2, 3], tuple[int, int], "", "expected 2 items, got 3"),
        ({"a": 1}, dict[int, int], " at .a", "the key 'a' is not a whole number"),
        (True, int, "", "expected a whole number, got bool True"),
        ({"name": "Ada", "since": "x", "credit": "1"}, Customer, " at .since", "valid date"),
        (1.5, int | None, "", "as int: expected a whole number"),
        ("c", Literal["a", "b"], "", "expected one of 'a', 'b'"),
        ({"x": 1}, Point, "", "Point needs the key(s) 'y'"),
        (5, Money, "", "expected Money, got int 5; engine.test_converter.Money has no conv"),
    ],
)
def test_data_that_does_not_fit_its_hint_is_refused_with_its_path(data, hint, path, words):
    with pytest.raises(PayloadError) as caught:
        converter.from_json(data, hint, "input of activity 'charge'")
    message = str(caught.value)
    assert message.startswith(f"The input of activity 'charge'{path} does not fit its type")
    assert words in message


def test_encode_checks_the_value_against_the_receivers_hint():
    # A dict where the receiver wants a Line: refused where it is passed, not later.
    with pytest.raises(PayloadError, match=r"input of activity 'x' at \.lines\[0\] does not fit"):
        converter.encode(
            {"id": str(UUID(int=0)), "placed_at": "2026-01-01", "lines": [{}]},
            "input of activity 'x'",
            Order,
        )
    assert converter.encode(ORDER, "input", Order) == converter.to_json(ORDER, "input")


@pytest.mark.parametrize(
    "wall",
    [
        datetime(2026, 3, 29, 2, 30, tzinfo=BERLIN),  # in the spring gap
        datetime(2026, 3, 29, 2, 30, fold=1, tzinfo=BERLIN),
        datetime(2026, 10, 25, 2, 30, tzinfo=BERLIN),  # the repeated hour, first time
        datetime(2026, 10, 25, 2, 30, fold=1, tzinfo=BERLIN),  # ... and second time
    ],
)
def test_wall_time_and_fold_survive_dst_transitions(wall):
    back = stored(wall, datetime)
    assert (back, back.fold, back.utcoffset()) == (wall, wall.fold, wall.utcoffset())


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.builds(
            Line,
            sku=st.text(max_size=8),
            price=st.decimals(allow_nan=False, allow_infinity=False, places=2),
            qty=st.integers(),
        ),
        max_size=4,
    ),
    st.datetimes(timezones=st.timezones() | st.none()),
    st.uuids(),
    st.sampled_from(Color),
    st.one_of(st.none(), st.text(max_size=5)),
)
def test_any_order_round_trips_through_json_text(lines, placed_at, order_id, color, note):
    order = Order(order_id, placed_at, lines, color, note, tuple(line.sku for line in lines))
    back = stored(order, Order)
    assert back == order
    assert [type(line.price) for line in back.lines] == [Decimal] * len(lines)
    # Equal wall times in one zone compare equal whatever their fold: the offset tells.
    assert back.placed_at.utcoffset() == order.placed_at.utcoffset()


@pytest.mark.parametrize(
    ("data", "hint", "path", "expected"),
    [
        (None, dict, "", "dict: expected an object, got null (None)"),
        ("5", int, "", "int: expected a whole number, got str '5'"),
        (1.5, int, "", "int: expected a whole number, got float 1.5"),
        (None, list, "", "list: expected a list, got null (None)"),
        ({"a": 1}, tuple, "", "tuple: expected a list, got dict {'a': 1}"),
        ([None], list[dict], " at [0]", "list[dict]: expected an object, got null (None)"),
        ({"m": [1]}, Mapping[str, Mapping], " at .m", "expected an object, got list [1]"),
    ],
)
def test_a_misfit_of_a_builtin_hint_says_what_was_expected_and_what_was_found(
    data, hint, path, expected
):
    with pytest.raises(PayloadMismatch) as caught:
        converter.from_json(data, hint, "result of activity 'load'")
    message = str(caught.value)
    assert message.startswith(f"The result of activity 'load'{path} does not fit its type ")
    assert expected in message
    assert "has no converter" not in message
    # Never retried: the same stored value fails the same check again.
    assert isinstance(caught.value, NonRetryableError)


@pytest.mark.parametrize(
    ("data", "hint", "expected"),
    [([1, "a"], tuple, (1, "a")), ({"a": [1]}, dict, {"a": [1]}), ([2, 1], frozenset, {1, 2})],
)
def test_bare_container_hints_take_their_json_form(data, hint, expected):
    assert converter.from_json(data, hint) == expected
    assert type(converter.from_json(data, hint)) is hint
