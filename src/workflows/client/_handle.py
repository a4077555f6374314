"""``RemoteHandle``: a run on a workflows server, with the API of the local handle."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Generator
from typing import TYPE_CHECKING, Any

import httpx

from ..errors import WorkflowCancelledByUser, WorkflowRuntimeError, WorkflowTimeoutError
from ..events import Event, StopEvent
from ..runtime.user_name import user_headers
from ._errors import RunFailedError, ServerUnreachableError, error_for_response
from ._events import event_to_json
from ._models import RunInfo
from ._sse import iter_sse

if TYPE_CHECKING:
    from ._client import WorkflowClient

__all__ = ["RemoteHandle"]

_RETRY_STATUSES = frozenset({502, 503, 504})


class RemoteHandle:
    """A run on the server: await it for the result, stream its events, send to it.

    The same API as :class:`~workflows.engine.RunHandle` and the local
    :class:`~workflows.handler.WorkflowHandler`::

        handle = await client.start("approval", amount=420)
        async for event in handle.stream_events():
            if isinstance(event, InputRequiredEvent):
                await handle.send_event(HumanResponseEvent(response="yes"))
        result = await handle

    Attributes:
        run_id: The run's id.
        last_seq: The sequence number of the last event ``stream_events`` yielded; pass
            it as ``after=`` to resume.
    """

    def __init__(self, client: WorkflowClient, run_id: str) -> None:
        self._client = client
        self.run_id = run_id
        self.last_seq = 0

    def __await__(self) -> Generator[Any, None, Any]:
        return self.result().__await__()

    async def info(self) -> RunInfo:
        """The run as it stands now (status, result, error).

        Raises:
            RunNotFoundError: no such run.
        """
        data = await self._client._request("GET", f"/runs/{self.run_id}", self.run_id)
        return RunInfo.from_json(data)

    async def status(self) -> str:
        """``running``, ``waiting``, ``completed``, ``failed``, ``cancelled`` or ``timed_out``."""
        return (await self.info()).status

    async def result(self) -> Any:
        """Wait for the run to end (following its event stream) and return its result.

        Returns ``StopEvent.result`` for a plain StopEvent and the stop event itself for
        a subclass the client knows (as the local handler does).

        Raises:
            WorkflowCancelledByUser: the run was cancelled.
            WorkflowTimeoutError: the run timed out.
            RunFailedError: a step failed for good.
            RunNotFoundError: no such run.
        """
        info = await self.info()
        stop: Event | None = None
        if not info.is_finished or info.status == "completed":
            async for event in self._follow(0):
                if isinstance(event, StopEvent):
                    stop = event
            info = await self.info()
            if not info.is_finished:
                raise WorkflowRuntimeError(
                    f"the event stream of run {self.run_id} ended before the run did"
                )
        return self._outcome(info, stop)

    def _outcome(self, info: RunInfo, stop: Event | None) -> Any:
        error = info.error or {}
        message = str(error.get("message", info.status))
        if info.status == "cancelled":
            raise WorkflowCancelledByUser(message)
        if info.status == "timed_out":
            raise WorkflowTimeoutError(message)
        if info.status in ("failed", "quarantined"):
            # (quarantined: set aside by the server, its stored data could not be loaded)
            raise RunFailedError(self.run_id, str(error.get("type", "Error")), message)
        if stop is not None and type(stop) is not StopEvent:
            return stop
        return info.result

    def stream_events(self, after: int = 0) -> AsyncIterator[Event]:
        """Yield the run's events with sequence > ``after``, in order, ending after the
        StopEvent (or when the run has finished and every event was read).

        A dropped connection is re-opened with ``Last-Event-ID``, so no event is lost or
        repeated; the client keeps trying for ``reconnect_for`` seconds without progress
        before raising :class:`ServerUnreachableError`. Events come back as their Python
        classes when known (``workflows=`` of the client), as
        :class:`~workflows.client.GenericEvent` otherwise.
        """
        return self._follow(after)

    async def _follow(self, after: int) -> AsyncIterator[Event]:
        client = self._client
        last = after
        failures = 0
        finished = False
        stalled_since: float | None = None
        while True:
            client._check_open()
            progressed = False
            problem = ""
            try:
                async with client._http.stream(
                    "GET",
                    f"/runs/{self.run_id}/events",
                    params={"after": last},
                    headers={"Last-Event-ID": str(last), "Accept": "text/event-stream"},
                    timeout=client._stream_timeout,
                ) as response:
                    if response.status_code >= 400:
                        await response.aread()
                        if response.status_code not in _RETRY_STATUSES:
                            raise error_for_response(response, self.run_id)
                        problem = f"HTTP {response.status_code}"
                    else:
                        async for message in iter_sse(response):
                            seq = _seq_of(message.id)
                            if seq is None or seq <= last:
                                continue  # a replayed or unnumbered message
                            event = client._decoder.decode(json.loads(message.data))
                            last = self.last_seq = seq
                            progressed = True
                            yield event
                            if isinstance(event, StopEvent):
                                return
            except httpx.TransportError as exc:
                problem = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            if not problem and not progressed:
                # A clean end with nothing new. A server going away may close streams
                # cleanly too, so only a run known to be finished ends here, and only once
                # a stream opened after that was known has nothing more (a stream that
                # raced with the run's last commit may have ended before its events).
                if finished:
                    return
                try:
                    finished = (await self.info()).is_finished
                except ServerUnreachableError as exc:
                    problem = str(exc)
                if finished:
                    continue
                problem = problem or "stream closed before the run ended"
            if progressed:
                failures, stalled_since = 0, None
                continue
            now = time.monotonic()
            stalled_since = now if stalled_since is None else stalled_since
            if now - stalled_since > client.reconnect_for:
                raise ServerUnreachableError(client.base_url, problem)
            failures += 1
            await asyncio.sleep(min(0.05 * 2 ** min(failures, 6), 1.0))

    async def send_event(
        self, event: Event, step: str | None = None, sent_by: str | None = None
    ) -> None:
        """Send ``event`` into the run (stored durably by the server first).

        ``sent_by`` (a user name, sent in the ``X-Workflows-User`` header) is recorded
        as who answered when the event answers one of the run's input requests.

        The server takes only events the run can receive: a type some step accepts (or
        that a ``wait_for_event`` of the run waits for), and with ``step``, one that
        step accepts. Control events (``StopEvent``, ``WorkflowFailedEvent``, ...) are
        refused unless the server opted the workflow in
        (``create_app(control_events=...)``). A refused event is not stored.

        Raises:
            WorkflowRuntimeError: the run has finished.
            WorkflowValidationError: the workflow has no such event type, the fields do
                not validate, or the run does not take this event (see above).
            RunNotFoundError: no such run.
            ClientError: the body is over the server's input limits (HTTP 413).
        """
        name, data = event_to_json(event)
        body = {"type": name, "data": data, "step": step}
        await self._client._request(
            "POST",
            f"/runs/{self.run_id}/events",
            self.run_id,
            json=body,
            headers=user_headers(sent_by),
        )

    async def cancel_run(self) -> None:
        """Cancel the run; its stream ends with WorkflowCancelledEvent. Cancelling a
        finished run does nothing, as with the local handler."""
        try:
            await self._client._request("POST", f"/runs/{self.run_id}/cancel", self.run_id)
        except WorkflowRuntimeError:
            if not (await self.info()).is_finished:
                raise

    def __repr__(self) -> str:
        return f"<RemoteHandle run_id={self.run_id}>"


def _seq_of(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None
