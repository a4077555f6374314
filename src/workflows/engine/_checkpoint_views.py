"""What a run's checkpoints look like to callers: :class:`Checkpoint` (one entry of the
history) and :class:`CheckpointView` (one checkpoint read back: its state, the events
waiting for a step, the waits open in it), and reading them from the stored rows."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..context.context import Context
from ..context.serializers import BaseSerializer
from ..context.state_store import DictState
from ..errors import CorruptRecordError, WorkflowRuntimeError
from ..events import Event
from ..runtime.host import registry_for, snapshot_from_dict, state_value
from ..stores import StoredCheckpoint
from ..workflow import Workflow
from ._durable_run import WAITER_PREFIX
from ._json_delta import apply_delta

__all__ = [
    "Checkpoint",
    "CheckpointView",
    "OpenWait",
    "PendingEvent",
    "checkpoint_id",
    "checkpoint_of",
    "seq_of",
    "snapshot_of_chain",
    "view_of",
]


@dataclass(frozen=True)
class Checkpoint:
    """One kept checkpoint of a run: a committed state the run went through.

    Attributes:
        checkpoint_id: ``"<run id>:c<seq>"``; the engine's methods take it or ``seq``.
        run_id: The run.
        seq: Its number in the run (the run's version after the commit that kept it:
            increasing, with gaps where commits were not kept or a worker claimed the run).
        at: When it was committed.
        status: The run's status in it (``waiting``: it waited for outside input).
        causes: What the boundaries folded into its commit marked, oldest first:
            ``"start:<start event>"``, ``"resume"``, ``"step:<step that ended>"``,
            ``"wait:<step that began to wait>"``, ``"event:<event from outside>"``,
            ``"answer:<event a waiter took>"``, ``"end:<stop event>"``, ``"edit"`` (the
            state was changed from outside) or ``"fork"`` (the first of a forked run).
        by: Who changed the state (an ``edit``) or forked the run, as they said.
        reason: Why, as they said.
        forked_from: For the first checkpoint of a fork, the checkpoint id it was forked
            from.
    """

    checkpoint_id: str
    run_id: str
    seq: int
    at: float
    status: str
    causes: tuple[str, ...]
    by: str | None = None
    reason: str | None = None
    forked_from: str | None = None

    @property
    def step(self) -> str | None:
        """The step whose end (or whose wait) the checkpoint follows, if any."""
        for cause in reversed(self.causes):
            kind, _, name = cause.partition(":")
            if kind in ("step", "wait"):
                return name
        return None

    @property
    def event(self) -> str | None:
        """The type of the latest event from outside (or answer) folded in, if any."""
        for cause in reversed(self.causes):
            kind, _, name = cause.partition(":")
            if kind in ("event", "answer"):
                return name
        return None


@dataclass(frozen=True)
class PendingEvent:
    """An event a step will take: queued for it, or the input of a call in flight (which
    runs again from its start when the run resumes from this checkpoint). ``event`` is
    ``None`` for a join step's batch (see the snapshot's ``bound``)."""

    step: str
    event: Event | None


@dataclass(frozen=True)
class OpenWait:
    """A ``ctx.wait_for_event`` call waiting in a checkpoint.

    Attributes:
        key: The waiter's key (``"<invocation>:<attempt>:<call>"``).
        step: The step that waits.
        waits_for: The type of event it waits for (as stored: ``module.Name``).
        prompt: The event shown to whoever answers (``waiter_event``), if any.
        requirements: Fields the answer must have.
        deadline: When the wait times out, if it has a timeout.
        request_id: The inbox request asking for it, if its prompt was written.
    """

    key: str
    step: str
    waits_for: str
    prompt: Event | None
    requirements: dict[str, Any]
    deadline: float | None
    request_id: str | None


@dataclass(frozen=True)
class CheckpointView:
    """One checkpoint read back.

    Attributes:
        checkpoint: Its entry in the history.
        snapshot: The run's whole snapshot in it (as ``ctx.to_dict()`` writes one).
        state: The state store's value: a ``dict`` for an untyped state, else the
            ``Context[Model]`` model.
        pending_events: Events queued for steps, oldest first per step.
        in_flight: Calls that had started and do not wait (they run again on resume).
        open_waits: The waits open in it, oldest first.
    """

    checkpoint: Checkpoint
    snapshot: dict[str, Any]
    state: Any
    pending_events: list[PendingEvent] = field(default_factory=list)
    in_flight: list[PendingEvent] = field(default_factory=list)
    open_waits: list[OpenWait] = field(default_factory=list)


def checkpoint_id(run_id: str, seq: int) -> str:
    """The id of checkpoint ``seq`` of ``run_id``."""
    return f"{run_id}:c{seq}"


def seq_of(run_id: str, checkpoint: str | int) -> int:
    """The ``seq`` a checkpoint id (or a ``seq`` itself) names.

    Raises:
        WorkflowRuntimeError: an id of another run, or not a checkpoint id.
    """
    if isinstance(checkpoint, int) and not isinstance(checkpoint, bool):
        return checkpoint
    if isinstance(checkpoint, str):
        prefix = f"{run_id}:c"
        rest = checkpoint[len(prefix) :] if checkpoint.startswith(prefix) else checkpoint
        if rest.isdigit():
            return int(rest)
    raise WorkflowRuntimeError(f"{checkpoint!r} is not a checkpoint id of run {run_id!r}")


def checkpoint_of(stored: StoredCheckpoint) -> Checkpoint:
    """The history entry of a stored checkpoint."""
    meta = stored.meta
    causes = meta.get("causes")

    def text(key: str) -> str | None:
        value = meta.get(key)
        return value if isinstance(value, str) else None

    return Checkpoint(
        checkpoint_id(stored.run_id, stored.seq),
        stored.run_id,
        stored.seq,
        stored.at,
        stored.status,
        tuple(c for c in causes if isinstance(c, str)) if isinstance(causes, list) else (),
        text("by"),
        text("reason"),
        text("forked_from"),
    )


def snapshot_of_chain(chain: list[StoredCheckpoint]) -> dict[str, Any]:
    """The whole snapshot of the last checkpoint of a chain (its first one whole, the
    others deltas), built in the chain's own (freshly decoded) bodies.

    Raises:
        CorruptRecordError: the chain does not start whole, or a delta does not fit.
    """
    first, last = chain[0], chain[-1]
    what = f"checkpoint {last.seq}"
    if first.kind != "full" or not isinstance(first.body, dict):
        raise CorruptRecordError(last.run_id, "checkpoint body", "its chain has no whole start")
    snapshot: Any = first.body
    for link in chain[1:]:
        if link.kind != "delta" or not isinstance(link.body, list):
            raise CorruptRecordError(last.run_id, "checkpoint body", f"{link.seq} is no delta")
        try:
            snapshot = apply_delta(snapshot, link.body)
        except ValueError as exc:
            raise CorruptRecordError(last.run_id, "checkpoint body", str(exc), key=what) from None
    if not isinstance(snapshot, dict):
        raise CorruptRecordError(last.run_id, "checkpoint body", "not a snapshot", key=what)
    return snapshot


def view_of(
    checkpoint: Checkpoint,
    snapshot: dict[str, Any],
    workflow: Workflow,
    workflow_name: str,
    serializer: BaseSerializer,
) -> CheckpointView:
    """Read ``snapshot`` as a :class:`CheckpointView` (it is restored, as a resume would
    restore it, to read its state).

    Raises:
        ContextSerdeError: the snapshot cannot be restored for ``workflow``.
    """
    ctx: Context[Any] = snapshot_from_dict(Context, workflow, snapshot, serializer, workflow_name)
    state = state_value(ctx)
    types = registry_for(workflow, serializer)

    def event(data: Any) -> Event | None:
        if data is None:
            return None
        decoded = serializer.decode(data, types)
        if not isinstance(decoded, Event):
            raise WorkflowRuntimeError(f"{checkpoint.checkpoint_id}: not an event: {data!r}")
        return decoded

    pending = [
        PendingEvent(step, event(item["event"]))
        for step, queue in (snapshot.get("queues") or {}).items()
        for item in queue
    ]
    waiting: set[int] = set()
    waits: list[OpenWait] = []
    steps = {call["id"]: call["step"] for call in snapshot.get("in_flight") or []}
    for waiter in snapshot.get("waiters") or []:
        if waiter.get("resolved") is not None:
            continue
        waiting.add(waiter["invocation_id"])
        prompt = waiter.get("waiter_event")
        waits.append(
            OpenWait(
                key=waiter["key"],
                step=steps.get(waiter["invocation_id"], ""),
                waits_for=waiter["event_type"],
                prompt=None if prompt is None else event(prompt),
                requirements=dict(waiter.get("requirements") or {}),
                deadline=waiter.get("deadline"),
                request_id=(
                    f"{checkpoint.run_id}:{WAITER_PREFIX}{waiter['key']}"
                    if waiter.get("emitted")
                    else None
                ),
            )
        )
    running = [
        PendingEvent(call["step"], event(call["event"]))
        for call in snapshot.get("in_flight") or []
        if call["id"] not in waiting
    ]
    value = state.to_dict() if isinstance(state, DictState) else state
    return CheckpointView(checkpoint, snapshot, value, pending, running, waits)
