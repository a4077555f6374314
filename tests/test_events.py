"""Behaviour of the event classes in ``workflows.events`` (SPEC §3, Events)."""

from __future__ import annotations

from datetime import datetime, timezone

import pydantic
import pytest

from workflows import Workflow, step
from workflows.events import (
    Event,
    HumanResponseEvent,
    InputRequiredEvent,
    StartEvent,
    StepFailedEvent,
    StopEvent,
    UnhandledEvent,
    WorkflowCancelledEvent,
    WorkflowFailedEvent,
    WorkflowTimedOutEvent,
)


class Typed(Event):
    name: str
    count: int = 0


class Ask(InputRequiredEvent):
    question: str


class Answer(HumanResponseEvent):
    value: int


class Outcome(StopEvent):
    verdict: str


class Greet(StartEvent):
    who: str
    punctuation: str = "!"


# --- Event: typed fields plus dict-like extras ----------------------------------------


def test_extra_keywords_are_readable_as_attributes_and_items() -> None:
    ev = Event(x=1, y="two")
    assert ev.x == 1
    assert ev["y"] == "two"
    assert ev.get("x") == 1
    assert ev.get("missing", "fallback") == "fallback"
    assert ev.get("missing") is None
    assert "x" in ev
    assert "missing" not in ev


def test_extras_behave_like_a_mapping() -> None:
    ev = Event(a=1, b=2, c=3)
    assert len(ev) == 3
    assert sorted(ev.keys()) == ["a", "b", "c"]
    assert sorted(ev.values()) == [1, 2, 3]
    assert sorted(ev.items()) == [("a", 1), ("b", 2), ("c", 3)]
    assert sorted(ev) == ["a", "b", "c"]
    assert ev.to_dict() == {"a": 1, "b": 2, "c": 3}


def test_missing_extra_attribute_raises_attribute_error() -> None:
    ev = Event(a=1)
    with pytest.raises(AttributeError):
        _ = ev.nope


def test_setting_an_unknown_attribute_stores_it_as_an_extra() -> None:
    ev = Event()
    ev.added = [1, 2]
    assert ev.added == [1, 2]
    assert ev["added"] == [1, 2]
    assert "added" in ev
    assert ev.to_dict() == {"added": [1, 2]}


def test_typed_fields_are_validated_and_extras_are_kept() -> None:
    ev = Typed(name="n", extra="kept")
    assert ev.name == "n"
    assert ev.count == 0
    assert ev.extra == "kept"
    assert ev["extra"] == "kept"
    with pytest.raises(pydantic.ValidationError):
        Typed(name="n", count="not a number")
    with pytest.raises(pydantic.ValidationError):
        Typed()  # required field missing


def test_setting_a_typed_field_updates_the_field() -> None:
    ev = Typed(name="a")
    ev.count = 5
    assert ev.count == 5
    assert ev.name == "a"


# --- StartEvent / StopEvent ----------------------------------------------------------


def test_stop_event_result() -> None:
    assert StopEvent(result={"k": [1]}).result == {"k": [1]}
    assert StopEvent().result is None
    assert isinstance(StopEvent(), Event)


def test_stop_event_subclass_has_typed_fields_and_result() -> None:
    ev = Outcome(verdict="ok", result=3)
    assert ev.verdict == "ok"
    assert ev.result == 3
    assert isinstance(ev, StopEvent)


def test_start_event_takes_extras() -> None:
    ev = StartEvent(topic="pirates")
    assert ev.topic == "pirates"
    assert isinstance(ev, Event)


class EchoStart(Workflow):
    @step
    async def echo(self, ev: StartEvent) -> StopEvent:
        return StopEvent(result=(type(ev).__name__, ev.get("topic"), ev.get("n")))


class GreetFlow(Workflow):
    @step
    async def greet(self, ev: Greet) -> StopEvent:
        return StopEvent(result=f"hello {ev.who}{ev.punctuation}")


async def test_run_kwargs_build_the_start_event() -> None:
    assert await EchoStart().run(topic="pirates", n=3) == ("StartEvent", "pirates", 3)


async def test_run_with_explicit_start_event() -> None:
    result = await EchoStart().run(start_event=StartEvent(topic="x"))
    assert result == ("StartEvent", "x", None)


async def test_run_kwargs_build_the_workflows_own_start_event_subclass() -> None:
    assert await GreetFlow().run(who="ada") == "hello ada!"
    assert await GreetFlow().run(start_event=Greet(who="bob", punctuation="?")) == "hello bob?"


# --- Human-in-the-loop events ----------------------------------------------------------


def test_input_required_and_human_response_carry_extras() -> None:
    ask = InputRequiredEvent(prefix="Enter a number: ")
    assert ask.prefix == "Enter a number: "
    answer = HumanResponseEvent(response="42")
    assert answer.response == "42"
    assert isinstance(ask, Event)
    assert isinstance(answer, Event)


def test_human_in_the_loop_events_can_be_subclassed_with_typed_fields() -> None:
    ask = Ask(question="how many?", prefix="> ")
    assert isinstance(ask, InputRequiredEvent)
    assert ask.question == "how many?"
    assert ask.prefix == "> "
    answer = Answer(value="7")  # lax pydantic coercion of a numeric string
    assert isinstance(answer, HumanResponseEvent)
    assert answer.value == 7
    with pytest.raises(pydantic.ValidationError):
        Answer(value="seven")


# --- Termination and failure events ---------------------------------------------------


def test_termination_events_are_stop_events_with_their_fields() -> None:
    timed_out = WorkflowTimedOutEvent(timeout=1.5, active_steps=["slow"])
    assert isinstance(timed_out, StopEvent)
    assert timed_out.timeout == 1.5
    assert timed_out.active_steps == ["slow"]

    cancelled = WorkflowCancelledEvent()
    assert isinstance(cancelled, StopEvent)

    boom = ValueError("boom")
    failed = WorkflowFailedEvent(
        step_name="explode", exception=boom, attempts=2, elapsed_seconds=0.5
    )
    assert isinstance(failed, StopEvent)
    assert failed.step_name == "explode"
    assert isinstance(failed.exception, ValueError)
    assert str(failed.exception) == "boom"
    assert failed.attempts == 2
    assert failed.elapsed_seconds == 0.5


def test_step_failed_event_fields() -> None:
    now = datetime.now(timezone.utc)
    source = Typed(name="input")
    ev = StepFailedEvent(
        step_name="fetch",
        input_event=source,
        exception=RuntimeError("down"),
        attempts=3,
        elapsed_seconds=1.25,
        failed_at=now,
    )
    assert isinstance(ev, Event)
    assert not isinstance(ev, StopEvent)
    assert ev.step_name == "fetch"
    assert isinstance(ev.input_event, Typed)
    assert ev.input_event.name == "input"
    assert isinstance(ev.exception, RuntimeError)
    assert ev.attempts == 3
    assert ev.elapsed_seconds == 1.25
    assert ev.failed_at == now


def test_unhandled_event_is_an_event_that_is_not_a_stop_event() -> None:
    assert issubclass(UnhandledEvent, Event)
    assert not issubclass(UnhandledEvent, StopEvent)
