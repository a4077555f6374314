"""``EngineCore``: what the engine's parts may ask of the :class:`~._engine.Engine`.

The coordinator (:mod:`._coordination`), the commit writer (:mod:`._writer`), the lease
keeper (:mod:`._leases`), the health report (:mod:`._health`) and :class:`~._handle.RunHandle`
hold the engine as an ``EngineCore``: they read its settings and call the operations
listed here, and nothing else of it (``tests/test_layering.py`` forbids ``engine._x``
outside ``_engine.py``). The members without a leading underscore that this adds to
``Engine`` are internal to the engine package: not for users, and they may change between
minor versions.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from ..context.serializers import BaseSerializer
    from ..events import Event
    from ..stores import RunRecord, RunStore
    from ..workflow import Workflow
    from ._coordination import Coordinator
    from ._durable_run import CommitPart, DurableRun
    from ._handle import StreamFeed
    from ._history import Retention
    from ._writer import CommitWriter

__all__ = ["EngineCore"]


class EngineCore(Protocol):
    """The engine as its parts see it: settings, the runs in memory, and the operations
    that change them (implemented by :class:`~._engine.Engine`)."""

    # -- settings (public attributes of Engine) ----------------------------------------------
    @property
    def store(self) -> RunStore: ...
    @property
    def owner(self) -> str | None: ...
    @property
    def execute(self) -> bool: ...
    @property
    def lease_seconds(self) -> float: ...
    @property
    def concurrency(self) -> int | None: ...
    @property
    def poll_interval(self) -> float: ...
    @property
    def timer_interval(self) -> float: ...
    @property
    def failure(self) -> BaseException | None: ...

    # -- state and parts -----------------------------------------------------------------------
    @property
    def phase(self) -> str:
        """``new``, ``open``, ``failed``, ``closing`` or ``closed``."""
        ...

    @property
    def writer(self) -> CommitWriter:
        """The commit writer (set when the engine opens)."""
        ...

    @property
    def coordinator(self) -> Coordinator:
        """Leases, wake-ups, polling and the engine's background tasks."""
        ...

    @property
    def loaded(self) -> Mapping[str, DurableRun]:
        """The runs executing in memory, by id."""
        ...

    @property
    def loading(self) -> Mapping[str, asyncio.Future[DurableRun | None]]:
        """The runs being loaded, by id."""
        ...

    # -- operations ----------------------------------------------------------------------------
    def has_room(self) -> bool:
        """True when one more run may be taken up."""
        ...

    async def ensure_loaded(
        self, run_id: str, *, claimed: tuple[RunRecord, float] | None = None
    ) -> DurableRun | None:
        """The run in memory, loaded (and claimed, in worker mode) if needed; None if
        it is not this engine's to execute."""
        ...

    def release(self, durable: DurableRun, *, give_back: bool = True) -> None:
        """Drop ``durable`` from memory (with ``give_back``, hand its lease back)."""
        ...

    def committed(
        self, durable: DurableRun, part: CommitPart, failed: BaseException | None
    ) -> None:
        """The writer wrote (or, with ``failed``, could not write) ``part``."""
        ...

    def component_failed(self, name: str, exc: BaseException) -> None:
        """A background task crashed: the engine stops serving."""
        ...

    def inbox_changed(self) -> None:
        """Wake the inbox streams of this engine."""
        ...

    def remote_commit(self, run_id: str) -> None:
        """Another process committed ``run_id``: wake local readers and waiters."""
        ...

    def notice_outside_writes(self) -> None:
        """Another process wrote to the store: every local reader and waiter looks again."""
        ...

    async def settle_checked(self, run_id: str) -> None:
        """Settle the awaiters of ``run_id`` if the store says it finished."""
        ...

    async def settle_awaited(self) -> None:
        """:meth:`settle_checked` for every run awaited here."""
        ...

    # -- for RunHandle -------------------------------------------------------------------------
    def workflow(self, name: str) -> Workflow:
        """The workflow registered as ``name``."""
        ...

    def serializer_for(self, workflow: Workflow) -> BaseSerializer:
        """The serializer of ``workflow``'s runs."""
        ...

    def retention_for(self, workflow: str) -> Retention:
        """Which commits of the runs of the workflow registered as ``workflow`` are kept
        as checkpoints."""
        ...

    async def await_result(self, run_id: str) -> Any:
        """The outcome of ``run_id`` (waits for its end)."""
        ...

    def signal(self, run_id: str) -> asyncio.Event:
        """An event set at the next commit of ``run_id`` (here or elsewhere)."""
        ...

    def open_feed(self, run_id: str) -> StreamFeed:
        """Start feeding a stream reader the entries committed here for ``run_id``."""
        ...

    def close_feed(self, run_id: str, feed: StreamFeed) -> None:
        """Stop feeding ``feed``."""
        ...

    async def send_event(self, run_id: str, event: Event, step: str | None = None) -> None:
        """Send ``event`` into the run."""
        ...

    async def cancel(self, run_id: str) -> None:
        """Cancel the run."""
        ...
