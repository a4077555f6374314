"""``Engine``: runs owned by a store, committed at every step boundary.

::

    async with Engine("sqlite:///runs.db", workflows={"approval": Approval()}) as engine:
        handle = await engine.start("approval", amount=420)
        for request in await engine.inbox():
            await engine.respond(request.request_id, {"response": "yes"})
        print(await handle)
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Iterable, Mapping
from typing import Any, TypedDict

from ..context.context import Context, new_run_id
from ..context.serializers import BaseSerializer, JsonSerializer, type_key
from ..errors import (
    ContextSerdeError,
    CorruptRecordError,
    InvalidResponseError,
    RunNotFoundError,
    StaleRunError,
    StoreConnectionError,
    StoreError,
    WorkflowConfigurationError,
    WorkflowRuntimeError,
)
from ..events import Event, StartEvent
from ..runtime.host import (
    context_run,
    graph_of,
    launch,
    make_start_event,
    registry_for,
    snapshot_from_dict,
)
from ..stores import (
    ANY,
    AssigneeAction,
    AuditEntry,
    CheckpointStore,
    DeliveryAttempt,
    InboundEvent,
    InputRequest,
    RequestPage,
    RequestQuery,
    RequestStatus,
    RunFinishedError,
    RunLineage,
    RunRecord,
    RunStore,
    StreamEntry,
    open_store,
)
from ..workflow import Workflow
from ._batch_reads import BatchReader
from ._checkpoint_views import Checkpoint, CheckpointView
from ._coordination import Coordinator, notify, notify_many
from ._durable_run import (
    CANCEL_PAYLOAD,
    SENT_BY,
    CommitPart,
    DurableRun,
    response_type_for_prompts,
    waiter_key_of,
)
from ._handle import RunHandle, StreamFeed
from ._health import EngineHealth, health_of
from ._history import Retention
from ._replay import ReplayResult
from ._state_edit import UNSET
from ._time_travel import TimeTravel
from ._writer import CommitWriter

logger = logging.getLogger("workflows.engine")

__all__ = ["Engine"]


class Engine:
    """Owns durable runs of registered workflows on one store.

    Args:
        store: a :class:`~workflows.stores.RunStore` or a store URL (``memory://``,
            ``sqlite:///runs.db``, ``postgresql://...``).
        workflows: workflows to register, by name (a mapping) or under their
            ``workflow_name`` (an iterable).
        idle_release_after: seconds after which a run that only waits for outside input
            is dropped from memory (its state is in the store); ``None`` keeps it.
        timer_interval: how often (seconds) deadlines of released waits are checked.
        owner: this process's worker id. Set it when several engines share one database:
            each run is then executed under a lease held by one owner at a time (see
            ``docs/deployment.md``).
        lease_seconds: how long a lease lasts without a heartbeat (renewed every third).
        concurrency: how many runs this engine keeps in memory at once (worker mode).
        execute: ``False`` for an API-only engine: it stores runs, events and answers
            and leaves the execution to workers.
        poll_interval: how often a worker looks for runs with work it was not woken for
            (missed notifications, expired leases of dead workers).
        history: which commits of a run are kept as checkpoints, for every workflow
            not registered with its own (``register(..., history=...)``): ``"none"``
            (the default: no extra write), ``"all"``, ``"waits"`` (only when the run
            waits for a person) or ``"last N"``; see :class:`Retention` and
            ``docs/time-travel.md``.

    Attributes:
        store: the :class:`~workflows.stores.RunStore` (built from the URL on
            :meth:`open`). The engine's own parts write through it; readers such as
            the server and the CLI use the engine's methods (:meth:`runs`,
            :meth:`requests`, :meth:`request`, :meth:`history`, ``get(run_id).record()``).
        checkpoint_history: the parsed ``history`` (a :class:`Retention`).
    """

    def __init__(
        self,
        store: RunStore | str = "sqlite:///workflows.db",
        workflows: Mapping[str, Workflow] | list[Workflow] | tuple[Workflow, ...] = (),
        *,
        idle_release_after: float | None = 30.0,
        timer_interval: float = 1.0,
        owner: str | None = None,
        lease_seconds: float = 15.0,
        concurrency: int | None = None,
        execute: bool = True,
        poll_interval: float = 2.0,
        history: Retention | str = "none",
    ) -> None:
        self._store_arg = store
        self.store: RunStore = store if not isinstance(store, str) else None  # type: ignore[assignment]
        self._workflows: dict[str, Workflow] = {}
        self.checkpoint_history = Retention.parse(history)
        self._history_of: dict[str, Retention] = {}
        items = (
            workflows.items()
            if isinstance(workflows, Mapping)
            else ((wf.workflow_name, wf) for wf in workflows)
        )
        for name, wf in items:
            self.register(wf, name)
        self.idle_release_after = idle_release_after
        self.timer_interval = timer_interval
        self.owner = owner
        self.lease_seconds = lease_seconds
        self.concurrency = concurrency
        self.execute = execute
        self.poll_interval = poll_interval
        self._coordinator = Coordinator(self)
        self._time_travel = TimeTravel(self)
        self._reader = BatchReader(lambda: self.store, lambda task: self._coordinator.adopt([task]))
        self.serializer = JsonSerializer()
        self._loaded: dict[str, DurableRun] = {}
        self._loading: dict[str, asyncio.Future[DurableRun | None]] = {}
        self._results: dict[str, asyncio.Future[Any]] = {}
        self._finished: dict[str, _Outcome] = {}
        self._signals: dict[str, asyncio.Event] = {}
        self._feeds: dict[str, list[StreamFeed]] = {}
        self._writer: CommitWriter
        self._inbox_signal = asyncio.Event()
        self._known_requests: dict[str, InputRequest] = {}
        self._phase = "new"  # new, open, failed, closing, closed
        self._failure: BaseException | None = None
        self._failed = asyncio.Event()

    # -- life cycle ------------------------------------------------------------------------
    async def __aenter__(self) -> Engine:
        await self.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def open(self) -> None:
        """Open the store, start the writer, and resume every unfinished run with work."""
        if self._phase != "new":
            raise WorkflowRuntimeError(f"engine is {self._phase}")
        if isinstance(self._store_arg, str):
            self.store = await open_store(self._store_arg)
        else:
            await self.store.open()
        kept = [str(r) for r in (self.checkpoint_history, *self._history_of.values()) if r.enabled]
        if kept and not isinstance(self.store, CheckpointStore):
            await self.store.close()
            self._phase = "failed"
            raise WorkflowConfigurationError(
                f"history {kept[0]!r} needs a store that keeps checkpoints; "
                f"{type(self.store).__name__} does not (CheckpointStore)"
            )
        self._writer = CommitWriter(self)
        self._writer.start()
        self._phase = "open"
        # Listen first: a wake-up sent while recovery runs must not be lost.
        self._coordinator.start()
        if self._coordinator.liveness is not None:
            # Hold our liveness lock before claiming anything, so no one takes us for gone.
            try:
                await asyncio.wait_for(self._coordinator.subscribed.wait(), self.lease_seconds)
            except asyncio.TimeoutError:
                logger.warning(
                    "not listening yet after %.0f s; recovering anyway", self.lease_seconds
                )
        if self.execute:
            await self.recover()

    async def close(self, timeout: float = 10.0) -> None:
        """Stop taking up runs, write pending commits, drop runs from memory (they stay
        in the store), give their leases back and close the store.

        Each of these waits ``timeout`` seconds at most (a store that does not answer
        cannot hold a stopping worker): whatever was not written by then is continued
        from the run's previous commit by whoever loads it next.
        """
        if self._phase not in ("open", "failed"):
            return
        self._phase = "closing"
        await self._coordinator.halt(timeout)  # from here on, nothing new is claimed
        await self._writer.close(timeout)
        for durable in list(self._loaded.values()):
            self._release(durable)
        await self._coordinator.stop(timeout)
        try:
            await asyncio.wait_for(self.store.close(), timeout)
        except asyncio.TimeoutError:
            logger.warning("the store did not close within %.1f s", timeout)
        self._phase = "closed"

    def _check_open(self) -> None:
        if self._phase != "open":
            why = f": {self._failure}" if self._failure is not None else ""
            raise WorkflowRuntimeError(f"engine is {self._phase}, not open{why}")

    # -- health ------------------------------------------------------------------------------
    def health(self) -> EngineHealth:
        """The state of the engine's writer, wake-up listener and lease renewals (no I/O;
        for liveness probes: see :class:`EngineHealth`)."""
        return health_of(self)

    @property
    def failure(self) -> BaseException | None:
        """Why the engine stopped serving on its own (a background task crashed)."""
        return self._failure

    async def wait_failed(self) -> BaseException:
        """Wait until the engine fails on its own; return why. A process that hosts an
        engine (a worker) should exit non-zero then, so its supervisor restarts it."""
        await self._failed.wait()
        assert self._failure is not None
        return self._failure

    def _component_failed(self, name: str, exc: BaseException) -> None:
        """A background task crashed: stop serving loudly instead of half-working (a
        worker that renews leases of runs it can no longer commit would hold them
        forever)."""
        if self._failure is not None or self._phase != "open":
            return
        logger.critical("engine %s task crashed; the engine stops: %r", name, exc, exc_info=exc)
        self._failure = WorkflowRuntimeError(f"the engine's {name} task crashed: {exc!r}")
        self._failure.__cause__ = exc
        self._phase = "failed"
        self._failed.set()
        for durable in list(self._loaded.values()):
            self._release(durable)
        self._coordinator.adopt(
            [asyncio.get_running_loop().create_task(self._coordinator.halt(self.lease_seconds))]
        )

    # -- registry --------------------------------------------------------------------------
    def register(
        self,
        workflow: Workflow,
        name: str | None = None,
        *,
        history: Retention | str | None = None,
    ) -> None:
        """Make ``workflow`` startable and loadable under ``name``; ``history`` (if
        given) says which of its runs' commits are kept as checkpoints, instead of the
        engine's (:attr:`checkpoint_history`; see :class:`Retention`).

        Raises:
            WorkflowValidationError: the workflow's event graph is invalid.
            WorkflowConfigurationError: not a workflow, or an unknown ``history``.
        """
        if not isinstance(workflow, Workflow):
            raise WorkflowConfigurationError(f"not a Workflow instance: {workflow!r}")
        if not workflow.disable_validation:
            workflow.validate()  # a broken graph fails here, not on the first start
        key = name or workflow.workflow_name
        if history is not None:
            retention = Retention.parse(history)
            if retention.enabled and self._phase == "open":
                self._time_travel.store()  # the store must keep checkpoints
            self._history_of[key] = retention
        self._workflows[key] = workflow

    def retention_for(self, workflow: str) -> Retention:
        """Which commits of the runs of the workflow registered as ``workflow`` are kept
        as checkpoints (its own setting, else :attr:`checkpoint_history`)."""
        return self._history_of.get(workflow, self.checkpoint_history)

    def workflow(self, name: str) -> Workflow:
        """The workflow registered under ``name``."""
        try:
            return self._workflows[name]
        except KeyError:
            known = ", ".join(sorted(self._workflows)) or "none"
            raise WorkflowConfigurationError(
                f"no workflow registered as {name!r} (registered: {known})"
            ) from None

    @property
    def workflows(self) -> dict[str, Workflow]:
        """Registered workflows by name."""
        return dict(self._workflows)

    def _name_of(self, workflow: Workflow | str) -> str:
        if isinstance(workflow, str):
            self.workflow(workflow)
            return workflow
        for name, registered in self._workflows.items():
            if registered is workflow:
                return name
        self.register(workflow)
        return workflow.workflow_name

    # -- runs ------------------------------------------------------------------------------
    async def start(
        self, workflow: Workflow | str, start_event: StartEvent | None = None, **kwargs: Any
    ) -> RunHandle:
        """Start a durable run; returns once the run is stored."""
        self._check_open()
        name = self._name_of(workflow)
        wf = self._workflows[name]
        run_id = new_run_id()
        durable = DurableRun(self, name, wf, run_id, 0, self.serializer_for(wf))
        ctx: Context[Any] = Context(wf)
        self._loaded[run_id] = durable
        try:
            made = make_start_event(wf, start_event, kwargs)
            durable.start_input = _encoded_input(durable, made)
            durable_start = launch(wf, ctx, made, durable, run_id=run_id)
        except BaseException:
            # Bad start input (WorkflowValidationError naming the fields): nothing was
            # stored, and nothing may stay in memory either.
            del self._loaded[run_id]
            raise
        durable.attach(durable_start)
        if not self.execute:
            self._release(durable)  # before any step runs: a worker will execute it
        try:
            await durable.stored  # this run's first commit, not the whole backlog
        except Exception as exc:
            raise WorkflowRuntimeError(f"run {run_id} could not be stored: {exc}") from exc
        if not self.execute:
            await notify(self, f"work:{run_id}")
        return RunHandle(self, run_id)

    def serializer_for(self, workflow: Workflow) -> BaseSerializer:
        """The serializer of ``workflow``'s runs: its own (``Workflow(serializer=...)``)
        or the engine's default :class:`JsonSerializer`."""
        return workflow.serializer or self.serializer

    def has_room(self) -> bool:
        """True while this engine may take up another run (``concurrency``)."""
        return self.concurrency is None or len(self._loaded) < self.concurrency

    def get(self, run_id: str) -> RunHandle:
        """A handle on an existing run (checked on first use)."""
        self._check_open()
        return RunHandle(self, run_id)

    @property
    def store_url(self) -> str | None:
        """The store URL the engine was made with (it may hold a password: mask it
        before showing it), or None when it was given a store object."""
        return self._store_arg if isinstance(self._store_arg, str) else None

    async def runs(
        self,
        status: str | None = None,
        workflow: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[RunRecord]:
        """Stored runs, newest first (``limit`` of them after skipping ``offset``),
        optionally only of one status and/or workflow."""
        self._check_open()
        return await self.store.list_runs(
            status=status,  # type: ignore[arg-type]
            workflow=workflow,
            limit=limit,
            offset=offset,
        )

    async def history(
        self, run_id: str, after: int = 0, limit: int | None = None
    ) -> list[StreamEntry]:
        """The run's committed stream entries with sequence > ``after``, oldest first,
        each with the time it was committed (events as stored, not decoded).

        Raises:
            RunNotFoundError: no such run.
        """
        self._check_open()
        return await self.store.read_stream(run_id, after=after, limit=limit)

    # -- time travel (docs/time-travel.md) ---------------------------------------------------
    async def checkpoints(self, run_id: str) -> list[Checkpoint]:
        """The run's kept checkpoints, oldest first (as its workflow's history setting
        keeps them; edits and a fork's start are always kept).

        Raises:
            RunNotFoundError: no such run.
            WorkflowConfigurationError: the store keeps no checkpoints.
        """
        self._check_open()
        return await self._time_travel.checkpoints(run_id)

    async def checkpoint(self, run_id: str, checkpoint: str | int) -> CheckpointView:
        """One checkpoint of the run read back (by id or ``seq``): its whole snapshot,
        the state store's value, the events waiting for steps, the calls in flight and
        the open waits.

        Raises:
            CheckpointNotFoundError: the run has no such checkpoint (or was deleted).
            CorruptRecordError: a stored row of it cannot be read.
        """
        self._check_open()
        return await self._time_travel.checkpoint(run_id, checkpoint)

    async def update_state(
        self,
        run_id: str,
        *,
        patch: dict[str, Any] = UNSET,
        replace: Any = UNSET,
        by: str | None = None,
        reason: str | None = None,
    ) -> Checkpoint:
        """Change the state store of a run that waits for outside input, before answering
        it: ``patch`` is a JSON merge patch of the state's fields (``None`` removes a
        key), ``replace`` the whole state (a dict of fields, or the state object). A
        typed state (``Context[Model]``) is validated by its model. The change is a
        commit of its own, kept as a checkpoint (cause ``edit``) with ``by`` and
        ``reason``, whatever the history setting.

        The edit is written through the store, fenced by the run's version, so it is
        safe wherever the run executes: a run held in this engine's memory is set aside
        and loaded again from the edited state; a worker executing it elsewhere has its
        next commit refused and loads the edited run (its step after the answer may
        then run twice: steps are at least once). A step that waits re-runs from its
        start when the run resumes, so it reads the edited state.

        Returns:
            The edit's checkpoint.

        Raises:
            RunNotWaitingError: the run does not wait (it is running).
            RunFinishedError: the run has finished.
            WorkflowValidationError: the new state does not fit the workflow's state type,
                or neither or both of ``patch`` and ``replace`` were given.
            StaleRunError: the run kept changing while the edit was tried.
        """
        self._check_open()
        return await self._time_travel.update_state(
            run_id, patch=patch, replace=replace, by=by, reason=reason
        )

    async def fork(
        self,
        run_id: str,
        checkpoint: str | int,
        state_patch: dict[str, Any] | None = None,
        *,
        by: str | None = None,
        reason: str | None = None,
    ) -> str:
        """Start a new run from a checkpoint of ``run_id`` (by id or ``seq``), its state
        changed by the JSON merge patch ``state_patch`` if given; returns the new run's id.

        The new run is stored in one transaction with its fork link (see
        :meth:`lineage`), its first checkpoint (cause ``fork``), a copy of the stream
        up to the checkpoint, and its own copies of the input requests open there (new
        ids, pending: answering them answers the fork only). The waits' deadlines keep
        the time they had left. The original is only read: forking a run that another
        worker executes is safe. A fork that does not wait is taken up at once.

        Raises:
            CheckpointNotFoundError: no such checkpoint.
            CheckpointNotForkableError: the checkpoint is the end of the run, or cannot
                be restored by the registered workflow (a ``WorkflowRuntimeError``).
            WorkflowValidationError: the patched state does not fit.
        """
        self._check_open()
        return await self._time_travel.fork(run_id, checkpoint, state_patch, by=by, reason=reason)

    async def lineage(self, run_id: str) -> RunLineage:
        """Which run (and checkpoint) ``run_id`` was forked from, and its own forks."""
        self._check_open()
        return await self._time_travel.lineage(run_id)

    async def replay(
        self,
        run_id: str,
        checkpoint: str | int | None = None,
        *,
        workflow: Workflow | None = None,
        timeout: float | None = 60.0,
    ) -> ReplayResult:
        """Run ``run_id`` again, in memory, from a checkpoint (its first kept one by
        default), with ``workflow`` (new code; default: the registered one), feeding
        it the answers the run received. Nothing is stored: compare the returned
        result with the run's (:attr:`ReplayResult.same_result`).

        Deterministic: the order of a run's steps, events and waits given the same
        inputs; answers are matched by identity (a wait by its key, a prompt by its
        position in the stream), so the same questions get the same answers. Not
        deterministic: what steps do outside the run (clocks, random numbers, network
        calls, which they really make again), the interleaving of steps that run
        concurrently (``num_workers`` > 1, fan-outs), the timing of timeouts (waits
        keep the time they had left at the checkpoint; the workflow's timeout starts in
        full), and events sent with ``send_event`` that answer no request (not stored:
        not replayed). A replay that waits for an answer the run never received, or
        outlasts ``timeout``, ends with status ``waiting``.

        Raises:
            CheckpointNotFoundError: no such checkpoint (or none kept).
        """
        self._check_open()
        return await self._time_travel.replay(run_id, checkpoint, workflow, timeout)

    async def send_event(
        self, run_id: str, event: Event, step: str | None = None, sent_by: str | None = None
    ) -> None:
        """Store ``event`` for the run (durable before this returns) and deliver it.

        ``sent_by`` says who sent it: when the event answers an input request of the run
        (a response a ``wait_for_event`` waits for, or a ``HumanResponseEvent`` answering
        a prompt), the request is stored as answered by them.
        """
        self._check_open()
        record = await self.store.get_run(run_id)
        wf = self.workflow(record.workflow)
        durable = DurableRun(self, record.workflow, wf, run_id, 0, self.serializer_for(wf))
        payload = {"event": durable.serializer.encode(event, durable.types), "step": step}
        if sent_by is not None:
            payload[SENT_BY] = sent_by
        inbound = await self.store.add_inbound(run_id, payload)
        await notify(self, f"work:{run_id}")
        loaded = await self._ensure_loaded(run_id, skip_inbound={inbound.id})
        if loaded is not None:
            loaded.deliver(inbound.id, payload)

    async def cancel(self, run_id: str) -> None:
        """Cancel a run wherever it executes: in this process at once, elsewhere through
        the store (a cancel request its executor takes in like an event, durable before
        this returns). Nothing happens to a finished run."""
        self._check_open()
        durable = self._loaded.get(run_id)
        if durable is None or durable.run is None:
            try:
                record = await self.store.get_run(run_id)
            except CorruptRecordError as exc:
                if exc.record is None:
                    raise
                record = exc.record  # loading it below sets it aside (quarantined)
            if record.is_finished:
                return
            inbound = await self.store.add_inbound(run_id, CANCEL_PAYLOAD)
            await notify(self, f"work:{run_id}")
            durable = await self._ensure_loaded(run_id, skip_inbound={inbound.id})
            if durable is None:
                return  # its executor takes the cancel in
            durable.deliver(inbound.id, CANCEL_PAYLOAD)
        elif not durable.run.done:
            durable.run.cancel()
        await self._writer.flush()

    async def inbox(
        self, workflow: str | None = None, run_id: str | None = None, limit: int = 100
    ) -> list[InputRequest]:
        """Pending input requests, newest first."""
        self._check_open()
        requests = await self.store.list_requests(workflow=workflow, run_id=run_id, limit=limit)
        # Whoever lists the inbox usually answers from it next: keep what respond() needs.
        self._remember_requests(requests)
        return requests

    async def requests(
        self,
        workflow: str | None = None,
        run_id: str | None = None,
        status: RequestStatus | None = "pending",
        limit: int = 100,
        offset: int = 0,
    ) -> list[InputRequest]:
        """Input requests, newest first: pending ones, or those of ``status``
        (``None``: every status); ``limit`` of them after skipping ``offset``."""
        self._check_open()
        return await self.store.list_requests(
            workflow=workflow, run_id=run_id, status=status, limit=limit, offset=offset
        )

    async def request(self, request_id: str) -> InputRequest:
        """One input request, whatever its status.

        Raises:
            InputRequestNotFoundError: no such request.
        """
        self._check_open()
        return await self.store.get_request(request_id)

    async def query_requests(self, query: RequestQuery) -> RequestPage:
        """One page of the input requests ``query`` selects (filters, order, keyset
        cursor; with ``query.viewer`` only those that viewer may see). See
        :meth:`~workflows.stores.RunStore.query_requests`.

        Raises:
            ValueError: a malformed query or cursor.
        """
        self._check_open()
        return await self.store.query_requests(query)

    async def set_assignee(
        self,
        request_id: str,
        assignee: str | None,
        *,
        actor: str | None,
        action: AssigneeAction,
        expected: Any = ANY,
    ) -> InputRequest:
        """Claim, release or reassign a pending input request by compare-and-set (see
        :meth:`~workflows.stores.RunStore.set_assignee`); inbox streams are told.

        Returns:
            The request as it now stands.

        Raises:
            InputRequestNotFoundError, InputRequestAlreadyAnsweredError,
            InputRequestClosedError, RequestAssigneeChangedError: as named.
        """
        self._check_open()
        changed = await self.store.set_assignee(
            request_id, assignee, actor=actor, action=action, expected=expected
        )
        self._known_requests.pop(request_id, None)
        self._inbox_changed()
        return changed

    async def request_audit(self, request_id: str) -> list[AuditEntry]:
        """The input request's audit entries (who did what when), oldest first.

        Raises:
            InputRequestNotFoundError: no such request.
        """
        self._check_open()
        return await self.store.request_audit(request_id)

    async def deliveries(
        self,
        *,
        endpoint: str | None = None,
        request_id: str | None = None,
        limit: int = 100,
    ) -> list[DeliveryAttempt]:
        """Webhook delivery attempts, newest first, optionally of one endpoint and/or
        request."""
        self._check_open()
        return await self.store.list_deliveries(
            endpoint=endpoint, request_id=request_id, limit=limit
        )

    def _remember_requests(self, requests: list[InputRequest]) -> None:
        """Keep what :meth:`respond` needs of ``requests`` (listed, or just committed by
        a run here), so answering one reads nothing before the answer is stored."""
        if len(self._known_requests) > 10_000:
            self._known_requests.clear()
        self._known_requests.update((r.request_id, r) for r in requests)

    async def respond(
        self,
        request_id: str,
        response: Any,
        idempotency_key: str | None = None,
        answered_by: str | None = None,
        *,
        holder: str | None = None,
    ) -> bool:
        """Answer an input request; its run gets the answer exactly once.

        ``response`` is a dict of the response event's fields, or a plain value that
        becomes ``{"response": value}``. ``answered_by`` (who answers: a user name, as
        the caller knows it) is stored with the answer, for the run's audit trail.
        ``holder`` (a user name) answers only if the request is unassigned or assigned
        to them, decided by the store in the same write as the answer: a claim by
        someone else that lands first refuses it (see ``RunStore.answer_request``).

        Returns:
            True if this call delivered the answer, False if the same answer had already
            been accepted (same idempotency key, or an identical response).

        Raises:
            InputRequestNotFoundError, InputRequestAlreadyAnsweredError,
            InvalidResponseError: as named.
            RequestAssigneeChangedError: ``holder`` was given and another user holds
                the request (its ``assignee``).
        """
        self._check_open()
        request = self._known_requests.pop(request_id, None)
        if request is None:
            request = await self.store.get_request(request_id)
        fields = response if isinstance(response, dict) else {"response": response}
        if isinstance(response, Event):
            fields = response.model_dump(mode="json")
        wf = self.workflow(request.workflow)
        self._check_response(wf, request, fields)
        inbound = await self.store.answer_request(
            request_id,
            fields,
            idempotency_key=idempotency_key,
            answered_by=answered_by,
            known=request,
            **_holder_keyword(holder),
        )
        self._inbox_changed()
        if inbound is None:
            return False
        await notify(self, f"work:{request.run_id}")
        loaded = await self._ensure_loaded(request.run_id, skip_inbound={inbound.id})
        if loaded is not None:
            loaded.deliver(inbound.id, inbound.payload)
        return True

    async def respond_many(
        self,
        answers: Iterable[
            tuple[str, Any]
            | tuple[str, Any, str | None]
            | tuple[str, Any, str | None, str | None]
            | tuple[str, Any, str | None, str | None, str | None]
        ],
    ) -> list[bool | Exception]:
        """Answer many input requests at once: stored in one store call (one transaction
        on the SQL stores), then delivered to their runs as :meth:`respond` delivers one.

        Each answer is ``(request_id, response)``, ``(request_id, response,
        idempotency_key)``, ``(request_id, response, idempotency_key, answered_by)`` or
        ``(request_id, response, idempotency_key, answered_by, holder)``, as for
        :meth:`respond`, and is decided on its own: a refused answer keeps no other
        from being stored.

        Returns:
            One outcome per answer, in order: True if it was delivered, False if the same
            answer had already been accepted, or the exception :meth:`respond` would
            have raised for it (``InputRequestNotFoundError``,
            ``InputRequestAlreadyAnsweredError``, ``InvalidResponseError``, ...).

        Raises:
            StoreError: the store failed as a whole (closed, unreachable); which
                answers were stored is then unknown (repeat them: a repeat is a no-op).
        """
        self._check_open()
        items = [
            (
                a[0],
                a[1],
                a[2] if len(a) > 2 else None,
                a[3] if len(a) > 3 else None,
                a[4] if len(a) > 4 else None,
            )
            for a in answers
        ]
        outcomes: list[bool | Exception] = [False] * len(items)
        requests: dict[str, InputRequest | BaseException] = {}
        for request_id in dict.fromkeys(item[0] for item in items):
            known = self._known_requests.pop(request_id, None)
            if known is not None:
                requests[request_id] = known
        missing = [rid for rid in dict.fromkeys(item[0] for item in items) if rid not in requests]
        found = await asyncio.gather(
            *(self.store.get_request(rid) for rid in missing), return_exceptions=True
        )
        requests.update(zip(missing, found, strict=True))
        to_store: list[tuple[str, dict[str, Any], str | None, str | None, str | None]] = []
        positions: list[int] = []
        for index, (request_id, response, key, by, holder) in enumerate(items):
            request = requests[request_id]
            try:
                if isinstance(request, BaseException):
                    raise request
                assert isinstance(request, InputRequest)
                fields = response if isinstance(response, dict) else {"response": response}
                if isinstance(response, Event):
                    fields = response.model_dump(mode="json")
                self._check_response(self.workflow(request.workflow), request, fields)
            except (StoreError, WorkflowConfigurationError) as exc:
                outcomes[index] = exc
                continue
            to_store.append((request_id, fields, key, by, holder))
            positions.append(index)
        if not to_store:
            return outcomes
        answer_requests = getattr(self.store, "answer_requests", None)
        if answer_requests is not None:
            # A store written before ``holder`` existed takes the four parts it knows.
            results = await answer_requests([a if a[4] is not None else a[:4] for a in to_store])
        else:  # a store without the bulk call
            results = []
            for request_id, fields, key, by, holder in to_store:
                try:
                    results.append(
                        await self.store.answer_request(
                            request_id,
                            fields,
                            idempotency_key=key,
                            answered_by=by,
                            **_holder_keyword(holder),
                        )
                    )
                except StoreError as exc:
                    results.append(exc)
        self._inbox_changed()
        delivered: dict[str, list[InboundEvent]] = {}
        for index, result in zip(positions, results, strict=True):
            if isinstance(result, Exception):
                outcomes[index] = result
            else:
                outcomes[index] = result is not None
                if result is not None:
                    delivered.setdefault(result.run_id, []).append(result)
        if delivered:
            await notify_many(self, [f"work:{run_id}" for run_id in delivered])
            # Loaded together: their rows are read in batches (one store call each).
            await asyncio.gather(
                *(self._deliver_answers(run_id, events) for run_id, events in delivered.items())
            )
        return outcomes

    async def _deliver_answers(self, run_id: str, events: list[InboundEvent]) -> None:
        """Hand stored answers to their run, loading it if this engine executes it."""
        try:
            loaded = await self._ensure_loaded(run_id, skip_inbound={e.id for e in events})
        except Exception as exc:  # stored all the same: delivered when the run loads
            logger.warning("run %s: answers stored, not delivered yet: %s", run_id, exc)
            return
        if loaded is not None:
            for event in events:
                loaded.deliver(event.id, event.payload)

    def event_type(self, workflow: str, type_name: str) -> type[Event]:
        """Resolve an event class by name (``Name`` or ``module.Name``) among the
        workflow's own event types and the built-in events.

        Raises:
            WorkflowConfigurationError: no such workflow or event type.
        """
        wf = self.workflow(workflow)
        candidates = {*graph_of(wf).event_types, *_builtin_events()}
        for cls in candidates:
            if type_name in (cls.__name__, type_key(cls)):
                return cls
        raise WorkflowConfigurationError(
            f"workflow {workflow!r} has no event type {type_name[:100]!r}"
        )

    def _inbox_changed(self) -> None:
        signal, self._inbox_signal = self._inbox_signal, asyncio.Event()
        signal.set()

    async def inbox_changes(self, heartbeat: float = 15.0) -> AsyncIterator[bool]:
        """Yield True when this engine changed the inbox, False every ``heartbeat`` seconds
        without a change (changes made by other processes show up at the next list)."""
        signal = self._inbox_signal
        while self._phase == "open":
            try:
                await asyncio.wait_for(signal.wait(), heartbeat)
            except asyncio.TimeoutError:
                yield False
            else:
                # Take the next signal before yielding, so a change made while the
                # consumer handles this one is not missed.
                signal = self._inbox_signal
                yield True

    def _check_response(self, wf: Workflow, request: InputRequest, fields: dict[str, Any]) -> None:
        event_type: type[Event] = response_type_for_prompts(wf)
        if waiter_key_of(request.run_id, request.request_id) is not None:
            return  # the waiter's type is checked by the store schema and on delivery
        try:
            event_type.model_validate(fields)
        except Exception as exc:
            raise InvalidResponseError(request.request_id, str(exc)) from None

    async def recover(self) -> int:
        """Load every unfinished run that has work (in-flight steps, unread events)."""
        self._check_open()
        count = 0
        liveness = self._coordinator.liveness
        owner = self.owner
        if liveness is not None and owner is not None and self._coordinator.subscribed.is_set():
            # Runs of workers that died (this process's previous life, say) come back now,
            # not when their leases run out: waiting ones too, which no poll would take.
            freed = await liveness.expire_gone_owners(owner, now=time.time())
            self._coordinator.claim_soon(freed)
        run_ids = await self.store.runs_with_work(now=time.time())
        # Loaded together: their rows are read in batches (one store call each).
        outcomes = await asyncio.gather(
            *(self._ensure_loaded(run_id) for run_id in run_ids), return_exceptions=True
        )
        for run_id, loaded in zip(run_ids, outcomes, strict=True):
            try:
                if isinstance(loaded, BaseException):
                    raise loaded
            except WorkflowConfigurationError as exc:
                # A run of a workflow this process does not serve: another one will.
                logger.info("run %s left for another process: %s", run_id, exc)
                continue
            except StoreConnectionError:
                raise  # the store is unreachable: no run can be recovered now
            except Exception as exc:
                # One run must not stop the others (a run that cannot be loaded is
                # quarantined by _load; this is for whatever else goes wrong with it).
                logger.error("run %s could not be recovered: %r", run_id, exc, exc_info=exc)
                continue
            if loaded is not None:
                count += 1
        return count

    # -- loading ---------------------------------------------------------------------------
    async def _ensure_loaded(
        self,
        run_id: str,
        skip_inbound: set[int] | None = None,
        claimed: tuple[RunRecord, float] | None = None,
    ) -> DurableRun | None:
        durable = self._loaded.get(run_id)
        if durable is not None:
            return durable
        pending = self._loading.get(run_id)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[DurableRun | None] = asyncio.get_running_loop().create_future()
        self._loading[run_id] = future
        try:
            loaded = await self._load(run_id, skip_inbound or set(), claimed)
            future.set_result(loaded)
            return loaded
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()
            raise
        finally:
            del self._loading[run_id]

    async def _load(
        self,
        run_id: str,
        skip_inbound: set[int],
        claimed: tuple[RunRecord, float] | None = None,
    ) -> DurableRun | None:
        """Load ``run_id`` from the store and resume it; None if it is not ours to run.

        ``claimed``: the run as a claim of this engine returned it (``claim_runs``), with
        the monotonic time the claim was sent: it is loaded from that record, without
        claiming it again.

        A run whose stored data cannot be decoded, whose snapshot cannot be restored, or
        whose inbound event cannot be delivered is quarantined (see :meth:`_quarantine`)
        and None returned: such a run never stops the caller (``recover``, a worker's
        poll) from going on with the others.
        """
        if not self.execute or not self._coordinator.claiming:
            if claimed is not None:
                self._give_back_claim(run_id)
            return None
        # The run's rows come from one store call shared with the runs loaded at the
        # same time (BatchReader); a damaged run is still known by its version (to
        # fence its quarantine) and its workflow.
        found: RunRecord | CorruptRecordError | None = None
        claimed_at = time.monotonic()
        if claimed is not None:
            taken, claimed_at = claimed
            found = taken if taken.corrupt is None else _damage_of(taken)
        elif self.owner is not None:
            try:  # the lease first: whoever holds it executes the run
                found = await self.store.claim_run(run_id, self.owner, self.lease_seconds)
            except (StaleRunError, RunFinishedError):
                return None
            except CorruptRecordError as exc:  # claimed all the same: the lease is ours
                found = exc
            if not self._coordinator.claiming:  # stopping meanwhile: give it back at once
                self._coordinator.release_later(run_id)
                return None
        try:
            rows = await self._reader.read(run_id)
            if rows is None:
                raise RunNotFoundError(run_id)
        except BaseException:
            self._give_back_claim(run_id)
            raise
        if found is None:
            found = rows.run
        if isinstance(found, CorruptRecordError):
            record: RunRecord = found.record  # what could be read of it
            damage: CorruptRecordError | None = found
        else:
            record, damage = found, rows.damage
        inbound, requests = rows.inbound, rows.requests
        if record.is_finished:
            return None
        try:
            wf = self.workflow(record.workflow)
        except WorkflowConfigurationError:
            self._give_back_claim(run_id)  # left for a process that serves it
            raise
        if damage is not None:
            await self._quarantine(record, damage)
            return None
        durable: DurableRun | None = None
        ctx: Context[Any] | None = None
        delivering: int | None = None
        try:
            serializer = self.serializer_for(wf)
            ctx = snapshot_from_dict(Context, wf, record.snapshot, serializer, record.workflow)
            durable = DurableRun(self, record.workflow, wf, run_id, record.version, serializer)
            durable.created = True
            durable.stored.set_result(None)
            unread_answers = {item.request_id for item in inbound if item.request_id}
            # Every request the run ever made: a waiter that was asked must not be asked
            # again, and an answer not yet taken in must still reach its waiter.
            for request in requests:
                waiter_key = waiter_key_of(run_id, request.request_id)
                if waiter_key is not None:
                    durable.requested_waiters.add(waiter_key)
                if request.status == "pending" or request.request_id in unread_answers:
                    durable.pending_requests[request.request_id] = waiter_key
            self._loaded[run_id] = durable
            if self.owner is not None:
                self._coordinator.leases.acquired(run_id, claimed_at)
            handler = launch(wf, ctx, None, durable)
            durable.attach(handler)
            for item in inbound:
                if item.id not in skip_inbound:
                    delivering = item.id
                    durable.deliver(item.id, item.payload)
            delivering = None
        except Exception as exc:
            # Nothing was awaited since the launch: no step has run, nothing is written.
            self._abandon_load(durable, ctx)
            await self._quarantine(record, exc, inbound_id=delivering)
            return None
        return durable

    def _give_back_claim(self, run_id: str) -> None:
        """Release a lease taken by a load that goes no further (worker mode)."""
        if self.owner is not None:
            self._coordinator.release_later(run_id)

    def _abandon_load(self, durable: DurableRun | None, ctx: Context[Any] | None) -> None:
        """Undo a load that failed half-way through, synchronously, before the writer or
        any step of the run had a turn: the boundaries it queued are dropped unwritten
        (the run is set aside exactly as stored) and its step tasks are cancelled."""
        if durable is None:
            return
        self._writer.discard(durable)
        if durable.run is None and ctx is not None:
            durable.run = context_run(ctx)  # the launch failed after creating the run
        self._release(durable, give_back=False)

    async def _quarantine(
        self, record: RunRecord, cause: BaseException, *, inbound_id: int | None = None
    ) -> None:
        """Set aside a run that cannot be loaded or executed: status ``quarantined``,
        with an error naming the run and the cause (``inbound_id``: the inbound event
        that could not be delivered; it stays in the store with the others).

        Fenced at the version the run was read at (``store.quarantine_run``): a run
        changed meanwhile (taken by another worker, finished, deleted) is left alone.
        Logs instead of raising, so the caller goes on with other runs.
        """
        run_id = record.run_id
        detail = str(cause)
        if isinstance(cause, CorruptRecordError):
            detail = detail.removeprefix(f"run {run_id!r}: ")
        elif not detail:
            detail = type(cause).__name__
        if inbound_id is not None:
            detail = f"inbound event {inbound_id} cannot be delivered: {detail}"
        message = f"run {run_id!r} of workflow {record.workflow!r} was quarantined: {detail}"
        if len(message) > _QUARANTINE_MESSAGE_LIMIT:
            message = message[: _QUARANTINE_MESSAGE_LIMIT - 3] + "..."
        error: dict[str, Any] = {"type": type(cause).__name__, "message": message}
        if inbound_id is not None:
            error["inbound_id"] = inbound_id
        try:
            await self.store.quarantine_run(run_id, record.version, error)
        except (StaleRunError, RunFinishedError, RunNotFoundError) as exc:
            logger.warning(
                "run %s cannot be loaded (%s), but changed meanwhile: %s", run_id, detail, exc
            )
            return
        except StoreError as exc:
            logger.error("run %s cannot be loaded (%s) nor quarantined: %s", run_id, detail, exc)
            self._give_back_claim(run_id)  # whoever loads it next tries again
            return
        logger.error("%s", message)
        self._fail_result(run_id, _error_from(error, "quarantined"))
        self._feeds_stale(run_id)
        signal = self._signals.pop(run_id, None)
        if signal is not None:
            signal.set()  # stream readers: the run has ended
        self._inbox_changed()  # its pending requests were cancelled
        await notify(self, f"commit:{run_id}")

    def _release(self, durable: DurableRun, *, give_back: bool = True) -> None:
        """Drop ``durable`` from memory (cancelling its steps); with ``give_back``, hand
        its lease back too (not when the lease is no longer ours)."""
        if durable.idle_timer is not None:
            durable.idle_timer.cancel()
            durable.idle_timer = None
        if durable.run is not None and not durable.run.done:
            self._coordinator.adopt(durable.run.release())
        if self._loaded.get(durable.run_id) is durable:
            del self._loaded[durable.run_id]
            if give_back:
                self._coordinator.release_later(durable.run_id)
            else:
                self._coordinator.leases.forget(durable.run_id)
                self._writer.discard(durable)  # fenced off: it would be refused

    def _maybe_release(self, durable: DurableRun) -> None:
        durable.idle_timer = None
        run = durable.run
        if run is None or run.done or self._loaded.get(durable.run_id) is not durable:
            return
        if self._writer.has_pending(durable.run_id) or not run.state.awaits_outside_input:
            return
        self._release(durable)

    # -- commits ---------------------------------------------------------------------------
    def _committed(
        self, durable: DurableRun, part: CommitPart, failed: BaseException | None
    ) -> None:
        run = durable.run
        if failed is not None:
            if self._loaded.get(durable.run_id) is durable:
                # Fenced off (another worker claimed the run): the lease is not ours.
                self._release(durable, give_back=not isinstance(failed, StaleRunError))
            return
        if run is not None:
            for event in part.publish:
                run.stream.put(event)
        feeds = self._feeds.get(durable.run_id)
        if feeds and part.stream:
            now = time.time()
            entries = [
                StreamEntry(durable.run_id, seq, kind, payload, now)
                for seq, kind, payload in part.stream
            ]
            for feed in feeds:
                feed.extend(entries)
        signal = self._signals.pop(durable.run_id, None)
        if signal is not None:
            signal.set()
        if part.new_requests or part.closed_requests:
            self._inbox_changed()
            self._remember_requests(part.new_requests)
        if part.status in ("completed", "failed", "cancelled", "timed_out"):
            if run is not None:
                run.stream.close()
            if self._loaded.get(durable.run_id) is durable:
                del self._loaded[durable.run_id]
                self._coordinator.leases.forget(durable.run_id)
            self._remember_outcome(
                durable.run_id, (durable.name, part.status, part.result, part.error)
            )
            future = self._results.pop(durable.run_id, None)
            if future is not None and not future.done():
                if part.status == "completed":
                    future.set_result(durable.serializer.decode(part.result, durable.types))
                else:
                    future.set_exception(durable.error or _error_from(part.error))
                    future.exception()
            return
        if (
            part.status == "waiting"
            and self.idle_release_after is not None
            and durable.idle_timer is None
            and self._phase == "open"
        ):
            durable.idle_timer = asyncio.get_running_loop().call_later(
                self.idle_release_after, self._maybe_release, durable
            )

    def _result_future(self, run_id: str) -> asyncio.Future[Any]:
        future = self._results.get(run_id)
        if future is None:
            future = self._results[run_id] = asyncio.get_running_loop().create_future()
        return future

    def _open_feed(self, run_id: str) -> StreamFeed:
        """Start feeding the stream entries this engine commits for ``run_id``."""
        feed = StreamFeed()
        self._feeds.setdefault(run_id, []).append(feed)
        return feed

    def _close_feed(self, run_id: str, feed: StreamFeed) -> None:
        feeds = self._feeds.get(run_id, [])
        if feed in feeds:
            feeds.remove(feed)
        if not feeds:
            self._feeds.pop(run_id, None)

    def _feeds_stale(self, run_id: str) -> None:
        """Stream readers of ``run_id`` must read the store next (it changed elsewhere)."""
        for feed in self._feeds.get(run_id, ()):
            feed.mark_stale()

    def _signal(self, run_id: str) -> asyncio.Event:
        signal = self._signals.get(run_id)
        if signal is None:
            signal = self._signals[run_id] = asyncio.Event()
        return signal

    async def _await_result(self, run_id: str) -> Any:
        self._check_open()
        # The future exists before the store is read, so a commit that finishes the run
        # in between still settles it.
        future = self._result_future(run_id)
        if not future.done() and run_id not in self._loaded:
            # (A run loaded here settles the future at its final commit: no read needed.)
            outcome = self._finished.get(run_id)
            if outcome is not None:  # finished here, as its final commit stored it
                self._results.pop(run_id, None)
                self._settle_outcome(future, *outcome)
                return future.result()
            record = await self.store.get_run(run_id)
            if record.is_finished:
                self._results.pop(run_id, None)
                self._settle(future, record)
                return future.result()
            if await self._ensure_loaded(run_id) is None and self.owner is None:
                self._remote_commit(run_id)  # finished meanwhile, or executed elsewhere
        return await asyncio.shield(future)

    def _remote_commit(self, run_id: str) -> None:
        """Another process committed ``run_id``: wake local readers and waiters."""
        self._feeds_stale(run_id)
        signal = self._signals.pop(run_id, None)
        if signal is not None:
            signal.set()
        future = self._results.get(run_id)
        if future is not None and not future.done() and run_id not in self._loaded:
            self._coordinator.check_finished(run_id)

    async def _settle_checked(self, run_id: str) -> None:
        """:meth:`_settle_from_store`, except that a run whose stored row cannot be
        decoded settles its awaiters with that error: checking the results of many
        runs, one damaged run must not keep the others from being settled."""
        try:
            await self._settle_from_store(run_id)
        except CorruptRecordError as exc:
            self._fail_result(run_id, exc)

    def _fail_result(self, run_id: str, exc: BaseException) -> None:
        """Settle the awaiters of ``run_id`` (if any) with ``exc``."""
        future = self._results.pop(run_id, None)
        if future is not None and not future.done():
            future.set_exception(exc)
            future.exception()  # retrieved: whoever awaits the run gets it raised

    async def _settle_from_store(self, run_id: str) -> None:
        future = self._results.get(run_id)
        if future is None or future.done():
            return
        record = await self.store.get_run(run_id)
        if not record.is_finished:
            return
        self._results.pop(run_id, None)
        self._settle(future, record)

    def _settle(self, future: asyncio.Future[Any], record: RunRecord) -> None:
        """Settle ``future`` with the outcome of the finished run ``record``."""
        self._settle_outcome(future, record.workflow, record.status, record.result, record.error)

    def _settle_outcome(
        self,
        future: asyncio.Future[Any],
        workflow: str,
        status: str,
        result: Any,
        error: dict[str, Any] | None,
    ) -> None:
        """Settle ``future`` with a finished run's stored outcome."""
        if future.done():  # settled meanwhile by a commit or another store check
            return
        if status == "completed":
            wf = self.workflow(workflow)
            serializer = self.serializer_for(wf)
            future.set_result(serializer.decode(result, registry_for(wf, serializer)))
        else:
            future.set_exception(_error_from(error, status))
            future.exception()  # retrieved: whoever awaits it gets it raised

    def _remember_outcome(self, run_id: str, outcome: _Outcome) -> None:
        """Keep the outcome of a run that finished here, so awaiting it later reads
        nothing (the most recent :data:`_OUTCOMES_KEPT` are kept)."""
        self._finished[run_id] = outcome
        if len(self._finished) > _OUTCOMES_KEPT:
            del self._finished[next(iter(self._finished))]

    # -- for the engine's parts (EngineCore, see ._parts): internal to this package -------
    @property
    def phase(self) -> str:
        """``new``, ``open``, ``failed``, ``closing`` or ``closed`` (internal)."""
        return self._phase

    @property
    def writer(self) -> CommitWriter:
        """The commit writer, once open (internal)."""
        return self._writer

    @property
    def coordinator(self) -> Coordinator:
        """Leases, wake-ups and background tasks (internal)."""
        return self._coordinator

    @property
    def loaded(self) -> Mapping[str, DurableRun]:
        """The runs executing in memory, by id (internal; read-only)."""
        return self._loaded

    @property
    def loading(self) -> Mapping[str, asyncio.Future[DurableRun | None]]:
        """The runs being loaded, by id (internal; read-only)."""
        return self._loading

    async def ensure_loaded(
        self, run_id: str, *, claimed: tuple[RunRecord, float] | None = None
    ) -> DurableRun | None:
        """The run in memory, loaded (claimed, in worker mode; ``claimed``: from a claim
        already made) if needed; None if it is not ours to execute (internal)."""
        return await self._ensure_loaded(run_id, claimed=claimed)

    def release(self, durable: DurableRun, *, give_back: bool = True) -> None:
        """Drop ``durable`` from memory; ``give_back``: its lease too (internal)."""
        self._release(durable, give_back=give_back)

    def committed(
        self, durable: DurableRun, part: CommitPart, failed: BaseException | None
    ) -> None:
        """The writer wrote ``part`` of ``durable`` (``failed``: could not) (internal)."""
        self._committed(durable, part, failed)

    def component_failed(self, name: str, exc: BaseException) -> None:
        """The background task ``name`` crashed: stop serving (internal)."""
        self._component_failed(name, exc)

    def inbox_changed(self) -> None:
        """Wake this engine's inbox streams (internal)."""
        self._inbox_changed()

    def remote_commit(self, run_id: str) -> None:
        """Another process committed ``run_id``: wake local readers and waiters
        (internal)."""
        self._remote_commit(run_id)

    def notice_outside_writes(self) -> None:
        """Another process wrote to the store: the inbox streams, stream readers and
        result waiters of this engine look again (internal)."""
        self._inbox_changed()  # it may have answered, asked or closed requests
        for run_id in {*self._signals, *self._results}:
            self._remote_commit(run_id)  # results and streams of runs finished elsewhere

    async def settle_checked(self, run_id: str) -> None:
        """Settle the awaiters of ``run_id`` if the store says it finished (internal)."""
        await self._settle_checked(run_id)

    async def settle_awaited(self) -> None:
        """Settle, from the store, every run awaited here that finished (internal)."""
        for run_id in list(self._results):
            await self._settle_checked(run_id)

    async def await_result(self, run_id: str) -> Any:
        """The outcome of ``run_id``, waiting for its end (internal: ``RunHandle``)."""
        return await self._await_result(run_id)

    def signal(self, run_id: str) -> asyncio.Event:
        """An event set at the next commit of ``run_id`` (internal)."""
        return self._signal(run_id)

    def open_feed(self, run_id: str) -> StreamFeed:
        """Start feeding the entries committed here for ``run_id`` (internal)."""
        return self._open_feed(run_id)

    def close_feed(self, run_id: str, feed: StreamFeed) -> None:
        """Stop feeding ``feed`` (internal)."""
        self._close_feed(run_id, feed)


class _HolderKeyword(TypedDict, total=False):
    holder: str


def _holder_keyword(holder: str | None) -> _HolderKeyword:
    """``holder=`` for the store's answer call, left out when not given, so a store
    written before the keyword existed keeps working."""
    return {} if holder is None else {"holder": holder}


def _encoded_input(durable: DurableRun, start_event: StartEvent) -> dict[str, Any] | None:
    """The start event as the run's serializer encodes events, to keep with the run;
    ``None`` when it cannot be encoded (the run's first commit then fails and says why)."""
    try:
        encoded = durable.serializer.encode(start_event, durable.types)
    except ContextSerdeError:
        return None
    return encoded if isinstance(encoded, dict) else {"value": encoded}


def _damage_of(record: RunRecord) -> CorruptRecordError:
    """The error ``claim_run`` raises for a damaged run, for one a ``claim_runs``
    returned marked (``corrupt``)."""
    column, cause = next(iter((record.corrupt or {"snapshot": "damaged"}).items()))
    return CorruptRecordError(record.run_id, column, cause, record=record)


_Outcome = tuple[str, str, Any, "dict[str, Any] | None"]
"""A finished run's workflow, status, result and error, as its final commit stored them."""

_OUTCOMES_KEPT = 10_000
"""How many outcomes of runs finished here an engine keeps (see ``_remember_outcome``)."""

_QUARANTINE_MESSAGE_LIMIT = 4000
"""Longest message stored with a quarantined run (a cause's text may be huge)."""


def _builtin_events() -> list[type[Event]]:
    from .. import events

    return [getattr(events, name) for name in events.__all__]


def _error_from(error: dict[str, Any] | None, status: str = "failed") -> BaseException:
    from ..errors import ContextSerdeError, WorkflowCancelledByUser, WorkflowTimeoutError

    message = (error or {}).get("message", status)
    kind = (error or {}).get("type", "")
    if status == "cancelled" or kind == "WorkflowCancelledByUser":
        return WorkflowCancelledByUser(message)
    if status == "timed_out" or kind == "WorkflowTimeoutError":
        return WorkflowTimeoutError(message)
    if kind == "ContextSerdeError":  # the engine's own verdict: its state could not be stored
        return ContextSerdeError(message)
    return WorkflowRuntimeError(f"run failed: {kind}: {message}")
