"""``WorkflowClient``: the workflows HTTP API from Python (see ``docs/server-api.md``)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from typing import Any, Literal

import httpx

from ..errors import WorkflowRuntimeError
from ..events import Event, StartEvent
from ..runtime.user_name import user_headers
from ..stores import RunLineage
from ..workflow import Workflow
from ._errors import ServerUnreachableError, error_for_response
from ._events import EventDecoder
from ._handle import RemoteHandle
from ._models import (
    AuditEntryInfo,
    CheckpointInfo,
    CheckpointViewInfo,
    InputRequestInfo,
    InputRequestPage,
    RunInfo,
    UserInfo,
    WorkflowInfo,
    lineage_from_json,
)

__all__ = ["WorkflowClient"]


class WorkflowClient:
    """Start, watch and answer runs on a workflows server.

    ::

        async with WorkflowClient("http://127.0.0.1:8000", token="s3cret") as client:
            handle = await client.start("approval", amount=420)
            for request in await client.inbox(run_id=handle.run_id):
                await client.respond(request.request_id, "yes")
            print(await handle)

    Args:
        base_url: The server's address, e.g. ``http://127.0.0.1:8000``.
        token: The server's bearer token, if it has one.
        workflows: Workflows whose event classes streamed events are rebuilt as (the
            built-in events always are); other events come back as
            :class:`~workflows.client.GenericEvent`.
        timeout: Seconds to wait for each ordinary request.
        stream_read_timeout: Seconds without a byte (or heartbeat) after which an event
            stream counts as dropped and is re-opened.
        reconnect_for: Seconds an event stream keeps trying to reconnect without
            progress before raising :class:`ServerUnreachableError`.
        user: Who this client acts as on a server without a users file (a single
            token, or none): sent as the ``X-Workflows-User`` header with every call, it
            is who claims, is "me" in ``requests(mine=True)`` and answers (unless
            ``respond(answered_by=...)`` names another). With a users file the token
            names the user and this must be left out or repeat that name.
        transport: An httpx transport to use instead of the network (for tests).

    The client may be used without ``async with``, but must then be closed with
    :meth:`aclose`. A closed client raises ``WorkflowRuntimeError("client is closed")``.
    """

    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        *,
        workflows: Iterable[Workflow] | Mapping[str, Workflow] | None = None,
        timeout: float = 30.0,
        stream_read_timeout: float = 60.0,
        reconnect_for: float = 30.0,
        user: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.user = user
        self.reconnect_for = reconnect_for
        known = workflows.values() if isinstance(workflows, Mapping) else (workflows or ())
        self._decoder = EventDecoder(known)
        headers: dict[str, str | bytes] = {"Authorization": f"Bearer {token}"} if token else {}
        headers.update(user_headers(user))  # checked here: a bad name fails at once
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            headers=_raw_headers(headers),
            timeout=timeout,
            transport=transport,
        )
        self._stream_timeout = httpx.Timeout(timeout, read=stream_read_timeout)
        self._state = "unopened"

    # -- life cycle ------------------------------------------------------------------------
    async def __aenter__(self) -> WorkflowClient:
        if self._state != "unopened":
            raise WorkflowRuntimeError(f"client is {self._state}; it cannot be opened again")
        await self._http.__aenter__()
        self._state = "open"
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connections; the client cannot be used afterwards."""
        if self._state != "closed":
            self._state = "closed"
            await self._http.aclose()

    def _check_open(self) -> None:
        if self._state == "closed":
            raise WorkflowRuntimeError("client is closed")

    async def _request(
        self,
        method: str,
        path: str,
        key: str = "",
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str | bytes] | None = None,
    ) -> Any:
        self._check_open()
        query = {k: v for k, v in (params or {}).items() if v is not None}
        # A read may be retried once: a pooled connection the network dropped fails only
        # when used. Other methods are not, as the server may have acted on them.
        attempts = 2 if method == "GET" else 1
        for attempt in range(attempts):
            try:
                response = await self._http.request(
                    method, path, json=json, params=query, headers=_raw_headers(headers)
                )
                break
            except httpx.TransportError as exc:
                if attempt + 1 == attempts:
                    detail = str(exc) or type(exc).__name__
                    raise ServerUnreachableError(self.base_url, detail) from None
        if response.status_code >= 400:
            raise error_for_response(response, key)
        return response.json()

    # -- API -------------------------------------------------------------------------------
    async def health(self) -> dict[str, Any]:
        """``{"status": "ok", "store": <scheme>}`` when the server is up."""
        data: dict[str, Any] = await self._request("GET", "/health")
        return data

    async def workflows(self) -> list[WorkflowInfo]:
        """The workflows the server runs, with their start and response schemas."""
        data = await self._request("GET", "/workflows")
        return [WorkflowInfo.from_json(item) for item in data["workflows"]]

    async def workflow(self, name: str) -> WorkflowInfo:
        """One workflow the server runs.

        Raises:
            WorkflowConfigurationError: the server has no workflow ``name``.
        """
        data = await self._request("GET", f"/workflows/{name}", name)
        return WorkflowInfo.from_json(data)

    async def start(
        self, workflow_name: str, start_event: StartEvent | None = None, **fields: Any
    ) -> RemoteHandle:
        """Start a run of ``workflow_name``; returns as soon as the run is stored.

        Args:
            workflow_name: The name the server registered the workflow under.
            start_event: The start event to use (instead of ``fields``).
            fields: The start event's fields.

        Raises:
            WorkflowConfigurationError: the server has no such workflow.
            WorkflowValidationError: the fields do not fit the workflow's StartEvent.
        """
        if start_event is not None:
            if fields:
                raise WorkflowRuntimeError("give either start_event= or fields, not both")
            fields = start_event.model_dump(mode="json")
        data = await self._request(
            "POST",
            f"/workflows/{workflow_name}/runs",
            workflow_name,
            json={"input": fields},
        )
        return RemoteHandle(self, str(data["run_id"]))

    def get(self, run_id: str) -> RemoteHandle:
        """A handle on an existing run (checked on first use)."""
        self._check_open()
        return RemoteHandle(self, run_id)

    async def runs(
        self,
        status: str | None = None,
        workflow: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[RunInfo]:
        """Runs, newest first, optionally of one status and/or workflow."""
        params = {"status": status, "workflow": workflow, "limit": limit, "offset": offset}
        data = await self._request("GET", "/runs", params=params)
        return [RunInfo.from_json(item) for item in data["runs"]]

    async def inbox(
        self,
        workflow: str | None = None,
        run_id: str | None = None,
        status: str = "pending",
        limit: int = 100,
        offset: int = 0,
    ) -> list[InputRequestInfo]:
        """Input requests, newest first (``status="all"`` for every status)."""
        params = {
            "workflow": workflow,
            "run_id": run_id,
            "status": status,
            "limit": limit,
            "offset": offset,
        }
        data = await self._request("GET", "/requests", params=params)
        return [InputRequestInfo.from_json(item, self._decoder) for item in data["requests"]]

    async def requests(
        self,
        *,
        mine: bool = False,
        group: str | Iterable[str] | None = None,
        assignee: str | None = None,
        unassigned: bool = False,
        priority_min: int | None = None,
        due_before: float | datetime | None = None,
        due_after: float | datetime | None = None,
        sort: Literal["created", "due", "priority"] = "created",
        cursor: str | None = None,
        workflow: str | None = None,
        run_id: str | None = None,
        status: str = "pending",
        limit: int = 100,
    ) -> InputRequestPage:
        """One page of the input requests the caller may see, with the cursor of the next.

        ::

            page = await client.requests(mine=True, sort="due")
            while True:
                for request in page.requests:
                    ...
                if page.next_cursor is None:
                    break
                page = await client.requests(mine=True, sort="due", cursor=page.next_cursor)

        Args:
            mine: Only the requests assigned to the caller.
            group: Only requests with one of these candidate groups (``"mine"``: any
                group of the caller's).
            assignee: Only the requests assigned to this user.
            unassigned: Only the requests nobody holds.
            priority_min: Only requests of at least this priority.
            due_before: Only requests due at or before this time (POSIX seconds or a
                datetime; naive means UTC); requests without a due time are left out.
            due_after: Only requests due at or after this time.
            sort: ``created`` (newest first), ``due`` (earliest first, those without
                a due time last) or ``priority`` (highest first, then newest).
            cursor: The ``next_cursor`` of the previous page (with the same filters).
            workflow: Only requests of this workflow.
            run_id: Only requests of this run.
            status: ``pending`` (default), ``answered``, ``expired``, ``cancelled`` or
                ``all``.
            limit: At most this many requests on the page (1..1000).
        """
        groups = [group] if isinstance(group, str) else list(group or ())
        params: dict[str, Any] = {
            "workflow": workflow,
            "run_id": run_id,
            "status": status,
            "limit": limit,
            "mine": "true" if mine else None,
            "group": groups or None,
            "assignee": assignee,
            "unassigned": "true" if unassigned else None,
            "priority_min": priority_min,
            "due_before": _seconds(due_before),
            "due_after": _seconds(due_after),
            "sort": sort,
            "cursor": cursor,
        }
        data = await self._request("GET", "/requests", params=params)
        requests = [InputRequestInfo.from_json(item, self._decoder) for item in data["requests"]]
        next_cursor = data.get("next_cursor")
        return InputRequestPage(requests, None if next_cursor is None else str(next_cursor))

    async def claim(self, request_id: str) -> InputRequestInfo:
        """Take an unassigned request: it becomes the caller's (``assignee``).

        Raises:
            InputRequestNotFoundError: no such request, or the caller may not see it.
            RequestAssigneeChangedError: someone holds it already (also when another
                user claimed it a moment before).
            InputRequestClosedError / InputRequestAlreadyAnsweredError: it is no
                longer pending.
        """
        return await self._task_change(request_id, "claim")

    async def unclaim(self, request_id: str) -> InputRequestInfo:
        """Give a request the caller holds back (nobody holds it afterwards).

        Raises:
            InputRequestNotFoundError: no such request, or the caller may not see it.
            ForbiddenError: someone else holds it (an admin may unclaim any).
            RequestAssigneeChangedError: it changed hands meanwhile.
        """
        return await self._task_change(request_id, "unclaim")

    async def assign(self, request_id: str, assignee: str | None) -> InputRequestInfo:
        """Hand a request to ``assignee`` (``None``: to nobody).

        Allowed to an admin and to the request's current assignee.

        Raises:
            InputRequestNotFoundError: no such request, or the caller may not see it.
            ForbiddenError: the caller is neither an admin nor its assignee.
            RequestAssigneeChangedError: it changed hands meanwhile.
        """
        return await self._task_change(request_id, "assign", {"assignee": assignee})

    async def _task_change(
        self, request_id: str, action: str, body: dict[str, Any] | None = None
    ) -> InputRequestInfo:
        data = await self._request(
            "POST", f"/requests/{request_id}/{action}", request_id, json=body or {}
        )
        return InputRequestInfo.from_json(data, self._decoder)

    async def audit(self, request_id: str) -> list[AuditEntryInfo]:
        """A request's history, oldest first: created, claimed, assigned, answered, ...

        Raises:
            InputRequestNotFoundError: no such request, or the caller may not see it.
        """
        data = await self._request("GET", f"/requests/{request_id}/audit", request_id)
        return [AuditEntryInfo.from_json(item) for item in data["audit"]]

    async def me(self) -> UserInfo:
        """Who the server takes this client for: user name, groups, admin."""
        data = await self._request("GET", "/me")
        return UserInfo.from_json(data)

    async def request(self, request_id: str) -> InputRequestInfo:
        """One input request.

        Raises:
            InputRequestNotFoundError: no such request.
        """
        data = await self._request("GET", f"/requests/{request_id}", request_id)
        return InputRequestInfo.from_json(data, self._decoder)

    async def respond(
        self,
        request_id: str,
        response: Any,
        idempotency_key: str | None = None,
        answered_by: str | None = None,
    ) -> bool:
        """Answer an input request; its run gets the answer exactly once.

        Args:
            request_id: The request to answer.
            response: The response event's fields as a dict, an event, or a plain value
                (sent as ``{"response": value}``).
            idempotency_key: Makes retries of this answer safe: a retry with the same
                key and response is a no-op; the same key with another response is
                refused (the accepted answer stands).
            answered_by: Who answers (a user name), sent in the ``X-Workflows-User``
                header and recorded with the answer (``answered_by`` of the request).

        Returns:
            True if this call delivered the answer, False if the same answer had already
            been accepted.

        Raises:
            InputRequestNotFoundError: no such request.
            InputRequestAlreadyAnsweredError: it was answered with another response
                (an IdempotencyConflictError when ``idempotency_key`` was used for
                another response).
            InputRequestClosedError: it expired or was cancelled.
            InvalidResponseError: the response does not fit the request's schema.
            ValueError: ``answered_by`` is empty, over 200 characters or holds a
                control character (nothing is sent).
        """
        headers = user_headers(answered_by)
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        if isinstance(response, Event):
            body = response.model_dump(mode="json")
        elif isinstance(response, dict):
            body = response
        else:
            body = {"response": response}
        data = await self._request(
            "POST",
            f"/requests/{request_id}/response",
            request_id,
            json=body,
            headers=headers,
        )
        return not bool(data.get("duplicate", False))

    # -- time travel (see docs/time-travel.md) ------------------------------------------------
    async def checkpoints(self, run_id: str) -> list[CheckpointInfo]:
        """The run's kept checkpoints, oldest first (as the server's history setting
        keeps them; edits and a fork's start always).

        Raises:
            RunNotFoundError: no such run.
        """
        data = await self._request("GET", f"/runs/{run_id}/checkpoints", run_id)
        return [CheckpointInfo.from_json(item) for item in data["checkpoints"]]

    async def lineage(self, run_id: str) -> RunLineage:
        """Which run (and checkpoint) ``run_id`` was forked from, and its own forks.

        Raises:
            RunNotFoundError: no such run.
        """
        return lineage_from_json(await self._request("GET", f"/runs/{run_id}/checkpoints", run_id))

    async def checkpoint(self, run_id: str, checkpoint: str | int) -> CheckpointViewInfo:
        """One checkpoint of the run read back (by id or seq): its state, the events
        waiting for steps, the calls in flight and the open waits.

        Raises:
            RunNotFoundError: no such run.
            CheckpointNotFoundError: the run has no such checkpoint.
            WorkflowConfigurationError: the server does not run the run's workflow.
        """
        path = f"/runs/{run_id}/checkpoints/{checkpoint}"
        return CheckpointViewInfo.from_json(await self._request("GET", path, run_id), self._decoder)

    async def update_state(
        self,
        run_id: str,
        *,
        patch: dict[str, Any] | None = None,
        replace: dict[str, Any] | None = None,
        reason: str | None = None,
        by: str | None = None,
    ) -> CheckpointInfo:
        """Change the state of a run that waits for input, before answering it: ``patch``
        is a JSON merge patch of its fields (``None`` values remove keys), ``replace``
        the whole state; give exactly one. The change is kept as a checkpoint recorded
        with who made it (the caller; ``by`` names them, as ``respond``'s ``answered_by``
        does, where the server takes the client's word) and ``reason``.

        Raises:
            RunNotWaitingError: the run is running.
            RunFinishedError: the run has finished.
            WorkflowValidationError: not exactly one of ``patch`` and ``replace``, or a
                state that does not fit the workflow's state type.
            ClientError: 403 when the caller may not answer every pending request of
                the run (and is no admin).
        """
        body = {"patch": patch, "replace": replace, "reason": reason}
        data = await self._request(
            "POST", f"/runs/{run_id}/state", run_id, json=body, headers=user_headers(by)
        )
        return CheckpointInfo.from_json(data)

    async def fork(
        self,
        run_id: str,
        checkpoint: str | int,
        state_patch: dict[str, Any] | None = None,
        *,
        reason: str | None = None,
        by: str | None = None,
    ) -> RemoteHandle:
        """Start a new run from a checkpoint of ``run_id`` (by id or seq), its state
        changed by the JSON merge patch ``state_patch`` if given; a handle on the new run.
        The original is only read.

        Raises:
            CheckpointNotFoundError: no such checkpoint.
            CheckpointNotForkableError: the end of the run, or a checkpoint the server's
                workflow cannot restore.
            WorkflowValidationError: the patched state does not fit.
        """
        body = {"checkpoint": checkpoint, "state_patch": state_patch, "reason": reason}
        data = await self._request(
            "POST", f"/runs/{run_id}/fork", run_id, json=body, headers=user_headers(by)
        )
        return RemoteHandle(self, str(data["run_id"]))

    def __repr__(self) -> str:
        return f"<WorkflowClient {self.base_url} {self._state}>"


def _seconds(value: float | datetime | None) -> float | None:
    """A time as POSIX seconds (a naive datetime is UTC)."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value.timestamp()
    return value


def _raw_headers(headers: Mapping[str, str | bytes] | None) -> list[tuple[bytes, bytes]] | None:
    """``headers`` as bytes: a value given as bytes (a UTF-8 user name) is sent as is."""
    if headers is None:
        return None
    return [
        (name.encode("ascii"), value if isinstance(value, bytes) else value.encode("ascii"))
        for name, value in headers.items()
    ]
