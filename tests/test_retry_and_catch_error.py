"""Retry policies, ``ctx.retry_info()`` and ``@catch_error`` (SPEC §3, Steps)."""

from __future__ import annotations

import warnings
from datetime import datetime

import pytest

from workflows import Context, Workflow, catch_error, step
from workflows.errors import WorkflowValidationError
from workflows.events import (
    Event,
    StartEvent,
    StepFailedEvent,
    StopEvent,
    WorkflowFailedEvent,
)
from workflows.retry_policy import (
    ConstantDelayRetryPolicy,
    ExponentialBackoffRetryPolicy,
    retry_if_exception_message,
    retry_if_exception_type,
    retry_policy,
    stop_after_attempt,
    wait_fixed,
)


class Job(Event):
    payload: str


class Fallback(Event):
    reason: str


class Recovered(Event):
    job: str


class Fetch(Event):
    pass


class Parse(Event):
    pass


class Transient(Exception):
    pass


class Permanent(Exception):
    pass


def legacy_policy(factory, **kwargs):  # type: ignore[no-untyped-def]
    """Build a named policy whether or not the engine marks it deprecated."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return factory(**kwargs)


# --- retries --------------------------------------------------------------------------


def flaky(policy, failures: int, error: type[Exception] = Transient) -> Workflow:  # type: ignore[no-untyped-def]
    """A workflow whose ``work`` step (under ``policy``) fails ``failures`` times."""

    class Flaky(Workflow):
        def __init__(self) -> None:
            super().__init__()
            self.calls: list[dict[str, object]] = []

        @step
        async def begin(self, ev: StartEvent) -> Job:
            return Job(payload="same input")

        @step(retry_policy=policy)
        async def work(self, ctx: Context, ev: Job) -> StopEvent:
            info = ctx.retry_info()
            self.calls.append(
                {
                    "payload": ev.payload,
                    "retry_number": info.retry_number,
                    "elapsed": info.elapsed_seconds,
                    "last_exception": info.last_exception,
                    "last_failed_at": info.last_failed_at,
                }
            )
            if len(self.calls) <= failures:
                raise error(f"failure {len(self.calls)}")
            return StopEvent(result=f"succeeded on attempt {len(self.calls)}")

    return Flaky()


async def test_failing_step_is_retried_with_the_same_input_event() -> None:
    policy = retry_policy(wait=wait_fixed(0), stop=stop_after_attempt(3))
    wf = flaky(policy, failures=2)
    assert await wf.run() == "succeeded on attempt 3"
    assert [c["payload"] for c in wf.calls] == ["same input"] * 3


async def test_retry_info_describes_the_current_attempt() -> None:
    policy = retry_policy(wait=wait_fixed(0), stop=stop_after_attempt(3))
    wf = flaky(policy, failures=2)
    await wf.run()
    assert [c["retry_number"] for c in wf.calls] == [0, 1, 2]
    first, second, third = wf.calls
    assert first["last_exception"] is None
    assert first["last_failed_at"] is None
    assert first["elapsed"] == pytest.approx(0.0, abs=0.05)
    assert isinstance(second["last_exception"], Transient)
    assert str(second["last_exception"]) == "failure 1"
    assert str(third["last_exception"]) == "failure 2"
    assert isinstance(second["last_failed_at"], datetime)
    assert isinstance(third["last_failed_at"], datetime)
    assert third["last_failed_at"] >= second["last_failed_at"]
    assert 0 <= second["elapsed"] <= third["elapsed"]


async def test_exhausted_retries_fail_the_run_with_the_step_exception() -> None:
    policy = retry_policy(wait=wait_fixed(0), stop=stop_after_attempt(3))
    wf = flaky(policy, failures=10)
    handler = wf.run()
    streamed = [ev async for ev in handler.stream_events()]
    with pytest.raises(Transient, match="failure 3"):
        await handler
    assert len(wf.calls) == 3
    last = streamed[-1]
    assert isinstance(last, WorkflowFailedEvent)
    assert last.step_name == "work"
    assert last.attempts == 3


async def test_retry_condition_skips_errors_it_does_not_match() -> None:
    policy = retry_policy(
        retry=retry_if_exception_type(Transient), wait=wait_fixed(0), stop=stop_after_attempt(5)
    )
    wf = flaky(policy, failures=10, error=Permanent)
    with pytest.raises(Permanent):
        await wf.run()
    assert len(wf.calls) == 1


async def test_composed_retry_conditions() -> None:
    policy = retry_policy(
        retry=retry_if_exception_type(Transient) | retry_if_exception_message(match="flaky"),
        wait=wait_fixed(0),
        stop=stop_after_attempt(4),
    )

    class Mixed(Workflow):
        def __init__(self) -> None:
            super().__init__()
            self.errors: list[Exception] = [
                RuntimeError("flaky network"),
                Transient("blip"),
                RuntimeError("fatal"),
            ]
            self.calls = 0

        @step
        async def begin(self, ev: StartEvent) -> Job:
            return Job(payload="x")

        @step(retry_policy=policy)
        async def work(self, ev: Job) -> StopEvent:
            self.calls += 1
            raise self.errors[self.calls - 1]

    wf = Mixed()
    with pytest.raises(RuntimeError, match="fatal"):
        await wf.run()
    assert wf.calls == 3  # retried twice, then a non-matching error stops it


async def test_wait_strategy_delays_the_next_attempt() -> None:
    policy = retry_policy(wait=wait_fixed(0.05), stop=stop_after_attempt(2))
    wf = flaky(policy, failures=1)
    assert await wf.run() == "succeeded on attempt 2"
    assert wf.calls[1]["elapsed"] >= 0.05


async def test_constant_delay_retry_policy() -> None:
    policy = legacy_policy(ConstantDelayRetryPolicy, maximum_attempts=2, delay=0)
    wf = flaky(policy, failures=5)
    with pytest.raises(Transient):
        await wf.run()
    assert len(wf.calls) == 2

    wf = flaky(policy, failures=1)
    assert await wf.run() == "succeeded on attempt 2"


async def test_exponential_backoff_retry_policy() -> None:
    policy = legacy_policy(
        ExponentialBackoffRetryPolicy,
        maximum_attempts=3,
        initial_delay=0.001,
        multiplier=2,
        max_delay=0.01,
        jitter=False,
    )
    wf = flaky(policy, failures=5)
    with pytest.raises(Transient):
        await wf.run()
    assert len(wf.calls) == 3


# --- @catch_error ---------------------------------------------------------------------


class Rescued(Workflow):
    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.failures: list[StepFailedEvent] = []

    @step
    async def begin(self, ev: StartEvent) -> Job:
        return Job(payload="important")

    @step(retry_policy=retry_policy(wait=wait_fixed(0), stop=stop_after_attempt(2)))
    async def fragile(self, ev: Job) -> StopEvent:
        raise Permanent(f"cannot handle {ev.payload}")

    @catch_error
    async def rescue(self, ctx: Context, ev: StepFailedEvent) -> StopEvent:
        self.failures.append(ev)
        return StopEvent(result=f"recovered from {ev.step_name}")


async def test_catch_error_receives_step_failed_event_after_retries() -> None:
    wf = Rescued()
    assert await wf.run() == "recovered from fragile"
    [failure] = wf.failures
    assert failure.step_name == "fragile"
    assert isinstance(failure.input_event, Job)
    assert failure.input_event.payload == "important"
    assert isinstance(failure.exception, Permanent)
    assert "cannot handle important" in str(failure.exception)
    assert failure.attempts == 2
    assert failure.elapsed_seconds >= 0
    assert isinstance(failure.failed_at, datetime)


class FallbackFlow(Workflow):
    @step
    async def begin(self, ev: StartEvent) -> Job:
        return Job(payload="p")

    @step
    async def fragile(self, ev: Job) -> StopEvent:
        raise Permanent("down")

    @catch_error(for_steps=["fragile"])
    async def degrade(self, ev: StepFailedEvent) -> Fallback:
        return Fallback(reason=str(ev.exception))

    @step
    async def use_fallback(self, ev: Fallback) -> StopEvent:
        return StopEvent(result=f"fallback: {ev.reason}")


async def test_catch_error_may_return_a_fallback_event_and_the_run_goes_on() -> None:
    assert await FallbackFlow().run() == "fallback: down"


class Scoped(Workflow):
    @step
    async def begin(self, ev: StartEvent) -> Fetch | Parse:
        return Fetch() if ev.which == "fetch" else Parse()

    @step
    async def fetch(self, ev: Fetch) -> StopEvent:
        raise Permanent("fetch failed")

    @step
    async def parse(self, ev: Parse) -> StopEvent:
        raise Permanent("parse failed")

    @catch_error
    async def anything(self, ev: StepFailedEvent) -> StopEvent:
        return StopEvent(result=("wildcard", ev.step_name))

    @catch_error(for_steps=["fetch"])
    async def only_fetch(self, ev: StepFailedEvent) -> StopEvent:
        return StopEvent(result=("scoped", ev.step_name))


async def test_scoped_handler_wins_over_wildcard() -> None:
    assert await Scoped().run(which="fetch") == ("scoped", "fetch")
    assert await Scoped().run(which="parse") == ("wildcard", "parse")


def budgeted(max_recoveries: int) -> type[Workflow]:
    class Budgeted(Workflow):
        def __init__(self) -> None:
            super().__init__()
            self.recoveries = 0
            self.attempts = 0

        @step
        async def begin(self, ev: StartEvent) -> Job:
            return Job(payload="first")

        @step
        async def always_fails(self, ev: Job) -> StopEvent:
            self.attempts += 1
            raise Permanent(f"attempt {self.attempts}")

        @catch_error(max_recoveries=max_recoveries)
        async def try_again(self, ev: StepFailedEvent) -> Job:
            self.recoveries += 1
            return Job(payload="again")

    return Budgeted


@pytest.mark.parametrize("budget", [1, 2])
async def test_past_max_recoveries_per_lineage_the_run_fails(budget: int) -> None:
    wf = budgeted(budget)()
    handler = wf.run()
    streamed = [ev async for ev in handler.stream_events()]
    with pytest.raises(Permanent, match=f"attempt {budget + 1}"):
        await handler
    assert wf.recoveries == budget
    assert wf.attempts == budget + 1
    last = streamed[-1]
    assert isinstance(last, WorkflowFailedEvent)
    assert last.step_name == "always_fails"


class TwoLineages(Workflow):
    def __init__(self) -> None:
        super().__init__()
        self.recoveries = 0

    @step
    async def begin(self, ctx: Context, ev: StartEvent) -> Job | None:
        ctx.send_event(Job(payload="a"))
        ctx.send_event(Job(payload="b"))
        return None

    @step
    async def fragile(self, ev: Job) -> StopEvent:
        raise Permanent(ev.payload)

    @catch_error(max_recoveries=1)
    async def recover(self, ev: StepFailedEvent) -> Recovered:
        self.recoveries += 1
        return Recovered(job=ev.input_event.payload)

    @step
    async def join(self, ctx: Context, ev: Recovered) -> StopEvent | None:
        got = ctx.collect_events(ev, [Recovered, Recovered])
        if got is None:
            return None
        return StopEvent(result=sorted(r.job for r in got))


async def test_max_recoveries_counts_per_lineage_not_per_run() -> None:
    wf = TwoLineages()
    assert await wf.run() == ["a", "b"]
    assert wf.recoveries == 2


def test_catch_error_handler_must_take_step_failed_event() -> None:
    with pytest.raises(WorkflowValidationError, match="wrong_handler"):

        class Bad(Workflow):
            @step
            async def begin(self, ev: StartEvent) -> StopEvent:
                return StopEvent()

            @catch_error
            async def wrong_handler(self, ev: Job) -> StopEvent:
                return StopEvent()


def test_catch_error_rejects_a_zero_recovery_budget() -> None:
    with pytest.raises(WorkflowValidationError, match="max_recoveries"):

        @catch_error(max_recoveries=0)
        async def handler(ev: StepFailedEvent) -> StopEvent:
            return StopEvent()
