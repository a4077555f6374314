"""How a step gathers the events of a fan-out: ``Collect``, ``All`` and ``Take``.

A step that returns ``list[E]`` fans out: each element is dispatched on its own, and the
work they start forms one *collection stream*. A step whose event parameter is
``list[R]`` fans in: it receives the ``R`` events produced within one stream, once.
Mark the parameter to choose when it fires::

    async def gather(self, results: list[Result]) -> StopEvent: ...          # All()
    async def fastest(
        self, results: Annotated[list[Result], Collect(Take(1))]
    ) -> StopEvent: ...

``All()`` (the default) fires when the stream has finished, with every ``R`` it produced;
``Take(n)`` fires at the ``n``-th arrival with the first ``n`` (or, if the stream ends
first, with what arrived). Either fires exactly once per stream (``return []`` fires it
with ``[]``). Only returned events join a stream: one sent with ``ctx.send_event`` is
not gathered. The rules in full: ``docs/fan-out.md``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["All", "Cardinality", "Collect", "Take"]


@dataclass(frozen=True)
class Cardinality:
    """When a fan-in step fires and with which members; use :class:`All` or :class:`Take`."""


@dataclass(frozen=True)
class All(Cardinality):
    """Fire once, when the stream has finished, with every collected event."""


@dataclass(frozen=True)
class Take(Cardinality):
    """Fire once, at the ``n``-th arrival, with the first ``n`` events.

    Raises:
        ValueError: ``n`` is not an integer of at least 1.
    """

    n: int

    def __post_init__(self) -> None:
        if isinstance(self.n, bool) or not isinstance(self.n, int) or self.n < 1:
            raise ValueError("Take(n) requires an integer n >= 1")


@dataclass(frozen=True)
class Collect:
    """Marker for a ``list[E]`` step parameter: ``Annotated[list[E], Collect(Take(2))]``."""

    cardinality: Cardinality = field(default_factory=All)
