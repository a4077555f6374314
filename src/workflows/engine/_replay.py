"""Replaying a stored run from one of its checkpoints, in memory, feeding it the answers
the run received, so that a step's new code can be compared with the old result.

Nothing is committed: the replay is a plain in-memory run of the checkpoint's snapshot
with a listener that collects what it streams and answers its input requests with the
stored answers of the original run, matched by identity: a wait by its waiter key, a
prompt (an ``InputRequiredEvent`` a step returned) by its stream position. What is and
is not deterministic is documented on ``Engine.replay``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from typing import Any

from ..context.context import Context
from ..context.serializers import BaseSerializer
from ..events import Event, InputRequiredEvent
from ..runtime.host import Run, launch, registry_for, run_of, snapshot_from_dict
from ..stores import InputRequest, RunRecord
from ..workflow import Workflow
from ._checkpoint_views import Checkpoint
from ._durable_run import WAITER_PREFIX, response_type_for_prompts, status_of
from ._state_edit import with_deadlines_moved

__all__ = ["ReplayResult", "replay_run"]


@dataclass(frozen=True)
class ReplayResult:
    """What a replay did, next to what the stored run did.

    Attributes:
        run_id: The replayed run.
        checkpoint: The checkpoint it started from.
        status: How the replay ended: ``completed``, ``failed``, ``cancelled``,
            ``timed_out`` (the workflow's own timeout), or ``waiting`` when it waits for
            an answer the run never received (or the replay's ``timeout`` ran out).
        result: The replay's result (``completed``), else ``None``.
        error: The exception it failed with, else ``None``.
        events: What it streamed after the checkpoint, in order.
        answers_fed: The request ids whose stored answers it was given, in order.
        answers_unused: Request ids the run had answers for that the replay never
            asked (the new code asks differently).
        original_status: The stored run's status.
        original_result: The stored run's result (decoded), if it completed.
    """

    run_id: str
    checkpoint: Checkpoint
    status: str
    result: Any
    error: BaseException | None
    events: list[Event] = field(default_factory=list)
    answers_fed: list[str] = field(default_factory=list)
    answers_unused: list[str] = field(default_factory=list)
    original_status: str = ""
    original_result: Any = None

    @property
    def same_result(self) -> bool:
        """True if the replay ended as the run did, with an equal result."""
        return self.status == self.original_status and self.result == self.original_result


class _Feeder:
    """The replay's listener: collects streamed events and answers requests."""

    def __init__(
        self,
        run_id: str,
        workflow: Workflow,
        answers: dict[str, dict[str, Any]],
        open_prompts: list[str],
    ) -> None:
        self.run_id = run_id
        self.workflow = workflow
        self.answers = answers
        self.prompts = list(open_prompts)
        self.fed: list[str] = []
        self.events: list[Event] = []
        self.stuck: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._scheduled = False

    def boundary(self, run: Run) -> None:
        events = list(run.unpublished)
        run.unpublished.clear()
        self.events.extend(events)
        state = run.state
        waiter_events = {id(w.waiter_event) for w in state.waiters.values() if w.waiter_event}
        first = state.stream_seq - len(events) + 1
        for offset, event in enumerate(events):
            if isinstance(event, InputRequiredEvent) and id(event) not in waiter_events:
                self.prompts.append(f"{self.run_id}:{first + offset}")
        if run.done:
            run.stream.close()
        elif not self._scheduled:
            self._scheduled = True
            run.loop.call_soon(self._feed, run)

    def _feed(self, run: Run) -> None:
        """Answer what the run asks that the original run got an answer for; mark the
        replay stuck when it only waits and nothing is left to give it."""
        self._scheduled = False
        if run.done:
            return
        fed = False
        for key, waiter in list(run.state.open_waiters.items()):
            request_id = f"{self.run_id}:{WAITER_PREFIX}{key}"
            fields = self.answers.get(request_id)
            if fields is None:
                continue
            try:
                answer = waiter.event_type.model_validate({**fields, **waiter.requirements})
            except ValueError:  # the new code waits for another event: left unused
                continue
            if run.deliver_to_waiter(key, answer):
                self._took(request_id)
                fed = True
        while self.prompts and not run.done:
            request_id = self.prompts.pop(0)
            fields = self.answers.get(request_id)
            if fields is None:
                continue
            try:
                answer = response_type_for_prompts(self.workflow).model_validate(fields)
            except ValueError:
                continue
            self._took(request_id)
            run.send_from_outside(answer)
            fed = True
        if not fed and not run.done and run.state.awaits_outside_input and not self.stuck.done():
            self.stuck.set_result(None)

    def _took(self, request_id: str) -> None:
        del self.answers[request_id]
        self.fed.append(request_id)


async def replay_run(
    record: RunRecord,
    checkpoint: Checkpoint,
    snapshot: dict[str, Any],
    requests: list[InputRequest],
    open_requests: list[tuple[str, str | None]],
    workflow: Workflow,
    serializer: BaseSerializer,
    timeout: float | None,
) -> ReplayResult:
    """Run ``snapshot`` (checkpoint ``checkpoint`` of the stored run ``record``) again in
    memory with ``workflow``, feeding it the stored answers of ``requests`` that it had
    not taken in at the checkpoint: those of ``open_requests`` (``(request id, waiter
    key)`` open in the checkpoint; open prompts are answered first) and those answered
    after it."""
    still_open = {request_id for request_id, _ in open_requests}
    answers = {
        r.request_id: r.response
        for r in sorted(requests, key=lambda r: r.answered_at or 0.0)
        if r.status == "answered"
        and r.response is not None
        and (r.request_id in still_open or (r.answered_at or 0.0) > checkpoint.at)
    }
    open_prompts = [request_id for request_id, key in open_requests if key is None]
    snapshot = with_deadlines_moved(snapshot, time.time() - checkpoint.at)
    ctx: Context[Any] = snapshot_from_dict(Context, workflow, snapshot, serializer, record.workflow)
    feeder = _Feeder(record.run_id, workflow, answers, open_prompts)
    handler = launch(workflow, ctx, None, feeder)
    run = run_of(handler)
    done, _ = await asyncio.wait(
        {handler, feeder.stuck}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
    )
    result: Any = None
    error: BaseException | None = None
    if handler in done or handler.done():
        try:
            result = handler.result()
        except Exception as exc:  # the replay's own outcome, reported, not raised
            error = exc
        status = status_of(run)
    else:
        status = "waiting"
        tasks = run.release()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*tasks, return_exceptions=True)
    if not feeder.stuck.done():
        feeder.stuck.cancel()
    original: Any = None
    if record.status == "completed":
        original = serializer.decode(record.result, registry_for(workflow, serializer))
    return ReplayResult(
        record.run_id,
        checkpoint,
        status,
        result,
        error,
        feeder.events,
        feeder.fed,
        sorted(feeder.answers),
        record.status,
        original,
    )
