"""Forms of the UI: they check input shape; DurableClient checks the rest."""

from __future__ import annotations

import json
from typing import Any

from django import forms

from workflows.statuses import InstanceStatus


def parse_json(text: str, what: str) -> Any:
    """``text`` as JSON (empty -> None), or a ValidationError saying where it broke."""
    if not text.strip():
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise forms.ValidationError(
            f"The {what} is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno}). "
            'Write e.g. {"order_id": 17} or "text" in double quotes, or leave it empty for null.'
        ) from None


class DecisionForm(forms.Form):
    decision = forms.ChoiceField(choices=[("approve", "Approve"), ("reject", "Reject")])
    comment = forms.CharField(required=False, max_length=4000, widget=forms.Textarea)


class StartForm(forms.Form):
    name = forms.ChoiceField(label="Workflow")
    input = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 6, "spellcheck": "false", "class": "mono"}),
        help_text='JSON, e.g. {"order_id": 17}. Empty means null.',
    )
    instance_id = forms.CharField(
        required=False,
        max_length=200,
        label="Instance id",
        help_text="Optional; a random id is made when empty.",
    )
    business_key = forms.CharField(
        required=False,
        max_length=200,
        label="Business key",
        help_text="Optional; e.g. an order number, to find the instance later.",
    )

    def __init__(self, *args: Any, names: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["name"].choices = [(n, n) for n in names]

    def clean_input(self) -> Any:
        return parse_json(self.cleaned_data["input"], "input")

    def clean_instance_id(self) -> str | None:
        return self.cleaned_data["instance_id"].strip() or None

    def clean_business_key(self) -> str | None:
        return self.cleaned_data["business_key"].strip() or None


class RaiseEventForm(forms.Form):
    name = forms.CharField(max_length=200, label="Event name")
    data = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "spellcheck": "false", "class": "mono"}),
        label="Data (JSON)",
    )
    event_id = forms.CharField(
        required=False,
        max_length=200,
        label="Event id",
        help_text="Optional; sending the same id twice delivers once.",
    )

    def clean_data(self) -> Any:
        return parse_json(self.cleaned_data["data"], "event data")

    def clean_event_id(self) -> str | None:
        return self.cleaned_data["event_id"].strip() or None


class ReasonForm(forms.Form):
    reason = forms.CharField(required=False, max_length=1000)


class CompensationDecisionForm(forms.Form):
    note = forms.CharField(
        max_length=4000,
        error_messages={"required": "Write a note: what was done by hand, or why."},
    )


class ConsoleFilterForm(forms.Form):
    q = forms.CharField(required=False, max_length=200, label="Search")
    status = forms.ChoiceField(
        required=False, choices=[("", "Any status"), *InstanceStatus.choices]
    )
    name = forms.CharField(required=False, max_length=200, label="Workflow")
    business_key = forms.CharField(required=False, max_length=200, label="Business key")
    attention = forms.BooleanField(required=False, label="Needs attention")
    cursor = forms.CharField(required=False, max_length=40)
