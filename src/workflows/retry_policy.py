"""Retry policies for steps.

A policy answers one question after a step failed: retry, and after how long? Build one
from three families of composable parts, modelled on tenacity:

- **retry conditions** (``retry_if_*``, ``retry_always``, ``retry_never``) decide whether
  an error is worth retrying; combine them with ``|`` and ``&``;
- **wait strategies** (``wait_*``) give the delay before the next attempt; add them
  with ``+`` (or ``sum()``);
- **stop conditions** (``stop_*``) decide when to give up; combine them with ``|`` and
  ``&``.

::

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

Random waits take an optional ``seed``: the same seed gives the same delay, so a replayed
run can wait exactly as the original did. Durations (``time_unit_type``) are seconds, as
an ``int``/``float`` or a ``timedelta``. Any object with a matching ``next`` method is a
policy too (see :class:`RetryPolicy`).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable

from ._retry_base import time_unit_type
from ._retry_conditions import (
    retry_all,
    retry_always,
    retry_any,
    retry_if_exception,
    retry_if_exception_cause_type,
    retry_if_exception_message,
    retry_if_exception_type,
    retry_if_not_exception_message,
    retry_if_not_exception_type,
    retry_never,
    retry_unless_exception_type,
)
from ._retry_stops import (
    stop_after_attempt,
    stop_after_delay,
    stop_all,
    stop_any,
    stop_before_delay,
    stop_never,
)
from ._retry_waits import (
    wait_chain,
    wait_combine,
    wait_exponential,
    wait_exponential_jitter,
    wait_fixed,
    wait_full_jitter,
    wait_incrementing,
    wait_none,
    wait_random,
    wait_random_exponential,
)

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
    "retry_if_exception_cause_type",
    "retry_if_exception_message",
    "retry_if_exception_type",
    "retry_if_not_exception_message",
    "retry_if_not_exception_type",
    "retry_never",
    "retry_policy",
    "retry_unless_exception_type",
    "stop_after_attempt",
    "stop_after_delay",
    "stop_all",
    "stop_any",
    "stop_before_delay",
    "stop_never",
    "time_unit_type",
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


@dataclass(frozen=True)
class RetryInfo:
    """What ``ctx.retry_info()`` tells a step about its own attempts.

    Attributes:
        retry_number: 0 on the first attempt, 1 on the first retry, and so on.
        elapsed_seconds: seconds since the first attempt started (0.0 on the first).
        last_exception: the exception of the previous attempt, or ``None``. Its
            ``__traceback__`` is only there in the process that saw it fail.
        last_failed_at: when the previous attempt failed (timezone-aware UTC), or ``None``.
    """

    retry_number: int
    elapsed_seconds: float
    last_exception: BaseException | None
    last_failed_at: datetime | None


@runtime_checkable
class RetryPolicy(Protocol):
    """Anything that decides whether a failed step runs again.

    ``retry_policy(...)``, ``ConstantDelayRetryPolicy`` and
    ``ExponentialBackoffRetryPolicy`` build one; a user-defined class with a matching
    ``next`` method is one too (``seed`` may be left out of its signature).
    """

    def next(
        self,
        elapsed_time: float,
        attempts: int,
        error: Exception,
        *,
        seed: int | None = None,
    ) -> float | None:
        """Return the delay in seconds before the next attempt, or ``None`` to give up.

        Args:
            elapsed_time: seconds since the first attempt started.
            attempts: failures so far, 1 after the first failure.
            error: the exception of the attempt that just failed.
            seed: makes random delays reproducible (same seed, same delay).
        """
        ...


class RetryCondition(Protocol):
    """Decides whether an error is worth retrying."""

    def __call__(self, error: BaseException) -> bool:
        """Return true to retry after ``error``."""
        ...


class WaitStrategy(Protocol):
    """Gives the delay in seconds before a retry.

    ``attempts`` counts retries from 0 (the first retry); the policy passes failures
    minus one. ``seed`` makes random strategies reproducible.
    """

    def __call__(self, attempts: int, *, seed: int | None = None) -> float:
        """Return the delay in seconds before retry number ``attempts`` (from 0)."""
        ...


class StopCondition(Protocol):
    """Decides whether to stop retrying.

    ``attempts`` counts failures so far, ``elapsed_time`` the seconds since the first
    attempt, and ``upcoming_sleep`` the delay the wait strategy chose for the next retry.
    """

    def __call__(self, attempts: int, elapsed_time: float, *, upcoming_sleep: float = 0.0) -> bool:
        """Return true to give up instead of retrying."""
        ...


# --- policies -------------------------------------------------------------------------


class _ComposedPolicy:
    """A policy made of a retry condition, a wait strategy and a stop condition."""

    def __init__(
        self, retry: RetryCondition | None, wait: WaitStrategy, stop: StopCondition
    ) -> None:
        self.retry = retry
        self.wait = wait
        self.stop = stop

    def next(
        self,
        elapsed_time: float,
        attempts: int,
        error: Exception,
        *,
        seed: int | None = None,
    ) -> float | None:
        """Return the delay before the next attempt, or ``None`` to stop retrying."""
        if self.retry is not None and not self.retry(error):
            return None
        # Failures count from 1, retries from 0; the wait is chosen first so that
        # stop_before_delay can see it.
        delay = self.wait(max(attempts - 1, 0), seed=seed)
        if self.stop(attempts, elapsed_time, upcoming_sleep=delay):
            return None
        return delay

    def __repr__(self) -> str:
        return f"retry_policy(retry={self.retry!r}, wait={self.wait!r}, stop={self.stop!r})"


_DEFAULT_WAIT = wait_fixed(5)
_DEFAULT_STOP = stop_after_attempt(3)


def retry_policy(
    retry: RetryCondition | None = None,
    wait: WaitStrategy = _DEFAULT_WAIT,
    stop: StopCondition = _DEFAULT_STOP,
) -> RetryPolicy:
    """Build a policy from its parts.

    With no arguments: retry every error, 5 seconds apart, 3 attempts in all.

    Args:
        retry: which errors to retry; ``None`` retries all.
        wait: the delay before each retry.
        stop: when to give up; it sees the delay ``wait`` chose.

    Returns:
        A :class:`RetryPolicy` for ``@step(retry_policy=...)``.
    """
    return _ComposedPolicy(retry=retry, wait=wait, stop=stop)


def ConstantDelayRetryPolicy(maximum_attempts: int = 3, delay: float = 5) -> RetryPolicy:
    """Retry up to ``maximum_attempts`` attempts in all, ``delay`` seconds apart.

    Deprecated (``DeprecationWarning``): use
    ``retry_policy(wait=wait_fixed(delay), stop=stop_after_attempt(maximum_attempts))``.
    """
    warnings.warn(
        "ConstantDelayRetryPolicy is deprecated, use "
        "retry_policy(wait=wait_fixed(delay), stop=stop_after_attempt(n)) instead",
        DeprecationWarning,
        stacklevel=2,
    )
    return _ComposedPolicy(
        retry=None, wait=wait_fixed(delay), stop=stop_after_attempt(maximum_attempts)
    )


def ExponentialBackoffRetryPolicy(
    maximum_attempts: int = 5,
    initial_delay: float = 1.0,
    multiplier: float = 2.0,
    max_delay: float = 60.0,
    jitter: bool = True,
) -> RetryPolicy:
    """Retry up to ``maximum_attempts`` attempts in all, waiting
    ``initial_delay * multiplier ** n`` capped at ``max_delay`` before retry ``n``.

    With ``jitter`` (the default) each delay is drawn uniformly between 0 and that value
    (:class:`wait_random_exponential`); without it, it is exactly that value
    (:class:`wait_exponential`).

    Deprecated (``DeprecationWarning``): use
    ``retry_policy(wait=wait_exponential(...), stop=stop_after_attempt(n))``.
    """
    warnings.warn(
        "ExponentialBackoffRetryPolicy is deprecated, use "
        "retry_policy(wait=wait_exponential(...), stop=stop_after_attempt(n)) instead",
        DeprecationWarning,
        stacklevel=2,
    )
    backoff = wait_random_exponential if jitter else wait_exponential
    wait = backoff(multiplier=initial_delay, exp_base=multiplier, max=max_delay)
    return _ComposedPolicy(retry=None, wait=wait, stop=stop_after_attempt(maximum_attempts))
