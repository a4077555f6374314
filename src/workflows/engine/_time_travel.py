"""Time travel over stored runs: list and read checkpoints, change a waiting run's
state, fork a run from a checkpoint (the engine's ``checkpoints``, ``checkpoint``,
``update_state``, ``fork`` and ``lineage``; ``replay`` is :mod:`._replay`).

Everything here reads the store, and writes only through it: an edit is a commit fenced
by the run's version (so a worker executing the run at the same time either committed
first, and the edit is refused and read again, or has its next commit refused and loads
the edited run); a fork only reads the original, so forking a run another worker holds
is safe.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from ..context.context import Context, new_run_id
from ..errors import (
    CheckpointNotForkableError,
    CheckpointNotFoundError,
    ContextSerdeError,
    RunFinishedError,
    RunNotFoundError,
    RunNotWaitingError,
    StaleRunError,
    WorkflowConfigurationError,
)
from ..runtime.host import snapshot_from_dict, snapshot_to_dict
from ..stores import (
    TERMINAL_STATUSES,
    CheckpointStore,
    Commit,
    InputRequest,
    RunLineage,
    RunRecord,
    RunStatus,
    StateChanges,
    StoredCheckpoint,
)
from ..workflow import Workflow
from ._checkpoint_views import (
    Checkpoint,
    CheckpointView,
    checkpoint_id,
    checkpoint_of,
    seq_of,
    snapshot_of_chain,
    view_of,
)
from ._coordination import notify
from ._durable_run import waiter_key_of
from ._history import CheckpointChain, checkpoint_meta, open_requests, request_suffixes
from ._replay import ReplayResult, replay_run
from ._state_edit import UNSET, edited_snapshot, with_deadlines_moved

if TYPE_CHECKING:
    from ._parts import EngineCore

__all__ = ["TimeTravel"]

_EDIT_ATTEMPTS = 3
"""How often an edit reads the run again when a commit changed it meanwhile."""

_MOST_REQUESTS = 100_000
"""Most input requests of one run read to fork or replay it."""


class TimeTravel:
    """The engine's time-travel operations (each called by an ``Engine`` method of the
    same name, once the engine checked it is open)."""

    def __init__(self, engine: EngineCore) -> None:
        self._engine = engine

    def store(self) -> CheckpointStore:
        """The engine's store, which must keep checkpoints.

        Raises:
            WorkflowConfigurationError: it does not (a store of another package).
        """
        store = self._engine.store
        if not isinstance(store, CheckpointStore):
            raise WorkflowConfigurationError(
                f"the store {type(store).__name__} keeps no checkpoints (CheckpointStore)"
            )
        return store

    # -- reading ---------------------------------------------------------------------------
    async def checkpoints(self, run_id: str) -> list[Checkpoint]:
        """See ``Engine.checkpoints``."""
        found = await self.store().list_checkpoints(run_id)
        keep = found[-1].meta.get("keep_last") if found else None
        if type(keep) is int and keep > 0:
            found = found[-keep:]  # older rows are kept only for their deltas
        return [checkpoint_of(stored) for stored in found]

    async def whole(
        self, run_id: str, checkpoint: str | int
    ) -> tuple[StoredCheckpoint, dict[str, Any]]:
        """A checkpoint's stored row and whole snapshot (a fresh copy, the caller's).

        Raises:
            CheckpointNotFoundError, CorruptRecordError, WorkflowRuntimeError: as named.
        """
        seq = seq_of(run_id, checkpoint)
        chain = await self.store().checkpoint_chain(run_id, seq)
        return chain[-1], snapshot_of_chain(chain)

    async def checkpoint(self, run_id: str, checkpoint: str | int) -> CheckpointView:
        """See ``Engine.checkpoint``."""
        stored, snapshot = await self.whole(run_id, checkpoint)
        record = await self._engine.store.get_run(run_id)
        wf = self._engine.workflow(record.workflow)
        serializer = self._engine.serializer_for(wf)
        return view_of(checkpoint_of(stored), snapshot, wf, record.workflow, serializer)

    async def lineage(self, run_id: str) -> RunLineage:
        """See ``Engine.lineage``."""
        return await self.store().run_lineage(run_id)

    # -- edit, then resume -----------------------------------------------------------------
    async def update_state(
        self,
        run_id: str,
        *,
        patch: Any = UNSET,
        replace: Any = UNSET,
        by: str | None = None,
        reason: str | None = None,
    ) -> Checkpoint:
        """See ``Engine.update_state``."""
        engine = self._engine
        store = self.store()
        reload = await self._set_aside(run_id)
        for _ in range(_EDIT_ATTEMPTS):
            loaded = (await engine.store.load_many([run_id])).get(run_id)
            if loaded is None:
                raise RunNotFoundError(run_id)
            if loaded.damage is not None:
                raise loaded.damage
            record = loaded.run
            if record.is_finished:
                raise RunFinishedError(run_id, record.status)
            if record.status != "waiting":
                raise RunNotWaitingError(run_id, record.status)
            wf = engine.workflow(record.workflow)
            serializer = engine.serializer_for(wf)
            snapshot = edited_snapshot(
                record.snapshot, wf, record.workflow, serializer, patch=patch, replace=replace
            )
            unread = {event.request_id for event in loaded.inbound if event.request_id}
            requests = request_suffixes(
                run_id,
                (
                    r.request_id
                    for r in reversed(loaded.requests)  # oldest first
                    if r.status == "pending" or r.request_id in unread
                ),
            )
            keep = engine.retention_for(record.workflow).count
            meta = checkpoint_meta(["edit"], requests, by=by, reason=reason, keep_last=keep)
            write = CheckpointChain().write(record.version + 1, snapshot, meta, keep)
            commit = Commit(
                run_id,
                record.version,
                snapshot,
                "waiting",
                state=StateChanges(reset=True),  # the edited state is whole in the snapshot
                checkpoint=write,
            )
            try:
                await engine.store.commit(commit)
            except StaleRunError:
                continue  # committed meanwhile (an answer came in, say): look again
            break
        else:
            raise StaleRunError(run_id, "it kept changing while its state was edited")
        engine.remote_commit(run_id)
        await notify(engine, f"commit:{run_id}")
        if reload and engine.execute:
            await engine.ensure_loaded(run_id)
        seq = record.version + 1
        if write is None:  # could not be encoded (logged): the edit stands all the same
            return Checkpoint(
                checkpoint_id(run_id, seq),
                run_id,
                seq,
                time.time(),
                "waiting",
                ("edit",),
                by,
                reason,
            )
        [stored] = await store.list_checkpoints(run_id, after=seq - 1, limit=1)
        return checkpoint_of(stored)

    async def _set_aside(self, run_id: str) -> bool:
        """Drop the run from this engine's memory before its state is edited in the
        store (it is loaded again afterwards, from the edited state); True if it was in
        memory.

        Raises:
            RunNotWaitingError: it is executing here and does not wait.
        """
        engine = self._engine
        durable = engine.loaded.get(run_id)
        if durable is None:
            return False
        await engine.writer.flush()  # what it did so far is stored
        run = durable.run
        if run is not None and not run.done and not run.state.awaits_outside_input:
            raise RunNotWaitingError(run_id, "running")
        if engine.loaded.get(run_id) is durable:
            engine.release(durable)
        return True

    # -- replay ----------------------------------------------------------------------------
    async def replay(
        self,
        run_id: str,
        checkpoint: str | int | None,
        workflow: Workflow | None,
        timeout: float | None,
    ) -> ReplayResult:
        """See ``Engine.replay``."""
        if checkpoint is None:
            kept = await self.checkpoints(run_id)
            if not kept:
                raise CheckpointNotFoundError(run_id)
            checkpoint = kept[0].seq
        stored, snapshot = await self.whole(run_id, checkpoint)
        engine = self._engine
        record = await engine.store.get_run(run_id)
        wf = workflow if workflow is not None else engine.workflow(record.workflow)
        answered = await engine.store.list_requests(
            run_id=run_id, status="answered", limit=_MOST_REQUESTS
        )
        still_open = [
            (request_id, waiter_key_of(run_id, request_id))
            for request_id in open_requests(run_id, stored.meta)
        ]
        return await replay_run(
            record,
            checkpoint_of(stored),
            snapshot,
            answered,
            still_open,
            wf,
            engine.serializer_for(wf),
            timeout,
        )

    # -- fork ------------------------------------------------------------------------------
    async def fork(
        self,
        run_id: str,
        checkpoint: str | int,
        state_patch: dict[str, Any] | None = None,
        *,
        by: str | None = None,
        reason: str | None = None,
    ) -> str:
        """See ``Engine.fork``."""
        engine = self._engine
        store = self.store()
        stored, snapshot = await self.whole(run_id, checkpoint)
        origin = checkpoint_id(run_id, stored.seq)
        if stored.status in TERMINAL_STATUSES:
            raise CheckpointNotForkableError(
                run_id,
                stored.seq,
                f"it is the end of the run ({stored.status}): a fork would have nothing to do",
            )
        record = await engine.store.get_run(run_id)
        wf = engine.workflow(record.workflow)
        serializer = engine.serializer_for(wf)
        fork_id = new_run_id()
        now = time.time()
        snapshot = with_deadlines_moved({**snapshot, "run_id": fork_id}, now - stored.at)
        if state_patch is not None:
            snapshot = edited_snapshot(snapshot, wf, record.workflow, serializer, patch=state_patch)
        else:
            try:  # what a resume would restore, written as the fork will commit it
                ctx: Context[Any] = snapshot_from_dict(
                    Context, wf, snapshot, serializer, record.workflow
                )
            except ContextSerdeError as exc:
                raise CheckpointNotForkableError(
                    run_id, stored.seq, f"it cannot be restored: {exc}"
                ) from None
            snapshot = snapshot_to_dict(ctx, serializer, record.workflow)
        requests = await self._fork_requests(run_id, fork_id, stored, snapshot, now)
        status: RunStatus = "waiting" if stored.status == "waiting" else "running"
        meta = checkpoint_meta(
            ["fork"],
            request_suffixes(fork_id, (r.request_id for r in requests)),
            by=by,
            reason=reason,
            forked_from=origin,
        )
        first = CheckpointChain().write(0, snapshot, meta, None)
        if first is None:
            raise CheckpointNotForkableError(run_id, stored.seq, "it cannot be encoded again")
        await store.fork_run(
            RunRecord.new(fork_id, record.workflow, snapshot, status=status, input=record.input),
            parent_run_id=run_id,
            parent_seq=stored.seq,
            checkpoint=first,
            requests=requests,
            stream_upto=int(snapshot.get("stream_seq") or 0),
        )
        if requests:
            engine.inbox_changed()
        if status == "running":
            await notify(engine, f"work:{fork_id}")
            if engine.execute:
                await engine.ensure_loaded(fork_id)
        return fork_id

    async def _fork_requests(
        self,
        run_id: str,
        fork_id: str,
        stored: StoredCheckpoint,
        snapshot: dict[str, Any],
        now: float,
    ) -> list[InputRequest]:
        """The fork's own copies of the input requests open in the checkpoint (asked
        again: pending, with the fork's ids and the waits' moved deadlines)."""
        open_ids = open_requests(run_id, stored.meta)
        if not open_ids:
            return []
        asked = {
            r.request_id: r
            for r in await self._engine.store.list_requests(
                run_id=run_id, status=None, limit=_MOST_REQUESTS
            )
        }
        deadlines = {w.get("key"): w.get("deadline") for w in snapshot.get("waiters") or []}
        moved = now - stored.at
        copies = []
        for request_id in open_ids:
            original = asked.get(request_id)
            if original is None:
                continue
            key = waiter_key_of(run_id, original.request_id)
            copies.append(
                InputRequest.new(
                    fork_id + original.request_id[len(run_id) :],
                    fork_id,
                    original.workflow,
                    original.event_type,
                    original.payload,
                    original.response_schema,
                    deadline=deadlines.get(key) if key is not None else original.deadline,
                    now=now,
                    assignee=await self._asked_assignee(original),
                    candidate_users=original.candidate_users,
                    candidate_groups=original.candidate_groups,
                    priority=original.priority,
                    due=None if original.due is None else original.due + moved,
                    follow_up=None if original.follow_up is None else original.follow_up + moved,
                )
            )
        return copies

    async def _asked_assignee(self, request: InputRequest) -> str | None:
        """The assignee the workflow gave ``request`` when it asked (a claim or an
        assignment made later on the original run does not carry over to a fork)."""
        if request.assignee is None:
            return None
        for entry in await self._engine.store.request_audit(request.request_id):
            if entry.action == "created":
                assignee = entry.detail.get("assignee")
                return assignee if isinstance(assignee, str) else None
        return None
