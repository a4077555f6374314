"""Retry policies for steps.

A policy answers one question after a step failed: retry, and after how long? Build one
from three composable parts::

    from workflows.retry_policy import (
        retry_policy, retry_if_exception_type, stop_after_attempt, wait_exponential,
    )

    policy = retry_policy(
        retry=retry_if_exception_type((TimeoutError, ConnectionError)),
        wait=wait_exponential(multiplier=0.5, max=30),
        stop=stop_after_attempt(5),
    )

    class Fetch(Workflow):
        @step(retry_policy=policy)
        async def fetch(self, ev: StartEvent) -> StopEvent: ...

``ConstantDelayRetryPolicy`` and ``ExponentialBackoffRetryPolicy`` are ready-made policies.
Any object with a matching ``next`` method is a policy too (see :class:`RetryPolicy`).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable

__all__ = [
    "ConstantDelayRetryPolicy",
    "ExponentialBackoffRetryPolicy",
    "RetryCondition",
    "RetryInfo",
    "RetryPolicy",
    "StopCondition",
    "WaitStrategy",
    "retry_all",
    "retry_always",
    "retry_any",
    "retry_if_exception",
    "retry_if_exception_message",
    "retry_if_exception_type",
    "retry_if_not_exception_type",
    "retry_never",
    "retry_policy",
    "stop_after_attempt",
    "stop_after_delay",
    "stop_all",
    "stop_any",
    "stop_never",
    "wait_chain",
    "wait_combine",
    "wait_exponential",
    "wait_fixed",
    "wait_none",
    "wait_random",
]


@dataclass(frozen=True)
class RetryInfo:
    """What ``ctx.retry_info()`` tells a step about its own attempts.

    Attributes:
        retry_number: 0 on the first attempt, 1 on the first retry, and so on.
        elapsed_seconds: seconds since the first attempt started.
        last_exception: the exception of the previous attempt, or ``None``.
        last_failed_at: when the previous attempt failed (UTC), or ``None``.
    """

    retry_number: int
    elapsed_seconds: float
    last_exception: BaseException | None
    last_failed_at: datetime | None


@runtime_checkable
class RetryPolicy(Protocol):
    """Anything that decides whether a failed step runs again.

    ``next`` receives the seconds since the first attempt, the number of failures so far
    (1 after the first failure) and the last error; it returns the delay in seconds before
    the next attempt, or ``None`` to give up.
    """

    def next(self, elapsed_time: float, attempts: int, error: Exception) -> float | None:
        """Return the delay before the next attempt, or ``None`` to stop retrying."""
        ...


RetryCondition = Callable[[BaseException], bool]
"""Decides whether an error is worth retrying."""

WaitStrategy = Callable[[int], float]
"""Maps the retry number (0 for the first retry) to a delay in seconds."""

StopCondition = Callable[[int, float], bool]
"""Given failures so far and elapsed seconds, decides to stop retrying."""


class _Condition:
    """Base of retry conditions: composable with ``|`` and ``&``."""

    def __call__(self, error: BaseException) -> bool:
        raise NotImplementedError

    def __or__(self, other: RetryCondition) -> retry_any:
        return retry_any(self, other)

    def __and__(self, other: RetryCondition) -> retry_all:
        return retry_all(self, other)


class retry_if_exception(_Condition):
    """Retry when ``predicate(error)`` is true."""

    def __init__(self, predicate: Callable[[BaseException], bool]) -> None:
        self.predicate = predicate

    def __call__(self, error: BaseException) -> bool:
        return bool(self.predicate(error))


class retry_if_exception_type(_Condition):
    """Retry when the error is an instance of one of ``types``."""

    def __init__(
        self, types: type[BaseException] | tuple[type[BaseException], ...] = Exception
    ) -> None:
        self.types = types

    def __call__(self, error: BaseException) -> bool:
        return isinstance(error, self.types)


class retry_if_not_exception_type(_Condition):
    """Retry unless the error is an instance of one of ``types``."""

    def __init__(self, types: type[BaseException] | tuple[type[BaseException], ...]) -> None:
        self.types = types

    def __call__(self, error: BaseException) -> bool:
        return not isinstance(error, self.types)


class retry_if_exception_message(_Condition):
    """Retry when ``str(error)`` equals ``message`` or contains ``match``."""

    def __init__(self, message: str | None = None, match: str | None = None) -> None:
        if (message is None) == (match is None):
            raise ValueError("give exactly one of message= or match=")
        self.message = message
        self.match = match

    def __call__(self, error: BaseException) -> bool:
        text = str(error)
        if self.message is not None:
            return text == self.message
        return self.match is not None and self.match in text


class retry_any(_Condition):
    """Retry when any of the conditions says so."""

    def __init__(self, *conditions: RetryCondition) -> None:
        self.conditions = conditions

    def __call__(self, error: BaseException) -> bool:
        return any(condition(error) for condition in self.conditions)


class retry_all(_Condition):
    """Retry when all of the conditions say so."""

    def __init__(self, *conditions: RetryCondition) -> None:
        self.conditions = conditions

    def __call__(self, error: BaseException) -> bool:
        return all(condition(error) for condition in self.conditions)


class retry_always(_Condition):
    """Retry every error."""

    def __call__(self, error: BaseException) -> bool:
        return True


class retry_never(_Condition):
    """Retry no error."""

    def __call__(self, error: BaseException) -> bool:
        return False


class _Wait:
    """Base of wait strategies: ``a + b`` adds two delays."""

    def __call__(self, retry_number: int) -> float:
        raise NotImplementedError

    def __add__(self, other: WaitStrategy) -> wait_combine:
        return wait_combine(self, other)


class wait_fixed(_Wait):
    """The same delay before every retry."""

    def __init__(self, wait: float) -> None:
        if wait < 0:
            raise ValueError(f"wait must be >= 0, got {wait}")
        self.wait = float(wait)

    def __call__(self, retry_number: int) -> float:
        return self.wait


class wait_none(wait_fixed):
    """Retry at once."""

    def __init__(self) -> None:
        super().__init__(0.0)


class wait_exponential(_Wait):
    """``multiplier * exp_base ** retry_number``, clamped to ``[min, max]``."""

    def __init__(
        self,
        multiplier: float = 1.0,
        max: float = float("inf"),
        exp_base: float = 2.0,
        min: float = 0.0,
    ) -> None:
        self.multiplier = multiplier
        self.max = max
        self.exp_base = exp_base
        self.min = min

    def __call__(self, retry_number: int) -> float:
        try:
            delay = self.multiplier * self.exp_base**retry_number
        except OverflowError:
            delay = self.max
        return max(self.min, min(delay, self.max))


class wait_random(_Wait):
    """A uniformly random delay in ``[min, max]``."""

    def __init__(self, min: float = 0.0, max: float = 1.0) -> None:
        self.min = min
        self.max = max

    def __call__(self, retry_number: int) -> float:
        return random.uniform(self.min, self.max)


class wait_chain(_Wait):
    """Use the i-th strategy for the i-th retry, the last one after that."""

    def __init__(self, *strategies: WaitStrategy) -> None:
        if not strategies:
            raise ValueError("wait_chain needs at least one strategy")
        self.strategies = strategies

    def __call__(self, retry_number: int) -> float:
        index = min(retry_number, len(self.strategies) - 1)
        return self.strategies[index](retry_number)


class wait_combine(_Wait):
    """The sum of several strategies' delays."""

    def __init__(self, *strategies: WaitStrategy) -> None:
        self.strategies = strategies

    def __call__(self, retry_number: int) -> float:
        return sum(strategy(retry_number) for strategy in self.strategies)


class _Stop:
    """Base of stop conditions: composable with ``|`` and ``&``."""

    def __call__(self, attempts: int, elapsed_seconds: float) -> bool:
        raise NotImplementedError

    def __or__(self, other: StopCondition) -> stop_any:
        return stop_any(self, other)

    def __and__(self, other: StopCondition) -> stop_all:
        return stop_all(self, other)


class stop_after_attempt(_Stop):
    """Stop once the step has run ``max_attempt_number`` times."""

    def __init__(self, max_attempt_number: int) -> None:
        if max_attempt_number < 1:
            raise ValueError(f"max_attempt_number must be >= 1, got {max_attempt_number}")
        self.max_attempt_number = max_attempt_number

    def __call__(self, attempts: int, elapsed_seconds: float) -> bool:
        return attempts >= self.max_attempt_number


class stop_after_delay(_Stop):
    """Stop once ``max_delay`` seconds have passed since the first attempt."""

    def __init__(self, max_delay: float) -> None:
        self.max_delay = max_delay

    def __call__(self, attempts: int, elapsed_seconds: float) -> bool:
        return elapsed_seconds >= self.max_delay


class stop_any(_Stop):
    """Stop when any condition says so."""

    def __init__(self, *stops: StopCondition) -> None:
        self.stops = stops

    def __call__(self, attempts: int, elapsed_seconds: float) -> bool:
        return any(stop(attempts, elapsed_seconds) for stop in self.stops)


class stop_all(_Stop):
    """Stop when every condition says so."""

    def __init__(self, *stops: StopCondition) -> None:
        self.stops = stops

    def __call__(self, attempts: int, elapsed_seconds: float) -> bool:
        return all(stop(attempts, elapsed_seconds) for stop in self.stops)


class stop_never(_Stop):
    """Never stop (combine with a retry condition that eventually says no)."""

    def __call__(self, attempts: int, elapsed_seconds: float) -> bool:
        return False


class _ComposedPolicy:
    """A policy made of a retry condition, a wait strategy and a stop condition."""

    def __init__(
        self, retry: RetryCondition | None, wait: WaitStrategy, stop: StopCondition
    ) -> None:
        self.retry = retry
        self.wait = wait
        self.stop = stop

    def next(self, elapsed_time: float, attempts: int, error: Exception) -> float | None:
        """Return the delay before the next attempt, or ``None`` to stop retrying."""
        if self.retry is not None and not self.retry(error):
            return None
        if self.stop(attempts, elapsed_time):
            return None
        return self.wait(max(attempts - 1, 0))

    def __repr__(self) -> str:
        return f"retry_policy(retry={self.retry!r}, wait={self.wait!r}, stop={self.stop!r})"


def retry_policy(
    retry: RetryCondition | None = None,
    wait: WaitStrategy | None = None,
    stop: StopCondition | None = None,
) -> RetryPolicy:
    """Build a policy from its parts.

    Args:
        retry: which errors to retry (default: all).
        wait: the delay before each retry (default: ``wait_fixed(5)``).
        stop: when to give up (default: ``stop_after_attempt(3)``).
    """
    return _ComposedPolicy(
        retry=retry,
        wait=wait if wait is not None else wait_fixed(5),
        stop=stop if stop is not None else stop_after_attempt(3),
    )


def ConstantDelayRetryPolicy(maximum_attempts: int = 3, delay: float = 5.0) -> RetryPolicy:
    """Retry up to ``maximum_attempts`` attempts in all, ``delay`` seconds apart."""
    return retry_policy(wait=wait_fixed(delay), stop=stop_after_attempt(maximum_attempts))


def ExponentialBackoffRetryPolicy(
    maximum_attempts: int = 5,
    initial_delay: float = 1.0,
    multiplier: float = 2.0,
    max_delay: float = 60.0,
    jitter: bool = False,
) -> RetryPolicy:
    """Retry with delays ``initial_delay * multiplier ** n`` capped at ``max_delay``."""
    wait: WaitStrategy = wait_exponential(
        multiplier=initial_delay, exp_base=multiplier, max=max_delay
    )
    if jitter:
        wait = wait_combine(wait, wait_random(0.0, initial_delay))
    return retry_policy(wait=wait, stop=stop_after_attempt(maximum_attempts))
