"""Reads of runs being loaded at the same time, coalesced into one ``store.load_many``."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from ..errors import CorruptRecordError, RunNotFoundError
from ..stores import LoadedRun, RunStore

__all__ = ["BatchReader"]

_BATCH = 500
"""Most runs read by one ``load_many`` call."""


class BatchReader:
    """Hands out the stored rows of runs to load, one ``load_many`` call per batch.

    Like the writer's group commit: a read asked for while no batch is on its way goes
    out at the next turn of the event loop (no timer), with every read asked for in the
    same turn; reads asked for while a batch is on its way form the next batch. A store
    without ``load_many`` is read run by run, as it was before.
    """

    def __init__(
        self, store: Callable[[], RunStore], adopt: Callable[[asyncio.Task[None]], None]
    ) -> None:
        self._store = store
        self._adopt = adopt
        self._queued: dict[str, list[asyncio.Future[LoadedRun | None]]] = {}
        self._reading: asyncio.Task[None] | None = None

    async def read(self, run_id: str) -> LoadedRun | None:
        """The run's row, inbound events and requests; None if there is no such run.

        Raises:
            StoreError: the store failed for the whole batch.
        """
        future: asyncio.Future[LoadedRun | None] = asyncio.get_running_loop().create_future()
        self._queued.setdefault(run_id, []).append(future)
        if self._reading is None or self._reading.done():
            self._reading = asyncio.get_running_loop().create_task(self._drain())
            self._adopt(self._reading)  # (awaited when the engine stops)
        return await future

    async def _drain(self) -> None:
        while self._queued:
            ids = list(self._queued)[:_BATCH]
            waiting = {run_id: self._queued.pop(run_id) for run_id in ids}
            try:
                loaded = await self._load_many(ids)
            except BaseException as exc:
                for futures in waiting.values():
                    for future in futures:
                        if not future.done():
                            future.set_exception(exc)
                            future.exception()  # (a cancelled reader no longer wants it)
                if isinstance(exc, (asyncio.CancelledError, KeyboardInterrupt, SystemExit)):
                    raise
                continue
            for run_id, futures in waiting.items():
                for future in futures:
                    if not future.done():
                        future.set_result(loaded.get(run_id))

    async def _load_many(self, ids: list[str]) -> dict[str, LoadedRun]:
        store: Any = self._store()
        if hasattr(store, "load_many"):
            return await store.load_many(ids)
        found = await asyncio.gather(*(_read_one(store, run_id) for run_id in ids))
        return {run_id: one for run_id, one in zip(ids, found, strict=True) if one is not None}


async def _read_one(store: Any, run_id: str) -> LoadedRun | None:
    """A :class:`LoadedRun` from a store's three single reads, for a store without
    ``load_many``."""
    found: tuple[Any, ...] = await asyncio.gather(
        store.get_run(run_id),
        store.list_inbound(run_id),
        store.list_requests(run_id=run_id, status=None, limit=100_000),
        return_exceptions=True,
    )
    damage = None
    for result in found:
        if isinstance(result, RunNotFoundError):
            return None
        if isinstance(result, CorruptRecordError):
            damage = damage or result
        elif isinstance(result, BaseException):
            raise result
    run, inbound, requests = found
    if isinstance(run, CorruptRecordError):
        run = run.record
    return LoadedRun(run, [] if isinstance(inbound, BaseException) else inbound, requests, damage)
