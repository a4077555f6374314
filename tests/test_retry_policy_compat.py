"""``workflows.retry_policy`` matches llama-index-workflows 2.26.1 (SPEC §3, Steps).

Every condition, wait and stop is checked against values worked out by hand from its
definition; random waits against ``uniform(a, b) == a + (b - a) * Random(seed).random()``
(the stdlib's documented formula), their bounds, and their determinism under ``seed=``.
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import random
import re
import warnings
from collections.abc import Iterator
from datetime import timedelta

import pytest

import workflows.retry_policy as rp
from workflows import Context, Workflow, catch_error, step
from workflows.events import Event, StartEvent, StepFailedEvent, StopEvent
from workflows.retry_policy import (
    ConstantDelayRetryPolicy,
    ExponentialBackoffRetryPolicy,
    RetryPolicy,
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
    retry_policy,
    retry_unless_exception_type,
    stop_after_attempt,
    stop_after_delay,
    stop_all,
    stop_any,
    stop_before_delay,
    stop_never,
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

SEEDS = [0, 1, 7, 12345, 2**32 - 1]


def draw(seed: int) -> float:
    """The one ``random()`` a seeded wait consumes."""
    return random.Random(seed).random()


@pytest.fixture
def global_random() -> Iterator[None]:
    """Leave the process-wide generator as the test found it."""
    state = random.getstate()
    yield
    random.setstate(state)


# --- public surface -------------------------------------------------------------------

REFERENCE_NAMES = {
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
}


def test_all_lists_exactly_the_reference_public_names() -> None:
    assert set(rp.__all__) == REFERENCE_NAMES


def test_time_unit_type_is_seconds_or_timedelta() -> None:
    assert set(rp.time_unit_type.__args__) == {int, float, timedelta}


_E = Exception
_EXC_TYPES = "type[BaseException] | tuple[type[BaseException], ...]"
_EMPTY = inspect.Parameter.empty

# (name, [(parameter, kind, default), ...]) as in the reference; "*" marks *args and
# "kw" keyword-only parameters.
SIGNATURES: list[tuple[object, list[tuple[str, str, object]]]] = [
    (retry_if_exception, [("predicate", "", _EMPTY)]),
    (retry_if_exception_type, [("exception_types", "", _E)]),
    (retry_if_not_exception_type, [("exception_types", "", _E)]),
    (retry_unless_exception_type, [("exception_types", "", _E)]),
    (retry_if_exception_cause_type, [("exception_types", "", _E)]),
    (retry_if_exception_message, [("message", "", None), ("match", "", None)]),
    (retry_if_not_exception_message, [("message", "", None), ("match", "", None)]),
    (retry_any, [("retries", "*", _EMPTY)]),
    (retry_all, [("retries", "*", _EMPTY)]),
    (retry_always, []),
    (retry_never, []),
    (wait_fixed, [("wait", "", _EMPTY)]),
    (wait_none, []),
    (
        wait_exponential,
        [("multiplier", "", 1.0), ("exp_base", "", 2.0), ("max", "", 60.0), ("min", "", 0.0)],
    ),
    (
        wait_random_exponential,
        [("multiplier", "", 1.0), ("exp_base", "", 2.0), ("max", "", 60.0), ("min", "", 0.0)],
    ),
    (
        wait_full_jitter,
        [("multiplier", "", 1.0), ("exp_base", "", 2.0), ("max", "", 60.0), ("min", "", 0.0)],
    ),
    (
        wait_exponential_jitter,
        [("initial", "", 1.0), ("exp_base", "", 2.0), ("max", "", 60.0), ("jitter", "", 1.0)],
    ),
    (
        wait_incrementing,
        [("start", "", 0.0), ("increment", "", 100.0), ("max", "", float("inf"))],
    ),
    (wait_random, [("min", "", 0.0), ("max", "", 1.0)]),
    (wait_chain, [("strategies", "*", _EMPTY)]),
    (wait_combine, [("strategies", "*", _EMPTY)]),
    (stop_after_attempt, [("max_attempt_number", "", _EMPTY)]),
    (stop_after_delay, [("max_delay", "", _EMPTY)]),
    (stop_before_delay, [("max_delay", "", _EMPTY)]),
    (stop_any, [("stops", "*", _EMPTY)]),
    (stop_all, [("stops", "*", _EMPTY)]),
    (stop_never, []),
    (ConstantDelayRetryPolicy, [("maximum_attempts", "", 3), ("delay", "", 5)]),
    (
        ExponentialBackoffRetryPolicy,
        [
            ("maximum_attempts", "", 5),
            ("initial_delay", "", 1.0),
            ("multiplier", "", 2.0),
            ("max_delay", "", 60.0),
            ("jitter", "", True),
        ],
    ),
]


def _shape(obj: object) -> list[tuple[str, str, object]]:
    kinds = {inspect.Parameter.VAR_POSITIONAL: "*", inspect.Parameter.KEYWORD_ONLY: "kw"}
    params = inspect.signature(obj).parameters.values()  # type: ignore[arg-type]
    return [(p.name, kinds.get(p.kind, ""), p.default) for p in params]


@pytest.mark.parametrize(
    ("obj", "expected"), SIGNATURES, ids=[getattr(o, "__name__", "?") for o, _ in SIGNATURES]
)
def test_constructor_signature_matches_the_reference(
    obj: object, expected: list[tuple[str, str, object]]
) -> None:
    assert _shape(obj) == expected


def test_exception_types_accepts_a_type_or_a_tuple() -> None:
    for cls in (
        retry_if_exception_type,
        retry_if_not_exception_type,
        retry_if_exception_cause_type,
    ):
        param = inspect.signature(cls).parameters["exception_types"]
        assert param.annotation == _EXC_TYPES


def test_retry_policy_defaults_are_a_five_second_wait_and_three_attempts() -> None:
    params = inspect.signature(retry_policy).parameters
    assert params["retry"].default is None
    assert isinstance(params["wait"].default, wait_fixed)
    assert params["wait"].default.wait == 5.0
    assert isinstance(params["stop"].default, stop_after_attempt)
    assert params["stop"].default.max_attempt_number == 3


def test_next_and_the_part_protocols_take_seed_and_upcoming_sleep() -> None:
    assert _shape(RetryPolicy.next) == [
        ("self", "", _EMPTY),
        ("elapsed_time", "", _EMPTY),
        ("attempts", "", _EMPTY),
        ("error", "", _EMPTY),
        ("seed", "kw", None),
    ]
    assert _shape(rp.WaitStrategy.__call__) == [
        ("self", "", _EMPTY),
        ("attempts", "", _EMPTY),
        ("seed", "kw", None),
    ]
    assert _shape(rp.StopCondition.__call__) == [
        ("self", "", _EMPTY),
        ("attempts", "", _EMPTY),
        ("elapsed_time", "", _EMPTY),
        ("upcoming_sleep", "kw", 0.0),
    ]
    assert _shape(retry_policy().next) == _shape(RetryPolicy.next)[1:]


def test_aliases_and_subclasses_match_the_reference() -> None:
    assert issubclass(retry_if_exception_type, retry_if_exception)
    assert issubclass(retry_if_not_exception_type, retry_if_exception)
    assert issubclass(retry_unless_exception_type, retry_if_not_exception_type)
    assert issubclass(retry_if_not_exception_message, retry_if_exception_message)
    assert issubclass(wait_none, wait_fixed)
    assert type(wait_full_jitter()) is wait_random_exponential


# --- retry conditions -----------------------------------------------------------------


class Transient(Exception):
    pass


class Flaky(Transient):
    pass


def caused_by(*chain: BaseException) -> BaseException:
    """``chain[0]`` raised from ``chain[1]`` raised from ``chain[2]``..."""
    for outer, inner in zip(chain, chain[1:]):
        outer.__cause__ = inner
    return chain[0]


def test_retry_if_exception_returns_what_the_predicate_returns() -> None:
    cond = retry_if_exception(lambda e: "rate limit" in str(e).lower())
    assert cond(RuntimeError("Rate Limit exceeded")) is True
    assert cond(RuntimeError("bad request")) is False
    assert retry_if_exception(lambda e: "yes")(ValueError()) == "yes"  # type: ignore[arg-type,return-value]


def test_retry_if_exception_type_and_its_negations() -> None:
    only = retry_if_exception_type((TimeoutError, Transient))
    assert only.exception_types == (TimeoutError, Transient)
    assert [only(e) for e in (TimeoutError(), Flaky(), ValueError())] == [True, True, False]
    assert retry_if_exception_type()(ValueError()) is True
    assert retry_if_exception_type()(KeyboardInterrupt()) is False

    unless = retry_if_not_exception_type(Flaky)
    assert [unless(e) for e in (Transient(), Flaky(), ValueError())] == [True, False, True]
    assert retry_if_not_exception_type()(ValueError()) is False
    assert retry_if_not_exception_type()(KeyboardInterrupt()) is True
    assert retry_unless_exception_type(ValueError)(ValueError()) is False
    assert retry_unless_exception_type(ValueError)(KeyError()) is True


def test_retry_if_exception_message_matches_exactly_or_by_regex_search() -> None:
    exact = retry_if_exception_message(message="please retry")
    assert exact(Transient("please retry")) is True
    assert exact(Transient("please retry later")) is False
    assert retry_if_exception_message(message="")(Transient()) is True

    regex = retry_if_exception_message(match=r"HTTP 5\d\d")
    assert regex(Transient("got HTTP 503 from upstream")) is True  # search, not fullmatch
    assert regex(Transient("got HTTP 404")) is False
    compiled = retry_if_exception_message(match=re.compile("rate", re.IGNORECASE))
    assert compiled.match.pattern == "rate"  # type: ignore[union-attr]
    assert compiled(Transient("RATE limited")) is True

    negated = retry_if_not_exception_message(match="invalid_api_key|permission denied")
    assert negated(Transient("permission denied for model")) is False
    assert negated(Transient("timeout")) is True
    assert retry_if_not_exception_message(message="x")(Transient("x")) is False


@pytest.mark.parametrize("cls", [retry_if_exception_message, retry_if_not_exception_message])
def test_retry_if_exception_message_needs_exactly_one_argument(cls: type) -> None:
    with pytest.raises(
        TypeError,
        match=re.escape(
            "retry_if_exception_message() missing 1 required argument 'message' or 'match'"
        ),
    ):
        cls()
    with pytest.raises(TypeError, match="takes either 'message' or 'match', not both"):
        cls(message="a", match="b")
    with pytest.raises(re.error):
        cls(match="[")


def test_retry_if_exception_cause_type_walks_the_explicit_cause_chain() -> None:
    cond = retry_if_exception_cause_type(ConnectionError)
    assert cond(caused_by(Flaky("top"), Transient("mid"), ConnectionError("root"))) is True
    assert cond(caused_by(Transient("top"), ConnectionError("root"))) is True
    assert cond(ConnectionError("itself")) is False  # the error itself is not a cause

    implicit = Transient("during handling")
    implicit.__context__ = ConnectionError("root")
    assert cond(implicit) is False  # __context__ is not followed
    assert retry_if_exception_cause_type()(caused_by(Transient(), ValueError())) is True
    assert retry_if_exception_cause_type()(Transient()) is False


def test_retry_if_exception_cause_type_stops_on_a_cause_cycle() -> None:
    # Deliberate difference: the reference loops forever on a cycle.
    a, b = Transient("a"), Flaky("b")
    a.__cause__, b.__cause__ = b, a
    assert retry_if_exception_cause_type(ConnectionError)(a) is False
    assert retry_if_exception_cause_type(Flaky)(a) is True


def test_retry_any_all_always_never() -> None:
    is_value = retry_if_exception_type(ValueError)
    says_rate = retry_if_exception_message(match="rate")
    either = retry_any(is_value, says_rate)
    both = retry_all(is_value, says_rate)
    cases = [ValueError("rate"), ValueError("x"), KeyError("rate"), KeyError("x")]
    assert [either(e) for e in cases] == [True, True, True, False]
    assert [both(e) for e in cases] == [True, False, False, False]
    assert retry_any()(ValueError()) is False
    assert retry_all()(ValueError()) is True
    assert retry_always()(KeyboardInterrupt()) is True
    assert retry_never()(ValueError()) is False


def test_retry_operators_build_any_and_all_in_operand_order() -> None:
    a, b = retry_if_exception_type(ValueError), retry_never()

    def plain(error: BaseException) -> bool:
        return isinstance(error, KeyError)

    for combined, kind, parts in [
        (a | b, retry_any, (a, b)),
        (a & b, retry_all, (a, b)),
        (a | plain, retry_any, (a, plain)),
        (plain | a, retry_any, (plain, a)),
        (plain & a, retry_all, (plain, a)),
    ]:
        assert type(combined) is kind
        assert combined.retries == parts
    assert (a | plain)(KeyError()) is True
    assert (plain & a)(KeyError()) is False
    nested = a | b | plain
    assert type(nested.retries[0]) is retry_any  # not flattened, as in the reference


# --- wait strategies ------------------------------------------------------------------


def test_wait_fixed_and_wait_none() -> None:
    assert [wait_fixed(2.5)(n) for n in (0, 1, 9)] == [2.5, 2.5, 2.5]
    assert wait_fixed(timedelta(minutes=1, milliseconds=500))(3) == 60.5
    assert wait_fixed(3).wait == 3.0
    assert wait_fixed(-2)(0) == -2.0  # no validation, as in the reference
    assert wait_none()(5) == 0.0


def test_wait_exponential_by_hand() -> None:
    assert [wait_exponential()(n) for n in range(8)] == [1, 2, 4, 8, 16, 32, 60, 60]
    three = wait_exponential(multiplier=0.5, exp_base=3, max=timedelta(seconds=10), min=1)
    # 0.5 * 3**n = 0.5, 1.5, 4.5, 13.5 -> floor 1, cap 10
    assert [three(n) for n in range(4)] == [1.0, 1.5, 4.5, 10.0]
    assert wait_exponential(max=2, min=5)(0) == 5.0  # the floor wins over the cap
    assert wait_exponential(multiplier=-1)(3) == 0.0  # never below zero


def test_wait_exponential_saturates_instead_of_overflowing() -> None:
    # Deliberate difference: the reference raises OverflowError from 2.0 ** 1024 on,
    # which kills a "retry forever, at most a minute apart" policy after ~1000 retries.
    assert wait_exponential()(5000) == 60.0
    assert wait_exponential_jitter()(5000, seed=1) == 60.0
    assert 0.0 <= wait_random_exponential()(5000, seed=1) <= 60.0


def test_wait_incrementing_by_hand() -> None:
    assert [wait_incrementing()(n) for n in range(3)] == [0.0, 100.0, 200.0]
    steps = wait_incrementing(start=1, increment=2, max=10)
    assert [steps(n) for n in range(7)] == [1, 3, 5, 7, 9, 10, 10]
    assert [wait_incrementing(start=5, increment=-2)(n) for n in range(5)] == [5, 3, 1, 0, 0]
    assert wait_incrementing(start=timedelta(seconds=2))(0) == 2.0


@pytest.mark.parametrize("seed", SEEDS)
def test_wait_random_by_hand(seed: int) -> None:
    assert wait_random()(0, seed=seed) == draw(seed)
    assert wait_random(1, timedelta(seconds=3))(4, seed=seed) == 1 + 2 * draw(seed)


@pytest.mark.parametrize("seed", SEEDS)
def test_wait_exponential_jitter_by_hand(seed: int) -> None:
    wait = wait_exponential_jitter(initial=1, exp_base=2, max=60, jitter=1)
    assert wait(3, seed=seed) == 8 + draw(seed)
    assert wait(6, seed=seed) == 60  # 64 capped, and the jittered sum capped again
    wide = wait_exponential_jitter(initial=2, exp_base=3, max=50, jitter=5)
    assert wide(2, seed=seed) == min(18 + 5 * draw(seed), 50)


@pytest.mark.parametrize("seed", SEEDS)
def test_wait_random_exponential_and_full_jitter_by_hand(seed: int) -> None:
    wait = wait_random_exponential(multiplier=2, exp_base=3, max=100, min=1)
    # upper bound 2 * 3**n clamped to [1, 100]: 2, 6, 18, 54, 100
    for n, upper in enumerate([2, 6, 18, 54, 100]):
        assert wait(n, seed=seed) == 1 + (upper - 1) * draw(seed)
    assert wait_full_jitter(multiplier=3, max=40)(2, seed=seed) == 12 * draw(seed)
    assert wait_random_exponential(min=70)(0, seed=seed) == 70.0


def test_random_waits_stay_in_bounds_and_repeat_under_a_seed() -> None:
    waits = {
        "random": (wait_random(0.5, 1.5), lambda n: (0.5, 1.5)),
        "jitter": (wait_exponential_jitter(), lambda n: (min(2**n, 60), 60)),
        "full": (wait_random_exponential(), lambda n: (0, min(2**n, 60))),
    }
    for wait, bounds in waits.values():
        for n in range(8):
            low, high = bounds(n)
            drawn = [wait(n, seed=s) for s in range(200)]
            assert all(low <= d <= high for d in drawn)
            assert drawn == [wait(n, seed=s) for s in range(200)]
            assert len(set(drawn)) > 1 or low == high


def test_unseeded_waits_draw_from_the_module_generator(global_random: None) -> None:
    random.seed(7)
    expected = [random.random(), random.random()]
    random.seed(7)
    assert wait_random(0, 10)(0) == 10 * expected[0]
    assert wait_random_exponential()(2) == 4 * expected[1]


def test_wait_chain_uses_the_nth_strategy_then_keeps_the_last() -> None:
    chain = wait_chain(wait_fixed(1), wait_random(0, 2), wait_exponential())
    assert chain(0, seed=3) == 1.0
    assert chain(1, seed=3) == 2 * draw(3)  # the seed reaches the chosen strategy
    assert [chain(n) for n in (2, 3, 4, 9)] == [4.0, 8.0, 16.0, 60.0]  # called with n
    with pytest.raises(ValueError, match="wait_chain requires at least one strategy"):
        wait_chain()


def test_wait_combine_plus_and_sum_add_delays() -> None:
    combined = wait_combine(wait_fixed(1), wait_random(0, 1))
    assert combined(0, seed=5) == 1 + draw(5)
    plus = wait_fixed(1) + wait_incrementing(1, 1)
    assert type(plus) is wait_combine
    assert [plus(n) for n in range(3)] == [2.0, 3.0, 4.0]
    total = sum([wait_fixed(1), wait_fixed(2), wait_random(0, 3)])
    assert total(0, seed=9) == 3 + 3 * draw(9)  # type: ignore[operator]
    four = wait_fixed(4)
    assert 0 + four is four  # sum()'s start value leaves the strategy as it is


def test_wait_addition_with_plain_callables_and_bad_operands() -> None:
    def half(attempts: int, *, seed: int | None = None) -> float:
        return 0.5

    first = wait_fixed(1)
    reflected = half + first  # type: ignore[operator]
    assert type(reflected) is wait_combine
    assert reflected.strategies == (first, half)  # self first, as in the reference
    assert reflected(0) == 1.5
    assert (first + 5).strategies == (first, 5)  # type: ignore[operator]
    with pytest.raises(TypeError):
        5 + first  # type: ignore[operator]


# --- stop conditions ------------------------------------------------------------------


def test_stop_after_attempt() -> None:
    stop = stop_after_attempt(3)
    assert [stop(a, 0.0) for a in (1, 2, 3, 4)] == [False, False, True, True]
    assert stop_after_attempt(0)(0, 0.0) is True  # no validation, as in the reference


def test_stop_after_delay_ignores_and_stop_before_delay_counts_the_upcoming_sleep() -> None:
    after = stop_after_delay(10)
    before = stop_before_delay(timedelta(seconds=10))
    assert before.max_delay == 10.0
    cases = [(9.0, 0.0), (9.0, 1.0), (10.0, 0.0), (3.0, 6.0), (3.0, 8.0)]
    assert [after(1, e, upcoming_sleep=u) for e, u in cases] == [
        False,
        False,
        True,
        False,
        False,
    ]
    assert [before(1, e, upcoming_sleep=u) for e, u in cases] == [
        False,
        True,
        True,
        False,
        True,
    ]
    assert stop_after_delay(timedelta(minutes=1))(1, 59.9) is False


def test_stop_combinators_and_operators() -> None:
    attempts, delay = stop_after_attempt(3), stop_before_delay(5)
    either, both = stop_any(attempts, delay), stop_all(attempts, delay)
    cases = [(1, 0.0, 0.0), (3, 0.0, 0.0), (1, 4.0, 1.0), (3, 4.0, 2.0)]
    assert [either(a, e, upcoming_sleep=u) for a, e, u in cases] == [False, True, True, True]
    assert [both(a, e, upcoming_sleep=u) for a, e, u in cases] == [False, False, False, True]
    assert stop_never()(10**6, 1e9, upcoming_sleep=1e9) is False

    def plain(attempts: int, elapsed_time: float, *, upcoming_sleep: float = 0.0) -> bool:
        return attempts > 4

    assert type(attempts | delay) is stop_any and (attempts | delay).stops == (attempts, delay)
    assert type(attempts & delay) is stop_all
    assert (plain | stop_never()).stops[0] is plain  # type: ignore[operator]
    assert (plain & attempts).stops == (plain, attempts)  # type: ignore[operator]
    assert (plain | stop_never())(5, 0.0) is True  # type: ignore[operator]


# --- composed policies ----------------------------------------------------------------


def test_default_policy_retries_everything_three_attempts_five_seconds_apart() -> None:
    policy = retry_policy()
    assert isinstance(policy, RetryPolicy)
    assert [policy.next(0.0, a, KeyError()) for a in (1, 2, 3)] == [5.0, 5.0, None]


def test_policy_asks_retry_then_wait_then_stop() -> None:
    policy = retry_policy(
        retry=retry_if_exception_type(Transient),
        wait=wait_exponential(multiplier=1, max=30),
        stop=stop_after_attempt(5),
    )
    # attempts counts failures from 1; the wait sees the retry number from 0
    assert [policy.next(0.0, a, Flaky()) for a in range(1, 7)] == [1, 2, 4, 8, None, None]
    assert policy.next(0.0, 0, Flaky()) == 1.0  # clamped, not retry -1
    assert policy.next(0.0, 1, ValueError()) is None


def test_stop_before_delay_sees_the_delay_the_wait_chose() -> None:
    policy = retry_policy(wait=wait_fixed(3), stop=stop_before_delay(10))
    assert policy.next(6.9, 1, ValueError()) == 3.0
    assert policy.next(7.0, 1, ValueError()) is None


def test_policy_passes_the_seed_to_the_wait() -> None:
    policy = retry_policy(wait=wait_random_exponential(multiplier=2), stop=stop_never())
    assert policy.next(0.0, 3, ValueError(), seed=42) == 8 * draw(42)
    assert policy.next(0.0, 3, ValueError(), seed=42) == policy.next(0.0, 3, ValueError(), seed=42)


def test_policy_parts_must_take_seed_and_upcoming_sleep_as_in_the_reference() -> None:
    with pytest.raises(TypeError, match="seed"):
        retry_policy(wait=lambda n: 1.0).next(0.0, 1, ValueError())  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="upcoming_sleep"):
        retry_policy(stop=lambda a, e: False).next(0.0, 1, ValueError())  # type: ignore[arg-type]


def test_policy_repr_reads_like_the_call() -> None:
    assert repr(retry_policy()) == (
        "retry_policy(retry=None, wait=wait_fixed(5.0), stop=stop_after_attempt(3))"
    )
    policy = retry_policy(
        retry=retry_if_exception_type((TimeoutError, ConnectionError)),
        wait=wait_fixed(1) + wait_random(0, 2),
        stop=stop_after_attempt(5) | stop_before_delay(30),
    )
    assert repr(policy) == (
        "retry_policy(retry=retry_if_exception_type(exception_types=(TimeoutError, "
        "ConnectionError)), wait=wait_combine(wait_fixed(1.0), wait_random(max=2.0)), "
        "stop=stop_any(stop_after_attempt(5), stop_before_delay(30.0)))"
    )


def test_constant_delay_retry_policy_is_deprecated_and_waits_the_delay() -> None:
    with pytest.warns(DeprecationWarning, match="ConstantDelayRetryPolicy is deprecated"):
        default = ConstantDelayRetryPolicy()
    assert [default.next(0.0, a, ValueError()) for a in (1, 2, 3)] == [5.0, 5.0, None]
    with pytest.warns(DeprecationWarning):
        policy = ConstantDelayRetryPolicy(maximum_attempts=2, delay=timedelta(seconds=1))  # type: ignore[arg-type]
    assert [policy.next(0.0, a, ValueError()) for a in (1, 2)] == [1.0, None]


def test_exponential_backoff_retry_policy_is_deprecated_and_jitters_by_default() -> None:
    with pytest.warns(DeprecationWarning, match="ExponentialBackoffRetryPolicy is deprecated"):
        jittered = ExponentialBackoffRetryPolicy()
    # full jitter in [0, min(1 * 2**n, 60)], 5 attempts in all
    for a, upper in zip(range(1, 5), [1, 2, 4, 8]):
        assert jittered.next(0.0, a, ValueError(), seed=11) == upper * draw(11)
    assert jittered.next(0.0, 5, ValueError(), seed=11) is None

    with pytest.warns(DeprecationWarning):
        exact = ExponentialBackoffRetryPolicy(
            maximum_attempts=4, initial_delay=0.5, multiplier=3, max_delay=5, jitter=False
        )
    assert [exact.next(0.0, a, ValueError()) for a in range(1, 5)] == [0.5, 1.5, 4.5, None]


def test_deprecation_warnings_point_at_the_caller() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ConstantDelayRetryPolicy()
    assert caught[0].filename == __file__


def test_reference_docstring_and_docs_examples_build_working_policies() -> None:
    # The reference's RetryPolicy/retry_policy docstring example.
    policy = retry_policy(
        retry=retry_if_exception_type((TimeoutError, ConnectionError)),
        wait=wait_exponential(multiplier=1, exp_base=2, max=30),
        stop=stop_after_attempt(5),
    )
    assert [policy.next(0.0, a, TimeoutError()) for a in range(1, 6)] == [1, 2, 4, 8, None]
    # The quick example of the reference's retry-policy docs page.
    quick = retry_policy(
        retry=retry_if_exception_type((TimeoutError, ConnectionError))
        | retry_if_exception_message(match="rate limit|temporarily unavailable"),
        wait=wait_fixed(1) + wait_random(0, 1),
        stop=stop_after_attempt(5) | stop_before_delay(30),
    )
    assert quick.next(0.0, 1, RuntimeError("service temporarily unavailable"), seed=2) == (
        1 + draw(2)
    )
    assert quick.next(0.0, 1, RuntimeError("bad request")) is None
    assert quick.next(28.5, 1, ConnectionError(), seed=2) is None  # 28.5 + >= 1 s >= 30
    # One-line examples from the reference's class docstrings.
    examples = [
        retry_if_exception(lambda error: "rate limit" in str(error).lower()),
        retry_if_not_exception_type((ValueError, PermissionError)),
        retry_unless_exception_type(PermissionError),
        retry_if_exception_message(message="please retry"),
        retry_if_exception_message(match=r"HTTP 5\d\d"),
        retry_if_not_exception_message(match="invalid_api_key|permission denied"),
        retry_if_exception_cause_type(ConnectionError),
        retry_any(
            retry_if_exception_type(ConnectionError),
            retry_if_exception_message(match="rate limit"),
        ),
        retry_all(
            retry_if_exception_type(RuntimeError),
            retry_if_exception_message(match="temporary"),
        ),
        retry_never() | retry_if_exception_type(ConnectionError),
    ]
    assert [bool(c(ConnectionError("rate limit"))) for c in examples] == [
        True,
        True,
        True,
        False,
        False,
        True,
        False,
        True,
        False,
        True,
    ]
    waits = [
        wait_fixed(5),
        wait_none(),
        wait_exponential(multiplier=1, exp_base=2, max=60),
        wait_incrementing(start=1, increment=2, max=10),
        wait_random(min=0.5, max=1.5),
        wait_exponential_jitter(initial=1, exp_base=2, max=60, jitter=1),
        wait_random_exponential(multiplier=1, exp_base=2, max=60),
        wait_full_jitter(multiplier=1, exp_base=2, max=60),
        wait_chain(wait_fixed(1), wait_fixed(2), wait_fixed(5)),
        wait_combine(wait_fixed(1), wait_random(0, 1)),
    ]
    assert [w(1, seed=0) for w in waits] == [
        5.0,
        0.0,
        2.0,
        3.0,
        0.5 + draw(0),
        2 + draw(0),
        2 * draw(0),
        2 * draw(0),
        2.0,
        1 + draw(0),
    ]
    stops = [
        stop_after_attempt(5),
        stop_after_delay(30),
        stop_before_delay(30),
        stop_any(stop_after_attempt(5), stop_after_delay(30)),
        stop_all(stop_after_attempt(5), stop_after_delay(30)),
        stop_never(),
    ]
    assert [s(5, 29.0, upcoming_sleep=2.0) for s in stops] == [
        True,
        False,
        True,
        True,
        False,
        False,
    ]
    always = retry_policy(retry=retry_always(), stop=stop_after_attempt(3))
    assert always.next(0.0, 2, KeyboardInterrupt()) == 5.0  # type: ignore[arg-type]


# --- in a real workflow ---------------------------------------------------------------


class Job(Event):
    payload: str


def flaky_workflow(policy: RetryPolicy, errors: list[Exception]) -> Workflow:
    """``work`` raises ``errors`` one per attempt, then succeeds."""

    class FlakyFlow(Workflow):
        def __init__(self) -> None:
            super().__init__()
            self.attempts: list[tuple[int, str]] = []

        @step
        async def begin(self, ev: StartEvent) -> Job:
            return Job(payload="input")

        @step(retry_policy=policy)
        async def work(self, ctx: Context, ev: Job) -> StopEvent:
            info = ctx.retry_info()
            self.attempts.append((info.retry_number, ev.payload))
            if len(self.attempts) <= len(errors):
                raise errors[len(self.attempts) - 1]
            return StopEvent(result=f"done after {len(self.attempts)} attempts")

    return FlakyFlow()


COMPOSED = retry_policy(
    retry=retry_if_exception_type(ValueError), wait=wait_fixed(0), stop=stop_after_attempt(3)
)


async def test_composed_policy_retries_matching_errors_up_to_the_stop() -> None:
    wf = flaky_workflow(COMPOSED, [ValueError("1"), ValueError("2")])
    assert await wf.run() == "done after 3 attempts"
    assert wf.attempts == [(0, "input"), (1, "input"), (2, "input")]  # type: ignore[attr-defined]


async def test_composed_policy_gives_up_after_the_last_attempt() -> None:
    wf = flaky_workflow(COMPOSED, [ValueError("1"), ValueError("2"), ValueError("3")])
    with pytest.raises(ValueError, match="3"):
        await wf.run()
    assert len(wf.attempts) == 3  # type: ignore[attr-defined]


async def test_composed_policy_does_not_retry_other_errors() -> None:
    wf = flaky_workflow(COMPOSED, [ValueError("1"), KeyError("permanent")])
    with pytest.raises(KeyError, match="permanent"):
        await wf.run()
    assert len(wf.attempts) == 2  # type: ignore[attr-defined]


async def test_operator_composed_policy_in_a_workflow() -> None:
    policy = retry_policy(
        retry=retry_if_exception_type(TimeoutError) | retry_if_exception_message(match="rate"),
        wait=wait_none() + wait_chain(wait_fixed(0)),
        stop=stop_after_attempt(4) | stop_after_delay(25),
    )
    errors: list[Exception] = [TimeoutError(), RuntimeError("rate limited"), TimeoutError()]
    wf = flaky_workflow(policy, errors)
    assert await wf.run() == "done after 4 attempts"


async def test_reference_retry_info_example_runs() -> None:
    # The reference's Context.retry_info() docstring example (its ``ConstantDelay``
    # is spelled ConstantDelayRetryPolicy).
    seen: list[tuple[int, str]] = []
    with pytest.warns(DeprecationWarning):
        policy = ConstantDelayRetryPolicy(maximum_attempts=3, delay=0)

    class Example(Workflow):
        @step(retry_policy=policy)
        async def flaky(self, ctx: Context, ev: StartEvent) -> StopEvent:
            info = ctx.retry_info()
            if info.last_exception is not None:
                seen.append((info.retry_number, str(info.last_exception)))
            if info.retry_number < 2:
                raise RuntimeError(f"boom {info.retry_number}")
            return StopEvent(result="ok")

    assert await Example().run() == "ok"
    assert seen == [(1, "boom 0"), (2, "boom 1")]


# --- how the runtime consults a policy ---------------------------------------------------


class PolicyBroke(Exception):
    pass


class RaisingPolicy:
    """A policy whose ``next`` itself fails."""

    def next(self, elapsed_time: float, attempts: int, error: Exception) -> float | None:
        raise PolicyBroke(f"cannot decide after {type(error).__name__}")


class StepBroke(Exception):
    pass


class RaisingPolicyFlow(Workflow):
    @step(retry_policy=RaisingPolicy())
    async def work(self, ev: StartEvent) -> StopEvent:
        raise StepBroke("the step failed")


async def test_a_policy_that_raises_fails_the_run_with_its_error_caused_by_the_step() -> None:
    handler = RaisingPolicyFlow(timeout=60).run()
    with pytest.raises(PolicyBroke, match="cannot decide after StepBroke") as info:
        await asyncio.wait_for(handler, 5)  # not by the run's timeout
    assert isinstance(info.value.__cause__, StepBroke)


class RecoveredPolicyFlow(RaisingPolicyFlow):
    @catch_error
    async def recover(self, ev: StepFailedEvent) -> StopEvent:
        return StopEvent(result=(ev.step_name, type(ev.exception).__name__))


async def test_a_policy_that_raises_hands_its_error_to_catch_error() -> None:
    result = await asyncio.wait_for(RecoveredPolicyFlow(timeout=60).run(), 5)
    assert result == ("work", "PolicyBroke")


class SeedRecorder:
    """Retries once, recording the ``seed`` the runtime passes."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, int | None]] = []

    def next(
        self, elapsed_time: float, attempts: int, error: Exception, *, seed: int | None = None
    ) -> float | None:
        self.calls.append((attempts, seed))
        return 0.0 if attempts < 3 else None


class NoSeedPolicy:
    """A policy written before ``seed`` existed."""

    def __init__(self) -> None:
        self.attempts: list[int] = []

    def next(self, elapsed_time: float, attempts: int, error: Exception) -> float | None:
        self.attempts.append(attempts)
        return 0.0 if attempts < 2 else None


def reference_seed(run_id: str, step_name: str, failures: int) -> int:
    """The jitter seed llama-index-workflows 2.26.1 gives a policy, as it computes it."""
    return int(hashlib.sha256(f"{run_id}:{step_name}:{failures}".encode()).hexdigest(), 16) & (
        0xFFFF_FFFF
    )


def failing_flow(policy: object) -> Workflow:
    class AlwaysFails(Workflow):
        @step(retry_policy=policy)  # type: ignore[arg-type]
        async def flaky_step(self, ev: StartEvent) -> StopEvent:
            raise StepBroke("again")

    return AlwaysFails(timeout=60)


async def test_a_policy_taking_seed_gets_the_reference_seed_for_each_failure() -> None:
    policy = SeedRecorder()
    handler = failing_flow(policy).run(run_id="run-42")
    with pytest.raises(StepBroke):
        await asyncio.wait_for(handler, 5)
    assert policy.calls == [(n, reference_seed("run-42", "flaky_step", n)) for n in (1, 2, 3)]
    assert reference_seed("run-42", "flaky_step", 1) != reference_seed("run-43", "flaky_step", 1)


async def test_a_policy_without_seed_is_called_without_it() -> None:
    policy = NoSeedPolicy()
    with pytest.raises(StepBroke):
        await asyncio.wait_for(failing_flow(policy).run(), 5)
    assert policy.attempts == [1, 2]
