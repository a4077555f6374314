"""``PostgresStore`` when the database goes away: cut connections, a stopped server, a
restart, a frozen backend. Every failure must be a ``StoreError`` (``StoreConnectionError``
for a lost connection), the wake-up listener must notice it lost its connection, and the
store must work again once the server is back.

A private cluster per module (``tests/_pgcluster.py``): these tests stop and restart it.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from _pgcluster import PgCluster
from workflows.errors import StoreConnectionError, StoreError
from workflows.stores import Commit, InputRequest, PostgresStore, RunRecord


@pytest.fixture
async def store(pg_cluster: PgCluster, fault_schema: str) -> AsyncIterator[PostgresStore]:
    opened = PostgresStore(
        pg_cluster.dsn, schema=fault_schema, max_size=8, connect_timeout=3, listen_keepalive=0.5
    )
    await opened.open()
    try:
        yield opened
    finally:
        await opened.close()


class Listener:
    """Runs ``store.work_notifications()`` in a task; records what it got and how it ended."""

    def __init__(self, store: PostgresStore) -> None:
        self.store = store
        self.messages: list[str] = []
        self.listening = asyncio.Event()
        self.ended_at: float | None = None
        self.task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        try:
            async for message in self.store.work_notifications(on_listening=self.listening.set):
                self.messages.append(message)
        finally:
            self.ended_at = time.monotonic()

    async def ended_with(self, within: float) -> BaseException | None:
        """How the iteration ended (None: it ended quietly), waiting at most ``within``."""
        done, _ = await asyncio.wait({self.task}, timeout=within)
        assert done, f"work_notifications() still running {within} s after the fault"
        return self.task.exception()

    async def stop(self) -> None:
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)


async def _listening(store: PostgresStore) -> Listener:
    listener = Listener(store)
    await asyncio.wait_for(listener.listening.wait(), 5)
    assert store.listening
    # It really listens: a wake-up arrives.
    await store.notify_work("hello")
    for _ in range(100):
        if listener.messages:
            break
        await asyncio.sleep(0.01)
    assert listener.messages == ["hello"]
    return listener


async def test_listener_ends_with_connection_error_when_its_backend_is_terminated(
    store: PostgresStore, pg_cluster: PgCluster
) -> None:
    listener = await _listening(store)
    began = time.monotonic()
    assert await pg_cluster.terminate_backends() >= 1
    error = await listener.ended_with(within=1.0)
    took = time.monotonic() - began
    assert isinstance(error, StoreConnectionError), repr(error)
    assert not store.listening
    print(f"listener ended {took * 1000:.0f} ms after pg_terminate_backend")
    # Calling it again reconnects.
    again = await _listening(store)
    await again.stop()
    assert not store.listening


async def test_listener_ends_with_connection_error_when_the_server_stops(
    store: PostgresStore, pg_cluster: PgCluster
) -> None:
    listener = await _listening(store)
    began = time.monotonic()
    await pg_cluster.stop()
    error = await listener.ended_with(within=1.0)
    print(f"listener ended {(time.monotonic() - began) * 1000:.0f} ms after the stop began")
    assert isinstance(error, StoreConnectionError), repr(error)
    # While the server is down, listening again fails at once, with the store's error.
    with pytest.raises(StoreConnectionError):
        async for _ in store.work_notifications():
            pass
    assert not store.listening
    await pg_cluster.start()
    again = await _listening(store)
    await again.stop()


async def test_listener_notices_a_silently_dead_connection(
    store: PostgresStore, pg_cluster: PgCluster
) -> None:
    # A frozen backend is what a dead peer looks like: the socket stays open, nothing
    # answers. The keep-alive query (every 0.5 s here, answer within 0.5 s) notices.
    listener = await _listening(store)
    pid = await _listener_pid(pg_cluster)
    os.kill(pid, signal.SIGSTOP)
    try:
        began = time.monotonic()
        error = await listener.ended_with(within=3.0)
        took = time.monotonic() - began
    finally:
        os.kill(pid, signal.SIGCONT)
    assert isinstance(error, StoreConnectionError), repr(error)
    assert took < 2.0, took
    print(f"frozen listener backend noticed after {took:.2f} s (keep-alive 0.5 s)")


async def test_listener_ends_quietly_when_the_store_is_closed(pg_cluster: PgCluster) -> None:
    store = PostgresStore(pg_cluster.dsn, schema="wf_close", connect_timeout=3)
    await store.open()
    listener = await _listening(store)
    await store.close()
    assert await listener.ended_with(within=2.0) is None
    assert not store.listening


async def test_every_method_raises_a_connection_error_while_the_server_is_down(
    store: PostgresStore, pg_cluster: PgCluster
) -> None:
    await store.create_run(RunRecord.new("r1", "wf", {"n": 1}))
    await pg_cluster.stop()
    try:
        for name, call in _every_method(store, "r1").items():
            with pytest.raises(StoreConnectionError) as caught:
                await asyncio.wait_for(call(), 10)
            assert "PostgreSQL" in str(caught.value), (name, caught.value)
        # open() of another store: the same error, promptly.
        other = PostgresStore(pg_cluster.dsn, schema="wf_other", connect_timeout=3)
        began = time.monotonic()
        with pytest.raises(StoreConnectionError):
            await other.open()
        assert time.monotonic() - began < 3
    finally:
        await pg_cluster.start()
    # Back: the pool replaces its dead connections by itself.
    assert (await store.get_run("r1")).snapshot == {"n": 1}
    # close() while the server is down neither raises nor hangs.
    await pg_cluster.stop()
    began = time.monotonic()
    await store.close()
    assert time.monotonic() - began < 5


async def test_store_calls_raise_only_store_errors_while_backends_are_cut(
    store: PostgresStore, pg_cluster: PgCluster
) -> None:
    """Many concurrent operations while every backend is terminated, again and again."""
    runs = [f"run-{i}" for i in range(20)]
    for run_id in runs:
        await store.create_run(RunRecord.new(run_id, "wf", {}))
    versions = dict.fromkeys(runs, 0)
    escaped: list[BaseException] = []
    failures: dict[str, int] = {}
    successes = 0
    stop = asyncio.Event()

    async def hammer(worker: int) -> None:
        nonlocal successes
        i = 0
        while not stop.is_set():
            i += 1
            run_id = runs[(worker * 7 + i) % len(runs)]
            calls: list[Callable[[], Awaitable[Any]]] = [
                lambda: store.get_run(run_id),
                lambda: store.list_requests(run_id=run_id),
                lambda: store.list_runs(limit=5),
                lambda: store.read_stream(run_id),
                lambda: store.runs_with_work(now=time.time()),
                lambda: store.notify_work(run_id),
                lambda: _commit_next(store, run_id, versions),
                lambda: store.claim_run(run_id, f"w{worker}", 30),
            ]
            try:
                await calls[i % len(calls)]()
                successes += 1
            except StoreError as exc:
                failures[type(exc).__name__] = failures.get(type(exc).__name__, 0) + 1
            except Exception as exc:  # what must not happen
                escaped.append(exc)
            await asyncio.sleep(0)

    tasks = [asyncio.create_task(hammer(w)) for w in range(12)]
    try:
        for _ in range(6):
            await asyncio.sleep(0.3)
            await pg_cluster.terminate_backends()
        await asyncio.sleep(0.3)
    finally:
        stop.set()
        await asyncio.gather(*tasks)
    print(f"{successes} calls succeeded; failed: {failures}")
    assert escaped == [], [repr(e) for e in escaped[:5]]
    assert set(failures) <= {"StoreConnectionError", "StaleRunError"}, failures
    assert failures.get("StoreConnectionError", 0) > 0  # the cuts were felt
    # And the store works afterwards, every commit version contiguous.
    for run_id in runs:
        record = await store.get_run(run_id)
        assert record.version >= versions[run_id]


async def _commit_next(store: PostgresStore, run_id: str, versions: dict[str, int]) -> None:
    version = versions[run_id]
    try:
        versions[run_id] = await store.commit(Commit(run_id, version, {"v": version}, "running"))
    except StoreError:
        # Applied or not, the stored version says (a claim may bump it too).
        versions[run_id] = max(versions[run_id], (await store.get_run(run_id)).version)
        raise


def _every_method(store: PostgresStore, run_id: str) -> dict[str, Callable[[], Awaitable[Any]]]:
    request = InputRequest.new(f"{run_id}:w1", run_id, "wf", "Ask", {}, {"type": "object"})

    async def listen() -> None:
        async for _ in store.work_notifications():
            pass

    return {
        "create_run": lambda: store.create_run(RunRecord.new("r2", "wf", {})),
        "get_run": lambda: store.get_run(run_id),
        "list_runs": lambda: store.list_runs(),
        "delete_run": lambda: store.delete_run(run_id),
        "commit": lambda: store.commit(Commit(run_id, 0, {}, "running", new_requests=[request])),
        "read_stream": lambda: store.read_stream(run_id),
        "add_inbound": lambda: store.add_inbound(run_id, {"x": 1}),
        "list_inbound": lambda: store.list_inbound(run_id),
        "get_request": lambda: store.get_request(request.request_id),
        "list_requests": lambda: store.list_requests(),
        "answer_request": lambda: store.answer_request(request.request_id, {"a": 1}),
        "runs_with_work": lambda: store.runs_with_work(),
        "due_requests": lambda: store.due_requests(time.time()),
        "claim_run": lambda: store.claim_run(run_id, "me", 10),
        "release_run": lambda: store.release_run(run_id, "me"),
        "notify_work": lambda: store.notify_work(run_id),
        "work_notifications": listen,
    }


async def _listener_pid(cluster: PgCluster) -> int:
    import asyncpg

    conn = await asyncpg.connect(cluster.admin_dsn)
    try:
        pid = await conn.fetchval(
            "SELECT pid FROM pg_stat_activity WHERE application_name = 'durable-workflows-listen'"
        )
    finally:
        await conn.close()
    assert pid is not None
    return int(pid)
