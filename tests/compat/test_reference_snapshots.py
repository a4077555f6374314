"""Runs paused under LlamaIndex Workflows 2.26.1 resume here with ``Context.from_dict``.

``data/reference_snapshots/*.json`` were written by ``generate.py`` under the reference
library: each holds the reference's ``ctx.to_dict()`` of a paused run of a workflow from
``_reference_workflows.py``, and what the reference observed when it restored and
finished that run itself. Here the same snapshot is restored into this library's copy of
the workflow, the same answers are sent, and the run must end the same way.
"""

from __future__ import annotations

import asyncio
import copy
import json
import re
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from workflows import Context
from workflows.context import JsonSerializer, PickleSerializer
from workflows.errors import ContextSerdeError
from workflows.events import HumanResponseEvent, InputRequiredEvent

from ._reference_workflows import SCENARIOS, Answer, Fanout, Interview, Item, Scenario

DATA = Path(__file__).parent / "data" / "reference_snapshots"
RUN_TIMEOUT = 30

# The reference loses the requirements of its waits in a snapshot: restored, the answer
# to the second question also overwrote the first one ("42 is 42"). Unpaused, and here,
# each answer goes to the one wait it matches.
REFERENCE_RESUME_BUG = {"two_questions"}

# A collect_events buffer without buffer_id, half filled under the reference.
DEFAULT_BUFFER = "queued_and_collect_default_buffer"


def load(name: str) -> dict[str, Any]:
    return json.loads((DATA / f"{name}.json").read_text(encoding="utf-8"))


def restore(name: str, snapshot: dict[str, Any] | None = None) -> tuple[Any, Context[Any]]:
    scenario = SCENARIOS[name]
    wf = scenario.workflow(timeout=RUN_TIMEOUT)
    serializer = JsonSerializer(extra_types=scenario.extra_types)
    data = load(name)["snapshot"] if snapshot is None else snapshot
    return wf, Context.from_dict(wf, data, serializer=serializer)


async def observe(scenario: Scenario, ctx: Context[Any]) -> Any:
    # Through JSON: a copy, and tuples compare equal to the lists the reference wrote.
    return json.loads(json.dumps(await scenario.observe(ctx)))


async def finish(name: str, snapshot: dict[str, Any] | None = None) -> dict[str, Any]:
    """Resume the snapshot here, send the scenario's answers at once, run to the end."""
    scenario = SCENARIOS[name]
    wf, ctx = restore(name, snapshot)
    at_pause = await observe(scenario, ctx)
    handler = wf.run(ctx=ctx)
    for answer in scenario.answers():
        handler.ctx.send_event(answer)
    prompts = [
        type(ev).__name__
        async for ev in handler.stream_events()
        if isinstance(ev, InputRequiredEvent)
    ]
    result = await asyncio.wait_for(handler, RUN_TIMEOUT)
    return {
        "at_pause": at_pause,
        "result": json.loads(json.dumps(result)),
        "final": await observe(scenario, handler.ctx),
        "prompts_after_resume": prompts,
    }


RESUMABLE = list(SCENARIOS)


def test_every_scenario_has_its_generated_snapshot() -> None:
    for name in SCENARIOS:
        doc = load(name)
        assert doc["scenario"] == name
        assert doc["snapshot"]["version"] == 2
        assert "format_version" not in doc["snapshot"]


@pytest.mark.parametrize("name", RESUMABLE)
async def test_a_restored_run_holds_the_state_the_reference_restored(name: str) -> None:
    _, ctx = restore(name)
    assert await observe(SCENARIOS[name], ctx) == load(name)["at_pause"]


@pytest.mark.parametrize("name", RESUMABLE)
async def test_a_resumed_run_ends_as_the_reference_run_does(name: str) -> None:
    doc = load(name)
    outcome = await finish(name)
    assert outcome["result"] == doc["uninterrupted_result"]
    if name not in REFERENCE_RESUME_BUG:
        assert outcome["result"] == doc["result"]
    assert outcome["final"] == doc["final"]
    expected_prompts = [p["type"] for p in doc["prompts_after_resume"]]
    assert outcome["prompts_after_resume"] == expected_prompts


def test_the_reference_resume_bug_is_what_the_data_records() -> None:
    doc = load("two_questions")
    assert doc["uninterrupted_result"] == "Grace is 42"
    assert doc["result"] == "42 is 42"


async def test_a_half_filled_default_collect_buffer_is_found_again() -> None:
    snapshot = load(DEFAULT_BUFFER)["snapshot"]
    assert snapshot["workers"]["gather"]["collected_events"].keys() == {"default"}
    wf, ctx = restore(DEFAULT_BUFFER)
    # Without the buffered PartA the run never ends: waiting on it cancels it.
    result = await asyncio.wait_for(wf.run(ctx=ctx), 5)
    assert result == load(DEFAULT_BUFFER)["result"]


async def test_a_default_buffer_keyed_by_expected_types_in_an_older_snapshot_is_taken_over() -> (
    None
):
    # Earlier versions of this package keyed the buffer "<step>/<n>:<first>:<last>".
    _, ctx = restore(DEFAULT_BUFFER)
    own = json.loads(json.dumps(ctx.to_dict()))
    assert list(own["collect"]) == ["gather/default"]
    own["collect"] = {"gather/2:PartA:PartB": own["collect"]["gather/default"]}
    wf = SCENARIOS[DEFAULT_BUFFER].workflow(timeout=RUN_TIMEOUT)
    older = Context.from_dict(wf, own)
    result = await asyncio.wait_for(wf.run(ctx=older), 5)
    assert result == load(DEFAULT_BUFFER)["result"]


async def _own_paused_snapshot() -> dict[str, Any]:
    wf = Interview(timeout=RUN_TIMEOUT)
    handler = wf.run()
    async for ev in handler.stream_events():
        if isinstance(ev, InputRequiredEvent):
            break
    snapshot = handler.ctx.to_dict()
    await handler.cancel_run()
    return json.loads(json.dumps(snapshot))


async def test_a_restored_paused_run_is_an_unfinished_run_like_our_own_snapshots() -> None:
    own = Context.from_dict(Interview(), await _own_paused_snapshot())
    _, converted = restore("wait_for_event")
    assert converted.is_running == own.is_running
    again = converted.to_dict()
    assert again["started"] is True
    assert again["stop_event"] is None


async def test_a_reference_context_that_never_ran_starts_a_new_run() -> None:
    # What the reference's Context(wf).to_dict() writes before any run.
    fresh = {
        "version": 2,
        "state": {},
        "is_running": False,
        "workers": {"ask": {"queue": [], "in_progress": [], "collected_waiters": []}},
        "stream_seq": 0,
    }
    wf = Interview(timeout=RUN_TIMEOUT)
    ctx = Context.from_dict(wf, fresh)
    assert ctx.is_running is False
    handler = wf.run(ctx=ctx)
    async for ev in handler.stream_events():
        if isinstance(ev, InputRequiredEvent):
            handler.ctx.send_event(HumanResponseEvent(response="Lin"))
    assert await asyncio.wait_for(handler, RUN_TIMEOUT) == "Hello, Lin!"


async def test_unknown_requirements_are_registered_again_by_the_re_run_step() -> None:
    # Named waits (waiter_id given) keep no trace of their requirements; with two of
    # them open for the same type, which answer is whose is only known once the
    # re-run steps wait again, so those waits are left to them and asked again.
    doc = load("custom_events")
    snapshot = copy.deepcopy(doc["snapshot"])
    for waiter in snapshot["workers"]["review"]["collected_waiters"]:
        waiter["waiter_id"] = f"custom-{waiter['work_item_id']}"
    wf, ctx = restore("custom_events", snapshot)
    handler = wf.run(ctx=ctx)
    asked = []
    async for ev in handler.stream_events():
        if isinstance(ev, InputRequiredEvent):
            asked.append(ev.topic)
            if len(asked) == 2:
                for answer in SCENARIOS["custom_events"].answers():
                    handler.ctx.send_event(answer)
    assert sorted(asked) == ["colour", "size"]
    assert await asyncio.wait_for(handler, RUN_TIMEOUT) == doc["uninterrupted_result"]


async def test_the_layout_before_version_2_resumes() -> None:
    # Version 1 wrote a running step as its bare event string.
    doc = load("queued_and_collect")
    snapshot = copy.deepcopy(doc["snapshot"])
    snapshot["version"] = 1
    work = snapshot["workers"]["work"]
    work["in_progress"] = [entry["event"] for entry in work["in_progress"]]
    outcome = await finish("queued_and_collect", snapshot)
    assert outcome["result"] == doc["result"]
    assert outcome["final"] == doc["final"]


async def test_the_legacy_layout_without_a_version_resumes() -> None:
    doc = load("queued_and_collect")["snapshot"]
    work = doc["workers"]["work"]
    gather = doc["workers"]["gather"]
    legacy = {
        "state": doc["state"],
        "streaming_queue": "[]",
        "queues": {
            "work": json.dumps([entry["event"] for entry in work["queue"]]),
            "gather": json.dumps(gather["collected_events"]["parts"]),
        },
        "event_buffers": {},
        "in_progress": {"work": [entry["event"] for entry in work["in_progress"]]},
        "accepted_events": [],
        "broker_log": [],
        "is_running": True,
        "waiting_ids": [],
    }
    outcome = await finish("queued_and_collect", legacy)
    assert outcome["result"] == "left+right2"
    assert outcome["final"] == {"done": [0, 1, 2]}


# --------------------------------------------------- collection streams and joins

STREAMS = ["stream_waiting", "stream_nested", "collector_waiting"]
JOINS = ["join_buffered", "join_waiting"]


def own(name: str, snapshot: dict[str, Any] | None = None) -> dict[str, Any]:
    """The snapshot restored here, written again in this library's format."""
    _, ctx = restore(name, snapshot)
    data: dict[str, Any] = json.loads(json.dumps(ctx.to_dict()))
    return data


@pytest.mark.parametrize("name", ["stream_waiting", "stream_nested"])
def test_a_translated_stream_counts_the_open_work_the_reference_counted(name: str) -> None:
    reference = load(name)["snapshot"]
    data = own(name)
    assert data["format_version"] == 2
    assert {sid: s["open"] for sid, s in data["streams"].items()} == {
        sid: s["open_work_items"] for sid, s in reference["streams"].items()
    }
    for sid, stream in data["streams"].items():
        assert stream["scope"] == reference["streams"][sid]["scope_path"]
    [waiting] = data["in_flight"]
    [waiter] = [w for ws in reference["workers"].values() for w in ws["collected_waiters"]]
    assert waiting["scope"] == waiter["scope_path"]


def test_a_released_take_binding_is_not_released_again() -> None:
    data = own("stream_waiting")
    [stream] = data["streams"].values()
    buffers = {key.split(":")[0]: value for key, value in stream["buffers"].items()}
    assert buffers["split->first"] is None
    assert [ev["data"]["n"] for ev in buffers["split->total"]] == [0, 2]


def test_a_list_step_paused_with_its_batch_is_called_with_it_again() -> None:
    data = own("collector_waiting")
    assert data["format_version"] == 1  # the stream had closed: only the batch remains
    [waiting] = data["in_flight"]
    assert waiting["step"] == "approve"
    members = waiting["event"]["data"]["events"]
    assert [m["value"]["n"] for m in members] == [0, 10, 20]


def test_join_buffers_and_batches_are_kept() -> None:
    buffered = own("join_buffered")
    assert buffered["format_version"] == 3
    assert [ev["data"]["v"] for ev in buffered["joins"]["join"]] == ["a", "b"]
    waiting = own("join_waiting")
    assert waiting["format_version"] == 3
    [call] = waiting["in_flight"]
    assert [ev["data"]["v"] for ev in call["bound"]] == ["l", "r"]
    assert [ev["data"]["v"] for ev in waiting["joins"]["join"]] == ["spare"]


def _stream_id(data: dict[str, Any]) -> str:
    [sid] = data["streams"]
    return str(sid)


async def test_an_event_on_its_way_inside_a_stream_is_queued_in_it() -> None:
    snapshot = load("stream_waiting")["snapshot"]
    delivery = {
        "invocation_id": "i",
        "index": 0,
        "event": _event("__main__.Task", {"n": 5}),
        "scope_path": [_stream_id(snapshot)],
    }
    snapshot["deliveries"].append(delivery)
    assert [s["open"] for s in own("stream_waiting", snapshot)["streams"].values()] == [2]
    outcome = await finish("stream_waiting", snapshot)
    assert outcome["result"] == [0, 2, 5, 104]


async def test_an_event_on_its_way_to_a_join_completes_its_batch_on_resume() -> None:
    snapshot = load("join_buffered")["snapshot"]
    delivery = {"invocation_id": "i", "index": 0, "event": _event("__main__.Right", {"v": "d"})}
    snapshot["deliveries"].append(delivery)
    wf, ctx = restore("join_buffered", snapshot)
    assert await asyncio.wait_for(wf.run(ctx=ctx), RUN_TIMEOUT) == "a+d"


STREAM_BAD: dict[str, tuple[str, Any, str]] = {
    "unknown binding": (
        "stream_waiting",
        lambda d: next(iter(d["collection_release_states"].values())).update(
            binding_id="split->nowhere:X:All:nearest"
        ),
        "no collection binding 'split->nowhere",
    ),
    "binding of another step": (
        "stream_nested",
        lambda d: [
            r.update(binding_id="chapters->book:X:All:nearest")
            for r in d["collection_release_states"].values()
            if r["binding_id"].startswith("pages")
        ],
        "not a binding of its stream's step",
    ),
    "no work left in a stream": (
        "stream_waiting",
        lambda d: d["workers"]["work"].update(collected_waiters=[]),
        "could never close",
    ),
    "member on its way to a list step": (
        "stream_waiting",
        lambda d: d["deliveries"].append(
            {
                "invocation_id": "i",
                "index": 0,
                "event": _event("__main__.TaskDone", {"n": 9}),
                "scope_path": _stream_id(d) and [_stream_id(d)],
            }
        ),
        "take the snapshot again",
    ),
    "join batch naming other parameters": (
        "join_waiting",
        lambda d: d["workers"]["join"]["collected_waiters"][0].update(
            bound_events={"left": "{}", "other": "{}"}
        ),
        "does not join the parameters left, other",
    ),
    "release payload of an unknown binding": (
        "collector_waiting",
        lambda d: d["workers"]["approve"]["collected_waiters"][0][
            "collection_release_payload"
        ].update(binding_id="x->approve:X:All:nearest"),
        "no collection binding 'x->approve",
    ),
}


@pytest.mark.parametrize("case", list(STREAM_BAD))
def test_a_malformed_stream_or_join_snapshot_is_refused_naming_the_problem(case: str) -> None:
    name, mutate, fragment = STREAM_BAD[case]
    data = load(name)["snapshot"]
    mutate(data)
    with pytest.raises(ContextSerdeError) as caught:
        restore(name, data)
    assert fragment in str(caught.value)


# ------------------------------------------------------------------ malformed payloads


def _event(qualified_name: str, value: Any) -> str:
    return json.dumps({"__is_pydantic": True, "value": value, "qualified_name": qualified_name})


def _interview() -> dict[str, Any]:
    return load("wait_for_event")["snapshot"]


def _waiter(data: dict[str, Any]) -> dict[str, Any]:
    return data["workers"]["ask"]["collected_waiters"][0]


def _set_item(data: dict[str, Any], value: Any) -> None:
    data["state"]["state_data"]["_data"]["visits"] = value


BAD: dict[str, tuple[Any, str]] = {
    "newer version": (lambda d: d.update(version=3), "version 3 is not supported"),
    "version as text": (lambda d: d.update(version="2"), "version '2'"),
    "version as bool": (lambda d: d.update(version=True), "version True"),
    "workers not an object": (lambda d: d.update(workers=[]), "workers"),
    "is_running as text": (lambda d: d.update(is_running="yes"), "is_running"),
    "waiter without its event": (lambda d: _waiter(d).pop("event"), "event"),
    "negative attempts": (
        lambda d: d["workers"]["ask"]["queue"].append({"event": "{}", "attempts": -1}),
        "attempts",
    ),
    "truncated event": (lambda d: _waiter(d).update(event=_waiter(d)["event"][:30]), "JSON"),
    "unknown event class": (
        lambda d: _waiter(d).update(event=_event("evil_module_never_imported.Boom", {})),
        "evil_module_never_imported.Boom",
    ),
    "event value not an object": (
        lambda d: _waiter(d).update(event=_event("workflows.events.StartEvent", [1])),
        "must be an object",
    ),
    "event that is not an event": (
        lambda d: _waiter(d).update(event=json.dumps({"plain": 1})),
        "not an event",
    ),
    "event extras not an object": (
        lambda d: _waiter(d).update(event=_event("workflows.events.StartEvent", {"_data": 1})),
        "'_data'",
    ),
    "waited type unknown": (
        lambda d: _waiter(d).update(waiting_for_event="builtins.dict"),
        "builtins.dict",
    ),
    "durable state handle": (lambda d: d["state"].update(store_type="postgres"), "postgres"),
    "state item not encoded": (lambda d: _set_item(d, 1), "encoded string"),
    "state item not JSON": (lambda d: _set_item(d, "{oops"), "JSON"),
    "state item a LlamaIndex component": (
        lambda d: _set_item(d, json.dumps({"__is_component": True, "qualified_name": "x.Y"})),
        "component",
    ),
    "state item nested too deep": (lambda d: _set_item(d, "[" * 5000 + "]" * 5000), "JSON"),
    "state item nested deeper than max_depth": (
        lambda d: _set_item(d, "[" * 300 + "]" * 300),
        "deeper",
    ),
    "state layout unknown": (lambda d: d["state"].update(state_data={"_tree": "x"}), "layout"),
    "state data of a wrong kind": (lambda d: d["state"].update(state_data=[1]), "state_data"),
    "typed state not a model": (lambda d: d["state"].update(state_data='{"a": 1}'), "model"),
    "stream without its source": (lambda d: d.update(streams={"s": {}}), "streams.s.stream_id"),
    "stream of a step that does not fan out": (
        lambda d: d.update(streams={"s": {"stream_id": "s", "source_step": "ask"}}),
        "no fan-out step 'ask'",
    ),
    "scope naming no open stream": (
        lambda d: _waiter(d).update(scope_path=["s"]),
        "scope names no open stream 's'",
    ),
    "release state of a stream not open": (
        lambda d: d.update(
            collection_release_states={"x": {"binding_id": "a->b:X:All:nearest", "stream_id": "s"}}
        ),
        "stream 's' is not open",
    ),
    "join batch for a step taking one event": (
        lambda d: _waiter(d).update(bound_events={"a": "{}"}),
        "does not join the parameters a",
    ),
    "join buffer of a step taking one event": (
        lambda d: d["workers"]["ask"].update(static_collect_events=["{}"]),
        "not a multi-event step here",
    ),
    "work for a step the workflow lacks": (
        lambda d: d["workers"].update(gone={"collected_waiters": [_waiter(d)]}),
        "no such step",
    ),
    "pending StopEvent": (
        lambda d: d["deliveries"].append(
            {"invocation_id": "i", "index": 0, "event": _event("workflows.events.StopEvent", {})}
        ),
        "StopEvent",
    ),
    "pending event nobody takes": (
        lambda d: d["deliveries"].append(
            {"invocation_id": "i", "index": 0, "event": _event("workflows.events.Event", {})}
        ),
        "no step accepts",
    ),
    "legacy queue not a list": (
        lambda d: d.clear() or d.update(queues={"ask": "{}"}, is_running=True),
        "queues.ask",
    ),
}


@pytest.mark.parametrize("case", list(BAD))
def test_a_malformed_reference_snapshot_is_refused_naming_the_problem(case: str) -> None:
    mutate, fragment = BAD[case]
    data = _interview()
    mutate(data)
    with pytest.raises(ContextSerdeError) as caught:
        Context.from_dict(Interview(), data)
    assert fragment in str(caught.value)
    assert "evil_module_never_imported" not in sys.modules


def test_a_typed_event_field_of_the_wrong_type_is_refused() -> None:
    data = load("custom_events")["snapshot"]
    waiter = data["workers"]["review"]["collected_waiters"][0]
    event = json.loads(waiter["event"])
    event["value"]["priority"] = "high"
    waiter["event"] = json.dumps(event)
    with pytest.raises(ContextSerdeError, match="priority"):
        restore("custom_events", data)


def test_a_wait_for_a_type_only_the_step_code_names_needs_no_registration() -> None:
    """Answer is in no step signature, only in the step's ``wait_for_event`` call: it is
    found in the workflow's code; a type the workflow's code never names is refused."""
    data = load("custom_events")["snapshot"]
    wf = SCENARIOS["custom_events"].workflow()
    assert Context.from_dict(wf, data).is_running
    assert Context.from_dict(wf, data, serializer=JsonSerializer(extra_types=[Answer]))
    text = json.dumps(data)
    names = set(re.findall(r'"([\w.]*\.Answer)"', text))
    assert names, "the snapshot names Answer"
    for name in names:
        text = text.replace(f'"{name}"', '"collections.OrderedDict"')
    foreign = json.loads(text)
    with pytest.raises(ContextSerdeError, match="OrderedDict"):
        Context.from_dict(wf, foreign)


def test_a_state_model_outside_the_allowlist_is_refused() -> None:
    data = load("dict_state")["snapshot"]
    with pytest.raises(ContextSerdeError, match="Item"):
        Context.from_dict(SCENARIOS["dict_state"].workflow(), data)
    restored = Context.from_dict(
        SCENARIOS["dict_state"].workflow(), data, serializer=JsonSerializer(extra_types=[Item])
    )
    assert restored.is_running


def test_only_the_json_serializer_reads_a_reference_snapshot() -> None:
    with pytest.raises(ContextSerdeError, match="JsonSerializer"):
        Context.from_dict(Interview(), _interview(), serializer=PickleSerializer())


def test_a_snapshot_of_another_workflow_is_refused() -> None:
    with pytest.raises(ContextSerdeError, match="no such step"):
        Context.from_dict(Fanout(), _interview())


def test_from_dict_does_not_modify_a_reference_snapshot() -> None:
    data = load("custom_events")["snapshot"]
    original = copy.deepcopy(data)
    restore("custom_events", data)
    assert data == original


# -------------------------------------------------------------------- random mutations


def _expand(value: Any) -> Any:
    """Embedded JSON strings as trees (marked), so that mutations reach inside them."""
    if isinstance(value, str) and value[:1] in "{[":
        try:
            return {"<json>": _expand(json.loads(value))}
        except ValueError:
            return value
    if isinstance(value, dict):
        return {k: _expand(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand(v) for v in value]
    return value


def _collapse(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"<json>"}:
            return json.dumps(_collapse(value["<json>"]))
        return {k: _collapse(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_collapse(v) for v in value]
    return value


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
    | st.sampled_from(["__main__.Draft", "os.system", "$event", "$map", "_data", "{", ""]),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(["__is_pydantic", "qualified_name", "value", "_data", "$event", "x"]),
            inner,
            max_size=3,
        )
    ),
    max_leaves=8,
)


@st.composite
def mutated_reference_snapshots(draw: st.DrawFn) -> Any:
    name = draw(
        st.sampled_from(
            [
                "custom_events",
                "dict_state",
                "typed_state",
                "two_questions",
                "stream_nested",
                "collector_waiting",
                "join_waiting",
            ]
        )
    )
    tree = _expand(load(name)["snapshot"])
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        parent: Any = None
        key: Any = None
        node = tree
        for _ in range(draw(st.integers(min_value=1, max_value=9))):
            if not isinstance(node, (dict, list)) or not node:
                break
            keys = list(node) if isinstance(node, dict) else list(range(len(node)))
            parent, key = node, draw(st.sampled_from(keys))
            node = node[key]
        if parent is None:
            continue
        if draw(st.booleans()):
            parent[key] = draw(json_values)
        elif isinstance(parent, dict):
            del parent[key]
        else:
            parent.pop(key)
    return name, _collapse(tree)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(mutated_reference_snapshots())
def test_a_mutated_reference_snapshot_gives_a_context_or_a_context_serde_error(
    case: tuple[str, Any],
) -> None:
    name, data = case
    try:
        _, restored = restore(name, data)
    except ContextSerdeError as exc:
        assert str(exc)
        return
    assert isinstance(restored, Context)
