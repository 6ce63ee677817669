"""/api/v1/ routes (included from workflows.urls)."""

from django.urls import path, re_path

from . import approvals, bulk, compensations, entities, schedules, views

app_name = "durable-api"

_instance = "instances/<str:instance_id>/"
_approval = "approvals/<str:approval_id>/"
_compensation = "compensations/<str:record_id>/"
_bulk = "bulk-operations/<str:operation_id>/"
_schedule = "schedules/<str:schedule_id>/"
_entity = "entities/<str:name>/<str:key>/"

urlpatterns = [
    path("instances/", views.InstancesView.as_view(), name="instances"),
    path(_instance, views.InstanceView.as_view(), name="instance"),
    path(f"{_instance}history/", views.HistoryView.as_view(), name="history"),
    path(f"{_instance}events/<str:event>/", views.EventView.as_view(), name="event"),
    path(f"{_instance}terminate/", views.TerminateView.as_view(), name="terminate"),
    path(f"{_instance}suspend/", views.SuspendView.as_view(), name="suspend"),
    path(f"{_instance}resume/", views.ResumeView.as_view(), name="resume"),
    path(f"{_instance}rewind/", views.RewindView.as_view(), name="rewind"),
    path(f"{_instance}restart/", views.RestartView.as_view(), name="restart"),
    path("approvals/", approvals.ApprovalsView.as_view(), name="approvals"),
    path(_approval, approvals.ApprovalView.as_view(), name="approval"),
    path(f"{_approval}decision/", approvals.DecisionView.as_view(), name="approval-decision"),
    path(f"{_approval}claim/", approvals.ClaimView.as_view(), name="approval-claim"),
    path("compensations/", compensations.CompensationsView.as_view(), name="compensations"),
    path(_compensation, compensations.CompensationView.as_view(), name="compensation"),
    path(f"{_compensation}retry/", compensations.RetryView.as_view(), name="compensation-retry"),
    path(
        f"{_compensation}resolve/", compensations.ResolveView.as_view(), name="compensation-resolve"
    ),
    path(f"{_compensation}skip/", compensations.SkipView.as_view(), name="compensation-skip"),
    path("bulk-operations/", bulk.BulkOperationsView.as_view(), name="bulk-operations"),
    path(_bulk, bulk.BulkOperationView.as_view(), name="bulk-operation"),
    path(f"{_bulk}outcomes/", bulk.BulkOutcomesView.as_view(), name="bulk-outcomes"),
    path(f"{_bulk}cancel/", bulk.BulkCancelView.as_view(), name="bulk-cancel"),
    path("schedules/", schedules.SchedulesView.as_view(), name="schedules"),
    path(_schedule, schedules.ScheduleView.as_view(), name="schedule"),
    path(f"{_schedule}pause/", schedules.PauseView.as_view(), name="schedule-pause"),
    path(f"{_schedule}resume/", schedules.ResumeView.as_view(), name="schedule-resume"),
    path(f"{_schedule}trigger/", schedules.TriggerView.as_view(), name="schedule-trigger"),
    path(f"{_schedule}backfill/", schedules.BackfillView.as_view(), name="schedule-backfill"),
    path("entities/", entities.EntitiesView.as_view(), name="entities"),
    path(_entity, entities.EntityView.as_view(), name="entity"),
    path(f"{_entity}signals/<str:operation>/", entities.SignalView.as_view(), name="entity-signal"),
    re_path(r"^(?P<unmatched>.*)$", views.not_found),
]
