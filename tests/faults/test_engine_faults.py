"""A worker ``Engine`` and an API-only ``Engine`` on a PostgreSQL that fails under them.

Runs of an approval workflow (a step, a question to a person, a step) are started,
stepped and answered while every backend is terminated (several times), or while the
server restarts (once kept down 3 s). Afterwards every run must have finished exactly
once with the right result (each step's effect committed once, one prompt, one stop
event), nothing but ``StoreError`` may have escaped a store method, and an answer sent
right after the database is back must resume its run within a second (asserted < 2 s:
a slow shared machine).

The engines run in the test process, each with its own store (its own pool and wake-up
connection), as two processes would.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import aclosing
from typing import Any

from _approval_flow import SlowApproval, expected_answer
from _pgcluster import PgCluster
from workflows.engine import Engine, RunHandle
from workflows.errors import StoreError, WorkflowError
from workflows.stores import PostgresStore

RUNS = 30
PROBE = 999  # the run whose answer is timed: the answering loop leaves it alone
LEASE = 2.0
POLL = 0.2


class RecordingStore(PostgresStore):
    """A PostgresStore that records what its methods raise (the engines use it)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.escaped: list[tuple[str, BaseException]] = []
        self.failed: Counter[str] = Counter()

    def _saw(self, name: str, exc: BaseException) -> None:
        if isinstance(exc, StoreError):
            self.failed[type(exc).__name__] += 1
        elif isinstance(exc, Exception):
            self.escaped.append((name, exc))

    async def work_notifications(self, **options: Any) -> AsyncIterator[str]:  # type: ignore[override]
        try:
            async with aclosing(super().work_notifications(**options)) as messages:
                async for message in messages:
                    yield message
        except Exception as exc:
            self._saw("work_notifications", exc)
            raise


def _recording(name: str) -> Callable[..., Awaitable[Any]]:
    original = getattr(PostgresStore, name)

    async def method(self: RecordingStore, *args: Any, **kwargs: Any) -> Any:
        try:
            return await original(self, *args, **kwargs)
        except Exception as exc:
            self._saw(name, exc)
            raise

    method.__name__ = name
    return method


for _name in (
    "open close create_run get_run list_runs delete_run commit read_stream add_inbound "
    "list_inbound get_request list_requests answer_request runs_with_work due_requests "
    "claim_run renew_lease release_run notify_work"
).split():
    if hasattr(PostgresStore, _name):
        setattr(RecordingStore, _name, _recording(_name))


class Scenario:
    """A worker engine, an API engine, runs started and answered until told to stop."""

    def __init__(self, cluster: PgCluster, schema: str) -> None:
        def store() -> RecordingStore:
            return RecordingStore(cluster.dsn, schema=schema, connect_timeout=2)

        workflows = {"approval": SlowApproval(timeout=None)}
        self.worker = Engine(
            store(), workflows, owner="w1", lease_seconds=LEASE, poll_interval=POLL
        )
        self.api = Engine(store(), workflows, execute=False, poll_interval=POLL)
        self.handles: dict[int, RunHandle] = {}
        self.answered: set[str] = set()
        self.escaped: list[tuple[str, BaseException]] = []  # from the engines' API
        self.refused: Counter[str] = Counter()
        self._stop = asyncio.Event()

    @property
    def stores(self) -> list[RecordingStore]:
        return [self.worker.store, self.api.store]  # type: ignore[list-item]

    async def _call(self, what: str, call: Callable[[], Awaitable[Any]]) -> Any:
        """``call()`` until it succeeds; WorkflowErrors (a store that is away) are retried."""
        deadline = time.monotonic() + 20
        while True:
            try:
                return await call()
            except WorkflowError as exc:
                self.refused[f"{what}: {type(exc).__name__}"] += 1
                if time.monotonic() > deadline:
                    raise
            except Exception as exc:
                self.escaped.append((what, exc))
                raise
            await asyncio.sleep(0.05)

    async def start_runs(self, count: int, spacing: float) -> None:
        for n in range(count):
            self.handles[n] = await self._call("start", lambda n=n: self.api.start("approval", n=n))
            await asyncio.sleep(spacing)

    async def answer_until_stopped(self) -> None:
        while not self._stop.is_set():
            requests = await self._call("inbox", lambda: self.api.inbox(limit=1000))
            for request in requests:
                prompt = request.payload["data"]["prefix"]
                if request.request_id in self.answered or f"#{PROBE}?" in prompt:
                    continue
                await self._call(
                    "respond",
                    lambda r=request, p=prompt: self.api.respond(
                        r.request_id, expected_answer(p), idempotency_key="k"
                    ),
                )
                self.answered.add(request.request_id)
            await asyncio.sleep(0.05)

    async def all_finished(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                records = await self.api.store.list_runs(limit=10_000)
            except StoreError:
                records = []
            # Every run but the probe (which waits for its answer) is done.
            others = [r for r in records if r.run_id != self.probe_id]
            if len(self.handles) == RUNS and all(r.status == "completed" for r in others):
                return
            await asyncio.sleep(0.1)
        statuses = Counter(r.status for r in others)
        raise AssertionError(
            f"not every run finished within {timeout} s: {dict(statuses)}; "
            f"started {len(self.handles)}, answered {len(self.answered)}; unfinished: "
            + "; ".join([await self.describe(r.run_id) for r in others if r.status != "completed"])
        )

    async def describe(self, run_id: str) -> str:
        """What the store and the worker know of a run (for failure messages)."""
        record = await self.api.store.get_run(run_id)
        inbound = await self.api.store.list_inbound(run_id)
        requests = await self.api.store.list_requests(run_id=run_id, status=None)
        return (
            f"{run_id}: {record.status} v{record.version} owner={record.owner} lease in "
            f"{(record.lease_expires_at or 0) - time.time():.1f} s, inbound "
            f"{[i.id for i in inbound]}, requests {[r.status for r in requests]}, "
            f"loaded by the worker: {run_id in self.worker.loaded}"
        )

    probe_id = ""

    async def start_probe(self) -> str:
        """Start the probe run and wait until it waits for its answer (committed)."""
        handle = await self._call("start", lambda: self.api.start("approval", n=PROBE))
        self.probe_id = handle.run_id
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            record = await self.api.store.get_run(handle.run_id)
            if record.status == "waiting":
                return handle.run_id
            await asyncio.sleep(0.02)
        raise AssertionError("the probe run did not reach its question")

    async def time_probe_answer(self) -> tuple[float, float]:
        """Answer the probe now; seconds until its run's next commit, and until it ends."""
        (request,) = await self._call("inbox", lambda: self.api.inbox(run_id=self.probe_id))
        version = (
            await self._call("get_run", lambda: self.api.store.get_run(self.probe_id))
        ).version
        await self._call("respond", lambda: self.api.respond(request.request_id, f"ok{PROBE}"))
        answered = time.monotonic()
        first_commit = None
        while time.monotonic() - answered < 15:
            try:
                record = await self.api.store.get_run(self.probe_id)
            except StoreError:
                await asyncio.sleep(0.01)
                continue
            if first_commit is None and record.version > version:
                first_commit = time.monotonic() - answered
            if record.status == "completed":
                return first_commit or 0.0, time.monotonic() - answered
            await asyncio.sleep(0.01)
        raise AssertionError("the probe run did not resume within 15 s of its answer")

    def stop(self) -> None:
        self._stop.set()

    async def check(self) -> None:
        """Every run finished exactly once, with the right result; nothing escaped."""
        store = self.api.store
        records = await store.list_runs(limit=10_000)
        # A start whose creation was applied but not acknowledged leaves an extra run
        # (started again by the caller): it must finish correctly too.
        assert len(records) >= RUNS + 1
        for record in records:
            assert record.status == "completed", (record.run_id, record.status)
            state = record.snapshot["state"]
            assert (state["prepare"], state["ask"], state["finish"]) == (1, 1, 1), state
            stream = await store.read_stream(record.run_id)
            assert [entry.seq for entry in stream] == list(range(1, len(stream) + 1))
            kinds = Counter(entry.event_type.rsplit(".", 1)[-1] for entry in stream)
            assert kinds["StopEvent"] == 1 and kinds["InputRequiredEvent"] == 1, kinds
            requests = await store.list_requests(run_id=record.run_id, status=None)
            assert [r.status for r in requests] == ["answered"], requests
        for n, handle in self.handles.items():
            assert await asyncio.wait_for(handle.result(), 10) == f"{n}:ok{n}"
        assert await self.api.inbox() == []
        escaped = [*self.escaped, *(e for s in self.stores for e in s.escaped)]
        assert escaped == [], [f"{name}: {exc!r}" for name, exc in escaped[:10]]

    def report(self) -> str:
        failed = sum((s.failed for s in self.stores), Counter())
        return f"store errors seen: {dict(failed)}; API calls retried: {dict(self.refused)}"


async def _run(
    cluster: PgCluster, schema: str, spacing: float, faults: Callable[[], Awaitable[None]],
    last_fault: Callable[[], Awaitable[None]],
) -> tuple[Scenario, tuple[float, float]]:  # fmt: skip
    """Start RUNS runs ``spacing`` s apart and answer them while ``faults()`` runs; once all
    are done, ``last_fault()`` and time the answer of the probe run sent right after it."""
    scenario = Scenario(cluster, schema)
    async with scenario.api, scenario.worker:
        answering = asyncio.create_task(scenario.answer_until_stopped())
        try:
            await scenario.start_probe()
            starting = asyncio.create_task(scenario.start_runs(RUNS, spacing))
            await faults()
            await starting
            await scenario.all_finished(timeout=20)
            # The database fails once more; answer the probe as soon as it is back.
            await last_fault()
            timing = await scenario.time_probe_answer()
        finally:
            scenario.stop()
            await answering
        await scenario.check()
        assert await scenario.api.get(scenario.probe_id).result() == f"{PROBE}:ok{PROBE}"
    return scenario, timing


async def test_runs_finish_exactly_once_while_backends_are_terminated(
    pg_cluster: PgCluster, fault_schema: str
) -> None:
    cuts: list[int] = []

    async def faults() -> None:
        for _ in range(6):  # while runs start, step, wait and are answered
            await asyncio.sleep(random.uniform(0.2, 0.6))
            cuts.append(await pg_cluster.terminate_backends())

    async def last_fault() -> None:
        cuts.append(await pg_cluster.terminate_backends())

    scenario, (first_commit, done) = await _run(pg_cluster, fault_schema, 0.08, faults, last_fault)
    print(
        f"\nterminated backends {len(cuts)} times ({sum(cuts)} backends); {scenario.report()}; "
        f"answer after the last cut -> next commit {first_commit * 1000:.0f} ms, "
        f"run done {done * 1000:.0f} ms"
    )
    assert first_commit < 2.0, first_commit


async def test_runs_finish_exactly_once_across_server_restarts(
    pg_cluster: PgCluster, fault_schema: str
) -> None:
    downtimes: list[float] = []

    async def faults() -> None:  # while runs start, step, wait and are answered
        await asyncio.sleep(0.5)
        downtimes.append(await pg_cluster.restart())
        await asyncio.sleep(1.0)
        downtimes.append(await pg_cluster.restart(down_for=3.0))

    async def last_fault() -> None:
        downtimes.append(await pg_cluster.restart(down_for=3.0))

    scenario, (first_commit, done) = await _run(pg_cluster, fault_schema, 0.15, faults, last_fault)
    print(
        f"\nrestarted the server {len(downtimes)} times (down "
        f"{', '.join(f'{d:.1f}' for d in downtimes)} s); {scenario.report()}; "
        f"answer right after it was back -> next commit {first_commit * 1000:.0f} ms, "
        f"run done {done * 1000:.0f} ms"
    )
    assert first_commit < 2.0, first_commit
