"""Failure details: what went wrong, as plain serializable data."""

from __future__ import annotations

import traceback as tb
from dataclasses import dataclass, field
from typing import Any

from .errors import NonRetryableError


def qualified_name(cls: type) -> str:
    """`module.QualName` of a class; builtins keep their bare name (``ValueError``)."""
    if cls.__module__ == "builtins":
        return cls.__qualname__
    return f"{cls.__module__}.{cls.__qualname__}"


@dataclass(frozen=True)
class FailureDetails:
    """Why a task or an orchestration failed.

    ``type_names`` lists the qualified names of the error's classes (its MRO), so a
    retry policy can match a base class by name without importing anything.
    """

    type: str
    message: str
    traceback: str = ""
    non_retryable: bool = False
    type_names: tuple[str, ...] = field(default_factory=tuple)

    @classmethod
    def from_exception(cls, exc: BaseException) -> FailureDetails:
        mro = [k for k in type(exc).__mro__ if k not in (object, BaseException)]
        return cls(
            type=qualified_name(type(exc)),
            message=str(exc),
            traceback="".join(tb.format_exception(exc)),
            non_retryable=isinstance(exc, NonRetryableError),
            type_names=tuple(qualified_name(k) for k in mro),
        )

    @classmethod
    def of_type(cls, error_type: type[BaseException], message: str) -> FailureDetails:
        """Details of an error of ``error_type`` that was never raised (no traceback), e.g.
        a timeout the runtime detected from outside the activity."""
        mro = [k for k in error_type.__mro__ if k not in (object, BaseException)]
        return cls(
            type=qualified_name(error_type),
            message=message,
            non_retryable=issubclass(error_type, NonRetryableError),
            type_names=tuple(qualified_name(k) for k in mro),
        )

    def is_instance_of(self, error_type: type | str) -> bool:
        """True when the failed error was (a subclass of) ``error_type``."""
        name = error_type if isinstance(error_type, str) else qualified_name(error_type)
        return name == self.type or name in self.type_names

    def summary(self) -> str:
        short = self.type.rsplit(".", 1)[-1]
        return f"{short}: {self.message}" if self.message else short

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "message": self.message,
            "traceback": self.traceback,
            "non_retryable": self.non_retryable,
            "type_names": list(self.type_names),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FailureDetails:
        return cls(
            type=str(data.get("type", "Error")),
            message=str(data.get("message", "")),
            traceback=str(data.get("traceback", "")),
            non_retryable=bool(data.get("non_retryable", False)),
            type_names=tuple(data.get("type_names", ())),
        )
