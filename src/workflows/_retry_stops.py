"""Stop conditions: when to give up retrying (``stop=`` of ``retry_policy``).

Each takes the failures so far, the seconds since the first attempt and the delay the
wait strategy chose for the next retry. Re-exported by :mod:`workflows.retry_policy`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._retry_base import Component, time_unit_type, to_seconds

if TYPE_CHECKING:
    from .retry_policy import StopCondition

__all__ = [
    "stop_after_attempt",
    "stop_after_delay",
    "stop_all",
    "stop_any",
    "stop_before_delay",
    "stop_never",
]


class _StopBase(Component):
    """Base of stop conditions: ``a | b`` stops if either does, ``a & b`` if both do."""

    def __call__(self, attempts: int, elapsed_time: float, *, upcoming_sleep: float = 0.0) -> bool:
        raise NotImplementedError

    def __or__(self, other: StopCondition) -> stop_any:
        return stop_any(self, other)

    def __ror__(self, other: StopCondition) -> stop_any:
        return stop_any(other, self)

    def __and__(self, other: StopCondition) -> stop_all:
        return stop_all(self, other)

    def __rand__(self, other: StopCondition) -> stop_all:
        return stop_all(other, self)


class stop_after_attempt(_StopBase):
    """Stop once the step has failed ``max_attempt_number`` times (attempts in all)."""

    def __init__(self, max_attempt_number: int) -> None:
        self.max_attempt_number = max_attempt_number

    def __call__(self, attempts: int, elapsed_time: float, *, upcoming_sleep: float = 0.0) -> bool:
        return attempts >= self.max_attempt_number


class stop_after_delay(_StopBase):
    """Stop once ``max_delay`` has passed since the first attempt."""

    def __init__(self, max_delay: time_unit_type) -> None:
        self.max_delay = to_seconds(max_delay)

    def __call__(self, attempts: int, elapsed_time: float, *, upcoming_sleep: float = 0.0) -> bool:
        return elapsed_time >= self.max_delay


class stop_before_delay(_StopBase):
    """Stop when waiting for the next retry would reach ``max_delay`` since the first
    attempt (unlike :class:`stop_after_delay`, it counts the upcoming sleep)."""

    def __init__(self, max_delay: time_unit_type) -> None:
        self.max_delay = to_seconds(max_delay)

    def __call__(self, attempts: int, elapsed_time: float, *, upcoming_sleep: float = 0.0) -> bool:
        return elapsed_time + upcoming_sleep >= self.max_delay


class stop_any(_StopBase):
    """Stop when any of ``stops`` says so (what ``a | b`` builds)."""

    def __init__(self, *stops: StopCondition) -> None:
        self.stops = stops

    def __call__(self, attempts: int, elapsed_time: float, *, upcoming_sleep: float = 0.0) -> bool:
        return any(
            stop(attempts, elapsed_time, upcoming_sleep=upcoming_sleep) for stop in self.stops
        )


class stop_all(_StopBase):
    """Stop when all of ``stops`` say so (what ``a & b`` builds)."""

    def __init__(self, *stops: StopCondition) -> None:
        self.stops = stops

    def __call__(self, attempts: int, elapsed_time: float, *, upcoming_sleep: float = 0.0) -> bool:
        return all(
            stop(attempts, elapsed_time, upcoming_sleep=upcoming_sleep) for stop in self.stops
        )


class stop_never(_StopBase):
    """Never stop (pair it with a retry condition, or rely on the workflow timeout)."""

    def __call__(self, attempts: int, elapsed_time: float, *, upcoming_sleep: float = 0.0) -> bool:
        return False
