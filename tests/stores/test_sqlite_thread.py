"""The SQLite store's worker thread: order, outcomes, cancellation, other loops, stop."""

from __future__ import annotations

import asyncio
import threading

import pytest

from workflows.stores._sqlite_thread import SqliteThread


async def test_calls_run_in_order_on_one_thread_and_settle_with_their_outcomes() -> None:
    thread = SqliteThread(asyncio.get_running_loop(), "test-sqlite")
    seen: list[tuple[int, str]] = []

    def record(i: int) -> int:
        seen.append((i, threading.current_thread().name))
        return i * 10

    results = await asyncio.gather(*(thread.call(record, i) for i in range(200)))
    await thread.stop()

    assert results == [i * 10 for i in range(200)]
    assert [i for i, _ in seen] == list(range(200))
    assert {name for _, name in seen} == {"test-sqlite"}


async def test_an_exception_reaches_the_caller_and_the_thread_keeps_serving() -> None:
    thread = SqliteThread(asyncio.get_running_loop(), "test-sqlite")

    def fail() -> None:
        raise ValueError("no such row")

    with pytest.raises(ValueError, match="no such row"):
        await thread.call(fail)
    assert await thread.call(lambda: "still here") == "still here"
    await thread.stop()


async def test_a_call_cancelled_before_the_thread_takes_it_does_not_run() -> None:
    thread = SqliteThread(asyncio.get_running_loop(), "test-sqlite")
    gate = threading.Event()
    ran: list[str] = []
    blocker = thread.call(gate.wait, 10)
    queued = thread.call(ran.append, "queued")
    queued.cancel()
    gate.set()
    assert await blocker is True
    await thread.stop()
    assert ran == []


async def test_a_call_from_another_event_loop_is_settled_on_that_loop() -> None:
    thread = SqliteThread(asyncio.get_running_loop(), "test-sqlite")

    def other_loop() -> int:
        async def use() -> int:
            value: int = await thread.call(lambda: 7)
            return value

        return asyncio.run(use())

    assert await asyncio.to_thread(other_loop) == 7
    await thread.stop()


async def test_stop_lets_queued_calls_finish_and_ends_the_thread() -> None:
    thread = SqliteThread(asyncio.get_running_loop(), "test-sqlite")
    gate = threading.Event()
    ran: list[int] = []
    futures = [thread.call(gate.wait, 10)] + [thread.call(ran.append, i) for i in range(5)]
    gate.set()
    await thread.stop()
    await asyncio.gather(*futures)
    assert ran == [0, 1, 2, 3, 4]
    assert not any(t.name == "test-sqlite" and t.is_alive() for t in threading.enumerate())
