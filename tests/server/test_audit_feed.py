"""Where the request audit log ends, found by probing a real store rather than reading it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from workflows.server._audit_feed import audit_end
from workflows.stores import Commit, InputRequest, MemoryStore, RunRecord, RunStore, SqliteStore


class Probes:
    """Counts the reads of the log and the entries they returned."""

    def __init__(self, store: RunStore) -> None:
        self.store = store
        self.reads = 0
        self.entries = 0

    async def audit_after(self, after_id: int, limit: int = 100) -> Any:
        self.reads += 1
        found = await self.store.audit_after(after_id, limit)
        self.entries += len(found)
        return found


async def _add_run(store: RunStore, name: str, requests: int) -> None:
    """A waiting run ``name`` with ``requests`` new requests (as many ``created``
    entries)."""
    await store.create_run(RunRecord.new(name, "expense", {}, status="waiting"))
    new = [InputRequest.new(f"{name}-{n}", name, "expense", "", {}) for n in range(requests)]
    await store.commit(Commit(name, 0, {}, "waiting", new_requests=new))


async def _last_id(store: RunStore) -> int:
    last, after = 0, 0
    while entries := await store.audit_after(after, limit=1000):
        after = last = entries[-1].id
    return last


@pytest.fixture(params=["memory", "sqlite"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    opened: RunStore = (
        MemoryStore() if request.param == "memory" else SqliteStore(tmp_path / "a.db")
    )
    async with opened:
        yield opened


async def test_the_end_of_an_empty_log_is_where_one_starts(store: RunStore) -> None:
    assert await audit_end(store) == 0
    assert await audit_end(store, 7) == 7


@pytest.mark.parametrize("sizes", [[1], [2], [3], [5, 12], [100, 1, 1000]])
async def test_the_end_is_the_last_id_in_few_reads(store: RunStore, sizes: list[int]) -> None:
    for n, size in enumerate(sizes):
        await _add_run(store, f"run-{n}", size)
    last = await _last_id(store)
    assert last == sum(sizes)
    probes = Probes(store)
    assert await audit_end(probes) == last  # type: ignore[arg-type]
    # about two reads of one entry per bit of the last id, not one per entry
    assert probes.reads <= 2 * last.bit_length() + 2, probes.reads
    assert probes.entries <= probes.reads
    for after in (1, last // 2, last - 1, last):
        assert await audit_end(store, after) == last


async def test_entries_of_deleted_runs_leave_gaps_that_do_not_matter(store: RunStore) -> None:
    for n, size in enumerate([40, 3, 60]):
        await _add_run(store, f"run-{n}", size)
    await store.delete_run("run-2")  # the last 60 entries: the end moves back
    assert await audit_end(store) == 43
    await store.delete_run("run-0")  # the first 40: a gap before the end
    assert await audit_end(store) == 43
    assert await audit_end(store, 10) == 43
    await _add_run(store, "run-3", 1)  # ids keep growing past the deleted ones
    assert await audit_end(store) == await _last_id(store) > 43
