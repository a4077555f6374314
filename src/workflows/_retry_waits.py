"""Wait strategies: the delay before each retry (``wait=`` of ``retry_policy``).

Each takes the retry number ``attempts`` (0 for the first retry) and an optional
``seed``; random strategies draw from ``random.Random(seed)`` when given one, so the same
seed gives the same delay. Re-exported by :mod:`workflows.retry_policy`.
"""

from __future__ import annotations

import math
import random
from typing import TYPE_CHECKING

from ._retry_base import Component, time_unit_type, to_seconds

if TYPE_CHECKING:
    from .retry_policy import WaitStrategy

__all__ = [
    "wait_chain",
    "wait_combine",
    "wait_exponential",
    "wait_exponential_jitter",
    "wait_fixed",
    "wait_full_jitter",
    "wait_incrementing",
    "wait_none",
    "wait_random",
    "wait_random_exponential",
]


def _uniform(low: float, high: float, seed: int | None) -> float:
    # Unseeded draws use the module-level generator, like the rest of ``random``.
    if seed is None:
        return random.uniform(low, high)
    return random.Random(seed).uniform(low, high)


def _clamp(delay: float, low: float, high: float) -> float:
    # The floor wins over the cap, and neither lets a delay go below zero.
    return max(low, 0.0, min(delay, high))


def _grow(multiplier: float, base: float, exponent: int) -> float:
    """``multiplier * base ** exponent``, saturating instead of raising OverflowError."""
    try:
        return multiplier * base**exponent
    except OverflowError:
        # Only a float power overflows; it is then larger than any cap a caller sets.
        return math.copysign(math.inf, multiplier) if multiplier else 0.0


class _WaitBase(Component):
    """Base of wait strategies: ``a + b`` (and ``sum([a, b])``) adds the delays."""

    def __call__(self, attempts: int, *, seed: int | None = None) -> float:
        raise NotImplementedError

    def __add__(self, other: WaitStrategy) -> wait_combine:
        return wait_combine(self, other)

    def __radd__(self, other: object) -> _WaitBase:
        if other == 0:  # the start value of sum()
            return self
        if callable(other):
            return wait_combine(self, other)
        return NotImplemented


class wait_fixed(_WaitBase):
    """The same delay, ``wait`` seconds, before every retry."""

    def __init__(self, wait: time_unit_type) -> None:
        self.wait = to_seconds(wait)

    def __call__(self, attempts: int, *, seed: int | None = None) -> float:
        return self.wait


class wait_none(wait_fixed):
    """Retry at once."""

    def __init__(self) -> None:
        super().__init__(0)


class _ExponentialWait(_WaitBase):
    """Shared by the exponential waits: ``multiplier * exp_base ** n`` within ``[min, max]``
    (the two are not subclasses of each other, as in the reference)."""

    def __init__(
        self,
        multiplier: int | float = 1.0,
        exp_base: int | float = 2.0,
        max: time_unit_type = 60.0,
        min: time_unit_type = 0.0,
    ) -> None:
        self.multiplier = float(multiplier)
        self.exp_base = float(exp_base)
        self.max = to_seconds(max)
        self.min = to_seconds(min)

    def _grown(self, attempts: int) -> float:
        return _clamp(_grow(self.multiplier, self.exp_base, attempts), self.min, self.max)


class wait_exponential(_ExponentialWait):
    """``multiplier * exp_base ** n`` for retry ``n`` (from 0), clamped to
    ``[max(min, 0), max]``.

    Example: ``wait_exponential(multiplier=1, exp_base=2, max=60)`` waits 1, 2, 4, ... 60.
    """

    def __call__(self, attempts: int, *, seed: int | None = None) -> float:
        return self._grown(attempts)


class wait_incrementing(_WaitBase):
    """``start + increment * n`` for retry ``n`` (from 0), at most ``max``, at least 0.

    Example: ``wait_incrementing(start=1, increment=2, max=10)`` waits 1, 3, 5, ... 10.
    """

    def __init__(
        self,
        start: time_unit_type = 0.0,
        increment: time_unit_type = 100.0,
        max: time_unit_type = math.inf,
    ) -> None:
        self.start = to_seconds(start)
        self.increment = to_seconds(increment)
        self.max = to_seconds(max)

    def __call__(self, attempts: int, *, seed: int | None = None) -> float:
        return max(0.0, min(self.start + self.increment * attempts, self.max))


class wait_random(_WaitBase):
    """A delay drawn uniformly from ``[min, max]`` (reproducible with ``seed``)."""

    def __init__(self, min: time_unit_type = 0.0, max: time_unit_type = 1.0) -> None:
        self.min = to_seconds(min)
        self.max = to_seconds(max)

    def __call__(self, attempts: int, *, seed: int | None = None) -> float:
        return _uniform(self.min, self.max, seed)


class wait_exponential_jitter(_WaitBase):
    """``initial * exp_base ** n`` capped at ``max``, plus a random ``[0, jitter]``, the
    sum again capped at ``max``.

    Example: ``wait_exponential_jitter(initial=1, exp_base=2, max=60, jitter=1)``.
    """

    def __init__(
        self,
        initial: float = 1.0,
        exp_base: float = 2.0,
        max: float = 60.0,
        jitter: float = 1.0,
    ) -> None:
        self.initial = initial
        self.exp_base = exp_base
        self.max = max
        self.jitter = jitter

    def __call__(self, attempts: int, *, seed: int | None = None) -> float:
        base = min(_grow(self.initial, self.exp_base, attempts), self.max)
        return min(base + _uniform(0, self.jitter, seed), self.max)


class wait_random_exponential(_ExponentialWait):
    """Exponential backoff with full jitter: a delay drawn uniformly from ``[min, upper]``,
    where ``upper`` is what :class:`wait_exponential` with the same arguments gives.

    Example: ``wait_random_exponential(multiplier=1, max=60)``.
    """

    def __call__(self, attempts: int, *, seed: int | None = None) -> float:
        return _uniform(self.min, self._grown(attempts), seed)


def wait_full_jitter(
    multiplier: int | float = 1.0,
    exp_base: int | float = 2.0,
    max: time_unit_type = 60.0,
    min: time_unit_type = 0.0,
) -> wait_random_exponential:
    """Another name for :class:`wait_random_exponential` (returns one)."""
    return wait_random_exponential(multiplier=multiplier, exp_base=exp_base, max=max, min=min)


class wait_chain(_WaitBase):
    """The first strategy for the first retry, the second for the second, ... and the
    last one for every retry after that. ``ValueError`` without any strategy.

    Example: ``wait_chain(wait_fixed(1), wait_fixed(2), wait_fixed(5))``.
    """

    def __init__(self, *strategies: WaitStrategy) -> None:
        if not strategies:
            raise ValueError("wait_chain requires at least one strategy")
        self.strategies = strategies

    def __call__(self, attempts: int, *, seed: int | None = None) -> float:
        strategy = self.strategies[min(attempts, len(self.strategies) - 1)]
        return strategy(attempts, seed=seed)


class wait_combine(_WaitBase):
    """The sum of the strategies' delays (what ``a + b`` builds)."""

    def __init__(self, *strategies: WaitStrategy) -> None:
        self.strategies = strategies

    def __call__(self, attempts: int, *, seed: int | None = None) -> float:
        return sum(strategy(attempts, seed=seed) for strategy in self.strategies)
