"""What the client returns: plain, frozen records of the server's JSON shapes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..events import Event
from ._events import EventDecoder

__all__ = ["InputRequestInfo", "RunInfo", "WorkflowInfo"]


@dataclass(frozen=True)
class WorkflowInfo:
    """A workflow the server runs (``WorkflowOut``)."""

    name: str
    start_schema: dict[str, Any]
    response_schema: dict[str, Any]
    event_types: list[str]
    mermaid: str

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> WorkflowInfo:
        """Build from the server's JSON."""
        return cls(
            name=str(data["name"]),
            start_schema=dict(data.get("start_schema") or {}),
            response_schema=dict(data.get("response_schema") or {}),
            event_types=list(data.get("event_types") or []),
            mermaid=str(data.get("mermaid", "")),
        )


@dataclass(frozen=True)
class RunInfo:
    """A run and where it stands (``RunOut``).

    ``error`` is ``{"type": ..., "message": ...}`` for runs that did not complete.
    ``input`` is the start event it was started with, ``{"type": "Name", "type_key":
    "module.Name", "data": {...fields}}``, or ``None`` when it was not recorded.
    """

    run_id: str
    workflow: str
    status: str
    created_at: float
    updated_at: float
    result: Any = None
    error: dict[str, Any] | None = None
    input: dict[str, Any] | None = None

    @property
    def is_finished(self) -> bool:
        """Whether the run has reached a terminal status."""
        return self.status in ("completed", "failed", "cancelled", "timed_out", "quarantined")

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunInfo:
        """Build from the server's JSON."""
        return cls(
            run_id=str(data["run_id"]),
            workflow=str(data["workflow"]),
            status=str(data["status"]),
            created_at=float(data["created_at"]),
            updated_at=float(data["updated_at"]),
            result=data.get("result"),
            error=data.get("error"),
            input=data.get("input") if isinstance(data.get("input"), dict) else None,
        )


@dataclass(frozen=True)
class InputRequestInfo:
    """One entry of the human inbox (``RequestOut``); ``prompt`` is the waiter event.

    ``answered_at`` is when it left ``pending``; ``answered_by`` who answered, as the
    answering client named them (``None`` when not named).
    """

    request_id: str
    run_id: str
    workflow: str
    status: str
    created_at: float
    deadline: float | None
    prompt: Event
    response_schema: dict[str, Any]
    response: dict[str, Any] | None = None
    answered_at: float | None = None
    answered_by: str | None = None

    @property
    def prompt_type(self) -> str:
        """The class name of the prompt event (also for a generic one)."""
        return str(getattr(self.prompt, "event_type", None) or type(self.prompt).__name__)

    @property
    def prompt_data(self) -> dict[str, Any]:
        """The prompt's fields and extras as plain JSON."""
        data: dict[str, Any] = self.prompt.model_dump(mode="json")
        return data

    @property
    def prompt_text(self) -> str:
        """What to show a person: the prompt's ``prefix``, else its fields."""
        prefix = self.prompt.get("prefix")
        if isinstance(prefix, str) and prefix:
            return prefix
        fields = ", ".join(f"{k}={v!r}" for k, v in self.prompt.items())
        return fields or type(self.prompt).__name__

    @classmethod
    def from_json(cls, data: dict[str, Any], decoder: EventDecoder) -> InputRequestInfo:
        """Build from the server's JSON, decoding the prompt with ``decoder``."""
        deadline = data.get("deadline")
        answered_at = data.get("answered_at")
        answered_by = data.get("answered_by")
        return cls(
            request_id=str(data["request_id"]),
            run_id=str(data["run_id"]),
            workflow=str(data["workflow"]),
            status=str(data["status"]),
            created_at=float(data["created_at"]),
            deadline=None if deadline is None else float(deadline),
            prompt=decoder.decode(data.get("prompt")),
            response_schema=dict(data.get("response_schema") or {}),
            response=data.get("response"),
            answered_at=None if answered_at is None else float(answered_at),
            answered_by=None if answered_by is None else str(answered_by),
        )
