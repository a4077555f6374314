"""``MemoryStore``: the run store kept in process memory (tests, ``memory://``)."""

from __future__ import annotations

import bisect
import functools
import itertools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any, cast

from workflows.errors import (
    InputRequestNotFoundError,
    RequestAssigneeChangedError,
    RunAlreadyExistsError,
    RunNotFoundError,
    StaleRunError,
    StoreError,
)
from workflows.stores._checkpoint_records import (
    CheckpointWrite,
    ForkLink,
    RunLineage,
    StoredCheckpoint,
)
from workflows.stores._checkpoint_rows import check_fork
from workflows.stores._codec import decode, encode, encode_opt
from workflows.stores._errors import RunFinishedError
from workflows.stores._lifecycle import StoreLifecycle
from workflows.stores._loading import LoadedRun, loaded_run
from workflows.stores._memory_checkpoints import MemoryCheckpoints
from workflows.stores._records import (
    ANY,
    TERMINAL_STATUSES,
    Answer,
    AssigneeAction,
    AuditAction,
    AuditEntry,
    Commit,
    DeliveryAttempt,
    InboundEvent,
    InputRequest,
    RequestPage,
    RequestQuery,
    RequestStatus,
    RunRecord,
    RunStatus,
    StreamEntry,
    _Any,
)
from workflows.stores._request_query import (
    check_query,
    compare,
    encode_cursor,
    matches,
    sort_values,
)
from workflows.stores._rows import (
    check_intact,
    inbound_event,
    request_from_row,
    run_from_row,
    stream_entry,
)
from workflows.stores._rules import (
    answer_parts,
    answer_payload,
    assignee_detail,
    check_answered_by,
    check_assignee_change,
    check_commit,
    check_delivery,
    check_holder,
    check_new_run_status,
    check_paging,
    check_quarantine,
    check_response_fits,
    created_detail,
    is_repeat_answer,
    lease_lost_message,
    not_pending_error,
    overdue_payload,
)
from workflows.stores._state_rows import encoded_state_changes, with_state_rows

__all__ = ["MemoryStore"]

_EMPTY: dict[str, Any] = {}


@dataclass(slots=True)
class _Run:
    record: RunRecord  # dict fields hold JSON text in ``texts``; the record's are stale
    texts: tuple[str, str | None, str | None]  # snapshot, result, error
    order: int
    input: str | None = None  # the start input, as JSON text
    stream: list[tuple[int, str, str, float]] = field(default_factory=list)
    inbound: dict[int, tuple[str, str | None, float]] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)
    state: dict[str, str] = field(default_factory=dict)  # state rows: key -> JSON text


@dataclass(slots=True)
class _Request:
    record: InputRequest
    payload: str
    schema: str
    response: str | None
    order: int


class MemoryStore(StoreLifecycle):
    """A :class:`~workflows.stores.RunStore` in process memory; nothing survives the process.

    Values are stored as JSON text, exactly as the SQL stores do, so code tested on a
    ``MemoryStore`` meets the same JSON round trip and the same errors. Every operation
    runs without awaiting between its reads and writes, so each one is atomic on the
    event loop without a lock. Not thread-safe: use it from one event loop.

    Args:
        clock: Source of timestamps (default ``time.time``).

    Example::

        async with MemoryStore() as store:
            await store.create_run(RunRecord.new("run-1", "my_flow", {}))
    """

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._runs: dict[str, _Run] = {}
        self._requests: dict[str, _Request] = {}
        self._checkpoints = MemoryCheckpoints()
        self._counter = itertools.count(1)
        self._audit: list[AuditEntry] = []
        self._audit_ids = itertools.count(1)
        self._webhook_cursors: dict[str, int] = {}
        self._deliveries: list[DeliveryAttempt] = []

    def __repr__(self) -> str:
        return "MemoryStore()"

    async def _open(self) -> None:
        pass

    async def _close(self) -> None:
        self._runs.clear()
        self._requests.clear()
        self._checkpoints.clear()
        self._audit.clear()
        self._webhook_cursors.clear()
        self._deliveries.clear()

    # -- runs ------------------------------------------------------------------------

    def _get(self, run_id: str) -> _Run:
        try:
            return self._runs[run_id]
        except KeyError:
            raise RunNotFoundError(run_id) from None

    @staticmethod
    def _out(run: _Run, *, listing: bool = False) -> RunRecord:
        snapshot, result, error = run.texts
        r = run.record
        row = (
            r.run_id,
            r.workflow,
            r.status,
            snapshot,
            r.version,
            r.created_at,
            r.updated_at,
            result,
            error,
            r.owner,
            r.lease_expires_at,
            run.input,
        )
        record = run_from_row(row, listing=listing)
        return with_state_rows(record, run.state.items(), listing=listing)

    async def create_run(self, run: RunRecord) -> None:
        """See :meth:`RunStore.create_run`."""
        self._check_open()
        check_new_run_status(run.status)
        if run.run_id in self._runs:
            raise RunAlreadyExistsError(run.run_id)
        texts = (
            encode(run.snapshot, f"snapshot of run {run.run_id!r}"),
            encode_opt(run.result, f"result of run {run.run_id!r}"),
            encode_opt(run.error, f"error of run {run.run_id!r}"),
        )
        # The record keeps only the small fields; the JSON texts are the stored values.
        start_input = encode_opt(run.input, f"start input of run {run.run_id!r}")
        stripped = replace(run, snapshot=_EMPTY, result=None, error=None, corrupt=None, input=None)
        self._runs[run.run_id] = _Run(stripped, texts, next(self._counter), input=start_input)

    async def get_run(self, run_id: str) -> RunRecord:
        """See :meth:`RunStore.get_run`."""
        self._check_open()
        return self._run_out(run_id)

    def _run_out(self, run_id: str) -> RunRecord:
        return self._out(self._get(run_id))

    async def load_many(self, run_ids: Sequence[str]) -> dict[str, LoadedRun]:
        """See :meth:`RunStore.load_many`."""
        self._check_open()
        loaded: dict[str, LoadedRun] = {}
        for run_id in dict.fromkeys(run_ids):
            found = loaded_run(
                partial(self._run_out, run_id),
                partial(self._inbound_of, run_id),
                partial(self._requests_of, run_id),
            )
            if found is not None:
                loaded[run_id] = found
        return loaded

    async def list_runs(
        self,
        *,
        status: RunStatus | None = None,
        workflow: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[RunRecord]:
        """See :meth:`RunStore.list_runs`."""
        self._check_open()
        check_paging(limit, offset)
        runs = [
            run
            for run in self._runs.values()
            if (status is None or run.record.status == status)
            and (workflow is None or run.record.workflow == workflow)
        ]
        runs.sort(key=lambda run: (run.record.created_at, run.order), reverse=True)
        return [self._out(run, listing=True) for run in runs[offset : offset + limit]]

    async def delete_run(self, run_id: str) -> None:
        """See :meth:`RunStore.delete_run`."""
        self._check_open()
        run = self._get(run_id)
        del self._runs[run_id]
        for request_id in run.requests:
            del self._requests[request_id]
        self._checkpoints.drop(run_id)
        self._audit = [entry for entry in self._audit if entry.run_id != run_id]

    # -- commits -----------------------------------------------------------------------

    async def commit(self, commit: Commit) -> int:
        """See :meth:`RunStore.commit`."""
        self._check_open()
        return self._commit(commit)

    async def commit_many(self, commits: Sequence[Commit]) -> list[int | Exception]:
        """See :meth:`RunStore.commit_many`."""
        self._check_open()
        outcomes: list[int | Exception] = []
        for commit in commits:
            try:
                outcomes.append(self._commit(commit))
            except (StoreError, ValueError) as exc:  # nothing of it was written
                outcomes.append(exc)
        return outcomes

    def _commit(self, commit: Commit) -> int:
        check_commit(commit)
        run = self._get(commit.run_id)
        record = run.record
        if record.status in TERMINAL_STATUSES:
            raise RunFinishedError(record.run_id, record.status)
        if record.version != commit.expected_version:
            raise StaleRunError(
                commit.run_id,
                f"stored version {record.version}, expected {commit.expected_version}",
            )
        # Check everything first, then write: a commit is all or nothing.
        known = {entry[0] for entry in run.stream}
        for seq, _, _ in commit.stream:
            if seq in known:
                raise StoreError(f"stream entry seq {seq} of run {commit.run_id!r} exists")
        for request in commit.new_requests:
            if request.request_id in self._requests:
                raise StoreError(f"input request {request.request_id!r} already exists")
        added = {request.request_id for request in commit.new_requests}
        for request_id, status in commit.closed_requests:
            if request_id in added:
                continue  # added by this very commit, so still pending
            stored = self._requests.get(request_id)
            if stored is None or stored.record.run_id != commit.run_id:
                raise StaleRunError(
                    commit.run_id, f"input request {request_id!r} is not a request of this run"
                )
            if stored.record.status not in ("pending", status):
                raise StaleRunError(
                    commit.run_id,
                    f"input request {request_id!r} is already {stored.record.status}",
                )
        for inbound_id in commit.consumed_inbound:
            if inbound_id not in run.inbound:
                raise StaleRunError(
                    commit.run_id, f"inbound event {inbound_id} was already consumed"
                )
        texts = (
            encode(commit.snapshot, f"snapshot of run {commit.run_id!r}"),
            encode_opt(commit.result, f"result of run {commit.run_id!r}"),
            encode_opt(commit.error, f"error of run {commit.run_id!r}"),
        )
        stream = [
            (seq, event_type, encode(payload, f"stream entry {seq} of run {commit.run_id!r}"))
            for seq, event_type, payload in commit.stream
        ]
        new_requests = [self._encode_request(request) for request in commit.new_requests]
        reset, deleted, keys, values = encoded_state_changes(commit)
        checkpoint = commit.checkpoint
        meta = None if checkpoint is None else self._checkpoints.check(commit.run_id, checkpoint)

        now = self._clock()
        finished = commit.status in TERMINAL_STATUSES
        run.texts = texts
        run.record = replace(
            record,
            status=commit.status,
            version=record.version + 1,
            updated_at=now,
            owner=None if finished else record.owner,
            lease_expires_at=None if finished else record.lease_expires_at,
        )
        if reset:
            run.state.clear()
        for key in deleted:
            run.state.pop(key, None)
        run.state.update(zip(keys, values, strict=True))
        for seq, event_type, payload in stream:
            bisect.insort(run.stream, (seq, event_type, payload, now))
        for new in new_requests:
            self._requests[new.record.request_id] = new
            run.requests.append(new.record.request_id)
            created = new.record
            self._add_audit(created, created.created_at, "created", None, created_detail(created))
        for request_id, status in commit.closed_requests:
            self._close_request(request_id, status, now, commit.answered_by.get(request_id))
        for inbound_id in commit.consumed_inbound:
            del run.inbound[inbound_id]
        if finished:
            run.inbound.clear()
            for request_id in run.requests:
                self._close_request(request_id, "cancelled", now)
        if checkpoint is not None and meta is not None:
            self._checkpoints.add(commit.run_id, checkpoint, meta, commit.status, now)
        return run.record.version

    def _encode_request(self, request: InputRequest) -> _Request:
        what = f"input request {request.request_id!r}"
        return _Request(
            replace(request, payload=_EMPTY, response_schema=_EMPTY, corrupt=None),
            encode(request.payload, f"payload of {what}"),
            encode(request.response_schema, f"response schema of {what}"),
            None,
            next(self._counter),
        )

    def _close_request(
        self, request_id: str, status: RequestStatus, now: float, by: str | None = None
    ) -> None:
        stored = self._requests[request_id]
        if stored.record.status == "pending":
            stored.record = replace(stored.record, status=status, answered_at=now, answered_by=by)
            self._add_audit(stored.record, now, cast(AuditAction, status), by, {})

    def _add_audit(
        self,
        request: InputRequest,
        at: float,
        action: AuditAction,
        actor: str | None,
        detail: dict[str, Any],
    ) -> None:
        entry = AuditEntry(
            next(self._audit_ids),
            request.request_id,
            request.run_id,
            request.workflow,
            at,
            action,
            actor,
            decode(encode(detail, f"audit detail of input request {request.request_id!r}")),
        )
        self._audit.append(entry)

    # -- checkpoints and forks (CheckpointStore) ------------------------------------------

    async def list_checkpoints(
        self, run_id: str, *, after: int | None = None, limit: int | None = None
    ) -> list[StoredCheckpoint]:
        """See :meth:`CheckpointStore.list_checkpoints`."""
        self._check_open()
        check_paging(limit, 0)
        self._get(run_id)
        return self._checkpoints.listing(run_id, after, limit)

    async def checkpoint_chain(self, run_id: str, seq: int) -> list[StoredCheckpoint]:
        """See :meth:`CheckpointStore.checkpoint_chain`."""
        self._check_open()
        return self._checkpoints.chain(run_id, seq)

    async def fork_run(
        self,
        run: RunRecord,
        *,
        parent_run_id: str,
        parent_seq: int,
        checkpoint: CheckpointWrite,
        requests: Sequence[InputRequest] = (),
        stream_upto: int = 0,
    ) -> None:
        """See :meth:`CheckpointStore.fork_run`."""
        self._check_open()
        check_fork(run.run_id, parent_run_id, requests)
        parent = self._get(parent_run_id)
        for request in requests:
            if request.request_id in self._requests:
                raise StoreError(f"input request {request.request_id!r} already exists")
        meta = self._checkpoints.check(run.run_id, checkpoint)
        encoded = [self._encode_request(request) for request in requests]
        await self.create_run(run)  # checks the run; nothing awaits inside
        forked = self._runs[run.run_id]
        now = self._clock()
        forked.stream = [entry for entry in parent.stream if entry[0] <= stream_upto]
        for new in encoded:
            self._requests[new.record.request_id] = new
            forked.requests.append(new.record.request_id)
            created = new.record
            self._add_audit(created, created.created_at, "created", None, created_detail(created))
        self._checkpoints.add(run.run_id, checkpoint, meta, run.status, now)
        self._checkpoints.fork(ForkLink(run.run_id, parent_run_id, parent_seq, now))

    async def run_lineage(self, run_id: str) -> RunLineage:
        """See :meth:`CheckpointStore.run_lineage`."""
        self._check_open()
        lineage = self._checkpoints.lineage(run_id)
        if run_id not in self._runs and not lineage.forks:
            raise RunNotFoundError(run_id)
        return lineage

    # -- stream log ----------------------------------------------------------------------

    async def read_stream(
        self, run_id: str, *, after: int = 0, limit: int | None = None
    ) -> list[StreamEntry]:
        """See :meth:`RunStore.read_stream`."""
        self._check_open()
        check_paging(limit, 0)
        stream = self._get(run_id).stream
        start = bisect.bisect_right(stream, after, key=lambda entry: entry[0])
        stop = len(stream) if limit is None else start + limit
        return [
            stream_entry(run_id, seq, event_type, payload, created_at)
            for seq, event_type, payload, created_at in stream[start:stop]
        ]

    # -- inbound events ----------------------------------------------------------------

    async def add_inbound(self, run_id: str, payload: dict[str, Any]) -> InboundEvent:
        """See :meth:`RunStore.add_inbound`."""
        self._check_open()
        run = self._get(run_id)
        if run.record.status in TERMINAL_STATUSES:
            raise RunFinishedError(run_id, run.record.status)
        return self._add_inbound(run, encode(payload, f"event for run {run_id!r}"), None)

    def _add_inbound(self, run: _Run, payload: str, request_id: str | None) -> InboundEvent:
        inbound_id = next(self._counter)
        now = self._clock()
        run.inbound[inbound_id] = (payload, request_id, now)
        return InboundEvent(inbound_id, run.record.run_id, decode(payload), request_id, now)

    async def list_inbound(self, run_id: str) -> list[InboundEvent]:
        """See :meth:`RunStore.list_inbound`."""
        self._check_open()
        return self._inbound_of(run_id)

    def _inbound_of(self, run_id: str) -> list[InboundEvent]:
        run = self._get(run_id)
        return [
            inbound_event(inbound_id, run_id, payload, request_id, created_at)
            for inbound_id, (payload, request_id, created_at) in sorted(run.inbound.items())
        ]

    # -- input requests ----------------------------------------------------------------

    @staticmethod
    def _request_out(stored: _Request) -> InputRequest:
        r = stored.record
        row = (
            r.request_id,
            r.run_id,
            r.workflow,
            r.event_type,
            stored.payload,
            stored.schema,
            r.created_at,
            r.deadline,
            r.status,
            stored.response,
            r.idempotency_key,
            r.answered_at,
            r.answered_by,
            r.assignee,
            r.candidate_users,
            r.candidate_groups,
            r.priority,
            r.due,
            r.follow_up,
            r.overdue_at,
        )
        return request_from_row(row)

    def _requests_of(self, run_id: str) -> list[InputRequest]:
        """Every request of the run, newest first (``list_requests`` with no limit)."""
        found = [self._requests[request_id] for request_id in self._runs[run_id].requests]
        found.sort(key=lambda stored: (stored.record.created_at, stored.order), reverse=True)
        return [self._request_out(stored) for stored in found]

    async def get_request(self, request_id: str) -> InputRequest:
        """See :meth:`RunStore.get_request`."""
        self._check_open()
        try:
            return self._request_out(self._requests[request_id])
        except KeyError:
            raise InputRequestNotFoundError(request_id) from None

    async def list_requests(
        self,
        *,
        workflow: str | None = None,
        run_id: str | None = None,
        status: RequestStatus | None = "pending",
        limit: int = 100,
        offset: int = 0,
    ) -> list[InputRequest]:
        """See :meth:`RunStore.list_requests`."""
        self._check_open()
        check_paging(limit, offset)
        found = [
            stored
            for stored in self._requests.values()
            if (workflow is None or stored.record.workflow == workflow)
            and (run_id is None or stored.record.run_id == run_id)
            and (status is None or stored.record.status == status)
        ]
        found.sort(key=lambda stored: (stored.record.created_at, stored.order), reverse=True)
        return [self._request_out(stored) for stored in found[offset : offset + limit]]

    async def answer_request(
        self,
        request_id: str,
        response: dict[str, Any],
        *,
        idempotency_key: str | None = None,
        answered_by: str | None = None,
        known: InputRequest | None = None,
        holder: str | None = None,
    ) -> InboundEvent | None:
        """See :meth:`RunStore.answer_request`."""
        self._check_open()
        check_answered_by(answered_by)
        stored = self._requests.get(request_id)
        if stored is None:
            raise InputRequestNotFoundError(request_id)
        current = self._request_out(stored)
        check_holder(current, holder)
        check_intact(current, "response_schema", "response")
        if current.status != "pending":
            is_repeat_answer(current, response, idempotency_key)
            return None
        check_response_fits(current, response)
        text = encode(response, f"response to input request {request_id!r}")
        payload = encode(answer_payload(request_id, decode(text)), "answer")
        run = self._get(current.run_id)
        event = self._add_inbound(run, payload, request_id)
        stored.response = text
        stored.record = replace(
            stored.record,
            status="answered",
            idempotency_key=idempotency_key,
            answered_at=event.created_at,
            answered_by=answered_by,
        )
        self._add_audit(stored.record, event.created_at, "answered", answered_by, {})
        return event

    async def answer_requests(
        self, answers: Sequence[Answer]
    ) -> list[InboundEvent | Exception | None]:
        """See :meth:`RunStore.answer_requests`."""
        self._check_open()
        outcomes: list[InboundEvent | Exception | None] = []
        for answer in answers:
            request_id, response, key, by, holder = answer_parts(answer)
            try:
                outcomes.append(
                    await self.answer_request(
                        request_id, response, idempotency_key=key, answered_by=by, holder=holder
                    )
                )
            except (StoreError, ValueError) as exc:
                outcomes.append(exc)
        return outcomes

    async def quarantine_run(
        self, run_id: str, expected_version: int, error: dict[str, Any]
    ) -> int:
        """See :meth:`RunStore.quarantine_run`."""
        self._check_open()
        text = check_quarantine(run_id, error)
        run = self._get(run_id)
        record = run.record
        if record.status in TERMINAL_STATUSES:
            raise RunFinishedError(run_id, record.status)
        if record.version != expected_version:
            raise StaleRunError(
                run_id, f"stored version {record.version}, expected {expected_version}"
            )
        now = self._clock()
        run.texts = (run.texts[0], run.texts[1], text)
        run.record = replace(
            record,
            status="quarantined",
            version=record.version + 1,
            updated_at=now,
            owner=None,
            lease_expires_at=None,
        )
        for request_id in run.requests:
            self._close_request(request_id, "cancelled", now)
        return run.record.version

    # -- tasks: assignment, listing, audit, due dates ---------------------------------------

    async def query_requests(self, query: RequestQuery) -> RequestPage:
        """See :meth:`RunStore.query_requests`."""
        self._check_open()
        after = check_query(query)
        sort = query.sort
        found = [
            request
            for request in map(self._request_out, self._requests.values())
            if matches(query, request)
            and (after is None or compare(sort, sort_values(sort, request), after) > 0)
        ]
        found.sort(
            key=functools.cmp_to_key(
                lambda a, b: compare(sort, sort_values(sort, a), sort_values(sort, b))
            )
        )
        page = found[: query.limit]
        more = len(found) > query.limit
        cursor = encode_cursor(sort, sort_values(sort, page[-1])) if more else None
        return RequestPage(page, cursor)

    async def set_assignee(
        self,
        request_id: str,
        assignee: str | None,
        *,
        actor: str | None,
        action: AssigneeAction,
        expected: str | _Any | None = ANY,
        now: float | None = None,
    ) -> InputRequest:
        """See :meth:`RunStore.set_assignee`."""
        self._check_open()
        check_assignee_change(assignee, actor, action)
        stored = self._requests.get(request_id)
        if stored is None:
            raise InputRequestNotFoundError(request_id)
        record = stored.record
        if record.status != "pending":
            raise not_pending_error(request_id, record.status)
        if expected is not ANY and record.assignee != expected:
            raise RequestAssigneeChangedError(request_id, record.assignee)
        stamp = self._clock() if now is None else now
        stored.record = replace(record, assignee=assignee)
        self._add_audit(
            stored.record, stamp, action, actor, assignee_detail(assignee, record.assignee)
        )
        return self._request_out(stored)

    async def request_audit(self, request_id: str) -> list[AuditEntry]:
        """See :meth:`RunStore.request_audit`."""
        self._check_open()
        if request_id not in self._requests:
            raise InputRequestNotFoundError(request_id)
        return [entry for entry in self._audit if entry.request_id == request_id]

    async def audit_after(self, after_id: int, limit: int = 100) -> list[AuditEntry]:
        """See :meth:`RunStore.audit_after`."""
        self._check_open()
        check_paging(limit, 0)
        start = bisect.bisect_right(self._audit, after_id, key=lambda entry: entry.id)
        return self._audit[start : start + limit]

    async def mark_overdue(self, now: float) -> list[InputRequest]:
        """See :meth:`RunStore.mark_overdue`."""
        self._check_open()
        due = [
            stored
            for stored in self._requests.values()
            if stored.record.status == "pending"
            and stored.record.due is not None
            and stored.record.due <= now
            and stored.record.overdue_at is None
        ]
        due.sort(key=lambda stored: (stored.record.due, stored.record.request_id))
        marked = []
        for stored in due:
            record = stored.record = replace(stored.record, overdue_at=now)
            payload = overdue_payload(record.request_id, record.due)
            self._add_inbound(self._runs[record.run_id], encode(payload, "overdue event"), None)
            self._add_audit(record, now, "overdue", None, {"due": record.due})
            marked.append(self._request_out(stored))
        return marked

    # -- webhook delivery bookkeeping -----------------------------------------------------

    async def webhook_cursor(self, endpoint: str) -> int | None:
        """See :meth:`RunStore.webhook_cursor`."""
        self._check_open()
        return self._webhook_cursors.get(endpoint)

    async def advance_webhook_cursor(self, endpoint: str, audit_id: int) -> None:
        """See :meth:`RunStore.advance_webhook_cursor`."""
        self._check_open()
        current = self._webhook_cursors.get(endpoint)
        if current is None or audit_id > current:
            self._webhook_cursors[endpoint] = audit_id

    async def record_delivery(self, attempt: DeliveryAttempt) -> None:
        """See :meth:`RunStore.record_delivery`."""
        self._check_open()
        check_delivery(attempt)
        self._deliveries.append(attempt)

    async def list_deliveries(
        self,
        *,
        endpoint: str | None = None,
        request_id: str | None = None,
        audit_id: int | None = None,
        limit: int = 100,
    ) -> list[DeliveryAttempt]:
        """See :meth:`RunStore.list_deliveries`."""
        self._check_open()
        check_paging(limit, 0)
        found = [
            attempt
            for attempt in reversed(self._deliveries)
            if (endpoint is None or attempt.endpoint == endpoint)
            and (request_id is None or attempt.request_id == request_id)
            and (audit_id is None or attempt.audit_id == audit_id)
        ]
        return found[:limit]

    # -- recovery and leases ---------------------------------------------------------------

    async def runs_with_work(self, *, now: float | None = None) -> list[str]:
        """See :meth:`RunStore.runs_with_work`."""
        self._check_open()
        return [
            run_id
            for run_id, run in self._runs.items()
            if run.record.status not in TERMINAL_STATUSES
            and (run.record.status == "running" or run.inbound)
            and (
                now is None
                or run.record.lease_expires_at is None
                or run.record.lease_expires_at <= now
            )
        ]

    async def due_requests(self, now: float) -> list[InputRequest]:
        """See :meth:`RunStore.due_requests`."""
        self._check_open()
        due = [
            stored
            for stored in self._requests.values()
            if stored.record.status == "pending"
            and stored.record.deadline is not None
            and stored.record.deadline <= now
        ]
        due.sort(key=lambda stored: (stored.record.deadline, stored.order))
        return [self._request_out(stored) for stored in due]

    async def claim_run(
        self, run_id: str, owner: str, lease_seconds: float, *, now: float | None = None
    ) -> RunRecord:
        """See :meth:`RunStore.claim_run`."""
        self._check_open()
        run = self._get(run_id)
        record = run.record
        if record.status in TERMINAL_STATUSES:
            raise RunFinishedError(run_id, record.status)
        stamp = self._clock() if now is None else now
        held = record.lease_expires_at is not None and record.lease_expires_at > stamp
        if record.owner is not None and record.owner != owner and held:
            raise StaleRunError(
                run_id, f"leased by {record.owner!r} until {record.lease_expires_at}"
            )
        run.record = replace(
            record,
            owner=owner,
            lease_expires_at=stamp + lease_seconds,
            version=record.version + 1,
        )
        return self._out(run)

    async def renew_lease(
        self, run_id: str, owner: str, lease_seconds: float, *, now: float | None = None
    ) -> float:
        """See :meth:`RunStore.renew_lease`."""
        self._check_open()
        run = self._get(run_id)
        record = run.record
        if record.status in TERMINAL_STATUSES:
            raise RunFinishedError(run_id, record.status)
        if record.owner != owner:
            raise StaleRunError(run_id, lease_lost_message(owner, record.owner))
        expires = (self._clock() if now is None else now) + lease_seconds
        run.record = replace(record, lease_expires_at=expires)
        return expires

    async def renew_leases(
        self,
        run_ids: Sequence[str],
        owner: str,
        lease_seconds: float,
        *,
        now: float | None = None,
    ) -> list[str]:
        """See :meth:`RunStore.renew_leases`."""
        self._check_open()
        expires = (self._clock() if now is None else now) + lease_seconds
        lost = []
        for run_id in run_ids:
            run = self._runs.get(run_id)
            if run is None or run.record.owner != owner or run.record.is_finished:
                lost.append(run_id)
                continue
            run.record = replace(run.record, lease_expires_at=expires)
        return lost

    async def claim_runs(
        self,
        owner: str,
        lease_seconds: float,
        *,
        limit: int,
        run_ids: Sequence[str] | None = None,
        exclude: Sequence[str] = (),
        now: float | None = None,
    ) -> list[RunRecord]:
        """See :meth:`RunStore.claim_runs`."""
        self._check_open()
        excluded = set(exclude)
        stamp = self._clock() if now is None else now
        candidates = (
            self._runs.values()
            if run_ids is None
            else [self._runs[r] for r in dict.fromkeys(run_ids) if r in self._runs]
        )
        claimed: list[RunRecord] = []
        for run in candidates:
            if len(claimed) >= limit:
                break
            record = run.record
            if (
                record.is_finished
                or record.run_id in excluded
                or (run_ids is None and not (record.status == "running" or run.inbound))
                or (
                    record.owner is not None
                    and record.owner != owner
                    and record.lease_expires_at is not None
                    and record.lease_expires_at > stamp
                )
            ):
                continue
            run.record = replace(
                record,
                owner=owner,
                lease_expires_at=stamp + lease_seconds,
                version=record.version + 1,
            )
            claimed.append(self._out(run, listing=True))
        return claimed

    async def release_run(self, run_id: str, owner: str) -> None:
        """See :meth:`RunStore.release_run`."""
        self._check_open()
        run = self._get(run_id)
        if run.record.owner == owner:
            run.record = replace(run.record, owner=None, lease_expires_at=None)
