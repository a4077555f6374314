"""The decisions of a run (``workflows._run_decisions``) driven alone, without asyncio.

Stateful property tests run the pure part against a small model of what a run must do:
routing order and worker limits, retries then ``@catch_error`` or failure, and the
timeout budget that stops while the run waits for a human. Plain tests cover the edges.
"""

from __future__ import annotations

import functools
from collections import deque
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from workflows import Workflow, catch_error, step
from workflows._collection import CollectionStream
from workflows._run_decisions import (
    Answer,
    CatchWith,
    FailRun,
    Finish,
    Idle,
    Retry,
    Staffing,
    TimeoutBudget,
    Unhandled,
    Write,
    clock_should_pause,
    next_work,
    on_step_failure,
    plan_resume,
    register_wait,
    route,
    settle,
    staff,
    stuck_streams,
    timed_out,
    wait_timed_out,
    workers_to_start,
)
from workflows._run_state import Invocation, QueuedEvent, RunState, Waiter, waiter_key
from workflows.errors import WorkflowRuntimeError, WorkflowStepDoesNotExistError
from workflows.events import (
    Event,
    HumanResponseEvent,
    InputRequiredEvent,
    StartEvent,
    StepFailedEvent,
    StopEvent,
)
from workflows.retry_policy import retry_policy, stop_after_attempt, wait_fixed

MACHINE_SETTINGS = settings(
    max_examples=100,
    stateful_step_count=30,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)


class Ping(Event):
    n: int = 0


class Pong(Event):
    n: int = 0


class Stray(Event):
    """No step takes it."""


class Routed(Workflow):
    """Two steps take Ping (declared first then second), one takes Pong with 2 workers."""

    @step
    async def first(self, ev: Ping) -> None:
        return None

    @step
    async def second(self, ev: Ping) -> None:
        return None

    @step(num_workers=2)
    async def pong(self, ev: Pong) -> None:
        return None

    @step
    async def human(self, ev: HumanResponseEvent) -> None:
        return None

    @step
    async def begin(self, ev: StartEvent) -> StopEvent:
        return StopEvent()


ROUTES: dict[type[Event], tuple[str, ...]] = {
    Ping: ("first", "second"),
    Pong: ("pong",),
    HumanResponseEvent: ("human",),
    Stray: (),
}
LIMITS = {"first": 1, "second": 1, "pong": 2, "human": 1, "begin": 1}


class RoutingMachine(RuleBasedStateMachine):
    """Events and workers against a model of per-step FIFO queues and worker counts."""

    @initialize()
    def setup(self) -> None:
        self.graph = Routed._graph()
        self.state = RunState(run_id="run")
        self.now = 0.0
        self.queues: dict[str, deque[Event]] = {name: deque() for name in LIMITS}
        self.running = dict.fromkeys(LIMITS, 0)
        """Workers alive per step: parked, ready to look for work, or busy."""
        self.parked = dict.fromkeys(LIMITS, 0)
        self.ready = dict.fromkeys(LIMITS, 0)
        self.busy: dict[str, list[Invocation]] = {name: [] for name in LIMITS}
        self.prompts = 0

    def _staff(self, name: str) -> None:
        decision = staff(self.parked[name], self.running[name], LIMITS[name])
        if decision is Staffing.WAKE:
            self.parked[name] -= 1
            self.ready[name] += 1
        elif decision is Staffing.SPAWN:
            self.running[name] += 1
            self.ready[name] += 1
        else:
            assert decision is Staffing.FULL
            assert self.running[name] == LIMITS[name]

    @rule(cls=st.sampled_from([Ping, Pong, Stray]), n=st.integers(0, 9))
    def emit(self, cls: type[Event], n: int) -> None:
        event = cls(n=n) if cls is not Stray else cls()
        commands = route(self.state, self.graph, event, None, 0, (), False)
        expected = ROUTES[cls]
        if expected:
            assert commands == expected
        else:
            assert commands == (Unhandled(event, self.state.is_quiescent),)
        for name in expected:
            self.queues[name].append(event)
            self._staff(name)

    @rule()
    def ask_a_human(self) -> None:
        event = InputRequiredEvent(prefix="?")
        assert route(self.state, self.graph, event, None, 0, (), False) == (Write(event),)
        self.prompts += 1

    @rule()
    def human_answers(self) -> None:
        event = HumanResponseEvent(response="ok")
        assert route(self.state, self.graph, event, None, 0, (), True) == ("human",)
        self.prompts = max(self.prompts - 1, 0)
        self.queues["human"].append(event)
        self._staff("human")

    @rule(name=st.sampled_from(sorted(LIMITS)))
    def target(self, name: str) -> None:
        event = Pong() if name == "pong" else Ping()
        if name in ("first", "second", "pong"):
            assert route(self.state, self.graph, event, name, 0, (), False) == (name,)
            self.queues[name].append(event)
            self._staff(name)
        else:
            with pytest.raises(WorkflowRuntimeError):
                route(self.state, self.graph, event, name, 0, (), False)

    @rule(name=st.sampled_from(sorted(LIMITS)))
    def worker_looks_for_work(self, name: str) -> None:
        if not self.ready[name]:
            return
        self.ready[name] -= 1
        self.now += 1.0
        work = next_work(self.state, name, None, lambda: self.now)
        if isinstance(work, Invocation):
            assert work.event is self.queues[name].popleft()
            assert work.step == name and work.first_started_at == self.now
            self.busy[name].append(work)
        elif work is Idle.PARK:
            assert not self.queues[name]
            self.parked[name] += 1
        else:
            assert work is Idle.RETIRE
            assert not self.queues[name] and self.prompts > 0
            assert not any(self.busy.values())
            self.running[name] -= 1

    @rule(name=st.sampled_from(sorted(LIMITS)), data=st.data())
    def invocation_ends(self, name: str, data: st.DataObject) -> None:
        if not self.busy[name]:
            return
        index = data.draw(st.integers(0, len(self.busy[name]) - 1))
        inv = self.busy[name].pop(index)
        self.state.finish(inv)
        self.ready[name] += 1

    @invariant()
    def queues_match_the_model(self) -> None:
        for name, expected in self.queues.items():
            got = [item.event for item in self.state.queues.get(name, ())]
            assert got == list(expected)
        assert self.state.queued_count == sum(len(q) for q in self.queues.values())
        assert self.state.pending_prompts == self.prompts

    @invariant()
    def workers_stay_within_num_workers(self) -> None:
        for name, limit in LIMITS.items():
            assert self.running[name] <= limit
            assert self.parked[name] + self.ready[name] + len(self.busy[name]) == self.running[name]
            in_flight = [inv for inv in self.state.in_flight.values() if inv.step == name]
            assert len(in_flight) == len(self.busy[name]) <= limit

    @invariant()
    def queued_work_always_has_a_worker(self) -> None:
        for name, queue in self.queues.items():
            if queue:
                assert self.ready[name] + len(self.busy[name]) >= 1


TestRouting = RoutingMachine.TestCase
TestRouting.settings = MACHINE_SETTINGS


class Job(Event):
    tag: str = ""


@functools.cache
def _retrying(attempts: int, delay: float, with_handler: bool, recoveries: int) -> type[Workflow]:
    """A workflow whose step ``work`` retries ``attempts`` attempts in all, ``delay`` apart,
    with (or without) a ``@catch_error`` step allowing ``recoveries`` recoveries."""

    class Retrying(Workflow):
        @step(retry_policy=retry_policy(wait=wait_fixed(delay), stop=stop_after_attempt(attempts)))
        async def work(self, ev: Job) -> StopEvent:
            raise RuntimeError("boom")

    if with_handler:

        class Caught(Retrying):
            @catch_error(max_recoveries=recoveries)
            async def recover(self, ev: StepFailedEvent) -> StopEvent:
                return StopEvent()

        return Caught
    return Retrying


class RetryMachine(RuleBasedStateMachine):
    """Failed attempts against a model: retries with the policy's delay, then the
    ``@catch_error`` step while recoveries remain, else the run fails."""

    @initialize(
        attempts=st.integers(1, 4),
        delay=st.sampled_from([0.0, 0.5, 2.0]),
        with_handler=st.booleans(),
        recoveries=st.integers(1, 3),
    )
    def setup(self, attempts: int, delay: float, with_handler: bool, recoveries: int) -> None:
        workflow = _retrying(attempts, delay, with_handler, recoveries)
        self.graph = workflow._graph()
        self.spec = self.graph.specs["work"]
        self.attempts, self.delay = attempts, delay
        self.with_handler, self.recoveries = with_handler, recoveries
        self.state = RunState(run_id="run")
        self.now = 100.0
        self.inv: Invocation | None = None
        self.failures = 0

    @precondition(lambda self: self.inv is None)
    @rule(lineage=st.integers(0, 3))
    def start(self, lineage: int) -> None:
        self.state.enqueue("work", QueuedEvent(Job(tag=str(lineage)), lineage))
        work = next_work(self.state, "work", None, lambda: self.now)
        assert isinstance(work, Invocation)
        self.inv, self.started_at, self.failures = work, self.now, 0

    @precondition(lambda self: self.inv is not None)
    @rule(elapsed=st.floats(0.0, 30.0, allow_nan=False))
    def attempt_fails(self, elapsed: float) -> None:
        inv = self.inv
        assert inv is not None
        self.now += elapsed
        self.failures += 1
        outcome = on_step_failure(
            self.state, self.graph, self.spec, inv, RuntimeError("boom"), self.now
        )
        assert inv.attempts == self.failures
        assert inv.last_failed_at == self.now and inv.last_error == "RuntimeError: boom"
        if self.failures < self.attempts:
            assert outcome == Retry(self.delay)
            assert inv.id in self.state.in_flight
            return
        self.inv = None
        assert inv.id not in self.state.in_flight
        if self.with_handler and inv.lineage < self.recoveries:
            assert outcome == CatchWith("recover")
            queued = self.state.queues["recover"].popleft()
            self.state.queued_count -= 1
            assert isinstance(queued.event, StepFailedEvent)
            assert queued.event.attempts == self.failures
            assert queued.event.elapsed_seconds == self.now - self.started_at
            assert queued.lineage == inv.lineage + 1
        else:
            assert isinstance(outcome, FailRun)
            assert (outcome.step, outcome.attempts) == ("work", self.failures)
            assert outcome.elapsed == self.now - self.started_at
            assert str(outcome.error) == "boom"
            self.state = RunState(run_id="next run")  # this run has failed

    @precondition(lambda self: self.inv is not None)
    @rule()
    def attempt_succeeds(self) -> None:
        assert self.inv is not None
        self.state.finish(self.inv)
        self.inv = None

    @invariant()
    def nothing_left_behind(self) -> None:
        assert len(self.state.in_flight) == (self.inv is not None)
        assert self.state.queued_count == 0


TestRetry = RetryMachine.TestCase
TestRetry.settings = MACHINE_SETTINGS


class ClockMachine(RuleBasedStateMachine):
    """The timeout budget runs only while the run is not waiting for a human."""

    @initialize(total=st.floats(1.0, 100.0, allow_nan=False))
    def setup(self, total: float) -> None:
        self.state = RunState(run_id="run")
        self.total = total
        self.budget = TimeoutBudget(total)
        self.now = 1000.0
        self.used = 0.0
        self.running = True
        self.waiting: Invocation | None = None
        assert self.budget.start(self.now) == total

    @rule(dt=st.floats(0.0, 20.0, allow_nan=False))
    def time_passes(self, dt: float) -> None:
        self.now += dt
        if self.running:
            self.used += dt

    @precondition(lambda self: self.waiting is None)
    @rule(queued_too=st.booleans())
    def step_waits_for_a_human(self, queued_too: bool) -> None:
        self.state.enqueue("ask", QueuedEvent(Job()))
        work = next_work(self.state, "ask", None, lambda: self.now)
        assert isinstance(work, Invocation)
        prompt = InputRequiredEvent(prefix="?")
        waiter, written = register_wait(
            self.state, work, HumanResponseEvent, prompt, "q", None, None, self.now
        )
        assert written is prompt and waiter.key == waiter_key(work.id, 0, 0)
        work.blocked = True
        self.waiting = work
        if queued_too:
            # Other work is still queued: the run is not only waiting.
            self.state.enqueue("other", QueuedEvent(Job()))
            assert not clock_should_pause(self.state)
            next_work(self.state, "other", None, lambda: self.now)
            assert not clock_should_pause(self.state)  # ... nor while it runs
            self.state.finish(next(i for i in self.state.in_flight.values() if i.step == "other"))
        assert clock_should_pause(self.state)
        self.budget.pause(self.now)
        self.running = False

    @precondition(lambda self: self.waiting is not None)
    @rule()
    def human_answers(self) -> None:
        assert self.waiting is not None
        waiter = self.state.resolve_waiter(HumanResponseEvent(response="yes"))
        assert waiter is not None and waiter.invocation_id == self.waiting.id
        self.waiting.blocked = False
        assert not clock_should_pause(self.state)
        left = self.budget.resume(self.now)
        self.running = True
        assert left == pytest.approx(max(self.total - self.used, 0.0), abs=1e-6)
        self.state.finish(self.waiting)
        self.waiting = None

    @invariant()
    def budget_left_is_total_minus_time_used_while_running(self) -> None:
        expected = max(self.total - self.used, 0.0)
        if self.running:
            assert self.budget.resume(self.now) == pytest.approx(expected, abs=1e-6)
        else:
            assert self.budget.left is not None
            assert max(self.budget.left, 0.0) == pytest.approx(expected, abs=1e-6)


TestClock = ClockMachine.TestCase
TestClock.settings = MACHINE_SETTINGS


# -- edges -----------------------------------------------------------------------------
def _fresh() -> tuple[RunState, Any]:
    return RunState(run_id="run"), Routed._graph()


def test_the_common_route_is_the_graphs_cached_tuple() -> None:
    state, graph = _fresh()
    commands = route(state, graph, Ping(), None, 0, (), False)
    assert commands is graph.routes(Ping)


def test_an_untargeted_stop_event_finishes_and_touches_nothing() -> None:
    state, graph = _fresh()
    stop = StopEvent(result=1)
    assert route(state, graph, stop, None, 0, (), False) == (Finish(stop),)
    assert state.queued_count == 0


def test_a_bad_target_raises_and_counts_no_prompt() -> None:
    state, graph = _fresh()
    with pytest.raises(WorkflowStepDoesNotExistError):
        route(state, graph, InputRequiredEvent(prefix="?"), "nope", 0, (), False)
    with pytest.raises(WorkflowRuntimeError, match="does not accept"):
        route(state, graph, Pong(), "first", 0, (), False)
    assert state.pending_prompts == 0 and state.queued_count == 0


def test_a_waiter_takes_the_event_before_any_step() -> None:
    state, graph = _fresh()
    state.enqueue("human", QueuedEvent(Job()))
    inv = next_work(state, "human", None, lambda: 0.0)
    assert isinstance(inv, Invocation)
    waiter = Waiter(waiter_key(inv.id, 0, 0), inv.id, Ping, {"n": 2})
    state.add_waiter(waiter)
    assert route(state, graph, Ping(n=1), None, 0, (), False) == ("first", "second")
    answer = Ping(n=2)
    assert route(state, graph, answer, None, 0, (), False) == (Answer(waiter, answer),)
    assert waiter.resolved is answer and not state.open_waiters
    # Targeted events bypass waiters.
    state.add_waiter(Waiter(waiter_key(inv.id, 0, 1), inv.id, Ping, {}))
    assert route(state, graph, Ping(), "first", 0, (), False) == ("first",)


def test_only_an_outside_answer_settles_a_prompt() -> None:
    state, graph = _fresh()
    route(state, graph, InputRequiredEvent(prefix="?"), None, 0, (), False)
    route(state, graph, HumanResponseEvent(response="a"), None, 0, (), False)
    assert state.pending_prompts == 1
    route(state, graph, HumanResponseEvent(response="b"), None, 0, (), True)
    assert state.pending_prompts == 0
    route(state, graph, HumanResponseEvent(response="c"), None, 0, (), True)
    assert state.pending_prompts == 0


def test_a_worker_retires_when_only_outside_input_can_help() -> None:
    state, graph = _fresh()
    assert next_work(state, "first", None, lambda: 0.0) is Idle.PARK
    route(state, graph, InputRequiredEvent(prefix="?"), None, 0, (), False)
    assert next_work(state, "first", None, lambda: 0.0) is Idle.RETIRE


def test_a_policy_that_raises_fails_the_step_with_its_own_error() -> None:
    class Broken:
        def next(self, elapsed_time: float, attempts: int, error: Exception) -> float | None:
            raise ValueError("policy broke")

    class Flaky(Workflow):
        @step(retry_policy=Broken())
        async def work(self, ev: Job) -> None:
            return None

    graph = Flaky._graph()
    state = RunState(run_id="run")
    state.enqueue("work", QueuedEvent(Job()))
    inv = next_work(state, "work", None, lambda: 5.0)
    assert isinstance(inv, Invocation)
    cause = RuntimeError("boom")
    outcome = on_step_failure(state, graph, graph.specs["work"], inv, cause, 7.0)
    assert isinstance(outcome, FailRun)
    assert str(outcome.error) == "policy broke" and outcome.error.__cause__ is cause
    assert outcome.elapsed == 2.0 and inv.last_error == "ValueError: policy broke"


def test_a_catch_error_step_that_fails_is_not_caught_again() -> None:
    workflow = _retrying(1, 0.0, True, 5)
    graph = workflow._graph()
    state = RunState(run_id="run")
    state.enqueue("recover", QueuedEvent(Job(), 0))
    inv = next_work(state, "recover", None, lambda: 0.0)
    assert isinstance(inv, Invocation)
    outcome = on_step_failure(state, graph, graph.specs["recover"], inv, RuntimeError("x"), 1.0)
    assert isinstance(outcome, FailRun) and outcome.step == "recover"


def test_a_restored_state_resumes_in_flight_work_first_within_num_workers() -> None:
    state, graph = _fresh()
    for n in range(3):
        state.enqueue("pong", QueuedEvent(Pong(n=n)))
    started = next_work(state, "pong", None, lambda: 0.0)
    assert isinstance(started, Invocation)
    started.blocked = True
    resume = plan_resume(state, graph)
    assert list(resume) == ["pong"] and not started.blocked
    assert list(workers_to_start(state, graph, resume)) == [("pong", 2)]
    assert next_work(state, "pong", resume["pong"], lambda: 1.0) is started
    again = next_work(state, "pong", resume["pong"], lambda: 1.0)
    assert isinstance(again, Invocation) and again.event == Pong(n=1)


def test_a_restored_state_naming_a_missing_step_is_refused() -> None:
    state, graph = _fresh()
    state.enqueue("gone", QueuedEvent(Ping()))
    with pytest.raises(WorkflowStepDoesNotExistError):
        plan_resume(state, graph)


def test_settling_an_unknown_or_open_stream_releases_nothing() -> None:
    state = RunState(run_id="run")
    assert settle(state, "stream-9", -1) == ()


def test_a_budget_without_limit_never_arms() -> None:
    budget = TimeoutBudget(None)
    assert budget.start(0.0) is None
    budget.pause(5.0)
    assert budget.resume(9.0) is None


def test_a_replayed_or_retried_wait_asks_only_once_per_waiter_id() -> None:
    state = RunState(run_id="run")
    state.enqueue("ask", QueuedEvent(Job()))
    inv = next_work(state, "ask", None, lambda: 10.0)
    assert isinstance(inv, Invocation)
    prompt = InputRequiredEvent(prefix="?")
    first, written = register_wait(state, inv, HumanResponseEvent, prompt, "q", None, 5.0, 10.0)
    assert written is prompt and first.deadline == 15.0
    inv.wait_calls = 0  # the step is replayed after a restore: same key, same waiter
    again, written = register_wait(state, inv, HumanResponseEvent, prompt, "q", None, 5.0, 11.0)
    assert again is first and written is None and again.deadline == 15.0
    inv.attempts, inv.wait_calls = 1, 0  # a retry: a new waiter, asked again only in the inbox
    retried, written = register_wait(state, inv, HumanResponseEvent, prompt, "q", None, None, 12.0)
    assert retried is not first and written is None
    other = InputRequiredEvent(prefix="other")
    _, written = register_wait(state, inv, HumanResponseEvent, other, "r", {"a": 1}, None, 12.0)
    assert written is other
    wait_timed_out(state, retried.key)
    assert retried.key not in state.waiters and retried.key not in state.open_waiters


def test_an_answered_wait_replays_its_answer_without_asking() -> None:
    state = RunState(run_id="run")
    state.enqueue("ask", QueuedEvent(Job()))
    inv = next_work(state, "ask", None, lambda: 0.0)
    assert isinstance(inv, Invocation)
    waiter, _ = register_wait(state, inv, HumanResponseEvent, None, None, None, None, 0.0)
    answer = HumanResponseEvent(response="yes")
    assert state.resolve_waiter(answer) is waiter
    inv.wait_calls = 0
    replayed, written = register_wait(state, inv, HumanResponseEvent, None, None, None, None, 1.0)
    assert replayed.resolved is answer and written is None


def test_streams_left_open_with_no_work_fail_the_run() -> None:
    state = RunState(run_id="run")
    state.open_stream(CollectionStream("stream-1", "split", (), (), open=2))
    state.enqueue("gather", QueuedEvent(Job()))
    assert stuck_streams(state) is None
    state.queues.clear()
    state.queued_count = 0
    failure = stuck_streams(state)
    assert failure is not None and failure.step == "split"
    assert "stream 'stream-1' of step 'split' with 2 open work item(s)" in str(failure.error)


def test_a_timeout_names_each_running_step_once() -> None:
    state = RunState(run_id="run")
    for name in ("b", "a", "b"):
        state.enqueue(name, QueuedEvent(Job()))
        next_work(state, name, None, lambda: 0.0)
    event = timed_out(state, 3.0)
    assert event.active_steps == ["a", "b"] and event.timeout == 3.0
