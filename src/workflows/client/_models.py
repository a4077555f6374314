"""What the client returns: plain, frozen records of the server's JSON shapes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..events import Event
from ..stores import ForkLink, RunLineage
from ._events import EventDecoder

__all__ = [
    "AuditEntryInfo",
    "CheckpointInfo",
    "CheckpointViewInfo",
    "InputRequestInfo",
    "InputRequestPage",
    "OpenWaitInfo",
    "PendingEventInfo",
    "RunInfo",
    "UserInfo",
    "WorkflowInfo",
    "lineage_from_json",
]


def _time(value: Any) -> float | None:
    """A time of the server's JSON (POSIX seconds) as a float; ``None`` stays ``None``."""
    return None if value is None else float(value)


def _names(value: Any) -> tuple[str, ...]:
    return tuple(str(item) for item in value) if isinstance(value, list) else ()


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

    ``answered_at`` is when it left ``pending``; ``answered_by`` who answered (the
    caller's user name, or as the answering client named them; ``None`` when not named).

    The task fields say who should answer and by when (see ``docs/human-tasks.md``):
    ``assignee`` (who holds it; ``None``: nobody), ``candidate_users`` and
    ``candidate_groups`` (who may claim it; both empty with no assignee: everyone),
    ``priority`` (higher first), ``due`` and ``follow_up`` (POSIX seconds or ``None``),
    and ``overdue_at`` (when the server marked it overdue).
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
    assignee: str | None = None
    candidate_users: tuple[str, ...] = ()
    candidate_groups: tuple[str, ...] = ()
    priority: int = 0
    due: float | None = None
    follow_up: float | None = None
    overdue_at: float | None = None

    @property
    def is_overdue(self) -> bool:
        """Whether the server marked the request overdue (its due time passed while
        it was pending)."""
        return self.overdue_at is not None

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
        answered_by = data.get("answered_by")
        assignee = data.get("assignee")
        return cls(
            request_id=str(data["request_id"]),
            run_id=str(data["run_id"]),
            workflow=str(data["workflow"]),
            status=str(data["status"]),
            created_at=float(data["created_at"]),
            deadline=_time(data.get("deadline")),
            prompt=decoder.decode(data.get("prompt")),
            response_schema=dict(data.get("response_schema") or {}),
            response=data.get("response"),
            answered_at=_time(data.get("answered_at")),
            answered_by=None if answered_by is None else str(answered_by),
            assignee=None if assignee is None else str(assignee),
            candidate_users=_names(data.get("candidate_users")),
            candidate_groups=_names(data.get("candidate_groups")),
            priority=int(data.get("priority") or 0),
            due=_time(data.get("due")),
            follow_up=_time(data.get("follow_up")),
            overdue_at=_time(data.get("overdue_at")),
        )


@dataclass(frozen=True)
class InputRequestPage:
    """One page of :meth:`~workflows.client.WorkflowClient.requests`.

    ``next_cursor`` fetches the next page (``requests(..., cursor=page.next_cursor)``);
    ``None`` when there is none.
    """

    requests: list[InputRequestInfo]
    next_cursor: str | None = None


@dataclass(frozen=True)
class AuditEntryInfo:
    """One line of a request's history (``GET /requests/{id}/audit``).

    ``action`` is one of ``created``, ``claimed``, ``unclaimed``, ``assigned``,
    ``answered``, ``overdue``, ``expired``, ``cancelled``; ``actor`` the user who did it
    (``None``: the workflow or the engine); ``detail`` what changed, e.g.
    ``{"assignee": "bob", "previous": "ada"}``.
    """

    id: int
    request_id: str
    run_id: str
    workflow: str
    at: float
    action: str
    actor: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        """The entry for people: ``claimed by ada``, ``assigned to bob by ada``, ..."""
        by = f" by {self.actor}" if self.actor else ""
        if self.action == "assigned":
            assignee = self.detail.get("assignee")
            to = f" to {assignee}" if assignee else " to nobody"
            return f"assigned{to}{by}"
        return f"{self.action}{by}"

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AuditEntryInfo:
        """Build from the server's JSON."""
        actor = data.get("actor")
        detail = data.get("detail")
        return cls(
            id=int(data["id"]),
            request_id=str(data["request_id"]),
            run_id=str(data.get("run_id", "")),
            workflow=str(data.get("workflow", "")),
            at=_time(data["at"]) or 0.0,
            action=str(data["action"]),
            actor=None if actor is None else str(actor),
            detail=dict(detail) if isinstance(detail, dict) else {},
        )


@dataclass(frozen=True)
class UserInfo:
    """Who the server takes the client for (``GET /me``).

    ``admin``: sees every request and may do anything with it (on a server without a
    users file or trusted proxy header, everyone is). ``verified``: the server knows the
    caller from the token or a trusted proxy; otherwise ``user`` is only the name the
    client sent.
    """

    user: str
    groups: tuple[str, ...] = ()
    admin: bool = False
    verified: bool = False

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> UserInfo:
        """Build from the server's JSON."""
        return cls(
            user=str(data["user"]),
            groups=_names(data.get("groups")),
            admin=bool(data.get("admin", False)),
            verified=bool(data.get("verified", False)),
        )


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


@dataclass(frozen=True)
class CheckpointInfo:
    """One kept checkpoint of a run (``CheckpointOut``): what
    :class:`workflows.engine.Checkpoint` holds, with its ``step`` and ``event`` as the
    server read them from ``causes``."""

    checkpoint_id: str
    run_id: str
    seq: int
    at: float
    status: str
    causes: tuple[str, ...]
    step: str | None = None
    event: str | None = None
    by: str | None = None
    reason: str | None = None
    forked_from: str | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CheckpointInfo:
        """Build from the server's JSON."""
        return cls(
            checkpoint_id=str(data["checkpoint_id"]),
            run_id=str(data["run_id"]),
            seq=int(data["seq"]),
            at=float(data["at"]),
            status=str(data["status"]),
            causes=tuple(str(c) for c in data.get("causes") or ()),
            step=_text(data.get("step")),
            event=_text(data.get("event")),
            by=_text(data.get("by")),
            reason=_text(data.get("reason")),
            forked_from=_text(data.get("forked_from")),
        )


@dataclass(frozen=True)
class PendingEventInfo:
    """An event a step will take in a checkpoint (``None``: a join step's batch)."""

    step: str
    event: Event | None


@dataclass(frozen=True)
class OpenWaitInfo:
    """A ``ctx.wait_for_event`` call waiting in a checkpoint (``OpenWaitOut``)."""

    key: str
    step: str
    waits_for: str
    prompt: Event | None
    requirements: dict[str, Any]
    deadline: float | None
    request_id: str | None


@dataclass(frozen=True)
class CheckpointViewInfo:
    """One checkpoint read back (``CheckpointViewOut``): its entry, the state store's
    value as plain JSON, the events waiting for steps, the calls in flight and the open
    waits, their events decoded as the client's other events are."""

    checkpoint: CheckpointInfo
    state: Any
    pending_events: list[PendingEventInfo]
    in_flight: list[PendingEventInfo]
    open_waits: list[OpenWaitInfo]

    @classmethod
    def from_json(cls, data: dict[str, Any], decoder: EventDecoder) -> CheckpointViewInfo:
        """Build from the server's JSON, decoding events with ``decoder``."""

        def event(value: Any) -> Event | None:
            return None if value is None else decoder.decode(value)

        def pending(items: Any) -> list[PendingEventInfo]:
            return [PendingEventInfo(str(p["step"]), event(p.get("event"))) for p in items or ()]

        waits = [
            OpenWaitInfo(
                key=str(w["key"]),
                step=str(w["step"]),
                waits_for=str(w["waits_for"]),
                prompt=event(w.get("prompt")),
                requirements=dict(w.get("requirements") or {}),
                deadline=None if w.get("deadline") is None else float(w["deadline"]),
                request_id=_text(w.get("request_id")),
            )
            for w in data.get("open_waits") or ()
        ]
        return cls(
            checkpoint=CheckpointInfo.from_json(data["checkpoint"]),
            state=data.get("state"),
            pending_events=pending(data.get("pending_events")),
            in_flight=pending(data.get("in_flight")),
            open_waits=waits,
        )


def _link(data: dict[str, Any]) -> ForkLink:
    return ForkLink(
        str(data["run_id"]),
        str(data["parent_run_id"]),
        int(data["parent_seq"]),
        float(data["created_at"]),
    )


def lineage_from_json(data: dict[str, Any]) -> RunLineage:
    """The fork links of a ``CheckpointList``."""
    own = data.get("forked_from")
    return RunLineage(
        None if own is None else _link(own), [_link(link) for link in data.get("forks") or ()]
    )
