"""The plain records a run store reads and writes.

Every record is a frozen dataclass of JSON-safe values (dicts, lists, strings, numbers,
booleans, ``None``); timestamps are POSIX seconds as ``float``. A store never sees an
``Event`` object: the engine turns events into ``event_type`` + ``payload`` dicts first.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Final, Literal, TypeAlias

from workflows.stores._checkpoint_records import CheckpointWrite

__all__ = [
    "ANY",
    "ASSIGNEE_ACTIONS",
    "AUDIT_ACTIONS",
    "REQUEST_SORTS",
    "REQUEST_STATUSES",
    "RUN_STATUSES",
    "STATE_ROWS_KEY",
    "TERMINAL_STATUSES",
    "Answer",
    "AssigneeAction",
    "AuditAction",
    "AuditEntry",
    "Commit",
    "DeliveryAttempt",
    "InboundEvent",
    "InputRequest",
    "RequestPage",
    "RequestQuery",
    "RequestSort",
    "RequestStatus",
    "RunRecord",
    "RunStatus",
    "StateChanges",
    "StreamEntry",
    "StreamItem",
    "Viewer",
]

RunStatus: TypeAlias = Literal[
    "running", "waiting", "completed", "failed", "cancelled", "timed_out", "quarantined"
]
"""Where a run is: ``running`` (has work it can do now), ``waiting`` (only waits for
outside input), or one of the terminal statuses. ``quarantined`` is the terminal status
of a run whose stored data cannot be loaded or executed (see ``RunStore.quarantine_run``):
it is kept as it was found, for people to inspect and delete."""

RUN_STATUSES: Final[frozenset[str]] = frozenset(
    {"running", "waiting", "completed", "failed", "cancelled", "timed_out", "quarantined"}
)
"""Every valid run status."""

TERMINAL_STATUSES: Final[frozenset[str]] = frozenset(
    {"completed", "failed", "cancelled", "timed_out", "quarantined"}
)
"""Statuses after which a run accepts no more commits, events or answers."""

RequestStatus: TypeAlias = Literal["pending", "answered", "expired", "cancelled"]
"""Where an input request is: ``pending`` until answered, expired or cancelled."""

REQUEST_STATUSES: Final[frozenset[str]] = frozenset({"pending", "answered", "expired", "cancelled"})
"""Every valid input request status."""

AuditAction: TypeAlias = Literal[
    "created", "claimed", "unclaimed", "assigned", "answered", "overdue", "expired", "cancelled"
]
"""What one :class:`AuditEntry` records happened to a request."""

AUDIT_ACTIONS: Final[frozenset[str]] = frozenset(
    {"created", "claimed", "unclaimed", "assigned", "answered", "overdue", "expired", "cancelled"}
)
"""Every valid audit action."""

AssigneeAction: TypeAlias = Literal["claimed", "unclaimed", "assigned"]
"""The audit action of a change of assignee (``RunStore.set_assignee``)."""

ASSIGNEE_ACTIONS: Final[frozenset[str]] = frozenset({"claimed", "unclaimed", "assigned"})
"""Every valid :data:`AssigneeAction`."""

RequestSort: TypeAlias = Literal["created", "due", "priority"]
"""The orders :class:`RequestQuery` lists requests in (see there)."""

REQUEST_SORTS: Final[frozenset[str]] = frozenset({"created", "due", "priority"})
"""Every valid :data:`RequestSort`."""


class _Any(enum.Enum):
    ANY = "ANY"

    def __repr__(self) -> str:
        return "ANY"


ANY: Final = _Any.ANY
"""``RunStore.set_assignee(expected=ANY)``: change the assignee whoever holds it now."""

Answer: TypeAlias = (
    tuple[str, dict[str, Any], str | None]
    | tuple[str, dict[str, Any], str | None, str | None]
    | tuple[str, dict[str, Any], str | None, str | None, str | None]
)
"""One answer of ``RunStore.answer_requests``: ``(request_id, response,
idempotency_key)``, optionally followed by who answered (``answered_by``) and then by
the user who must hold the request (``holder``; see ``RunStore.answer_request``)."""

StreamItem: TypeAlias = tuple[int, str, dict[str, Any]]
"""One stream entry to append in a :class:`Commit`: ``(seq, event_type, payload)``."""


@dataclass(frozen=True, slots=True)
class RunRecord:
    """One durable run: its latest snapshot and where it stands.

    Attributes:
        run_id: Unique id of the run.
        workflow: Registered name of the workflow the run belongs to.
        status: One of :data:`RUN_STATUSES`.
        snapshot: The JSON-safe context snapshot of the run (replaced on every commit).
        version: Optimistic-concurrency counter; every commit (and every change of owner)
            bumps it by one.
        created_at: When the run was created.
        updated_at: When the run was last committed.
        result: The JSON-safe result of a completed run, else ``None``.
        error: A JSON-safe description of why the run failed, else ``None``.
        owner: The worker that holds the run's lease, else ``None``.
        lease_expires_at: When that lease ends, else ``None``.
        corrupt: ``None`` for an intact row. For a run returned by a listing
            (``list_runs``) whose stored snapshot, result or error cannot be decoded:
            the damaged fields, each with why (``{"snapshot": "not valid JSON: ..."}``).
            Those fields are then empty (``snapshot`` ``{}``, ``result`` ``None``), and
            ``error``, unless it was itself readable, is ``{"type":
            "CorruptRecordError", "message": ...}`` naming the run and the damage.
        input: The start event the run was started with, encoded as the engine encodes
            events (``{"$event": "module.Name", "data": {...}}`` with the default
            serializer), or ``None`` when it was not recorded (runs stored before the
            store kept it) or cannot be decoded (it is only shown, so a damaged one
            never keeps the run from loading).
    """

    run_id: str
    workflow: str
    status: RunStatus
    snapshot: dict[str, Any]
    version: int
    created_at: float
    updated_at: float
    result: Any | None = None
    error: dict[str, Any] | None = None
    owner: str | None = None
    lease_expires_at: float | None = None
    corrupt: dict[str, str] | None = None
    input: dict[str, Any] | None = None

    @classmethod
    def new(
        cls,
        run_id: str,
        workflow: str,
        snapshot: dict[str, Any],
        *,
        status: RunStatus = "running",
        now: float | None = None,
        input: dict[str, Any] | None = None,
    ) -> RunRecord:
        """Build the record of a run about to be created (version 0, no owner), with
        the encoded start event it was started with, if given."""
        stamp = time.time() if now is None else now
        return cls(run_id, workflow, status, snapshot, 0, stamp, stamp, input=input)

    @property
    def is_finished(self) -> bool:
        """Whether the run has reached a terminal status."""
        return self.status in TERMINAL_STATUSES


@dataclass(frozen=True, slots=True)
class StreamEntry:
    """One event of a run's stream log, numbered by ``seq`` (unique and increasing per run).

    ``corrupt`` is ``None`` for an intact entry; for one whose stored payload cannot be
    decoded it is ``{"payload": why}`` and ``payload`` is ``{}``.
    """

    run_id: str
    seq: int
    event_type: str
    payload: dict[str, Any]
    created_at: float
    corrupt: dict[str, str] | None = None


@dataclass(frozen=True, slots=True)
class InputRequest:
    """A durable request for outside input: one entry of the human inbox.

    Attributes:
        request_id: Unique id of the request.
        run_id: The run that waits for the answer.
        workflow: Registered name of that run's workflow.
        event_type: Name of the waiter event shown to the person (e.g. an
            ``InputRequiredEvent`` subclass).
        payload: The JSON-safe fields of that waiter event.
        response_schema: JSON schema the response must satisfy (``{}`` accepts anything).
        created_at: When the request was made.
        deadline: When the wait times out, else ``None``.
        status: One of :data:`REQUEST_STATUSES`.
        response: The accepted response once answered through the store, else ``None``.
        idempotency_key: The key given with the accepted answer, if any.
        answered_at: When the request left ``pending``, else ``None``.
        answered_by: Who answered it, as the answering client said (free text, e.g.
            a user name), else ``None``.
        corrupt: ``None`` for an intact row. For a request whose stored payload,
            response schema or response cannot be decoded: those fields, each with why;
            they are then empty (``{}``, or ``None`` for ``response``). Such a request
            is still listed; it cannot be answered while its schema or response is
            damaged (``CorruptRecordError``).
        assignee: The one user the request is assigned to (who may answer it), else
            ``None``.
        candidate_users: Users who may see (and claim) the request.
        candidate_groups: Groups whose members may see (and claim) the request. A
            request with no assignee and no candidates is open to everyone (see
            :func:`~workflows.stores.visible_to`).
        priority: Higher comes first in the ``priority`` order; 0 by default.
        due: When the request is due (POSIX seconds), else ``None``; once it is past
            and the request still pending, ``RunStore.mark_overdue`` marks it.
        follow_up: When to look at the request again (only sorts and highlights).
        overdue_at: When the store marked the request overdue (set once), else ``None``.
    """

    request_id: str
    run_id: str
    workflow: str
    event_type: str
    payload: dict[str, Any]
    response_schema: dict[str, Any]
    created_at: float
    deadline: float | None = None
    status: RequestStatus = "pending"
    response: dict[str, Any] | None = None
    idempotency_key: str | None = None
    answered_at: float | None = None
    corrupt: dict[str, str] | None = None
    answered_by: str | None = None
    assignee: str | None = None
    candidate_users: tuple[str, ...] = ()
    candidate_groups: tuple[str, ...] = ()
    priority: int = 0
    due: float | None = None
    follow_up: float | None = None
    overdue_at: float | None = None

    @classmethod
    def new(
        cls,
        request_id: str,
        run_id: str,
        workflow: str,
        event_type: str,
        payload: dict[str, Any],
        response_schema: dict[str, Any] | None = None,
        *,
        deadline: float | None = None,
        now: float | None = None,
        assignee: str | None = None,
        candidate_users: Iterable[str] = (),
        candidate_groups: Iterable[str] = (),
        priority: int = 0,
        due: float | None = None,
        follow_up: float | None = None,
    ) -> InputRequest:
        """Build a pending request, stamped now unless ``now`` is given, with its task
        fields (who it is for, its priority and dates; see the class docstring)."""
        stamp = time.time() if now is None else now
        return cls(
            request_id,
            run_id,
            workflow,
            event_type,
            payload,
            {} if response_schema is None else response_schema,
            stamp,
            deadline,
            assignee=assignee,
            candidate_users=tuple(candidate_users),
            candidate_groups=tuple(candidate_groups),
            priority=priority,
            due=due,
            follow_up=follow_up,
        )

    @property
    def is_open_to_all(self) -> bool:
        """Whether the request names nobody: no assignee and no candidates."""
        return self.assignee is None and not self.candidate_users and not self.candidate_groups


@dataclass(frozen=True, slots=True)
class InboundEvent:
    """An event sent to a run from outside, stored until a commit consumes it.

    ``payload`` is whatever the sender stored; for an answer given through
    ``answer_request`` it is ``{"request_id": ..., "response": {...}}`` and
    ``request_id`` is set.
    """

    id: int
    run_id: str
    payload: dict[str, Any]
    request_id: str | None
    created_at: float


STATE_ROWS_KEY: Final[str] = "$state_rows"
"""The snapshot key that marks a state kept in rows (see :class:`StateChanges`)."""


@dataclass(frozen=True, slots=True)
class StateChanges:
    """What a commit changes in its run's state rows.

    A snapshot may leave its state's entries out: then ``snapshot["$state_rows"]`` is
    the path (a list of keys) of the mapping inside the snapshot that the run's state
    rows fill, one row per key, in the order the keys were first written. Stores keep
    the rows apart from the snapshot, so a commit writes only the entries that changed,
    and return the snapshot whole (the marker removed, the mapping filled) wherever a
    run is read. A snapshot without the marker holds its whole state, as before.

    Attributes:
        reset: Remove every row of the run first (the state was replaced, or is
            written in rows for the first time).
        deleted: Keys to remove (then ``values`` are written: a key in both moves to
            the end of the order, as in a dict deleted from and written again).
        values: Keys to write with their JSON-safe values; a stored key keeps its
            place, a new one goes last, in the order given.
    """

    reset: bool = False
    deleted: tuple[str, ...] = ()
    values: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Commit:
    """Everything one step boundary of a run changes, written all at once or not at all.

    Attributes:
        run_id: The run to commit.
        expected_version: The version the committer loaded; the store refuses the commit
            with ``StaleRunError`` if the stored version differs.
        snapshot: The new snapshot (replaces the stored one).
        status: The new run status.
        result: The run's result (for ``completed``).
        error: Why the run failed (for ``failed`` / ``timed_out``).
        stream: Stream entries to append, as ``(seq, event_type, payload)``.
        new_requests: Input requests to add (status ``pending``, ``run_id`` of this run).
        closed_requests: ``(request_id, status)`` pairs moving pending requests of this
            run to ``answered``, ``expired`` or ``cancelled``.
        consumed_inbound: Ids of this run's inbound events the commit has taken in.
        state: Changes to the run's state rows (``None``: the rows stay as they are).
        answered_by: Who answered requests this commit closes as ``answered`` (an
            answer sent to the run as an event): ``request_id -> name``; requests not
            named here are stored with ``answered_by`` ``None``.
        checkpoint: A checkpoint of the run to keep, written in the same transaction
            (stores that keep checkpoints: ``CheckpointStore``); ``None`` writes none.
    """

    run_id: str
    expected_version: int
    snapshot: dict[str, Any]
    status: RunStatus
    result: Any | None = None
    error: dict[str, Any] | None = None
    stream: list[StreamItem] = field(default_factory=list)
    new_requests: list[InputRequest] = field(default_factory=list)
    closed_requests: list[tuple[str, RequestStatus]] = field(default_factory=list)
    consumed_inbound: list[int] = field(default_factory=list)
    state: StateChanges | None = None
    answered_by: dict[str, str] = field(default_factory=dict)
    checkpoint: CheckpointWrite | None = None


@dataclass(frozen=True, slots=True)
class Viewer:
    """Who lists or reads requests: what :func:`~workflows.stores.visible_to` decides on.

    Attributes:
        user: The user's name.
        groups: The groups the user is in.
        admin: An administrator sees, and may do, everything.
    """

    user: str
    groups: frozenset[str] = frozenset()
    admin: bool = False


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One append-only line of a request's history.

    Attributes:
        id: Global and increasing across every request of the store: the position of
            the entry in the feed :meth:`RunStore.audit_after` reads (a webhook
            outbox's cursor).
        request_id: The request the entry is about.
        run_id: The request's run.
        workflow: The run's workflow.
        at: When it happened (the store's clock, or the ``now`` the caller gave).
        action: One of :data:`AUDIT_ACTIONS`.
        actor: The user who did it; ``None`` for the workflow or the engine.
        detail: JSON-safe facts of the action: ``{"assignee": "bob", "previous":
            "ada"}`` for a change of assignee, the task fields for ``created``,
            ``{"due": ...}`` for ``overdue``.
    """

    id: int
    request_id: str
    run_id: str
    workflow: str
    at: float
    action: AuditAction
    actor: str | None
    detail: dict[str, Any]


@dataclass(frozen=True, slots=True)
class RequestQuery:
    """Which requests :meth:`RunStore.query_requests` lists, in which order, one page.

    Every filter given must hold (``None``: no filter).

    Attributes:
        viewer: Only requests :func:`~workflows.stores.visible_to` this viewer;
            ``None`` for no visibility rule (the engine, a CLI on the store).
        status: Only requests of this status (``None``: every status).
        workflow: Only requests of this workflow.
        run_id: Only requests of this run.
        assignee: Only requests assigned to exactly this user.
        unassigned: Only requests with no assignee.
        groups: Only requests whose candidate groups include one of these.
        candidate_user: Only requests whose candidate users include this user.
        priority_min: Only requests with at least this priority.
        due_before: Only requests due at or before this time (no due: left out).
        due_after: Only requests due at or after this time (no due: left out).
        sort: ``created``: newest first (``created_at`` descending);
            ``due``: earliest due first, requests without due last, then newest
            first; ``priority``: highest first, then newest first. Ties are broken by
            ``request_id`` (descending), so every order is total and pages never
            skip or repeat a request.
        limit: Requests per page, 1 to 1000.
        after: The ``next_cursor`` of the previous page (of the same sort), else
            ``None`` for the first page.
    """

    viewer: Viewer | None = None
    status: RequestStatus | None = "pending"
    workflow: str | None = None
    run_id: str | None = None
    assignee: str | None = None
    unassigned: bool = False
    groups: frozenset[str] | None = None
    candidate_user: str | None = None
    priority_min: int | None = None
    due_before: float | None = None
    due_after: float | None = None
    sort: RequestSort = "created"
    limit: int = 100
    after: str | None = None


@dataclass(frozen=True, slots=True)
class RequestPage:
    """One page of :meth:`RunStore.query_requests`.

    Attributes:
        requests: The requests of the page, in the query's order.
        next_cursor: Give it as ``RequestQuery.after`` for the next page; ``None``
            when there is no more.
    """

    requests: list[InputRequest]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class DeliveryAttempt:
    """One attempt to deliver an audit entry to a webhook endpoint.

    Attributes:
        endpoint: The endpoint's name (its cursor key).
        audit_id: The audit entry delivered.
        request_id: That entry's request.
        attempt: 1 for the first attempt, then 2, 3, ...
        at: When the attempt was made.
        status_code: The HTTP status the endpoint answered, else ``None``.
        error: Why the attempt failed (no answer, a timeout, ...), else ``None``.
        delivered: Whether the endpoint took it (a 2xx answer).
    """

    endpoint: str
    audit_id: int
    request_id: str
    attempt: int
    at: float
    status_code: int | None
    error: str | None
    delivered: bool
