"""``Context.from_dict`` on bad input: a ``ContextSerdeError`` naming the problem.

Each bad payload must raise ``ContextSerdeError`` (never a TypeError, KeyError,
RecursionError, pydantic ValidationError...) in bounded time, and decoding never
imports a module or unpickles data that the payload names.

The snapshot format is the engine's own business: the tests below do not depend on
its layout. They locate values in a real snapshot by searching for distinctive
sentinels, looking also inside strings that hold JSON (a format may keep encoded
values as strings).
"""

from __future__ import annotations

import asyncio
import copy
import json
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from workflows import Context, Workflow, step
from workflows.context import JsonSerializer, PickleSerializer
from workflows.errors import ContextSerdeError
from workflows.events import (
    Event,
    HumanResponseEvent,
    InputRequiredEvent,
    StartEvent,
    StopEvent,
)

RUN_TIMEOUT = 30
TIME_LIMIT = 5.0  # seconds allowed for one from_dict call, even on a slow shared machine

INT_SENTINEL = 424242
STR_SENTINEL = "str-sentinel-5f1c"
NEST_SENTINEL = "nest-sentinel-77aa"


class SnapAskEvent(Event):
    request_id: str
    weight: int


class SnapDoneEvent(Event):
    request_id: str
    answer: str


class SnapProgress(Event):
    label: str


class Ledger(BaseModel):
    count: int = 0
    label: str = ""
    payload: Any = None
    last_ask: SnapAskEvent | None = None


class Reviewed(Workflow):
    """Two concurrent waits, typed state, an event in the state, a collect buffer."""

    @step
    async def fan_out(self, ctx: Context[Ledger], ev: StartEvent) -> SnapAskEvent | None:
        async with ctx.store.edit_state() as state:
            state.count = INT_SENTINEL
            state.label = STR_SENTINEL
            state.payload = NEST_SENTINEL
            state.last_ask = SnapAskEvent(request_id="x", weight=1)
        for rid, weight in (("r1", 7), ("r2", 9)):
            ctx.send_event(SnapAskEvent(request_id=rid, weight=weight))
        return None

    @step(num_workers=2)
    async def ask(self, ctx: Context[Ledger], ev: SnapAskEvent) -> SnapDoneEvent:
        reply = await ctx.wait_for_event(
            HumanResponseEvent,
            waiter_event=InputRequiredEvent(prefix=f"{ev.request_id}? ", request_id=ev.request_id),
            waiter_id=ev.request_id,
            requirements={"request_id": ev.request_id},
        )
        return SnapDoneEvent(request_id=ev.request_id, answer=reply.response)

    @step
    async def gather(self, ctx: Context[Ledger], ev: SnapDoneEvent) -> StopEvent | None:
        done = ctx.collect_events(ev, [SnapDoneEvent, SnapDoneEvent])
        if done is None:
            ctx.write_event_to_stream(SnapProgress(label=f"collected {ev.request_id}"))
            return None
        return StopEvent(result=sorted(e.answer for e in done))


class OtherWorkflow(Workflow):
    @step
    async def only(self, ctx: Context, ev: StartEvent) -> StopEvent:
        return StopEvent(result="other")


async def _paused_snapshot() -> dict[str, Any]:
    """A snapshot with one answer collected and one waiter pending."""
    handler = Reviewed(timeout=RUN_TIMEOUT).run()
    data = None
    prompts = 0

    async def consume() -> dict[str, Any]:
        nonlocal prompts
        async for ev in handler.stream_events():
            if isinstance(ev, InputRequiredEvent):
                prompts += 1
                if prompts == 2:
                    await handler.send_event(HumanResponseEvent(response="one", request_id="r1"))
            elif isinstance(ev, SnapProgress):
                # r1's answer is in the collect buffer, r2 still waits.
                return handler.ctx.to_dict()
        raise AssertionError("the run ended before r1 was collected")

    try:
        data = await asyncio.wait_for(consume(), timeout=RUN_TIMEOUT)
    finally:
        await handler.cancel_run()
    return json.loads(json.dumps(data))


@cache
def base_snapshot_text() -> str:
    return json.dumps(asyncio.run(_paused_snapshot()))


def base_snapshot() -> dict[str, Any]:
    return json.loads(base_snapshot_text())


def restore(data: Any, wf: Workflow | None = None, **kwargs: Any) -> Context:
    """Context.from_dict within the time limit; re-raises what it raised."""
    started = time.perf_counter()
    try:
        return Context.from_dict(wf if wf is not None else Reviewed(), data, **kwargs)
    finally:
        elapsed = time.perf_counter() - started
        assert elapsed < TIME_LIMIT, f"from_dict took {elapsed:.1f}s"


def refused(data: Any, wf: Workflow | None = None, **kwargs: Any) -> ContextSerdeError:
    with pytest.raises(ContextSerdeError) as info:
        restore(data, wf, **kwargs)
    message = str(info.value)
    assert message, "ContextSerdeError without a reason"
    assert len(message) < 10_000, "the error message echoes the whole payload"
    return info.value


def refused_each(cases: dict[str, Any]) -> None:
    """Every payload is refused; reports all the ones that were not, not just the first."""
    wrong: list[str] = []
    for label, data in cases.items():
        started = time.perf_counter()
        try:
            Context.from_dict(Reviewed(), data)
        except ContextSerdeError as exc:
            if not str(exc) or len(str(exc)) >= 10_000:
                wrong.append(f"{label}: ContextSerdeError message of length {len(str(exc))}")
        except Exception as exc:
            wrong.append(f"{label}: {type(exc).__name__}: {str(exc)[:200]}")
        else:
            wrong.append(f"{label}: accepted")
        elapsed = time.perf_counter() - started
        if elapsed >= TIME_LIMIT:
            wrong.append(f"{label}: took {elapsed:.1f}s")
    assert not wrong, "\n".join(wrong)


# ------------------------------------------------------- locating values in a tree

Step = tuple[str, Any]  # ("item", key or index) or ("json", None): decode a JSON string
Path_ = tuple[Step, ...]


def _decoded(value: str) -> Any:
    if not value or value[0] not in "[{":
        return None
    try:
        return json.loads(value)
    except ValueError:
        return None


def walk(node: Any, path: Path_ = ()) -> Iterator[tuple[Path_, Any]]:
    """Every (path, value) in a JSON tree, descending into JSON-encoded strings."""
    yield path, node
    if isinstance(node, dict):
        for key, value in node.items():
            yield from walk(value, (*path, ("item", key)))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from walk(value, (*path, ("item", index)))
    elif isinstance(node, str):
        inner = _decoded(node)
        if isinstance(inner, (dict, list)):
            yield from walk(inner, (*path, ("json", None)))


def find(data: Any, predicate: Callable[[Any], bool]) -> list[Path_]:
    return [path for path, value in walk(data) if predicate(value)]


@dataclass
class Replacement:
    """A new value, with the JSON text to use when it lands inside an encoded string."""

    obj: Any
    text: str | None = None

    def as_text(self) -> str:
        return self.text if self.text is not None else json.dumps(self.obj)


_PLACEHOLDER = "__replacement_placeholder_3b9d__"


def replace_at(node: Any, path: Path_, new: Replacement | None) -> Any:
    """A copy of ``node`` with the value at ``path`` replaced (``None``: deleted)."""
    if not path:
        assert new is not None
        return new.obj
    kind, key = path[0]
    if kind == "json":
        inner = json.loads(node)
        if new is None and len(path) == 1:
            return None  # "deleting" the decoded document itself leaves a null
        if new is None or len(path) == 1:
            changed = replace_at(inner, path[1:], new)
            return json.dumps(changed)
        changed = replace_at(inner, path[1:], Replacement(_PLACEHOLDER))
        return json.dumps(changed).replace(json.dumps(_PLACEHOLDER), new.as_text(), 1)
    if isinstance(node, dict):
        out: Any = dict(node)
    else:
        out = list(node)
    if len(path) == 1 and new is None:
        del out[key]
    else:
        out[key] = replace_at(node[key], path[1:], new)
    return out


def deep_list(depth: int) -> Replacement:
    nested: list[Any] = []
    for _ in range(depth - 1):
        nested = [nested]
    return Replacement(nested, "[" * depth + "]" * depth)


# -------------------------------------------------------------------- the baseline


def test_the_unmodified_snapshot_is_accepted() -> None:
    data = base_snapshot()
    assert "format_version" in data
    restored = restore(data)
    assert isinstance(restored, Context)
    for sentinel in (INT_SENTINEL, STR_SENTINEL, NEST_SENTINEL):
        assert find(data, lambda v, s=sentinel: v == s), f"sentinel {sentinel!r} not found"


def test_the_unmodified_snapshot_resumes_to_the_end() -> None:
    data = base_snapshot()

    async def resume() -> Any:
        wf = Reviewed(timeout=RUN_TIMEOUT)
        handler = wf.run(ctx=Context.from_dict(wf, data))
        await handler.send_event(HumanResponseEvent(response="two", request_id="r2"))
        return await asyncio.wait_for(handler, timeout=RUN_TIMEOUT)

    assert asyncio.run(resume()) == ["one", "two"]


# ------------------------------------------------------------------- shape errors


@pytest.mark.parametrize(
    "payload",
    [None, [], "{}", 42, b"{}", 3.5, True],
    ids=["none", "list", "json-text", "int", "bytes", "float", "bool"],
)
def test_non_dict_input_is_refused(payload: Any) -> None:
    refused(payload)


def test_empty_dict_is_refused() -> None:
    refused({})


def test_a_dict_with_only_the_version_is_refused() -> None:
    refused({"format_version": base_snapshot()["format_version"]})


def test_missing_format_version_is_refused_naming_it() -> None:
    data = base_snapshot()
    del data["format_version"]
    error = refused(data)
    assert "version" in str(error).lower()


@pytest.mark.parametrize("version", [999, -1, "1", None, 1.5, [1], {"v": 1}])
def test_wrong_format_version_is_refused_naming_it(version: Any) -> None:
    data = base_snapshot()
    if data["format_version"] == version:
        pytest.fail(f"test precondition: {version!r} is the current version")
    data["format_version"] = version
    error = refused(data)
    assert "version" in str(error).lower()


def test_truncated_snapshots_are_refused() -> None:
    data = base_snapshot()
    keys = list(data)
    # Keeping only a leading part of the keys, as a half-written record would.
    for keep in range(max(1, len(keys) // 2)):
        partial = {k: data[k] for k in keys[:keep]}
        if "format_version" not in partial:
            partial["format_version"] = data["format_version"]
        if partial == data:
            continue
        refused(partial)


def test_unknown_top_level_keys_or_missing_ones_never_escape_as_other_errors() -> None:
    data = base_snapshot()
    for key in data:
        if key == "format_version":
            continue
        partial = dict(data)
        del partial[key]
        try:
            restore(partial)
        except ContextSerdeError:
            pass


def test_a_snapshot_of_another_workflow_is_refused_naming_it() -> None:
    error = refused(base_snapshot(), OtherWorkflow())
    message = str(error)
    assert "Reviewed" in message or "OtherWorkflow" in message or "workflow" in message.lower()


def test_another_workflows_snapshot_is_refused_the_other_way_round() -> None:
    other = json.loads(json.dumps(Context(OtherWorkflow()).to_dict()))
    refused(other, Reviewed())


# -------------------------------------------------------------------- type names


def _event_name_paths(data: Any) -> list[Path_]:
    def names_the_event(value: Any) -> bool:
        return isinstance(value, str) and (
            value == SnapAskEvent.__name__
            or value.endswith(("." + SnapAskEvent.__name__, ":" + SnapAskEvent.__name__))
        )

    paths = find(data, names_the_event)
    assert paths, "could not find the event type name SnapAskEvent in the snapshot"
    return paths


@pytest.mark.parametrize(
    "name",
    ["os.system", "builtins.eval", "subprocess.Popen", "NoSuchEvent", "", "..", "a" * 300],
)
def test_an_unknown_event_type_name_is_refused(name: str) -> None:
    data = base_snapshot()
    for path in _event_name_paths(data):
        data = replace_at(data, path, Replacement(name))
    error = refused(data)
    if 0 < len(name) < 100:
        assert name in str(error)


def test_an_event_type_name_is_never_imported(tmp_path: Path, monkeypatch: Any) -> None:
    module = "wf_snapshot_evil_module_9c2e"
    marker = tmp_path / "imported.txt"
    (tmp_path / f"{module}.py").write_text(
        f"from pathlib import Path\nPath({str(marker)!r}).write_text('imported')\n"
        "class Evil:\n    pass\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    absent = [module, "antigravity", "this", "xmlrpc.server", "tkinter"]
    before = {name: name in sys.modules for name in absent}

    for target in (f"{module}.Evil", "antigravity.geohash", "this.s", "xmlrpc.server.Foo"):
        data = base_snapshot()
        for path in _event_name_paths(data):
            data = replace_at(data, path, Replacement(target))
        refused(data)

    assert not marker.exists(), "from_dict imported a module named by the payload"
    assert {name: name in sys.modules for name in absent} == before


class _Trap:
    """Unpickling this calls ``_sprung``: decoding must never reach it."""

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return (_sprung, ())


SPRUNG: list[str] = []


def _sprung() -> str:
    SPRUNG.append("unpickled")
    return "sprung"


async def test_a_pickled_snapshot_is_never_unpickled_by_the_default_serializer() -> None:
    ctx = Context(OtherWorkflow())
    await ctx.store.set("trap", _Trap())
    data = json.loads(json.dumps(ctx.to_dict(serializer=PickleSerializer())))
    SPRUNG.clear()
    try:
        restored = restore(data, OtherWorkflow())
    except ContextSerdeError:
        pass
    else:
        # Accepted as data: whatever it holds, it is not the unpickled object.
        assert await restored.store.get("trap", default=None) != "sprung"
    assert SPRUNG == []
    # The opt-in serializer does unpickle: the trap is real.
    restore(data, OtherWorkflow(), serializer=PickleSerializer())
    assert SPRUNG == ["unpickled"]


# ------------------------------------------------------------------ field values


@pytest.mark.parametrize("bad", ["not-an-int", {"x": 1}, [1, 2], None, "1e999"])
def test_a_state_field_of_the_wrong_type_is_refused(bad: Any) -> None:
    data = base_snapshot()
    paths = find(data, lambda v: v == INT_SENTINEL and not isinstance(v, bool))
    assert paths, "could not find the state's count field"
    for path in paths:
        data = replace_at(data, path, Replacement(bad))
    refused(data)


@pytest.mark.parametrize("bad", ["heavy", None, {"n": 1}, 1.5])
def test_an_event_field_of_the_wrong_type_is_refused(bad: Any) -> None:
    data = base_snapshot()
    # SnapAskEvent.weight is 7 or 9 in the queued / in-flight events, 1 in the state.
    weight_paths = [
        path
        for path, value in walk(data)
        if path
        and path[-1] == ("item", "weight")
        and isinstance(value, int)
        and not isinstance(value, bool)
    ]
    assert weight_paths, "could not find a SnapAskEvent.weight field"
    for path in weight_paths:
        data = replace_at(data, path, Replacement(bad))
    refused(data)


BIG = 50 * 1024 * 1024


def test_a_50_mb_string_as_the_version_is_refused_quickly() -> None:
    data = base_snapshot()
    data["format_version"] = "9" * BIG
    refused(data)


def test_a_50_mb_string_as_an_int_field_is_refused_quickly() -> None:
    data = base_snapshot()
    paths = find(data, lambda v: v == INT_SENTINEL and not isinstance(v, bool))
    assert paths
    big = "7" * BIG
    for path in paths:
        data = replace_at(data, path, Replacement(big))
    refused(data)


def test_a_50_mb_string_as_an_event_type_name_is_refused_quickly() -> None:
    data = base_snapshot()
    big = "x." * (BIG // 2)
    for path in _event_name_paths(data):
        data = replace_at(data, path, Replacement(big))
    refused(data)


def test_a_50_mb_string_as_a_top_level_section_is_refused_quickly() -> None:
    data = base_snapshot()
    big = "z" * BIG
    refused_each({key: {**data, key: big} for key in data})


def test_a_50_mb_string_in_a_string_field_is_refused_or_kept_in_bounded_time() -> None:
    data = base_snapshot()
    paths = find(data, lambda v: v == STR_SENTINEL)
    assert paths
    big = "s" * BIG
    for path in paths:
        data = replace_at(data, path, Replacement(big))
    try:
        restore(data)
    except ContextSerdeError as exc:
        assert len(str(exc)) < 10_000


DEPTH = 100_000


def test_deeply_nested_json_in_a_state_value_is_refused() -> None:
    data = base_snapshot()
    paths = find(data, lambda v: v == NEST_SENTINEL)
    assert paths
    for path in paths:
        data = replace_at(data, path, deep_list(DEPTH))
    refused(data)


def test_deeply_nested_json_as_a_section_is_refused() -> None:
    data = base_snapshot()
    nested = deep_list(DEPTH).obj
    refused_each({key: {**data, key: nested} for key in data})
    extra = dict(data)
    extra["unexpected"] = nested
    try:
        restore(extra)
    except ContextSerdeError:
        pass


def test_deeply_nested_dicts_in_an_event_field_are_refused() -> None:
    data = base_snapshot()
    nested: dict[str, Any] = {}
    for _ in range(DEPTH):
        nested = {"k": nested}
    text = '{"k":' * DEPTH + "{}" + "}" * DEPTH
    paths = [p for p, _ in walk(data) if p and p[-1] == ("item", "weight")]
    assert paths
    for path in paths:
        data = replace_at(data, path, Replacement(nested, text))
    refused(data)


# -------------------------------------------------------------- mutation fuzzing


EVIL_STRINGS = [
    "os.system",
    "builtins.exec",
    "subprocess.Popen",
    "__main__.Anything",
    "",
    "\x00",
    "{",
    "[[[",
    "null",
    "-1",
    "1e309",
]

json_leaves = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
    | st.sampled_from(EVIL_STRINGS)
)
json_values = st.recursive(
    json_leaves,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


@st.composite
def mutated_snapshots(draw: st.DrawFn) -> Any:
    data: Any = base_snapshot()
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        paths = [path for path, _ in walk(data)]
        path = draw(st.sampled_from(paths))
        kind = draw(st.sampled_from(["replace", "delete", "wrap", "stringify", "truncate"]))
        if not path:
            kind = "replace"
        current: Any = data
        for step_kind, key in path:
            current = json.loads(current) if step_kind == "json" else current[key]
        if kind == "delete":
            data = replace_at(data, path, None)
        elif kind == "replace":
            data = replace_at(data, path, Replacement(draw(json_values)))
        elif kind == "wrap":
            data = replace_at(data, path, Replacement([current]))
        elif kind == "stringify":
            data = replace_at(data, path, Replacement(json.dumps(current)))
        elif isinstance(current, (list, dict, str)) and len(current) > 0:
            cut = draw(st.integers(min_value=0, max_value=len(current) - 1))
            if isinstance(current, dict):
                shortened: Any = dict(list(current.items())[:cut])
            else:
                shortened = current[:cut]
            data = replace_at(data, path, Replacement(shortened))
    return data


@settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(mutated_snapshots())
def test_mutated_snapshots_give_a_context_or_a_context_serde_error(data: Any) -> None:
    original = copy.deepcopy(data)
    try:
        restored = restore(data)
    except ContextSerdeError as exc:
        assert str(exc)
        return
    assert data == original, "from_dict modified its input"
    # Whatever was accepted must be a consistent context: it can be snapshotted again.
    try:
        again = restored.to_dict()
    except ContextSerdeError:
        return
    json.dumps(again)


def test_from_dict_does_not_modify_its_input() -> None:
    data = base_snapshot()
    original = copy.deepcopy(data)
    restore(data)
    assert data == original
    assert JsonSerializer is not None  # the default serializer is importable by name
