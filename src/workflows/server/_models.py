"""The pydantic models of the HTTP API: request bodies and response shapes.

They are the single source of the OpenAPI document (``_openapi.py`` builds it from
their JSON schemas) and of the JSON the routes write, so the two cannot drift apart.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ..error_codes import ERROR_CODES

__all__ = [
    "AcceptedOut",
    "AssignIn",
    "AuditEntryOut",
    "AuditList",
    "CheckpointList",
    "CheckpointOut",
    "CheckpointViewOut",
    "DeliveryAttemptOut",
    "DeliveryList",
    "ErrorBody",
    "ErrorOut",
    "EventOut",
    "ForkIn",
    "ForkLinkOut",
    "GraphEdgeOut",
    "GraphNodeOut",
    "HealthOut",
    "HistoryEventOut",
    "MeOut",
    "OpenWaitOut",
    "PendingEventOut",
    "RequestList",
    "RequestOut",
    "RespondOut",
    "RunErrorOut",
    "RunHistoryOut",
    "RunList",
    "RunOut",
    "SendEventIn",
    "StartRunIn",
    "StateEditIn",
    "StreamEventOut",
    "WorkflowGraphOut",
    "WorkflowList",
    "WorkflowOut",
]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- request bodies ------------------------------------------------------------------------
class StartRunIn(_In):
    """Body of ``POST /workflows/{name}/runs`` (the whole body is optional)."""

    input: dict[str, Any] = Field(
        default_factory=dict, description="Fields of the workflow's StartEvent."
    )


class SendEventIn(_In):
    """Body of ``POST /runs/{run_id}/events``."""

    type: str = Field(
        min_length=1,
        max_length=512,
        description="Event class name (`Name` or `module.Name`) among the workflow's "
        "own event types and the built-in events.",
    )
    data: dict[str, Any] = Field(default_factory=dict, description="The event's fields.")
    step: str | None = Field(default=None, description="Deliver only to this step.")


class AssignIn(_In):
    """Body of ``POST /requests/{request_id}/assign``."""

    assignee: str | None = Field(
        min_length=1,
        max_length=200,
        description="The user the request is assigned to; null: nobody (unassigned).",
    )


_Reason = Annotated[
    str | None,
    Field(max_length=1000, description="Why, in the caller's words; kept with the checkpoint."),
]


class StateEditIn(_In):
    """Body of ``POST /runs/{run_id}/state``: exactly one of ``patch`` and ``replace``."""

    patch: dict[str, Any] | None = Field(
        default=None,
        description="A JSON merge patch (RFC 7386) of the state's fields: a field set to "
        "null is removed, an object is merged into the one it replaces.",
    )
    replace: dict[str, Any] | None = Field(
        default=None, description="The whole new state (a typed state: all its fields)."
    )
    reason: _Reason = None


class ForkIn(_In):
    """Body of ``POST /runs/{run_id}/fork``."""

    checkpoint: str | int = Field(
        description="The checkpoint to start from: its id (`<run id>:c<seq>`) or its seq."
    )
    state_patch: dict[str, Any] | None = Field(
        default=None,
        description="A JSON merge patch of the state the fork starts with (null: as it was).",
    )
    reason: _Reason = None


# -- responses -----------------------------------------------------------------------------
class ErrorBody(BaseModel):
    """What went wrong: a stable snake_case code and a message for people."""

    code: str = Field(
        description="What kind of error (see `workflows.error_codes`); a client should "
        "treat a code it does not know by the HTTP status.",
        json_schema_extra={"enum": [row.code for row in ERROR_CODES]},
    )
    message: str


class ErrorOut(BaseModel):
    """The body of every error response."""

    error: ErrorBody


class HealthOut(BaseModel):
    """``GET /health``."""

    status: Literal["ok", "degraded"] = Field(
        description="`degraded`: serving while a part recovers (the wake-up listener "
        "reconnecting, lease renewals not reaching the store)."
    )
    store: str = Field(description="The store's URL scheme (memory, sqlite, postgresql).")
    engine: dict[str, Any] = Field(
        default_factory=dict,
        description="The engine's state and its writer, listener and lease renewals.",
    )


class MeOut(BaseModel):
    """``GET /me``: who the server takes the caller for."""

    user: str = Field(
        description="The user: from the users file or the trusted header; without "
        "either, what `X-Workflows-User` says (`anonymous` without it)."
    )
    groups: list[str] = Field(description="The user's groups, sorted.")
    admin: bool = Field(
        description="Sees every request and may do anything with it (a member of the "
        "admin group; everyone when the server has a single token or no auth)."
    )
    verified: bool = Field(
        description="The server knows the caller from the token (a users file) or a "
        "trusted proxy header; `false` with a single token or no auth, where `user` is "
        "only what the caller said in `X-Workflows-User`."
    )


class EventOut(BaseModel):
    """An event as plain JSON."""

    type: str = Field(description="The event class name, e.g. `HumanResponseEvent`.")
    type_key: str = Field(description="`module.QualName` of the event class.")
    data: dict[str, Any] = Field(description="Fields and extras as plain JSON.")


class StreamEventOut(EventOut):
    """An event of a run's stream, with its sequence number."""

    seq: int = Field(ge=1)


class HistoryEventOut(StreamEventOut):
    """An event of a run's stream log with the time it was committed."""

    created_at: float = Field(description="When the event was committed (Unix seconds).")
    corrupt: dict[str, str] | None = Field(
        default=None,
        description="Set for a stored entry that cannot be decoded (its damage, by "
        "field); `data` is then empty.",
    )


class RunHistoryOut(BaseModel):
    """``GET /runs/{run_id}/history``."""

    events: list[HistoryEventOut]


class GraphNodeOut(BaseModel):
    """A step or an event type of a workflow's graph."""

    id: str = Field(description="`step:<name>` or `event:<module.QualName>`.")
    label: str = Field(description="The step's name or the event class name.")
    kind: Literal["step", "start", "stop", "input", "response", "event"] = Field(
        description="`step`, or the event's role: `start` (a StartEvent), `stop` (a "
        "StopEvent), `input` (an InputRequiredEvent: asks a person), `response` (a "
        "HumanResponseEvent: a person's answer), `event` (any other)."
    )


class GraphEdgeOut(BaseModel):
    """An event accepted by a step (event -> step) or returned by it (step -> event)."""

    source: str
    target: str


class WorkflowGraphOut(BaseModel):
    """The step/event graph of a workflow (what ``mermaid`` draws), as data."""

    nodes: list[GraphNodeOut]
    edges: list[GraphEdgeOut]


class WorkflowOut(BaseModel):
    """A registered workflow."""

    name: str
    start_schema: dict[str, Any] = Field(description="JSON schema of the StartEvent.")
    response_schema: dict[str, Any] = Field(
        description="JSON schema of the HumanResponseEvent type its steps accept."
    )
    event_types: list[str]
    mermaid: str
    graph: WorkflowGraphOut


class WorkflowList(BaseModel):
    """``GET /workflows``."""

    workflows: list[WorkflowOut]


class RunErrorOut(BaseModel):
    """Why a run did not complete."""

    type: str
    message: str


class RunOut(BaseModel):
    """A run and where it stands."""

    run_id: str
    workflow: str
    status: Literal[
        "running", "waiting", "completed", "failed", "cancelled", "timed_out", "quarantined"
    ] = Field(
        description="`quarantined`: set aside because its stored data cannot be loaded "
        "or executed (see docs/durability.md, *Poisoned runs*); `error` says why."
    )
    created_at: float
    updated_at: float
    result: Any = Field(default=None, description="The result as plain JSON (completed runs).")
    error: RunErrorOut | None = None
    current_steps: list[str] = Field(
        default_factory=list,
        description="Steps of an unfinished run that are running or queued, else (a run "
        "waiting for a person) the steps that take the answer; empty once finished.",
    )
    input: EventOut | None = Field(
        default=None,
        description="The start event the run was started with; null when it was not "
        "recorded (runs stored before the server kept it).",
    )


class RunList(BaseModel):
    """``GET /runs``."""

    runs: list[RunOut]


class RequestOut(BaseModel):
    """An input request: one entry of the human inbox."""

    request_id: str
    run_id: str
    workflow: str
    status: Literal["pending", "answered", "expired", "cancelled"]
    created_at: float
    deadline: float | None
    prompt: EventOut
    response_schema: dict[str, Any]
    response: dict[str, Any] | None
    answered_at: float | None = Field(
        default=None,
        description="When the request left `pending` (answered, expired or cancelled).",
    )
    answered_by: str | None = Field(
        default=None,
        description="Who answered: the authenticated caller (users file, trusted "
        "header), else as the answering client named them in the `X-Workflows-User` "
        "header; null when not named (or not answered).",
    )
    assignee: str | None = Field(
        default=None, description="The one user the request is assigned to; null: nobody."
    )
    candidate_users: list[str] = Field(
        default_factory=list, description="Users who may see and claim the request."
    )
    candidate_groups: list[str] = Field(
        default_factory=list,
        description="Groups whose members may see and claim the request. A request with "
        "no assignee and no candidates is open to every user.",
    )
    priority: int = Field(default=0, description="Higher comes first in `sort=priority`.")
    due: float | None = Field(default=None, description="When the request is due.")
    follow_up: float | None = Field(
        default=None, description="When to look at the request again (sorts, highlights)."
    )
    overdue_at: float | None = Field(
        default=None, description="When the request was marked overdue (its due passed)."
    )


class RequestList(BaseModel):
    """``GET /requests``."""

    requests: list[RequestOut]
    next_cursor: str | None = Field(
        default=None,
        description="Give as `cursor` (with the same filters and sort) for the next page; "
        "null: no more (and always null when paging by `offset`).",
    )


class AuditEntryOut(BaseModel):
    """One line of an input request's history."""

    id: int = Field(description="Increasing across every request of the store.")
    request_id: str
    run_id: str
    workflow: str
    at: float = Field(description="When it happened.")
    action: Literal[
        "created", "claimed", "unclaimed", "assigned", "answered", "overdue", "expired", "cancelled"
    ]
    actor: str | None = Field(description="The user who did it; null for the workflow or engine.")
    detail: dict[str, Any] = Field(
        description='Facts of the action, e.g. `{"assignee": "bob", "previous": "ada"}`.'
    )


class AuditList(BaseModel):
    """``GET /requests/{request_id}/audit``: oldest first."""

    audit: list[AuditEntryOut]


class DeliveryAttemptOut(BaseModel):
    """One attempt to deliver a request's change to a webhook endpoint."""

    endpoint: str = Field(description="The endpoint's name (its URL unless named).")
    audit_id: int = Field(description="The audit entry delivered.")
    request_id: str
    attempt: int = Field(description="1 for the first attempt, then 2, 3, ...")
    at: float
    status_code: int | None = Field(description="The endpoint's HTTP status, if it answered.")
    error: str | None = Field(description="Why the attempt failed, if it did.")
    delivered: bool = Field(description="The endpoint took it (a 2xx answer).")


class DeliveryList(BaseModel):
    """``GET /webhooks/deliveries``: newest first."""

    deliveries: list[DeliveryAttemptOut]


class AcceptedOut(BaseModel):
    """An event was stored for its run."""

    accepted: Literal[True]


class RespondOut(BaseModel):
    """An answer was accepted; ``duplicate`` when it repeated an accepted answer."""

    accepted: Literal[True]
    duplicate: bool


class CheckpointOut(BaseModel):
    """One kept checkpoint of a run: a committed state it went through."""

    checkpoint_id: str = Field(description="`<run id>:c<seq>`.")
    run_id: str
    seq: int = Field(
        ge=0, description="The run's version after the commit that kept it (increasing)."
    )
    at: float = Field(description="When it was committed.")
    status: str = Field(description="The run's status in it (`waiting`: it waited for input).")
    causes: list[str] = Field(
        description="What the boundaries folded into its commit marked, oldest first: "
        "`start:<event>`, `resume`, `step:<step that ended>`, `wait:<step that began to "
        "wait>`, `event:<event from outside>`, `answer:<event a waiter took>`, "
        "`end:<stop event>`, `edit` (the state was changed from outside), `fork` (the "
        "first of a forked run)."
    )
    step: str | None = Field(description="The latest step that ended or began to wait.")
    event: str | None = Field(description="The latest event from outside (or answer) taken.")
    by: str | None = Field(description="Who changed the state (an edit) or forked the run.")
    reason: str | None = Field(description="Why, as they said.")
    forked_from: str | None = Field(
        description="For the first checkpoint of a fork: the checkpoint it was forked from."
    )


class ForkLinkOut(BaseModel):
    """A run forked from a checkpoint of another run."""

    run_id: str = Field(description="The fork.")
    parent_run_id: str = Field(description="The run it was forked from.")
    parent_seq: int = Field(ge=0, description="The seq of the checkpoint it was forked from.")
    parent_checkpoint_id: str = Field(description="The id of that checkpoint.")
    created_at: float


class CheckpointList(BaseModel):
    """``GET /runs/{run_id}/checkpoints``: oldest first, with the run's fork links."""

    checkpoints: list[CheckpointOut]
    forked_from: ForkLinkOut | None = Field(description="The run's own fork link, if a fork.")
    forks: list[ForkLinkOut] = Field(description="The runs forked from this one, oldest first.")


class PendingEventOut(BaseModel):
    """An event a step will take (queued for it, or the input of a call in flight)."""

    step: str
    event: EventOut | None = Field(description="null for a join step's batch.")


class OpenWaitOut(BaseModel):
    """A ``ctx.wait_for_event`` call waiting in a checkpoint."""

    key: str
    step: str
    waits_for: str = Field(description="The type of event it waits for (`module.Name`).")
    prompt: EventOut | None = Field(description="The event shown to whoever answers.")
    requirements: dict[str, Any] = Field(description="Fields the answer must have.")
    deadline: float | None = Field(description="When the wait times out, if it has a timeout.")
    request_id: str | None = Field(description="The inbox request asking for it, if any.")


class CheckpointViewOut(BaseModel):
    """``GET /runs/{run_id}/checkpoints/{checkpoint}``: one checkpoint read back."""

    checkpoint: CheckpointOut
    state: Any = Field(description="The state store's value as plain JSON.")
    pending_events: list[PendingEventOut] = Field(
        description="Events queued for steps, oldest first per step."
    )
    in_flight: list[PendingEventOut] = Field(
        description="Calls that had started and do not wait (they run again on resume)."
    )
    open_waits: list[OpenWaitOut] = Field(description="The waits open in it, oldest first.")
