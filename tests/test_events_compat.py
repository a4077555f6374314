"""``workflows.events`` and ``workflows.errors`` against llama-index-workflows 2.26.1.

Every expected value here was observed by running the same snippet under the reference
implementation. Where this library differs on purpose, the test says so and why:

- ``model_dump()`` writes dynamic data as top-level keys (the reference nests it under
  ``"_data"``); a reference-shaped dump is still accepted on input.
- ``ev[k]``, ``ev.get(k)`` and ``k in ev`` also find declared fields (the reference
  only looks at dynamic data); the views (keys, items, len, ...) are as the reference.
- setting ``stop.result`` changes the result (the reference silently keeps the old
  one); item assignment to a declared field sets the field.
- a stored exception or event is rebuilt only from classes already loaded: nothing is
  imported while loading (the reference imports the module the data names).
"""

from __future__ import annotations

import copy
import inspect
import pickle
import sys
from datetime import datetime, timezone
from typing import Any, Optional

import pydantic
import pytest
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_serializer
from pydantic_core import PydanticSerializationError

import workflows.events as events_module
from _flows import HumanLoop
from workflows import Context, Workflow, step
from workflows.errors import (
    ContextSerdeError,
    ContextStateError,
    UnreconstructedException,
    WorkflowCancelledByUser,
    WorkflowConfigurationError,
    WorkflowDone,
    WorkflowError,
    WorkflowRuntimeError,
    WorkflowStepDoesNotExistError,
    WorkflowTimeoutError,
    WorkflowValidationError,
)
from workflows.events import (
    CollectionReleaseEvent,
    DictLikeModel,
    Event,
    EventType,
    HumanResponseEvent,
    IdleReleasedEvent,
    InputRequiredEvent,
    InternalDispatchEvent,
    SerializableEvent,
    StartEvent,
    StepFailedEvent,
    StepState,
    StepStateChanged,
    StopEvent,
    UnhandledEvent,
    WorkflowCancelledEvent,
    WorkflowFailedEvent,
    WorkflowIdleEvent,
    WorkflowTimedOutEvent,
)
from workflows.retry_policy import retry_policy, stop_after_attempt, wait_fixed

# --- errors ------------------------------------------------------------------------------

REFERENCE_ERRORS = [
    ContextSerdeError,
    ContextStateError,
    WorkflowCancelledByUser,
    WorkflowConfigurationError,
    WorkflowDone,
    WorkflowRuntimeError,
    WorkflowStepDoesNotExistError,
    WorkflowTimeoutError,
    WorkflowValidationError,
]


def test_reference_errors_are_siblings_under_the_root() -> None:
    for cls in REFERENCE_ERRORS:
        assert issubclass(cls, WorkflowError)
        others = [o.__name__ for o in REFERENCE_ERRORS if o is not cls and issubclass(cls, o)]
        if cls is WorkflowStepDoesNotExistError:
            # The reference raises WorkflowRuntimeError for an unknown step (and never
            # raises WorkflowStepDoesNotExistError), so this relation keeps its callers'
            # `except WorkflowRuntimeError` working.
            assert others == ["WorkflowRuntimeError"]
        else:
            assert others == [], f"{cls.__name__} subclasses {others}; the reference's do not"


def test_except_clauses_written_for_the_reference_catch_the_same_errors() -> None:
    with pytest.raises(ContextStateError):
        try:
            raise ContextStateError("bad state")
        except WorkflowRuntimeError:  # not a WorkflowRuntimeError in the reference
            pytest.fail("ContextStateError was caught as a WorkflowRuntimeError")


class SendsNowhere(Workflow):
    @step
    async def only(self, ctx: Context, ev: StartEvent) -> StopEvent:
        try:
            ctx.send_event(Event(), step="nope")
        except WorkflowRuntimeError as exc:  # what the reference raises here
            return StopEvent(result=(type(exc).__name__, "nope" in str(exc)))
        return StopEvent(result="not raised")


async def test_an_event_sent_to_an_unknown_step_is_a_workflow_runtime_error() -> None:
    assert await SendsNowhere().run() == ("WorkflowStepDoesNotExistError", True)


def test_plain_errors_keep_their_message() -> None:
    for cls in REFERENCE_ERRORS:
        if cls is WorkflowStepDoesNotExistError:
            continue  # builds its message from the step name (see its own test)
        assert str(cls("the message")) == "the message"
        assert cls("the message").args == ("the message",)


def test_workflow_done_exists_for_llama_index_core() -> None:
    assert WorkflowDone.__module__ == "workflows.errors"
    assert issubclass(WorkflowDone, Exception)


def test_unreconstructed_exception() -> None:
    assert str(inspect.signature(UnreconstructedException)) == (
        "(message: 'str', *, original_type: 'str | None' = None) -> 'None'"
    )
    exc = UnreconstructedException("m", original_type="a.B")
    assert str(exc) == "m"
    assert exc.original_type == "a.B"
    assert repr(exc) == "UnreconstructedException(original_type='a.B', 'm')"
    assert UnreconstructedException("m").original_type is None
    assert events_module.UnreconstructedException is UnreconstructedException


# --- the names of workflows.events ----------------------------------------------------------


def test_reference_names_are_importable_from_events() -> None:
    assert issubclass(Event, DictLikeModel)
    assert EventType == type[Event]
    assert [(m.name, m.value) for m in StepState] == [
        ("PREPARING", "preparing"),
        ("RUNNING", "running"),
        ("NOT_RUNNING", "not_running"),
    ]
    assert "StepState" in dir(events_module)
    assert pickle.loads(pickle.dumps(StepState.RUNNING)) is StepState.RUNNING
    for internal in (StepStateChanged, WorkflowIdleEvent, UnhandledEvent):
        assert issubclass(internal, InternalDispatchEvent)
    assert issubclass(IdleReleasedEvent, StopEvent)
    assert issubclass(CollectionReleaseEvent, Event)
    assert not issubclass(CollectionReleaseEvent, InternalDispatchEvent)
    with pytest.raises(AttributeError, match="has no attribute 'Nope'"):
        _ = events_module.Nope


def _fields(cls: type[BaseModel]) -> dict[str, bool]:
    return {name: info.is_required() for name, info in cls.model_fields.items()}


def test_declared_fields_are_those_of_the_reference() -> None:
    assert _fields(StopEvent) == {}
    assert _fields(WorkflowCancelledEvent) == {}
    assert _fields(WorkflowIdleEvent) == {}
    assert _fields(IdleReleasedEvent) == {}
    assert _fields(WorkflowTimedOutEvent) == {"timeout": True, "active_steps": True}
    assert _fields(WorkflowFailedEvent) == {
        "step_name": True,
        "exception": True,
        "attempts": False,
        "elapsed_seconds": False,
    }
    assert _fields(StepFailedEvent) == dict.fromkeys(
        ["step_name", "input_event", "exception", "attempts", "elapsed_seconds", "failed_at"],
        True,
    )
    assert _fields(UnhandledEvent) == {
        "event_type": True,
        "qualified_name": True,
        "step_name": False,
        "idle": True,
    }
    assert _fields(StepStateChanged) == {
        "name": True,
        "step_state": True,
        "worker_id": True,
        "input_event_name": True,
        "output_event_name": False,
    }
    assert _fields(CollectionReleaseEvent) == {
        "events": False,
        "stream_id": False,
        "binding_id": False,
    }


def test_constructor_signatures() -> None:
    assert str(inspect.signature(DictLikeModel.__init__)) == "(self, **params: 'Any')"
    assert str(inspect.signature(Event.__init__)) == "(self, **params: 'Any')"
    assert str(inspect.signature(StopEvent.__init__)) == (
        "(self, result: 'Any' = None, **kwargs: 'Any') -> 'None'"
    )
    assert isinstance(inspect.getattr_static(StopEvent, "result"), property)
    assert callable(StopEvent.custom_model_dump)
    assert callable(DictLikeModel.custom_model_dump)


def test_missing_required_fields_fail_as_in_the_reference() -> None:
    with pytest.raises(pydantic.ValidationError) as info:
        UnhandledEvent(event_type="X")
    assert {e["loc"][0] for e in info.value.errors()} == {"qualified_name", "idle"}
    with pytest.raises(pydantic.ValidationError) as info:
        WorkflowTimedOutEvent()
    assert {e["loc"][0] for e in info.value.errors()} == {"timeout", "active_steps"}
    with pytest.raises(pydantic.ValidationError) as info:
        WorkflowFailedEvent()
    assert {e["loc"][0] for e in info.value.errors()} == {"step_name", "exception"}


# --- the dict-like API ----------------------------------------------------------------------


class Typed(Event):
    name: str
    count: int = 0


class WithPrivate(Event):
    a: int = 1
    _secret: str = PrivateAttr(default="s")


def test_dynamic_data_reads_like_a_dict() -> None:
    ev = Event(x=1, y="two")
    assert (ev.x, ev["x"], ev.get("x"), ev.get("zz"), ev.get("zz", 5)) == (1, 1, 1, None, 5)
    assert ("x" in ev, "zz" in ev) == (True, False)
    assert list(ev.keys()) == ["x", "y"]
    assert list(ev.values()) == [1, "two"]
    assert list(ev.items()) == [("x", 1), ("y", "two")]
    assert len(ev) == 2
    assert list(ev) == ["x", "y"]
    assert dict(ev) == {"x": 1, "y": "two"}
    assert ev.to_dict() == {"x": 1, "y": "two"}
    assert ev.to_dict() is ev.to_dict()  # the live dict, as in the reference
    assert bool(Event()) is True


def test_views_list_dynamic_data_only() -> None:
    ev = Typed(name="n", extra="kept")
    assert list(ev.keys()) == ["extra"]
    assert len(ev) == 1
    assert list(ev) == ["extra"]
    assert ev.to_dict() == {"extra": "kept"}


def test_lookups_by_name_also_find_declared_fields() -> None:
    # Deliberate: the reference returns the default / raises KeyError / says False for
    # a declared field. `wait_for_event(requirements=...)` matches with `ev.get(k)`.
    ev = Typed(name="n")
    assert ev.get("name") == "n"
    assert ev["count"] == 0
    assert "name" in ev
    with pytest.raises(KeyError):
        _ = ev["nope"]


def test_missing_attribute_error_message() -> None:
    with pytest.raises(AttributeError, match="^'Event' object has no attribute 'nope'$"):
        _ = Event(x=1).nope
    with pytest.raises(AttributeError, match="^'Event' object has no attribute '_nope'$"):
        _ = Event()._nope
    assert getattr(Event(), "nope", "default") == "default"
    assert (hasattr(Event(x=1), "x"), hasattr(Event(x=1), "nope")) == (True, False)


def test_setting_attributes_and_items() -> None:
    ev = Event()
    ev.added = [1]
    ev["k"] = 3
    assert (ev.added, ev["added"], ev.k) == ([1], [1], 3)
    assert ev.to_dict() == {"added": [1], "k": 3}
    assert ev.model_dump() == {"added": [1], "k": 3}

    typed = Typed(name="a")
    typed.count = 5
    typed["name"] = "b"  # deliberate: sets the field (the reference adds a shadow entry)
    assert (typed.count, typed.name, typed.to_dict()) == (5, "b", {})


def test_private_attributes_given_to_the_constructor_are_set_not_dumped() -> None:
    ev = WithPrivate(a=2, _secret="x", other=3)
    assert ev._secret == "x"
    assert ev.to_dict() == {"other": 3}
    assert ev.model_dump() == {"a": 2, "other": 3}
    assert WithPrivate()._secret == "s"
    assert WithPrivate.model_validate({"a": 2, "_secret": "v"})._secret == "v"
    assert pickle.loads(pickle.dumps(WithPrivate(_secret="p")))._secret == "p"
    assert WithPrivate(_secret="p") != WithPrivate(_secret="q")


def test_model_dump_writes_dynamic_data_as_top_level_keys() -> None:
    # Deliberate: the reference writes {'name': 'n', 'count': 0, '_data': {'extra': 'kept'}}.
    ev = Typed(name="n", extra="kept")
    assert ev.model_dump() == {"name": "n", "count": 0, "extra": "kept"}
    assert ev.model_dump_json() == '{"name":"n","count":0,"extra":"kept"}'
    assert Typed.model_validate(ev.model_dump()) == ev
    assert Typed.model_validate_json(ev.model_dump_json()) == ev
    assert Typed(**ev.model_dump()) == ev


def test_reference_shaped_dumps_are_read_back() -> None:
    assert Event.model_validate({"_data": {"x": 1}}).to_dict() == {"x": 1}
    ev = Typed.model_validate_json('{"name":"a","count":0,"_data":{"extra":1}}')
    assert (ev.name, ev.to_dict()) == ("a", {"extra": 1})
    assert Typed(name="a", _data={"e": 2}, f=3).to_dict() == {"e": 2, "f": 3}


def test_repr_and_str_show_declared_fields() -> None:
    assert repr(Event(x=1)) == "Event()"
    assert str(Event(x=1)) == ""
    assert repr(Typed(name="n", extra=1)) == "Typed(name='n', count=0)"
    assert str(Typed(name="n")) == "name='n' count=0"
    assert repr(StartEvent(topic="p")) == "StartEvent()"


def test_equality_copies_and_pickling() -> None:
    assert Event(x=1) == Event(x=1)
    assert Event(x=1) != Event(x=2)
    assert Typed(name="a", z=1) != Typed(name="a", z=2)
    with pytest.raises(TypeError, match="unhashable"):
        hash(Event())
    ev = Typed(name="a", extra=[1])
    for clone in (pickle.loads(pickle.dumps(ev)), copy.copy(ev), copy.deepcopy(ev)):
        assert clone == ev
        assert clone.to_dict() == {"extra": [1]}
    assert ev.model_copy().to_dict() == {"extra": [1]}


def test_validation_of_declared_fields() -> None:
    with pytest.raises(pydantic.ValidationError):
        Typed()
    with pytest.raises(pydantic.ValidationError):
        Typed(name="n", count="x")
    with pytest.raises(TypeError, match="positional"):
        Typed("n")  # type: ignore[misc]
    assert Typed.model_json_schema()["required"] == ["name"]


def test_start_event_keeps_arbitrary_keywords() -> None:
    ev = StartEvent(topic="p", n=3)
    assert (ev.topic, ev.n) == ("p", 3)
    assert ev.to_dict() == {"topic": "p", "n": 3}
    assert ev.model_dump() == {"topic": "p", "n": 3}


# --- StopEvent -------------------------------------------------------------------------------


class Verdict(StopEvent):
    verdict: str = "ok"


class Derived(StopEvent):
    x: int = 1

    def _get_result(self) -> Any:
        return self.x * 10


def test_stop_event_result() -> None:
    ev = StopEvent(result={"k": 1})
    assert ev.result == {"k": 1}
    assert StopEvent(5).result == 5
    assert StopEvent().result is None
    assert StopEvent.model_validate({"result": 3}).result == 3
    assert StopEvent.model_validate_json(ev.model_dump_json()).result == {"k": 1}
    assert pickle.loads(pickle.dumps(ev)).result == {"k": 1}
    assert (StopEvent(result=1) == StopEvent(result=1), StopEvent(result=1) == StopEvent(2)) == (
        True,
        False,
    )


def test_stop_event_result_is_not_dynamic_data() -> None:
    ev = StopEvent(result=1, a=2)
    assert ev.a == 2
    assert ev.to_dict() == {"a": 2}
    assert (ev.get("result"), "result" in ev) == (None, False)
    with pytest.raises(KeyError):
        _ = ev["result"]


def test_stop_event_dump_repr_and_str() -> None:
    assert StopEvent(result={"k": 1}).model_dump() == {"result": {"k": 1}}
    assert StopEvent().model_dump() == {}
    assert StopEvent(result={"k": 1}).model_dump_json() == '{"result":{"k":1}}'
    assert repr(StopEvent(result={"k": 1})) == "StopEvent(result={'k': 1})"
    assert repr(StopEvent(result=1, a=2)) == "StopEvent(a=2, result=1)"
    assert str(StopEvent(result={"k": 1})) == "{'k': 1}"
    assert str(StopEvent()) == "None"
    assert repr(WorkflowCancelledEvent()) == "WorkflowCancelledEvent()"
    # Deliberate: the reference drops dynamic data from a StopEvent's dump.
    assert StopEvent(result=1, a=2).model_dump() == {"a": 2, "result": 1}


def test_stop_event_subclasses() -> None:
    ev = Verdict(result=3, verdict="v")
    assert (ev.result, ev.verdict) == (3, "v")
    assert ev.model_dump() == {"verdict": "v", "result": 3}
    assert repr(ev) == "Verdict(verdict='v', result=3)"
    assert str(ev) == "3"
    assert Verdict(7).result == 7
    again = Verdict.model_validate_json(Verdict(result=[1], verdict="w", extra=1).model_dump_json())
    assert (again.result, again.verdict, again.to_dict()) == ([1], "w", {"extra": 1})
    assert (Derived(x=4).result, Derived(x=4).model_dump()) == (40, {"x": 4})


def test_stop_event_result_can_be_set() -> None:
    ev = StopEvent(result=1)
    ev.result = 3  # deliberate: the reference ignores this and keeps 1
    assert ev.result == 3
    with pytest.raises(TypeError, match="_result"):
        StopEvent(_result=5)


def test_a_result_field_in_a_subclass_wins() -> None:
    with pytest.warns(UserWarning, match='"result" in ".*Scored" shadows'):

        class Scored(StopEvent):
            result: int = 0

    assert Scored(result=3).result == 3
    assert Scored(result=3).model_dump() == {"result": 3}


# --- events with arbitrary field types (llama-index-core's agent events) -----------------------


class ChatMessage(BaseModel):
    role: str
    content: str | None = None


class Opaque:
    def __repr__(self) -> str:
        return "Opaque()"


class AgentOutput(Event):
    model_config = ConfigDict(arbitrary_types_allowed=True)

    response: ChatMessage
    raw: Optional[Any] = Field(default=None, exclude=True)  # noqa: UP045 (as in core)
    tool_calls: list[ChatMessage] = Field(default_factory=list)
    thing: Opaque | None = None


class AgentStart(StartEvent):
    def __init__(self, **data: Any) -> None:
        history = data.get("chat_history") or []
        data["chat_history"] = [
            m if isinstance(m, ChatMessage) else ChatMessage.model_validate(m) for m in history
        ]
        super().__init__(**data)

    @model_serializer()
    def serialize_start_event(self) -> dict[str, Any]:
        return {"user_msg": self.user_msg, "chat_history": self.chat_history}


def test_events_with_arbitrary_field_types() -> None:
    thing = Opaque()
    ev = AgentOutput(response=ChatMessage(role="a", content="hi"), raw={"r": 1}, thing=thing, x=1)
    assert ev.get("response") == ChatMessage(role="a", content="hi")
    assert (ev.get("raw"), ev.get("x"), ev["x"]) == ({"r": 1}, 1, 1)
    assert list(ev.keys()) == ["x"]
    assert ev.model_dump() == {
        "response": {"role": "a", "content": "hi"},
        "tool_calls": [],
        "thing": thing,
        "x": 1,
    }
    assert repr(ev) == (
        "AgentOutput(response=ChatMessage(role='a', content='hi'), raw={'r': 1}, "
        "tool_calls=[], thing=Opaque())"
    )
    with pytest.raises(PydanticSerializationError):
        ev.model_dump_json()


def test_subclass_with_its_own_init_and_serializer() -> None:
    ev = AgentStart(user_msg="hi", chat_history=[{"role": "user", "content": "x"}], memory=None)
    assert isinstance(ev.chat_history[0], ChatMessage)
    assert ev.get("memory", "absent") is None
    assert ev.model_dump() == {
        "user_msg": "hi",
        "chat_history": [{"role": "user", "content": "x"}],
    }


# --- fields that cross a serialization boundary ----------------------------------------------


class Boom(Exception):
    pass


FAILED_AT = datetime(2024, 1, 1, tzinfo=timezone.utc)


def _step_failed(**overrides: Any) -> StepFailedEvent:
    fields: dict[str, Any] = {
        "step_name": "s",
        "input_event": Typed(name="i", e=1),
        "exception": Boom("d"),
        "attempts": 2,
        "elapsed_seconds": 1.0,
        "failed_at": FAILED_AT,
    }
    fields.update(overrides)
    return StepFailedEvent(**fields)


def test_step_failed_event_dump_names_the_classes() -> None:
    assert _step_failed().model_dump_json() == (
        '{"step_name":"s","input_event":{"__is_pydantic":true,'
        '"value":{"name":"i","count":0,"e":1},"qualified_name":"test_events_compat.Typed"},'
        '"exception":{"exception_type":"test_events_compat.Boom","exception_message":"d"},'
        '"attempts":2,"elapsed_seconds":1.0,"failed_at":"2024-01-01T00:00:00Z"}'
    )


def test_step_failed_event_round_trip_rebuilds_event_and_exception() -> None:
    again = StepFailedEvent.model_validate_json(_step_failed().model_dump_json())
    assert type(again.input_event) is Typed
    assert again.input_event == Typed(name="i", e=1)
    assert type(again.exception) is Boom
    assert str(again.exception) == "d"
    assert again.failed_at == FAILED_AT


def test_loading_never_imports_and_never_calls_non_exceptions() -> None:
    def exception_of(exception_type: str) -> BaseException:
        data = {"exception_type": exception_type, "exception_message": "1+1"}
        return WorkflowFailedEvent.model_validate({"step_name": "s", "exception": data}).exception

    for name in ("builtins.eval", "not_imported_module_xyz.Error", "os.system"):
        exc = exception_of(name)
        assert type(exc) is UnreconstructedException
        assert (str(exc), exc.original_type) == ("1+1", name)
    assert "not_imported_module_xyz" not in sys.modules
    assert type(exception_of("builtins.KeyError")) is KeyError

    with pytest.raises(pydantic.ValidationError, match="unknown event type"):
        _step_failed(input_event={"value": {}, "qualified_name": "not_imported_module_xyz.E"})
    assert "not_imported_module_xyz" not in sys.modules
    with pytest.raises(pydantic.ValidationError):
        _step_failed(exception="not an exception")
    with pytest.raises(pydantic.ValidationError):
        _step_failed(input_event=5)


def test_workflow_failed_event_dump_and_round_trip() -> None:
    ev = WorkflowFailedEvent(step_name="s", exception=ValueError("b"))
    assert ev.model_dump() == {
        "step_name": "s",
        "exception": {"exception_type": "builtins.ValueError", "exception_message": "b"},
        "attempts": None,
        "elapsed_seconds": None,
    }
    again = WorkflowFailedEvent.model_validate_json(ev.model_dump_json())
    assert (type(again.exception), str(again.exception)) == (ValueError, "b")
    assert repr(ev) == (
        "WorkflowFailedEvent(step_name='s', exception=ValueError('b'), attempts=None, "
        "elapsed_seconds=None)"
    )


def test_collection_release_event_keeps_each_event_class() -> None:
    ev = CollectionReleaseEvent(events=[Typed(name="a"), StartEvent(x=1)], stream_id="s")
    again = CollectionReleaseEvent.model_validate_json(ev.model_dump_json())
    assert [type(e) for e in again.events] == [Typed, StartEvent]
    assert again.events[1].to_dict() == {"x": 1}
    assert (again.stream_id, again.binding_id) == ("s", "")
    assert SerializableEvent is not None


def test_internal_event_dumps() -> None:
    changed = StepStateChanged(
        name="s", step_state=StepState.RUNNING, worker_id="0", input_event_name="StartEvent"
    )
    assert changed.model_dump_json() == (
        '{"name":"s","step_state":"running","worker_id":"0",'
        '"input_event_name":"StartEvent","output_event_name":null}'
    )
    assert StepStateChanged.model_validate_json(changed.model_dump_json()) == changed
    assert StepStateChanged(
        name="s", step_state="running", worker_id="0", input_event_name="A"
    ).step_state is (StepState.RUNNING)
    unhandled = UnhandledEvent(event_type="X", qualified_name="m.X", idle=True)
    assert unhandled.model_dump() == {
        "event_type": "X",
        "qualified_name": "m.X",
        "step_name": None,
        "idle": True,
    }
    assert (WorkflowIdleEvent().model_dump(), IdleReleasedEvent(result=1).result) == ({}, 1)


# --- internal events written by a run ----------------------------------------------------------


class Middle(Event):
    n: int = 0


class Chain(Workflow):
    @step
    async def first(self, ev: StartEvent) -> Middle:
        return Middle(n=1)

    @step
    async def second(self, ev: Middle) -> StopEvent:
        return StopEvent(result=ev.n)


def _state_changes(events: list[Event]) -> list[tuple[str, str, str, str, str | None]]:
    return [
        (e.name, e.step_state.value, e.worker_id, e.input_event_name, e.output_event_name)
        for e in events
        if isinstance(e, StepStateChanged)
    ]


async def test_step_state_changes_are_streamed_with_expose_internal() -> None:
    handler = Chain().run()
    seen = [ev async for ev in handler.stream_events(expose_internal=True)]
    assert await handler == 1
    assert _state_changes(seen) == [
        ("first", "running", "0", "StartEvent", None),
        (
            "first",
            "not_running",
            "0",
            "<class 'workflows.events.StartEvent'>",
            "<class 'test_events_compat.Middle'>",
        ),
        ("second", "running", "0", "Middle", None),
        (
            "second",
            "not_running",
            "0",
            "<class 'test_events_compat.Middle'>",
            "<class 'workflows.events.StopEvent'>",
        ),
    ]
    assert type(seen[-1]) is StopEvent


async def test_internal_events_are_hidden_by_default_and_leave_the_run_unchanged() -> None:
    plain = Chain().run()
    public = [ev async for ev in plain.stream_events()]
    assert [type(ev) for ev in public] == [StopEvent]
    assert await plain == 1

    observed = Chain().run()
    _ = [ev async for ev in observed.stream_events(expose_internal=True)]
    assert await observed == 1
    assert observed.ctx.to_dict()["stream_seq"] == plain.ctx.to_dict()["stream_seq"]


class Busy(Workflow):
    @step
    async def fan_out(self, ctx: Context, ev: StartEvent) -> Middle | None:
        for n in range(3):
            ctx.send_event(Middle(n=n))
        return None

    @step(num_workers=1)
    async def work(self, ev: Middle) -> StopEvent | None:
        return StopEvent(result="done") if ev.n == 2 else None


async def test_an_event_waiting_for_a_free_worker_is_preparing() -> None:
    handler = Busy().run()
    seen = [ev async for ev in handler.stream_events(expose_internal=True)]
    assert await handler == "done"
    changes = _state_changes(seen)
    assert changes.count(("work", "preparing", "<enqueued>", "Middle", None)) == 2
    assert [c[1] for c in changes if c[0] == "work"].count("running") == 3
    assert ("fan_out", "not_running", "0", "<class 'workflows.events.StartEvent'>",
            "<class 'NoneType'>") in changes  # fmt: skip


class Flaky(Workflow):
    calls = 0

    @step(retry_policy=retry_policy(wait=wait_fixed(0), stop=stop_after_attempt(3)))
    async def flaky(self, ev: StartEvent) -> StopEvent:
        type(self).calls += 1
        if type(self).calls < 2:
            raise ValueError("first attempt fails")
        return StopEvent(result="ok")


async def test_each_attempt_of_a_retried_step_starts_and_ends() -> None:
    handler = Flaky().run()
    seen = [ev async for ev in handler.stream_events(expose_internal=True)]
    assert await handler == "ok"
    assert [(c[1], c[4]) for c in _state_changes(seen)] == [
        ("running", None),
        ("not_running", None),  # the attempt raised
        ("running", None),
        ("not_running", "<class 'workflows.events.StopEvent'>"),
    ]


class Stray(Event):
    pass


def _kinds(events: list[Event]) -> list[str]:
    return [
        f"{e.name}:{e.step_state.value}" if isinstance(e, StepStateChanged) else type(e).__name__
        for e in events
    ]


async def test_idle_is_streamed_when_the_run_waits_for_outside_input() -> None:
    handler = HumanLoop().run()
    seen: list[Event] = []
    async for ev in handler.stream_events(expose_internal=True):
        seen.append(ev)
        if isinstance(ev, InputRequiredEvent):
            await handler.send_event(Stray())
            await handler.send_event(HumanResponseEvent(response="ada"))
    assert await handler == "ada"
    assert _kinds(seen) == [
        "ask:running",
        "ask:not_running",
        "InputRequiredEvent",
        "WorkflowIdleEvent",
        "UnhandledEvent",
        "WorkflowIdleEvent",
        "got:running",
        "got:not_running",
        "StopEvent",
    ]
    unhandled = next(e for e in seen if isinstance(e, UnhandledEvent))
    assert unhandled.model_dump() == {
        "event_type": "Stray",
        "qualified_name": "test_events_compat.Stray",
        "step_name": None,
        "idle": True,
    }


class Waits(Workflow):
    @step
    async def wait(self, ctx: Context, ev: StartEvent) -> StopEvent:
        answer = await ctx.wait_for_event(
            HumanResponseEvent, waiter_event=InputRequiredEvent(prefix="?"), waiter_id="w"
        )
        return StopEvent(result=answer.response)


async def test_idle_is_streamed_when_a_step_waits_for_an_event() -> None:
    # The reference ends the step at the wait and runs it again from its start with the
    # answer (one more not_running/running pair); this engine keeps the step suspended.
    handler = Waits().run()
    seen: list[Event] = []
    async for ev in handler.stream_events(expose_internal=True):
        seen.append(ev)
        if isinstance(ev, InputRequiredEvent):
            await handler.send_event(HumanResponseEvent(response="yes"))
    assert await handler == "yes"
    assert _kinds(seen) == [
        "wait:running",
        "InputRequiredEvent",
        "WorkflowIdleEvent",
        "wait:not_running",
        "StopEvent",
    ]


class SendsStray(Workflow):
    @step
    async def only(self, ctx: Context, ev: StartEvent) -> StopEvent:
        ctx.send_event(Stray())
        return StopEvent(result="finished")


async def test_an_event_dropped_while_a_step_runs_is_not_idle() -> None:
    handler = SendsStray().run()
    seen = [ev async for ev in handler.stream_events(expose_internal=True)]
    assert await handler == "finished"
    unhandled = [e for e in seen if isinstance(e, UnhandledEvent)]
    assert [(e.event_type, e.idle) for e in unhandled] == [("Stray", False)]
    assert not any(isinstance(e, WorkflowIdleEvent) for e in seen)


async def test_a_cancelled_run_still_ends_its_stream_with_the_terminal_event() -> None:
    handler = Waits().run()
    seen: list[Event] = []
    async for ev in handler.stream_events(expose_internal=True):
        seen.append(ev)
        if isinstance(ev, WorkflowIdleEvent):
            await handler.cancel_run()
    with pytest.raises(WorkflowCancelledByUser):
        await handler
    assert _kinds(seen) == [
        "wait:running",
        "InputRequiredEvent",
        "WorkflowIdleEvent",
        "WorkflowCancelledEvent",
    ]
