"""The OpenAPI 3.1 document, built from the pydantic models of ``_models.py``.

Each operation is declared once in :data:`OPERATIONS` (parameters, body, responses);
the component schemas come from ``models_json_schema``, so the document describes
exactly the JSON the routes write.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from ..runtime.user_name import MAX_USER_NAME, USER_HEADER
from ..stores import REQUEST_STATUSES, RUN_STATUSES
from . import _models as m
from ._limits import MAX_INT

__all__ = ["openapi_document"]

REF = "#/components/schemas/{model}"

Mode = Literal["validation", "serialization"]

_JSON = "application/json"
_SSE = "text/event-stream"
_HTML = "text/html"

_ERRORS = {
    400: "Malformed JSON or a bad query/header value.",
    401: "Missing or wrong bearer token (or trusted user header).",
    403: "The caller may not do this.",
    404: "No such resource.",
    409: "Conflicts with the resource's state.",
    413: "The body is larger than the server's limit (read no further).",
    422: "The body fails validation or the server's input limits (JSON depth, items, "
    "number length, non-finite numbers, lone surrogates).",
    503: "The store is unreachable or the server is shutting down.",
}


@dataclass(frozen=True)
class Op:
    """One documented operation."""

    method: str
    path: str
    op_id: str
    summary: str
    ok: dict[int, tuple[str, type[BaseModel] | str]]
    """Success responses: status -> (description, model or media type)."""
    errors: tuple[int, ...] = ()
    params: tuple[dict[str, Any], ...] = ()
    body: type[BaseModel] | dict[str, Any] | None = None
    body_required: bool = True
    public: bool = False
    tags: tuple[str, ...] = field(default=("api",))


def _q(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": schema,
        "description": description,
    }


def _path(name: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "schema": {"type": "string", "minLength": 1},
        "description": description,
    }


_LIMIT = _q(
    "limit", {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100}, "Page size."
)
_OFFSET = _q(
    "offset", {"type": "integer", "minimum": 0, "maximum": MAX_INT, "default": 0}, "Items to skip."
)
_FILTER = {"type": "string", "maxLength": 512}
_NAME = {"type": "string", "minLength": 1, "maxLength": 200}
_TIME = {
    "type": "string",
    "maxLength": 40,
    "description": "POSIX seconds, or an ISO 8601 time (UTC without a zone).",
}
_RUN_ID = _path("run_id", "The run's id.")
_REQUEST_ID = _path("request_id", "The input request's id.")
_USER: dict[str, Any] = {
    "name": USER_HEADER,
    "in": "header",
    "required": False,
    "schema": {
        "type": "string",
        "minLength": 1,
        "maxLength": MAX_USER_NAME,
        "pattern": "^[\\x20-\\x7e]+$",
    },
    "description": "Who answers (a user name, UTF-8): recorded with the answer as "
    "`answered_by`. With a single token (or none) it is what the client says (the CLI's "
    "`--as`, the inbox page); with a users file or a trusted header the caller's own name "
    "is recorded and this header may only repeat it (a 403 otherwise). Empty, too long "
    "or with control characters: a 400.",
}

_ACTOR: dict[str, Any] = {
    **_USER,
    "description": "Who does it (a user name, UTF-8), recorded as the checkpoint's `by`: "
    "with a single token (or none) what the client says (else `anonymous`); with a users "
    "file or a trusted header the caller, and this header may only repeat their name.",
}

OPERATIONS: tuple[Op, ...] = (
    Op(
        "get",
        "/health",
        "health",
        "Whether the server and its store answer.",
        {200: ("Healthy.", m.HealthOut)},
        (503,),
        public=True,
    ),
    Op(
        "get",
        "/me",
        "me",
        "Who the server takes the caller for: user, groups, admin.",
        {200: ("The caller.", m.MeOut)},
    ),
    Op(
        "get",
        "/openapi.json",
        "openapi",
        "This document.",
        {200: ("The OpenAPI 3.1 document.", _JSON)},
    ),
    Op(
        "get",
        "/workflows",
        "listWorkflows",
        "Registered workflows with their schemas.",
        {200: ("The workflows.", m.WorkflowList)},
    ),
    Op(
        "get",
        "/workflows/{name}",
        "getWorkflow",
        "One registered workflow.",
        {200: ("The workflow.", m.WorkflowOut)},
        (404,),
        (_path("name", "The workflow's registered name."),),
    ),
    Op(
        "post",
        "/workflows/{name}/runs",
        "startRun",
        "Start a run; with wait=true, answer once it finished or the timeout passed.",
        {
            201: ("Started (wait=false).", m.RunOut),
            200: ("Finished, or still running after the timeout (wait=true).", m.RunOut),
        },
        (400, 404, 422),
        (
            _path("name", "The workflow's registered name."),
            _q("wait", {"type": "boolean", "default": False}, "Wait for the run to finish."),
            _q(
                "timeout",
                {"type": "number", "minimum": 0, "maximum": 300, "default": 30},
                "Seconds to wait with wait=true.",
            ),
        ),
        m.StartRunIn,
        body_required=False,
    ),
    Op(
        "get",
        "/runs",
        "listRuns",
        "Stored runs, newest first.",
        {200: ("The runs.", m.RunList)},
        (400,),
        (
            _q("status", {"type": "string", "enum": sorted(RUN_STATUSES)}, "Only this status."),
            _q("workflow", _FILTER, "Only runs of this workflow."),
            _LIMIT,
            _OFFSET,
        ),
    ),
    Op(
        "get",
        "/runs/{run_id}",
        "getRun",
        "One run: status and result.",
        {200: ("The run.", m.RunOut)},
        (404,),
        (_RUN_ID,),
    ),
    Op(
        "get",
        "/runs/{run_id}/events",
        "streamRunEvents",
        "The run's committed stream events as server-sent events (`id:` = seq), ending "
        "after the StopEvent; `: heartbeat` comments while idle. Each `data:` is a "
        "StreamEventOut.",
        {200: ("An SSE stream of StreamEventOut messages.", _SSE)},
        (400, 404, 409),
        (
            _RUN_ID,
            _q(
                "after",
                {"type": "integer", "minimum": 0, "maximum": MAX_INT, "default": 0},
                "Only events with seq > after.",
            ),
            {
                "name": "Last-Event-ID",
                "in": "header",
                "required": False,
                "schema": {"type": "string", "pattern": "^[0-9]{1,19}$"},
                "description": "Resume after this seq (wins over `after`).",
            },
        ),
    ),
    Op(
        "get",
        "/runs/{run_id}/history",
        "getRunHistory",
        "The run's committed stream events with the time each was committed, oldest "
        "first (the run page's timeline).",
        {200: ("The events.", m.RunHistoryOut)},
        (400, 404),
        (
            _RUN_ID,
            _q(
                "after",
                {"type": "integer", "minimum": 0, "maximum": MAX_INT, "default": 0},
                "Only events with seq > after.",
            ),
            _q(
                "limit",
                {"type": "integer", "minimum": 1, "maximum": 1000, "default": 1000},
                "At most this many events.",
            ),
        ),
    ),
    Op(
        "post",
        "/runs/{run_id}/events",
        "sendEvent",
        "Send an event (by type name) into a run. Only events a step of the workflow "
        "accepts (or that a `wait_for_event` of the run waits for) are taken; control "
        "events (StopEvent, WorkflowFailedEvent, StartEvent, ...) only when the server "
        "opted the workflow in; a named `step` must accept the event. A refused event "
        "is a 422 and is not stored. No Idempotency-Key (a 400).",
        {202: ("Stored and delivered.", m.AcceptedOut)},
        (400, 403, 404, 409, 422),
        (_RUN_ID, _USER),
        m.SendEventIn,
    ),
    Op(
        "post",
        "/runs/{run_id}/cancel",
        "cancelRun",
        "Cancel an unfinished run.",
        {200: ("The cancelled run.", m.RunOut)},
        (404, 409),
        (_RUN_ID,),
    ),
    Op(
        "get",
        "/runs/{run_id}/checkpoints",
        "listCheckpoints",
        "The run's kept checkpoints (as its history setting keeps them; edits and a "
        "fork's start always), oldest first, with the run it was forked from and the "
        "runs forked from it.",
        {200: ("The checkpoints.", m.CheckpointList)},
        (404,),
        (_RUN_ID,),
    ),
    Op(
        "get",
        "/runs/{run_id}/checkpoints/{checkpoint}",
        "getCheckpoint",
        "One checkpoint read back: the state store's value, the events waiting for "
        "steps, the calls in flight and the open waits.",
        {200: ("The checkpoint.", m.CheckpointViewOut)},
        (404, 409),
        (_RUN_ID, _path("checkpoint", "The checkpoint's id (`<run id>:c<seq>`) or seq.")),
    ),
    Op(
        "post",
        "/runs/{run_id}/state",
        "updateRunState",
        "Change the state of a run that waits for input, before answering it: a JSON "
        "merge patch of its fields, or the whole state (a typed state is validated). The "
        "change is a checkpoint recorded with the caller's name and reason. Only a "
        "caller who may answer every pending request of the run (or an admin); 409 "
        "`run_not_waiting` while it runs, `run_finished` once it ended.",
        {200: ("The edit's checkpoint.", m.CheckpointOut)},
        (403, 404, 409, 422),
        (_RUN_ID, _ACTOR),
        m.StateEditIn,
    ),
    Op(
        "post",
        "/runs/{run_id}/fork",
        "forkRun",
        "Start a new run from a checkpoint of this one (its state patched if asked): "
        "the fork gets its own copies of the requests open there; the original is only "
        "read. 409 `checkpoint_not_forkable` for the end of a run.",
        {201: ("The new run.", m.RunOut)},
        (403, 404, 409, 422),
        (_RUN_ID, _ACTOR),
        m.ForkIn,
    ),
    Op(
        "get",
        "/requests",
        "listRequests",
        "Input requests (the inbox) the caller may see, newest first unless `sort` says "
        "otherwise; one page, the next one by `cursor` (or by `offset`, without the "
        "filters and orders of tasks).",
        {200: ("The requests.", m.RequestList)},
        (400,),
        (
            _q("workflow", _FILTER, "Only requests of this workflow."),
            _q("run_id", _FILTER, "Only requests of this run."),
            _q(
                "status",
                {
                    "type": "string",
                    "enum": [*sorted(REQUEST_STATUSES), "all"],
                    "default": "pending",
                },
                "Only this status (`all`: any).",
            ),
            _q("mine", {"type": "boolean", "default": False}, "Only requests assigned to me."),
            _q(
                "group",
                {"type": "array", "items": _NAME, "maxItems": 100},
                "Only requests with one of these candidate groups (repeatable; `mine`: "
                "any of my groups).",
            ),
            _q("assignee", _NAME, "Only requests assigned to this user."),
            _q("unassigned", {"type": "boolean", "default": False}, "Only unassigned requests."),
            _q(
                "priority_min",
                {"type": "integer", "minimum": -MAX_INT - 1, "maximum": MAX_INT},
                "Only requests of at least this priority.",
            ),
            _q("due_before", _TIME, "Only requests due at or before this time."),
            _q("due_after", _TIME, "Only requests due at or after this time."),
            _q(
                "sort",
                {"type": "string", "enum": ["created", "due", "priority"], "default": "created"},
                "`created`: newest first; `due`: earliest due first, those without due "
                "last; `priority`: highest first, then newest.",
            ),
            _q(
                "cursor",
                {"type": "string", "minLength": 1, "maxLength": 4096},
                "The `next_cursor` of the previous page (same filters and sort).",
            ),
            _LIMIT,
            _q(
                "offset",
                {"type": "integer", "minimum": 0, "maximum": MAX_INT},
                "Items to skip, instead of `cursor` (not with `cursor`, `sort` or the task "
                "filters); `next_cursor` is then null.",
            ),
        ),
    ),
    Op(
        "get",
        "/requests/stream",
        "streamRequests",
        "Inbox changes as server-sent events: `request_created` / `request_closed` with "
        "a RequestOut as data; heartbeats while idle. Never ends by itself.",
        {200: ("An SSE stream of RequestOut messages.", _SSE)},
    ),
    Op(
        "get",
        "/requests/{request_id}",
        "getRequest",
        "One input request.",
        {200: ("The request.", m.RequestOut)},
        (404,),
        (_REQUEST_ID,),
    ),
    Op(
        "post",
        "/requests/{request_id}/response",
        "respond",
        "Answer an input request. Repeating the accepted answer (same Idempotency-Key and "
        "body, or an identical body) is a no-op reported as duplicate; the key of the "
        "accepted answer with another body is a 409.",
        {200: ("Accepted.", m.RespondOut)},
        (400, 403, 404, 409, 422),
        (
            _REQUEST_ID,
            {
                "name": "Idempotency-Key",
                "in": "header",
                "required": False,
                "schema": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": 200,
                    "pattern": "^[\\x20-\\x7e]+$",
                },
                "description": "Makes a retried answer a no-op.",
            },
            _USER,
        ),
        {
            "type": "object",
            "description": 'The response event\'s fields, e.g. {"response": "yes"}.',
        },
    ),
    Op(
        "get",
        "/requests/{request_id}/audit",
        "getRequestAudit",
        "The input request's history (created, claimed, unclaimed, assigned, answered, "
        "overdue, expired, cancelled: who and when), oldest first.",
        {200: ("The audit list.", m.AuditList)},
        (404,),
        (_REQUEST_ID,),
    ),
    Op(
        "post",
        "/requests/{request_id}/claim",
        "claimRequest",
        "Take a pending request nobody holds (409 `request_claimed` when someone does; "
        "of two claims at once exactly one wins). Claiming one's own is a no-op.",
        {200: ("The request as it now stands.", m.RequestOut)},
        (404, 409),
        (_REQUEST_ID,),
    ),
    Op(
        "post",
        "/requests/{request_id}/unclaim",
        "unclaimRequest",
        "Give a request back (its assignee, or an admin): it is then unassigned.",
        {200: ("The request as it now stands.", m.RequestOut)},
        (403, 404, 409),
        (_REQUEST_ID,),
    ),
    Op(
        "post",
        "/requests/{request_id}/assign",
        "assignRequest",
        "Hand a request to another user, or to nobody (an admin, or its assignee).",
        {200: ("The request as it now stands.", m.RequestOut)},
        (403, 404, 409),
        (_REQUEST_ID,),
        m.AssignIn,
    ),
    Op(
        "get",
        "/webhooks/deliveries",
        "listDeliveries",
        "Attempts to deliver request changes to webhooks, newest first (admins only).",
        {200: ("The attempts.", m.DeliveryList)},
        (403,),
        (
            _q("request_id", _FILTER, "Only attempts about this request."),
            _q("endpoint", _FILTER, "Only attempts to this endpoint (its name)."),
            _LIMIT,
        ),
    ),
)

PAGES: tuple[Op, ...] = (
    Op(
        "get",
        "/",
        "inboxPage",
        "The inbox page for people.",
        {200: ("HTML.", _HTML)},
        public=True,
        tags=("pages",),
    ),
    Op(
        "get",
        "/runs/{run_id}/page",
        "runPage",
        "A run's page: status, cancel, answers, workflow graph, timeline.",
        {200: ("HTML.", _HTML)},
        (404,),
        (_RUN_ID,),
        public=True,
        tags=("pages",),
    ),
)


def _content(target: type[BaseModel] | str | dict[str, Any]) -> dict[str, Any]:
    if isinstance(target, str):
        schema: dict[str, Any] = {"type": "object"} if target == _JSON else {"type": "string"}
        return {target: {"schema": schema}}
    if isinstance(target, dict):
        return {_JSON: {"schema": target}}
    return {_JSON: {"schema": {"$ref": REF.format(model=target.__name__)}}}


def _operation(op: Op, secured: bool) -> dict[str, Any]:
    responses: dict[str, Any] = {
        str(status): {"description": text, "content": _content(target)}
        for status, (text, target) in op.ok.items()
    }
    errors = set(op.errors) | {503}
    if secured and not op.public:
        errors.add(401)
    if op.params or op.body is not None:
        errors.add(400)
    if op.body is not None:
        errors.update((413, 422))
    for status in sorted(errors):
        responses[str(status)] = {"description": _ERRORS[status], "content": _content(m.ErrorOut)}
    out: dict[str, Any] = {
        "operationId": op.op_id,
        "summary": op.summary,
        "tags": list(op.tags),
        "responses": responses,
    }
    if op.params:
        out["parameters"] = list(op.params)
    if op.body is not None:
        out["requestBody"] = {"required": op.body_required, "content": _content(op.body)}
    if secured:
        out["security"] = [] if op.public else [{"bearer": []}]
    return out


def openapi_document(*, secured: bool, pages: bool, version: str) -> dict[str, Any]:
    """The OpenAPI 3.1 document of the server's endpoints.

    Args:
        secured: the server requires a bearer token (adds the scheme and 401s).
        pages: the HTML pages are served (documents ``/`` and ``/runs/{run_id}/page``).
        version: the library version, as ``info.version``.
    """
    models: list[tuple[type[BaseModel], Mode]] = [
        (m.StartRunIn, "validation"),
        (m.SendEventIn, "validation"),
        (m.AssignIn, "validation"),
        (m.StateEditIn, "validation"),
        (m.ForkIn, "validation"),
        *(
            (cls, "serialization")
            for cls in (
                m.ErrorOut,
                m.HealthOut,
                m.MeOut,
                m.EventOut,
                m.StreamEventOut,
                m.HistoryEventOut,
                m.RunHistoryOut,
                m.CheckpointOut,
                m.CheckpointList,
                m.CheckpointViewOut,
                m.WorkflowOut,
                m.WorkflowList,
                m.RunOut,
                m.RunList,
                m.RequestOut,
                m.RequestList,
                m.AcceptedOut,
                m.RespondOut,
                m.AuditEntryOut,
                m.AuditList,
                m.DeliveryAttemptOut,
                m.DeliveryList,
            )
        ),
    ]
    _, defs = models_json_schema(models, ref_template=REF)
    paths: dict[str, dict[str, Any]] = {}
    for op in (*OPERATIONS, *(PAGES if pages else ())):
        paths.setdefault(op.path, {})[op.method] = _operation(op, secured)
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": "workflows server",
            "version": version,
            "description": "Durable workflow runs over HTTP; see docs/server-api.md.",
        },
        "paths": paths,
        "components": {"schemas": defs.get("$defs", {})},
    }
    if secured:
        document["components"]["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
    return document
