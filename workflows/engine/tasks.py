"""Durable tasks: what orchestrator code yields, and how they complete."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .errors import FanOutFailed, TaskFailed


class Task:
    """Something an orchestrator can ``yield``; completes with a result or an error."""

    def __init__(self) -> None:
        self._done = False
        self._result: Any = None
        self._error: TaskFailed | None = None
        self._listeners: list[Callable[[Task], None]] = []

    @property
    def is_complete(self) -> bool:
        return self._done

    @property
    def is_failed(self) -> bool:
        return self._done and self._error is not None

    @property
    def result(self) -> Any:
        if self._error is not None:
            raise self._error
        return self._result

    @property
    def error(self) -> TaskFailed | None:
        return self._error

    def add_listener(self, listener: Callable[[Task], None]) -> None:
        if self._done:
            listener(self)
        else:
            self._listeners.append(listener)

    def complete(self, result: Any) -> None:
        self._finish(result, None)

    def fail(self, error: TaskFailed) -> None:
        self._finish(None, error)

    def _finish(self, result: Any, error: TaskFailed | None) -> None:
        if self._done:
            return
        self._done, self._result, self._error = True, result, error
        listeners, self._listeners = self._listeners, []
        for listener in listeners:
            listener(self)


class CompletableTask(Task):
    """A task backed by one scheduled action (activity, timer, sub-orchestration)."""

    def __init__(
        self, task_id: int, kind: str, name: str, child_instance_id: str | None = None
    ) -> None:
        super().__init__()
        self.task_id = task_id
        self.kind = kind
        self.name = name
        self.child_instance_id = child_instance_id

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.task_id} {self.kind} {self.name!r}>"


class TimerTask(CompletableTask):
    """A durable timer; completes with its fire time."""


@dataclass(frozen=True)
class Outcome:
    """How one child of a ``task_all`` ended."""

    index: int
    ok: bool
    result: Any = None
    error: TaskFailed | None = None

    @property
    def failure(self) -> Any:
        return self.error.failure if self.error is not None else None


class WhenAll(Task):
    """Completes with every child's result (in order) once all are done.

    If any child failed, fails with :class:`FanOutFailed` carrying every child's
    outcome, so code can retry only the failed ones or compensate the completed ones.
    """

    def __init__(self, children: list[Task]) -> None:
        super().__init__()
        self.children = list(children)
        self._remaining = len(self.children)
        if not self.children:
            self.complete([])
        for child in self.children:
            child.add_listener(self._on_child_done)

    def _on_child_done(self, _child: Task) -> None:
        self._remaining -= 1
        if self._remaining > 0:
            return
        outcomes = [
            Outcome(i, not c.is_failed, c._result, c.error) for i, c in enumerate(self.children)
        ]
        if any(not o.ok for o in outcomes):
            self.fail(FanOutFailed(outcomes))
        else:
            self.complete([o.result for o in outcomes])


class WhenAny(Task):
    """Completes with the first child task that finishes (the task itself, not its result)."""

    def __init__(self, children: list[Task]) -> None:
        super().__init__()
        if not children:
            raise ValueError("task_any needs at least one task.")
        self.children = list(children)
        for child in self.children:
            child.add_listener(self._on_child_done)

    def _on_child_done(self, child: Task) -> None:
        self.complete(child)
