"""Forms of the UI: they check input with the shared rules (``workflows.rules``), so a
field shows the message the API and the client would give; DurableClient checks the rest
(payload size, state).

JSON fields are read with ``rules.parse_json``, the API's rules (nesting depth, number
length, NaN, storable text): whatever is wrong with typed JSON is a field error (HTTP 400),
never a RecursionError or ValueError escaping as a 500."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from django import forms
from django.utils.dateparse import parse_datetime

from workflows import rules
from workflows.client import SORT_CHOICES as client_sorts
from workflows.client import attribute_problems
from workflows.engine.errors import InvalidInput
from workflows.statuses import InstanceStatus


def parse_json(text: str, what: str) -> Any:
    """``text`` as JSON (empty -> None), or a ValidationError saying what is wrong: where
    the text broke, or which payload rule it breaks (too deep, too long a number, ...).

    Example::

        def clean_input(self):
            return parse_json(self.cleaned_data["input"], "input")
    """
    try:
        return rules.parse_json(text, what)
    except InvalidInput as exc:
        raise forms.ValidationError(str(exc)) from None


def rule(check: Callable[[Any], Any]) -> Callable[[Any], None]:
    """A form-field validator from a rule of ``workflows.rules``: its InvalidInput message
    becomes the field's error.

    Example::

        instance_id = forms.CharField(validators=[rule(rules.check_instance_id)])
    """

    def validate(value: Any) -> None:
        try:
            check(value)
        except InvalidInput as exc:
            raise forms.ValidationError(str(exc)) from None

    return validate


def _text_input(max_length: int) -> forms.TextInput:
    # The rule checks the length (one message, the rule's); the attribute only stops typing.
    return forms.TextInput(attrs={"maxlength": max_length})


class DecisionForm(forms.Form):
    decision = forms.ChoiceField(choices=[("approve", "Approve"), ("reject", "Reject")])
    comment = forms.CharField(
        required=False,
        max_length=rules.MAX_NOTE_LENGTH,
        widget=forms.Textarea,
    )


class StartForm(forms.Form):
    name = forms.ChoiceField(label="Workflow")
    input = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 6, "spellcheck": "false", "class": "mono"}),
        help_text='JSON, e.g. {"order_id": 17}. Empty means null.',
    )
    version = forms.TypedChoiceField(
        required=False,
        coerce=int,
        empty_value=None,
        label="Version",
        help_text="The newest unless you pick an older one still deployed.",
    )
    instance_id = forms.CharField(
        required=False,
        label="Instance id",
        help_text="Optional; a random id is made when empty.",
        widget=_text_input(rules.MAX_ID_LENGTH),
        validators=[rule(rules.check_instance_id)],
    )
    business_key = forms.CharField(
        required=False,
        label="Business key",
        help_text="Optional; e.g. an order number, to find the instance later.",
        widget=_text_input(rules.MAX_BUSINESS_KEY_LENGTH),
        # One line of text: the key is written into every log line about the instance.
        validators=[rule(rules.check_business_key)],
    )

    def __init__(
        self, *args: Any, names: list[str], versions: list[int] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.fields["name"].choices = [(n, n) for n in names]
        self.fields["version"].choices = [("", "newest")] + [
            (v, f"version {v}") for v in versions or []
        ]

    def clean_input(self) -> Any:
        return parse_json(self.cleaned_data["input"], "input")

    def clean_instance_id(self) -> str | None:
        return self.cleaned_data["instance_id"].strip() or None

    def clean_business_key(self) -> str | None:
        return self.cleaned_data["business_key"].strip() or None


class RaiseEventForm(forms.Form):
    name = forms.CharField(
        label="Event name",
        widget=_text_input(rules.MAX_EVENT_NAME_LENGTH),
        validators=[rule(rules.check_event_name)],
    )
    data = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "spellcheck": "false", "class": "mono"}),
        label="Data (JSON)",
    )
    event_id = forms.CharField(
        required=False,
        label="Event id",
        help_text="Optional; sending the same id twice delivers once.",
        widget=_text_input(rules.MAX_ID_LENGTH),
        validators=[rule(lambda value: rules.check_instance_id(value, "event id"))],
    )

    def clean_data(self) -> Any:
        return parse_json(self.cleaned_data["data"], "event data")

    def clean_event_id(self) -> str | None:
        return self.cleaned_data["event_id"].strip() or None


class ApprovalFilterForm(forms.Form):
    """The approvals inbox: a text filter, a workflow, an order."""

    SORTS = (
        ("deadline", "Soonest deadline"),
        ("newest", "Newest first"),
        ("oldest", "Oldest first"),
    )
    q = forms.CharField(required=False, max_length=200, label="Filter")
    workflow = forms.CharField(required=False, max_length=200, label="Workflow")
    sort = forms.ChoiceField(required=False, choices=SORTS, label="Order")


class ReasonForm(forms.Form):
    reason = forms.CharField(required=False, max_length=rules.MAX_REASON_LENGTH)


class CompensationDecisionForm(forms.Form):
    # Whether a note is required depends on the decision (instances.COMPENSATION_DECISIONS).
    note = forms.CharField(required=False, max_length=rules.MAX_NOTE_LENGTH)


_SORT_LABELS = {
    "created": "Started",
    "updated": "Last change",
    "name": "Workflow",
    "status": "Status",
}
SORT_CHOICES = [
    (choice, f"{_SORT_LABELS[choice.lstrip('-')]} {'↓' if choice[0] == '-' else '↑'}")
    for choice in client_sorts
]
PAGE_SIZES = (10, 25, 50, 100)
_WHEN_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d"]
_WHEN_INVALID = "{}: use a date and time such as 2026-01-31T09:30 (UTC) or 2026-01-31T09:30-05:00."


class UtcDateTimeInput(forms.DateTimeInput):
    """A datetime-local input whose value is rendered in UTC without an offset: time.js
    shows it in the zone the person reads times in (``data-zoned``) and sends what is
    typed with that zone's offset. A value it cannot read is rendered as it came."""

    input_type = "datetime-local"

    def __init__(self) -> None:
        super().__init__(attrs={"data-zoned": ""}, format="%Y-%m-%dT%H:%M")

    def format_value(self, value: Any) -> str | None:
        if isinstance(value, str):
            try:
                value = parse_datetime(value.strip()) or value
            except ValueError:
                return value
        if isinstance(value, datetime) and value.utcoffset() is not None:
            try:
                value = value.astimezone(UTC)
            except OverflowError:
                return None
        if isinstance(value, datetime) and value.second:
            return value.strftime("%Y-%m-%dT%H:%M:%S")
        return super().format_value(value)

    def get_context(self, name: str, value: Any, attrs: dict[str, Any] | None) -> dict[str, Any]:
        context = super().get_context(name, value, attrs)
        widget = context["widget"]
        if len(widget["value"] or "") > 16:  # seconds: the default step (60) would refuse them
            widget["attrs"]["step"] = "1"
        return context


class UtcDateTimeField(forms.DateTimeField):
    """A time-range bound: with an offset (``2026-01-31T09:30-05:00``, what the console's
    script sends) it means that instant; without one it means UTC, so links and the API
    keep one meaning whatever zone the reader is in."""

    widget = UtcDateTimeInput

    def to_python(self, value: Any) -> datetime | None:
        result = super().to_python(value)
        if result is None:
            return None
        try:  # year 1 or 9999 with an offset does not fit a database's UTC column
            return result.astimezone(UTC)
        except OverflowError:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid") from None


def _when(label: str) -> UtcDateTimeField:
    return UtcDateTimeField(
        required=False,
        label=label,
        input_formats=_WHEN_FORMATS,
        error_messages={"invalid": _WHEN_INVALID.format(label)},
    )


class ConsoleFilterForm(forms.Form):
    """The console's instance list: filters, order, page size and page (cursor).

    ``attrs`` takes search attributes as ``name=value`` pairs, comma separated
    (``customer=acme, region=eu``); every pair must match.
    """

    q = forms.CharField(required=False, max_length=200, label="Search")
    status = forms.ChoiceField(
        required=False, choices=[("", "Any status"), *InstanceStatus.choices]
    )
    name = forms.CharField(required=False, max_length=200, label="Workflow")
    business_key = forms.CharField(
        required=False, max_length=rules.MAX_BUSINESS_KEY_LENGTH, label="Business key"
    )
    attention = forms.BooleanField(required=False, label="Needs attention")
    attrs = forms.CharField(required=False, max_length=1000, label="Search attributes")
    created_after = _when("Started from")
    created_before = _when("Started before")
    updated_after = _when("Changed from")
    updated_before = _when("Changed before")
    sort = forms.ChoiceField(
        required=False,
        choices=SORT_CHOICES,
        label="Order",
        error_messages={"invalid_choice": "Order: %(value)s is not a column to sort by."},
    )
    size = forms.TypedChoiceField(
        required=False,
        coerce=int,
        empty_value=None,
        choices=[(n, f"{n} a page") for n in PAGE_SIZES],
        label="Page size",
        error_messages={
            "invalid_choice": "Page size: %(value)s is not one of "
            + ", ".join(map(str, PAGE_SIZES))
            + "."
        },
    )
    cursor = forms.CharField(required=False, max_length=700)

    # Filters the bulk actions' "all matching" cannot repeat exactly: with one of them set,
    # only picked rows can be acted on.
    NOT_BULK = ("attrs", "created_after", "created_before", "updated_after", "updated_before")

    def clean_attrs(self) -> dict[str, str]:
        found: dict[str, str] = {}
        for pair in filter(None, (p.strip() for p in self.cleaned_data["attrs"].split(","))):
            name, sep, value = pair.partition("=")
            if not sep or not name.strip():
                raise forms.ValidationError(
                    f"Search attributes: {pair!r} is not name=value; e.g. customer=acme, region=eu."
                )
            found[name.strip()] = value.strip()
        problems = attribute_problems(found)
        if problems:
            raise forms.ValidationError(f"Search attributes: {next(iter(problems.values()))}")
        return found

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        for start, end, label in (
            ("created_after", "created_before", "Started"),
            ("updated_after", "updated_before", "Changed"),
        ):
            if data.get(start) and data.get(end) and data[start] >= data[end]:
                self.add_error(end, f"{label} before must be later than {label.lower()} from.")
        return data
