"""JSON shapes of the API: request bodies and query strings in, instances and pages out."""

from __future__ import annotations

import math
from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from ..listing import CURSOR_PATTERN as LIST_CURSOR_PATTERN
from ..listing import SORT_CHOICES
from ..statuses import EventOutcome, InstanceStatus
from .fields import (
    Payload,
    QueryFlag,
    QueryWholeNumber,
    StrictBoolean,
    StrictSerializer,
    Text,
    WholeNumber,
)
from .links import instance_links
from .validators import FullMatch, valid_id

CURSOR_PATTERN = r"^[0-9]{1,18}$"
valid_cursor = FullMatch(CURSOR_PATTERN, "Not a valid cursor; pass back the next_cursor of a page.")
valid_list_cursor = FullMatch(
    LIST_CURSOR_PATTERN,
    "Not a valid cursor; pass back the next_cursor or previous_cursor of a page unchanged.",
)

# -- request bodies -----------------------------------------------------------------------


class StartRequest(StrictSerializer):
    """Start an orchestration."""

    name = Text(min_length=1, max_length=200, help_text="Registered orchestrator name.")
    input = Payload("input", help_text="Any JSON value; the orchestrator receives it.")
    instance_id = Text(
        required=False,
        validators=[valid_id],
        help_text=(
            "Your own id; generated when omitted. 409 while any instance has it, unless it "
            "finished and `replace` is true."
        ),
    )
    replace = StrictBoolean(
        required=False,
        default=False,
        help_text=(
            "Replace a finished instance with this id (its input, history and business key "
            "are deleted; audited). Needs `workflows.operate_instance`."
        ),
    )
    business_key = Text(
        required=False, allow_blank=True, max_length=200, help_text="Correlation key."
    )
    version = WholeNumber(
        required=False,
        min_value=1,
        max_value=2**31 - 1,
        help_text="Orchestrator version; the latest when omitted.",
    )


class EventRequest(StrictSerializer):
    """An external event for the instance."""

    event_id = Text(
        required=False,
        validators=[valid_id],
        help_text="Deduplication id: sending it again changes nothing and answers 200.",
    )
    data = Payload("event data", help_text="Any JSON value; the orchestrator receives it.")


class ReasonRequest(StrictSerializer):
    """An optional reason for an operator action."""

    reason = Text(
        required=False,
        allow_blank=True,
        max_length=1000,
        default="",
        help_text="Why (kept in the audit log).",
    )


# -- query strings --------------------------------------------------------------------------


class InstanceFilter(serializers.Serializer):
    name = Text(required=False, max_length=200, help_text="Orchestrator name.")
    status = serializers.ListField(
        child=serializers.ChoiceField(
            choices=InstanceStatus.choices,
            error_messages={
                "invalid_choice": f'"{{input}}" is not a status; use {", ".join(InstanceStatus)}.'
            },
        ),
        required=False,
        help_text="One or more statuses (repeat the parameter).",
    )
    business_key = Text(required=False, max_length=200)
    created_after = serializers.DateTimeField(
        required=False, help_text="ISO 8601, inclusive (naive times are UTC)."
    )
    created_before = serializers.DateTimeField(
        required=False, help_text="ISO 8601, exclusive (naive times are UTC)."
    )
    updated_after = serializers.DateTimeField(
        required=False, help_text="Last change at or after; ISO 8601 (naive times are UTC)."
    )
    updated_before = serializers.DateTimeField(
        required=False, help_text="Last change before; ISO 8601 (naive times are UTC)."
    )
    needs_attention = QueryFlag(required=False)
    search = Text(required=False, max_length=200, help_text="Substring of id, name or key.")
    sort = serializers.ChoiceField(
        choices=SORT_CHOICES,
        required=False,
        help_text="Order: created, updated, name or status; a leading - is descending. "
        "Default -created (newest first).",
        error_messages={
            "invalid_choice": f'"{{input}}" is not a sort; use {", ".join(SORT_CHOICES)}.'
        },
    )
    count = QueryFlag(
        required=False, help_text="Also count the matches (total; capped, see total_exact)."
    )
    limit = QueryWholeNumber(required=False, min_value=1, max_value=500, default=50)
    cursor = Text(
        required=False,
        validators=[valid_list_cursor],
        help_text="next_cursor or previous_cursor of a page (with the same sort).",
    )


# The longest long-poll (?wait=): a request holds a server thread and a connection for it.
MAX_WAIT_SECONDS = 30


class StatusQuery(serializers.Serializer):
    history = QueryFlag(required=False, default=False, help_text="Include the history events.")
    wait = serializers.FloatField(
        required=False,
        default=0,
        min_value=0,
        max_value=MAX_WAIT_SECONDS,
        help_text=(
            f"Long-poll: answer as soon as the instance finishes, or after this many seconds "
            f"(0 to {MAX_WAIT_SECONDS}; 0, the default, answers at once)."
        ),
    )

    def validate_wait(self, value: float) -> float:
        if not math.isfinite(value):  # nan passes min_value and max_value
            raise serializers.ValidationError(f"A number of seconds from 0 to {MAX_WAIT_SECONDS}.")
        return value


class HistoryQuery(serializers.Serializer):
    limit = QueryWholeNumber(required=False, min_value=1, max_value=100, default=50)
    cursor = Text(required=False, validators=[valid_cursor], help_text="next_cursor of a page.")


# -- responses --------------------------------------------------------------------------------


class ErrorSerializer(serializers.Serializer):
    error = serializers.CharField(help_text="Machine-readable code, e.g. `instance_not_found`.")
    detail = serializers.CharField(help_text="What is wrong, in words.")
    fields = serializers.DictField(
        required=False, help_text="Per-field messages when a body or query failed validation."
    )


class LinksSerializer(serializers.Serializer):
    status = serializers.URLField(help_text="GET: 202 while active, 200 once finished.")
    history = serializers.URLField()
    send_event = serializers.CharField(help_text="POST; replace `{event}` with the event name.")
    terminate = serializers.URLField()
    suspend = serializers.URLField()
    resume = serializers.URLField()
    rewind = serializers.URLField(help_text="POST, once failed.")
    restart = serializers.URLField(help_text="POST, once finished.")
    purge = serializers.URLField(help_text="DELETE, once finished.")


class StartedSerializer(serializers.Serializer):
    id = serializers.CharField()
    links = LinksSerializer()


class HistoryEventSerializer(serializers.Serializer):
    seq = serializers.IntegerField()
    kind = serializers.CharField()
    timestamp = serializers.DateTimeField()
    payload = serializers.JSONField(required=False, help_text="Only with view_payloads.")

    def to_representation(self, instance: Any) -> dict[str, Any]:
        data = super().to_representation(instance)
        if not self.context.get("show_payloads"):
            data.pop("payload", None)
        return data


class InstanceSummarySerializer(serializers.Serializer):
    """One instance in a list: no payloads, no history."""

    id = serializers.CharField(source="instance_id")
    name = serializers.CharField()
    version = serializers.IntegerField()
    status = serializers.ChoiceField(choices=InstanceStatus.choices)
    business_key = serializers.CharField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    completed_at = serializers.DateTimeField(allow_null=True)
    needs_attention = serializers.BooleanField()
    search_attributes = serializers.DictField(
        child=serializers.JSONField(),
        help_text="Set by the orchestrator (ctx.upsert_search_attributes); filter: attr.<name>.",
    )
    url = serializers.SerializerMethodField()

    @extend_schema_field(serializers.URLField())
    def get_url(self, state: Any) -> str:
        return instance_links(self.context["request"], state.instance_id)["status"]


_PAYLOADS = ("input", "output", "custom_status", "failure")


class InstanceSerializer(InstanceSummarySerializer):
    """The status of one instance; payloads only for users with view_payloads."""

    execution_id = serializers.CharField()
    parent_id = serializers.CharField(allow_null=True)
    attention_reason = serializers.CharField()
    history_length = serializers.IntegerField()
    payloads_visible = serializers.SerializerMethodField()
    input = serializers.JSONField(required=False, allow_null=True)
    output = serializers.JSONField(required=False, allow_null=True)
    custom_status = serializers.JSONField(required=False, allow_null=True)
    failure = serializers.JSONField(
        required=False, allow_null=True, help_text="type, message, details of a failed run."
    )
    history = HistoryEventSerializer(many=True, required=False, help_text="With ?history=1.")
    links = serializers.SerializerMethodField()

    def get_payloads_visible(self, state: Any) -> bool:
        return bool(self.context.get("show_payloads"))

    @extend_schema_field(LinksSerializer)
    def get_links(self, state: Any) -> dict[str, str]:
        return instance_links(self.context["request"], state.instance_id)

    def to_representation(self, instance: Any) -> dict[str, Any]:
        data = super().to_representation(instance)
        if not self.context.get("show_payloads"):
            for key in _PAYLOADS:
                data.pop(key, None)
        if instance.history is None:
            data.pop("history", None)
        return data


class InstancePageSerializer(serializers.Serializer):
    results = InstanceSummarySerializer(many=True)
    next_cursor = serializers.CharField(allow_null=True)
    next = serializers.URLField(allow_null=True, help_text="The next page, or null at the end.")
    previous_cursor = serializers.CharField(allow_null=True)
    previous = serializers.URLField(
        allow_null=True, help_text="The page before (newer, for newest first), or null."
    )
    total = serializers.IntegerField(
        allow_null=True, help_text="With ?count=true: how many match (see total_exact)."
    )
    total_exact = serializers.BooleanField(
        help_text="False when counting stopped at total (shown as e.g. 10,000+)."
    )


class HistoryPageSerializer(serializers.Serializer):
    results = HistoryEventSerializer(many=True)
    next_cursor = serializers.CharField(allow_null=True)
    next = serializers.URLField(allow_null=True)


class EventResultSerializer(serializers.Serializer):
    instance_id = serializers.CharField()
    event = serializers.CharField()
    event_id = serializers.CharField(allow_null=True)
    outcome = serializers.ChoiceField(
        choices=[EventOutcome.DELIVERED, EventOutcome.DUPLICATE], help_text="Of this request."
    )
    first_outcome = serializers.ChoiceField(
        choices=[EventOutcome.DELIVERED, EventOutcome.REJECTED],
        help_text="What the first delivery of this event_id did.",
    )
