"""The context state store (SPEC §3, Context: ``ctx.store``)."""

from __future__ import annotations

import asyncio

import pytest
from pydantic import BaseModel, Field

from workflows import Context, Workflow, step
from workflows.events import Event, StartEvent, StopEvent


class Profile(BaseModel):
    city: str = "paris"
    tags: list[str] = Field(default_factory=list)


class AppState(BaseModel):
    counter: int = 0
    name: str = "anon"
    profile: Profile = Field(default_factory=Profile)


class Bump(Event):
    i: int


class Bumped(Event):
    i: int


class Boom(Exception):
    pass


# --- untyped store: dot paths ---------------------------------------------------------


class DotPaths(Workflow):
    @step
    async def write(self, ctx: Context, ev: StartEvent) -> StopEvent:
        await ctx.store.set("a.b.c", 1)
        await ctx.store.set("a.b.d", [1, 2])
        await ctx.store.set("top", "value")
        return StopEvent(
            result={
                "leaf": await ctx.store.get("a.b.c"),
                "branch": await ctx.store.get("a.b"),
                "root": await ctx.store.get("a"),
                "top": await ctx.store.get("top"),
            }
        )


async def test_set_and_get_with_dot_paths() -> None:
    result = await DotPaths().run()
    assert result == {
        "leaf": 1,
        "branch": {"c": 1, "d": [1, 2]},
        "root": {"b": {"c": 1, "d": [1, 2]}},
        "top": "value",
    }


class MissingPaths(Workflow):
    @step
    async def probe(self, ctx: Context, ev: StartEvent) -> StopEvent:
        await ctx.store.set("a.b", 1)
        outcomes: dict[str, object] = {}
        for path in ("missing", "a.missing", "a.b.c.d", "x.y"):
            try:
                await ctx.store.get(path)
            except ValueError:
                outcomes[path] = "ValueError"
            else:
                outcomes[path] = "no error"
        outcomes["default"] = await ctx.store.get("missing", default=5)
        outcomes["default_none"] = await ctx.store.get("a.missing", default=None)
        return StopEvent(result=outcomes)


async def test_missing_path_without_default_raises_value_error() -> None:
    assert await MissingPaths().run() == {
        "missing": "ValueError",
        "a.missing": "ValueError",
        "a.b.c.d": "ValueError",
        "x.y": "ValueError",
        "default": 5,
        "default_none": None,
    }


class Writer(Event):
    pass


class SharedAcrossSteps(Workflow):
    @step
    async def first(self, ctx: Context, ev: StartEvent) -> Writer:
        await ctx.store.set("log", ["first"])
        return Writer()

    @step
    async def second(self, ctx: Context, ev: Writer) -> StopEvent:
        log = await ctx.store.get("log")
        await ctx.store.set("log", [*log, "second"])
        return StopEvent(result="done")


async def test_state_is_shared_between_steps_and_readable_from_the_handler() -> None:
    handler = SharedAcrossSteps().run()
    assert await handler == "done"
    assert await handler.ctx.store.get("log") == ["first", "second"]


class ClearUntyped(Workflow):
    @step
    async def go(self, ctx: Context, ev: StartEvent) -> StopEvent:
        await ctx.store.set("x", 1)
        before = await ctx.store.get("x")
        await ctx.store.clear()
        return StopEvent(result=(before, await ctx.store.get("x", default="gone")))


async def test_clear_empties_an_untyped_store() -> None:
    assert await ClearUntyped().run() == (1, "gone")


# --- typed state: Context[Model] ------------------------------------------------------


class TypedState(Workflow):
    @step
    async def go(self, ctx: Context[AppState], ev: StartEvent) -> StopEvent:
        initial = await ctx.store.get_state()
        assert isinstance(initial, AppState)
        defaults = initial.model_dump()

        await ctx.store.set_state(AppState(counter=5, name="zoe"))
        after_set = (await ctx.store.get("counter"), await ctx.store.get("name"))

        await ctx.store.set("profile.city", "rome")
        state = await ctx.store.get_state()
        nested = (state.profile.city, await ctx.store.get("profile.city"))

        return StopEvent(result=(defaults, after_set, nested))


async def test_typed_state_built_from_model_defaults() -> None:
    defaults, after_set, nested = await TypedState().run()
    assert defaults == {"counter": 0, "name": "anon", "profile": {"city": "paris", "tags": []}}
    assert after_set == (5, "zoe")
    assert nested == ("rome", "rome")


class TypedStateSeenOutside(Workflow):
    @step
    async def go(self, ctx: Context[AppState], ev: StartEvent) -> StopEvent:
        async with ctx.store.edit_state() as state:
            state.name = ev.name
            state.profile.tags.append("edited")
        return StopEvent(result="ok")


async def test_typed_state_is_readable_from_the_handler_after_the_run() -> None:
    handler = TypedStateSeenOutside().run(name="kim")
    assert await handler == "ok"
    state = await handler.ctx.store.get_state()
    assert isinstance(state, AppState)
    assert state.name == "kim"
    assert state.profile.tags == ["edited"]


class ClearTyped(Workflow):
    @step
    async def go(self, ctx: Context[AppState], ev: StartEvent) -> StopEvent:
        await ctx.store.set("counter", 9)
        await ctx.store.set("profile.city", "oslo")
        await ctx.store.clear()
        state = await ctx.store.get_state()
        return StopEvent(result=state)


async def test_clear_resets_typed_state_to_its_defaults() -> None:
    state = await ClearTyped().run()
    assert isinstance(state, AppState)
    assert state == AppState()


# --- edit_state: exclusive and atomic -------------------------------------------------


class ConcurrentEdits(Workflow):
    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.inside = 0
        self.max_inside = 0

    @step
    async def fan(self, ctx: Context[AppState], ev: StartEvent) -> Bump | None:
        for i in range(8):
            ctx.send_event(Bump(i=i))
        return None

    @step(num_workers=8)
    async def bump(self, ctx: Context[AppState], ev: Bump) -> Bumped:
        async with ctx.store.edit_state() as state:
            self.inside += 1
            self.max_inside = max(self.max_inside, self.inside)
            seen = state.counter
            for _ in range(3):
                await asyncio.sleep(0)  # hand the loop to the other editors
            state.counter = seen + 1
            self.inside -= 1
        return Bumped(i=ev.i)

    @step
    async def gather(self, ctx: Context[AppState], ev: Bumped) -> StopEvent | None:
        if ctx.collect_events(ev, [Bumped] * 8) is None:
            return None
        return StopEvent(result=await ctx.store.get("counter"))


async def test_edit_state_is_exclusive_and_loses_no_update() -> None:
    wf = ConcurrentEdits()
    assert await wf.run() == 8
    assert wf.max_inside == 1


class AbortedEdit(Workflow):
    @step
    async def go(self, ctx: Context[AppState], ev: StartEvent) -> StopEvent:
        await ctx.store.set("counter", 1)
        try:
            async with ctx.store.edit_state() as state:
                state.counter = 99
                state.name = "half-written"
                raise Boom
        except Boom:
            pass
        # the store is usable again after the failed edit
        async with ctx.store.edit_state() as state:
            state.profile.city = "lima"
        return StopEvent(result=await ctx.store.get_state())


async def test_edit_state_discards_changes_when_the_block_raises() -> None:
    state = await AbortedEdit().run()
    assert state.counter == 1
    assert state.name == "anon"
    assert state.profile.city == "lima"


# --- Context(wf) carries state across runs -------------------------------------------


class CountRuns(Workflow):
    @step
    async def go(self, ctx: Context[AppState], ev: StartEvent) -> StopEvent:
        async with ctx.store.edit_state() as state:
            state.counter += 1
            count = state.counter
        return StopEvent(result=count)


async def test_context_created_before_a_run_carries_state_across_runs() -> None:
    wf = CountRuns()
    ctx = Context(wf)
    assert await wf.run(ctx=ctx) == 1
    assert await wf.run(ctx=ctx) == 2
    assert await wf.run(ctx=ctx) == 3
    assert await wf.run() == 1  # a fresh context starts over
    state = await ctx.store.get_state()
    assert state.counter == 3


class CountRunsUntyped(Workflow):
    @step
    async def go(self, ctx: Context, ev: StartEvent) -> StopEvent:
        runs = await ctx.store.get("runs", default=0) + 1
        await ctx.store.set("runs", runs)
        return StopEvent(result=runs)


async def test_untyped_context_carries_state_across_runs() -> None:
    wf = CountRunsUntyped()
    ctx = Context(wf)
    assert await wf.run(ctx=ctx) == 1
    assert await wf.run(ctx=ctx) == 2


@pytest.mark.parametrize("value", [0, "", [], {}, None, False])
async def test_falsy_values_round_trip_through_the_store(value: object) -> None:
    class Roundtrip(Workflow):
        @step
        async def go(self, ctx: Context, ev: StartEvent) -> StopEvent:
            await ctx.store.set("v", value)
            return StopEvent(result=await ctx.store.get("v", default="missing"))

    assert await Roundtrip().run() == value


async def test_edit_state_rolls_back_nested_values_too() -> None:
    class Holder(Workflow):
        @step
        async def only(self, ev: StartEvent) -> StopEvent:
            return StopEvent()

    ctx = Context(Holder())
    await ctx.store.set("items", [1, 2])
    await ctx.store.set("count", 1)
    try:
        async with ctx.store.edit_state() as state:
            state["items"].append(3)  # a nested mutable value: deep-copied draft
            state["count"] = 2
            raise RuntimeError("abort the edit")
    except RuntimeError:
        pass
    assert await ctx.store.get("items") == [1, 2]
    assert await ctx.store.get("count") == 1
    async with ctx.store.edit_state() as state:
        state["count"] = 3  # only scalars: the cheap draft, same all-or-nothing rule
    assert await ctx.store.get("count") == 3


# --- what get() and get_state() hand out -----------------------------------------------


class Memory(BaseModel):
    messages: list[str] = Field(default_factory=list)

    def put(self, message: str) -> None:
        self.messages.append(message)


class Chat(Workflow):
    @step
    async def first(self, ctx: Context, ev: StartEvent) -> Bump:
        await ctx.store.set("memory", Memory())
        memory = await ctx.store.get("memory")
        memory.put("hello")  # never set back, as llama-index-core's agents do
        return Bump(i=1)

    @step
    async def second(self, ctx: Context, ev: Bump) -> StopEvent:
        memory = await ctx.store.get("memory")
        memory.put("again")
        return StopEvent(result=(await ctx.store.get("memory")).messages)


async def test_get_hands_out_the_stored_object_itself() -> None:
    # As llama-index-workflows' in-memory store does: agents keep their chat memory by
    # changing the object got from the store in place.
    assert await Chat().run() == ["hello", "again"]


class TypedCopies(Workflow):
    @step
    async def only(self, ctx: Context[AppState], ev: StartEvent) -> StopEvent:
        state = await ctx.store.get_state()
        state.counter = 5
        state.profile.tags.append("lost")
        after = await ctx.store.get_state()
        return StopEvent(result=(after.counter, after.profile.tags))


async def test_get_state_hands_out_a_copy_even_of_nested_values() -> None:
    # The reference's model_copy() is shallow (nested lists are shared); here the copy
    # is deep, so changing it never changes the store.
    assert await TypedCopies().run() == (0, [])
