"""The :class:`RunStore` protocol: what the durable engine needs from a database."""

from __future__ import annotations

from collections.abc import Sequence
from types import TracebackType
from typing import Any, Protocol, runtime_checkable

from typing_extensions import Self

from workflows.stores._loading import LoadedRun
from workflows.stores._records import (
    ANY,
    Answer,
    AssigneeAction,
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

__all__ = ["RunStore"]


@runtime_checkable
class RunStore(Protocol):
    """Durable storage for runs, their stream logs, inbound events and input requests.

    A store deals only in the plain records of :mod:`workflows.stores` (JSON-safe dicts
    and frozen dataclasses); it knows nothing of events, workflows or the engine.
    ``MemoryStore``, ``SqliteStore`` and ``PostgresStore`` implement it and pass one
    shared contract test suite; a third-party store should pass it too.

    Lifecycle:
        A store is an async context manager (``async with store:``), or is opened with
        ``await store.open()`` and released with ``await store.close()``. ``open()``
        connects and migrates the schema. Any operation before ``open()`` or after
        ``close()`` raises ``StoreError`` ("store is closed"); a closed store is not
        reopened. Every method may raise ``StoreConnectionError`` when the database
        goes away, and ``StoreError`` for a value that is not JSON-safe.

    Data:
        What a store returns equals what was given to it after a JSON round trip
        (tuples come back as lists). Callers must not mutate records they get back.
        Timestamps are POSIX seconds; the store stamps ``updated_at`` of commits and
        ``created_at`` of inbound events with its own clock.

    Runs:
        A run has a ``version``. :meth:`commit` succeeds only if the stored version
        equals ``Commit.expected_version`` and then bumps it by one: two workers cannot
        both commit the same step. A commit is atomic: the snapshot, status, result and
        error are replaced, stream entries appended, input requests added and closed,
        consumed inbound events deleted, all together or none of it. A commit that moves
        the run to a terminal status (completed, failed, cancelled, timed_out) also
        cancels the run's still-pending input requests and discards its unconsumed
        inbound events (they can no longer be delivered), and clears its lease.
        Finished runs accept no further commits, inbound events or answers
        (``RunFinishedError``).

    Damaged rows:
        A stored JSON value may be damaged (truncated, edited by hand, written by a
        buggy program). Reading a run for its own use (:meth:`get_run`,
        :meth:`claim_run`, :meth:`list_inbound`) raises ``CorruptRecordError``, which
        names the run, the column and the cause, never the decoder's own error.
        Listings do not raise for one damaged row: :meth:`list_runs`,
        :meth:`list_requests`, :meth:`get_request`, :meth:`due_requests` and
        :meth:`read_stream` return it marked (the record's ``corrupt``: the damaged
        fields, each with why; those fields empty). A run the engine cannot load or
        execute is set aside with :meth:`quarantine_run` (status ``quarantined``).

    Stream log:
        Stream entries are numbered by the committer (``seq``, unique per run, normally
        1, 2, 3, ...); :meth:`read_stream` returns them in ``seq`` order after a given
        sequence number, so a reader can resume where it stopped. The stream log is the
        only part of a run that grows with its history: the snapshot row is replaced.

    Inbound events and the inbox:
        :meth:`add_inbound` makes an outside event durable before it returns. An input
        request is a pending question to the outside world; :meth:`answer_request`
        validates the response against the request's JSON schema and, atomically, marks
        the request answered and stores the inbound event ``{"request_id": ...,
        "response": ...}`` for its run. Exactly one of many concurrent answers wins; a
        repeat with the same idempotency key or the identical response is a no-op
        (returns ``None``); a different second answer raises
        ``InputRequestAlreadyAnsweredError``. Who answered is stored with the answer
        (``answered_by``), or with the commit that closes a request as answered
        (``Commit.answered_by``, for an answer sent to the run as an event).

    Tasks:
        A request may name who it is for (``assignee``, ``candidate_users``,
        ``candidate_groups``) and carry a ``priority``, a ``due`` and a ``follow_up``
        date. :meth:`query_requests` lists requests by those, in three orders, with
        keyset paging, optionally only those a :class:`~workflows.stores.Viewer` may
        see (:func:`~workflows.stores.visible_to`, which every store applies alike).
        :meth:`set_assignee` claims, releases or reassigns a request by
        compare-and-set. Every change of a request is recorded, in the transaction that
        makes it, as an :class:`~workflows.stores.AuditEntry` (``created`` by a commit,
        ``claimed`` / ``unclaimed`` / ``assigned``, ``answered``, ``overdue``,
        ``expired``, ``cancelled``); :meth:`request_audit` reads a request's history
        and :meth:`audit_after` the feed of every request's, in id order, from which
        webhooks are delivered (:meth:`webhook_cursor`, :meth:`record_delivery`).
        :meth:`mark_overdue` marks pending requests past their due date once, telling
        their runs with an inbound event.

    Leases:
        :meth:`claim_run` gives one worker ownership of a run until its lease expires.
        Taking a run from another owner (or from no owner) bumps its version, so a
        commit prepared by the previous owner is refused with ``StaleRunError``.
        Renewing one's own lease does not change the version.
    """

    async def open(self) -> None:
        """Connect and migrate the schema (see the class docstring)."""
        ...

    async def close(self) -> None:
        """Release every resource; further use raises ``StoreError``."""
        ...

    @property
    def is_open(self) -> bool:
        """Whether the store is open for use."""
        ...

    async def __aenter__(self) -> Self:
        """Open the store and return it."""
        ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Close the store."""
        ...

    async def create_run(self, run: RunRecord) -> None:
        """Store a new run as given (with its start ``input``, if the record has one).

        Raises:
            RunAlreadyExistsError: a run with this id exists.
        """
        ...

    async def get_run(self, run_id: str) -> RunRecord:
        """Return the run.

        Raises:
            RunNotFoundError: no such run.
            CorruptRecordError: its snapshot, result or error cannot be decoded.
        """
        ...

    async def load_many(self, run_ids: Sequence[str]) -> dict[str, LoadedRun]:
        """Read what resuming each of ``run_ids`` needs, for many runs at once: the run
        (as :meth:`get_run`), its unconsumed inbound events (as :meth:`list_inbound`)
        and every input request it made (as :meth:`list_requests` with ``status=None``).

        The SQL stores read all of it in one read transaction (PostgreSQL: one round
        trip; SQLite: one hand-off to the store's thread), so each run is seen as one
        commit left it. Never raises for one run: a damaged run is returned with its
        ``damage`` (what :meth:`get_run` or :meth:`list_inbound` would raise).

        Returns:
            A :class:`~workflows.stores.LoadedRun` by run id; an id with no run is
            left out.

        Raises:
            StoreError: for the whole call (the store is closed, or unreachable).
        """
        ...

    async def list_runs(
        self,
        *,
        status: RunStatus | None = None,
        workflow: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[RunRecord]:
        """Return runs, newest first, optionally only of one status and/or workflow.

        A run whose stored values cannot be decoded is listed marked (``corrupt``).
        """
        ...

    async def delete_run(self, run_id: str) -> None:
        """Delete the run with its stream log, inbound events and input requests.

        Raises:
            RunNotFoundError: no such run.
        """
        ...

    async def commit(self, commit: Commit) -> int:
        """Apply one step boundary atomically and return the run's new version.

        Raises:
            RunNotFoundError: no such run.
            RunFinishedError: the run has already finished.
            StaleRunError: the stored version is not ``commit.expected_version``, a
                request to close is no longer pending, or an inbound event to consume
                is gone.
            StoreError: a stream ``seq`` or request id already exists, or a request
                belongs to another run. Nothing is written in any of these cases.
        """
        ...

    async def commit_many(self, commits: Sequence[Commit]) -> list[int | Exception]:
        """Apply several commits together (a group commit); each succeeds or fails alone.

        Every commit is applied as :meth:`commit` would apply it, in the order given (a
        second commit of the same run sees the first). A commit that is refused
        (``StaleRunError``, ``RunFinishedError``, ``RunNotFoundError``, a stream seq or
        request id that exists, ...) or cannot be encoded writes nothing, and does not
        keep the others from being written. The SQL stores write the whole batch in one
        transaction (PostgreSQL: one round trip; SQLite: one hand-off to the store's
        thread), so the batch costs about one commit: with ``synchronous=FULL``, one
        fsync. None of the commits is visible to other readers before all are.

        Returns:
            One outcome per commit, in order: the run's new version, or the exception
            :meth:`commit` would have raised for it (a ``StoreError``; ``ValueError``
            for a malformed commit).

        Raises:
            StoreError: for the whole call (the store is closed);
                ``StoreConnectionError`` when the database became unreachable, in
                which case any of the commits may or may not have been applied (the
                runs' versions tell).
        """
        ...

    async def quarantine_run(
        self, run_id: str, expected_version: int, error: dict[str, Any]
    ) -> int:
        """Set aside a run that cannot be loaded or executed; return its new version.

        Fenced like :meth:`commit`: applied only if the stored version equals
        ``expected_version`` and the run has not finished, so it cannot overwrite a run
        another worker has taken since. Atomically the run's status becomes
        ``quarantined`` (terminal), ``error`` is stored, the version is bumped, the
        lease is cleared and the run's pending input requests are cancelled. Nothing
        else changes: the snapshot, result, stream log and unconsumed inbound events
        stay exactly as stored (even undecodable ones), for people to inspect;
        :meth:`delete_run` removes them.

        Raises:
            RunNotFoundError: no such run.
            RunFinishedError: the run has already finished (or is quarantined).
            StaleRunError: the stored version is not ``expected_version``.
            StoreError: ``error`` is not a JSON-safe dict.
        """
        ...

    async def read_stream(
        self, run_id: str, *, after: int = 0, limit: int | None = None
    ) -> list[StreamEntry]:
        """Return the run's stream entries with ``seq > after``, in ``seq`` order.

        Raises:
            RunNotFoundError: no such run.
        """
        ...

    async def add_inbound(self, run_id: str, payload: dict[str, Any]) -> InboundEvent:
        """Durably store an event sent to the run, and return it with its new id.

        Raises:
            RunNotFoundError: no such run.
            RunFinishedError: the run has finished.
        """
        ...

    async def list_inbound(self, run_id: str) -> list[InboundEvent]:
        """Return the run's unconsumed inbound events, oldest first.

        Raises:
            RunNotFoundError: no such run.
            CorruptRecordError: an event's payload cannot be decoded (it stays stored).
        """
        ...

    async def get_request(self, request_id: str) -> InputRequest:
        """Return the input request.

        Raises:
            InputRequestNotFoundError: no such request.
        """
        ...

    async def list_requests(
        self,
        *,
        workflow: str | None = None,
        run_id: str | None = None,
        status: RequestStatus | None = "pending",
        limit: int = 100,
        offset: int = 0,
    ) -> list[InputRequest]:
        """Return input requests, newest first (``status=None`` for every status)."""
        ...

    async def answer_request(
        self,
        request_id: str,
        response: dict[str, Any],
        *,
        idempotency_key: str | None = None,
        answered_by: str | None = None,
        known: InputRequest | None = None,
    ) -> InboundEvent | None:
        """Answer a pending request: deliver ``response`` to its run exactly once.

        ``answered_by`` (who answers, as the caller says) is stored with the answer, in
        the same write; a repeat of the accepted answer changes nothing.

        ``known`` is the request as the caller last read or wrote it (the engine knows
        the requests its own commits created). A store may check the response against
        its schema (which never changes) instead of reading the request again: a
        round trip less on a networked store. Its status is not trusted: the write
        itself decides whether the request is still pending.

        Returns:
            The stored inbound event, or ``None`` when this exact answer (same
            idempotency key, or identical response) was already accepted.

        Raises:
            InputRequestNotFoundError: no such request.
            InvalidResponseError: the response does not fit the request's schema.
            InputRequestAlreadyAnsweredError: answered before with another response.
            InputRequestClosedError: the request expired or was cancelled.
            CorruptRecordError: the request's stored schema or response cannot be
                decoded (a damaged payload alone does not prevent an answer).
        """
        ...

    async def answer_requests(
        self, answers: Sequence[Answer]
    ) -> list[InboundEvent | Exception | None]:
        """:meth:`answer_request` for many answers at once (SQL stores: one transaction).

        ``answers`` holds ``(request_id, response, idempotency_key)`` triples, each
        optionally followed by ``answered_by`` (see :data:`Answer`). Each is
        decided as :meth:`answer_request` decides it, on its own: one that is refused
        writes nothing and keeps no other from being stored.

        Returns:
            One outcome per answer, in order: the stored inbound event, ``None`` for a
            repeat of the accepted answer, or the exception :meth:`answer_request`
            would have raised.

        Raises:
            StoreError: for the whole call (the store is closed, or unreachable).
        """
        ...

    async def runs_with_work(self, *, now: float | None = None) -> list[str]:
        """Ids of unfinished runs that have work: status ``running``, or inbound events.

        With ``now``, runs whose lease is still held at ``now`` are left out, so a
        worker recovering runs does not take live runs from another worker.
        """
        ...

    async def due_requests(self, now: float) -> list[InputRequest]:
        """Pending requests whose deadline is at or before ``now``, earliest first."""
        ...

    async def claim_run(
        self, run_id: str, owner: str, lease_seconds: float, *, now: float | None = None
    ) -> RunRecord:
        """Take the lease on a run; return the run as it now stands.

        Every claim starts a new lease epoch: it bumps the run's version, even when
        ``owner`` held the lease before, so whatever was executing the run under an
        earlier lease can commit nothing more (fencing). A worker must therefore load
        the run from the returned record, never keep executing an older copy of it;
        to extend a lease it holds it calls :meth:`renew_lease`.

        Raises:
            RunNotFoundError: no such run.
            RunFinishedError: the run has finished.
            StaleRunError: another owner holds an unexpired lease.
            CorruptRecordError: the run's row cannot be decoded; the claim was made
                (its ``record`` has the new version), the caller holds the lease.
        """
        ...

    async def renew_lease(
        self, run_id: str, owner: str, lease_seconds: float, *, now: float | None = None
    ) -> float:
        """Extend ``owner``'s lease on the run to ``now + lease_seconds``.

        Succeeds only while ``owner`` still holds the lease (even if it expired, as long
        as nobody claimed the run meanwhile); it never takes a lease that was released or
        taken by another owner. The version does not change.

        Returns:
            The new expiry time.

        Raises:
            RunNotFoundError: no such run.
            RunFinishedError: the run has finished.
            StaleRunError: ``owner`` does not hold the lease (released, or claimed by
                another owner): it must stop executing the run.
        """
        ...

    async def renew_leases(
        self,
        run_ids: Sequence[str],
        owner: str,
        lease_seconds: float,
        *,
        now: float | None = None,
    ) -> list[str]:
        """:meth:`renew_lease` for many runs of one owner at once (one statement).

        Extends ``owner``'s lease on each of ``run_ids`` it still holds to ``now +
        lease_seconds``, with the same rule as :meth:`renew_lease` (never takes a lease
        that was released or taken over; the version does not change).

        Returns:
            The ids that were NOT renewed (the run is unknown, finished, or ``owner``
            does not hold its lease), in the order given; :meth:`renew_lease` on one of
            them raises the precise reason.
        """
        ...

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
        """Claim up to ``limit`` runs with work that nobody else holds, in one statement.

        A run is taken when :meth:`claim_run` would take it (not finished; no owner,
        ``owner`` itself, or an expired lease) and it is not one of ``exclude`` (the runs
        the caller executes already); without ``run_ids``, only runs with work (as in
        :meth:`runs_with_work`), with ``run_ids`` each of those the caller names. Every claim is a
        :meth:`claim_run`: it bumps the run's version (a new lease epoch). Runs that
        another worker is claiming at the same moment are skipped, not waited for
        (PostgreSQL: ``FOR UPDATE SKIP LOCKED``), so workers woken together share the
        runs instead of racing for each one.

        Returns:
            The claimed runs as they now stand. A run whose stored values cannot be
            decoded is claimed all the same and returned marked (``corrupt``, as in
            :meth:`list_runs`).
        """
        ...

    async def release_run(self, run_id: str, owner: str) -> None:
        """Give up ``owner``'s lease on the run (nothing happens if it holds none)."""
        ...

    async def query_requests(self, query: RequestQuery) -> RequestPage:
        """Return one page of the requests ``query`` selects, in its order.

        Keyset paging: give the page's ``next_cursor`` as ``query.after`` (with the same
        sort and filters) for the next page; a request is never listed twice nor
        skipped while the pages are read, whatever else is written meanwhile (a request
        added in front of the cursor is seen on a new first page). Unlike
        :meth:`list_requests`, the cost of a page does not grow with its depth.

        With ``query.viewer``, only requests :func:`~workflows.stores.visible_to` the
        viewer are listed. A request whose stored values cannot be decoded is listed
        marked (``corrupt``).

        Raises:
            ValueError: a malformed query (a limit outside 1..1000, an unknown sort or
                status) or a cursor that is malformed or of another sort (the message
                names it).
        """
        ...

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
        """Change who a pending request is assigned to, by compare-and-set.

        In one transaction: the request must be pending and, when ``expected`` is
        given (not :data:`~workflows.stores.ANY`), assigned to ``expected`` (``None``:
        to nobody); then its assignee becomes ``assignee`` and an audit entry
        ``action`` by ``actor`` is written with the detail ``{"assignee": assignee,
        "previous": <the assignee before>}``, at ``now`` (default: the store's clock).
        Of two concurrent claims (``expected=None``) exactly one wins.

        A claim is ``set_assignee(id, user, actor=user, action="claimed",
        expected=None)``; releasing one's claim ``set_assignee(id, None, actor=user,
        action="unclaimed", expected=user)``.

        Returns:
            The request as it now stands.

        Raises:
            InputRequestNotFoundError: no such request.
            InputRequestAlreadyAnsweredError: the request was answered.
            InputRequestClosedError: the request expired or was cancelled.
            RequestAssigneeChangedError: its assignee is not ``expected`` (the error's
                ``assignee`` says who holds it).
            ValueError: ``action`` is not ``claimed``, ``unclaimed`` or ``assigned``.
            StoreError: ``assignee`` is not a name (a non-empty string without control
                characters) or ``None``.
        """
        ...

    async def request_audit(self, request_id: str) -> list[AuditEntry]:
        """Return the request's audit entries, oldest first.

        Raises:
            InputRequestNotFoundError: no such request.
        """
        ...

    async def audit_after(self, after_id: int, limit: int = 100) -> list[AuditEntry]:
        """Return up to ``limit`` audit entries of every request with ``id > after_id``,
        in ``id`` order: the feed a webhook outbox reads (``after_id=0`` from the start).

        The feed never skips: an entry is returned only once every entry with a smaller
        id that will ever exist is returned too, so a reader that moves its cursor to
        the last id it got misses nothing (PostgreSQL waits for transactions writing
        entries to end before it reads). Entries of a deleted run are gone with it.
        """
        ...

    async def mark_overdue(self, now: float) -> list[InputRequest]:
        """Mark every pending request due at or before ``now`` that is not marked yet.

        In one transaction, each such request gets ``overdue_at = now``, an audit entry
        ``overdue`` (actor ``None``, detail ``{"due": due}``) and an inbound event for
        its run with the payload ``{"overdue": request_id, "due": due}`` (its
        ``request_id`` is ``None``: it is no answer). A request is marked once only,
        even when several workers call this at once.

        Returns:
            The requests marked now (as they now stand), earliest due first.
        """
        ...

    async def webhook_cursor(self, endpoint: str) -> int | None:
        """The id of the last audit entry delivered to ``endpoint``; ``None`` when the
        endpoint was never seen."""
        ...

    async def advance_webhook_cursor(self, endpoint: str, audit_id: int) -> None:
        """Move ``endpoint``'s cursor to ``audit_id``, never back: a smaller id than the
        stored one changes nothing."""
        ...

    async def record_delivery(self, attempt: DeliveryAttempt) -> None:
        """Store one attempt to deliver an audit entry to a webhook endpoint.

        Raises:
            StoreError: a field of ``attempt`` is of the wrong type.
        """
        ...

    async def list_deliveries(
        self,
        *,
        endpoint: str | None = None,
        request_id: str | None = None,
        audit_id: int | None = None,
        limit: int = 100,
    ) -> list[DeliveryAttempt]:
        """Return delivery attempts, newest first (the most recently recorded first),
        optionally only those of one endpoint, request and/or audit entry."""
        ...
