"""The RunStore contract: one suite, run against MemoryStore, SqliteStore and PostgresStore."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import pytest

from _damage import TRUNCATED, damage
from workflows.errors import (
    CorruptRecordError,
    InputRequestAlreadyAnsweredError,
    InputRequestNotFoundError,
    InvalidResponseError,
    RunAlreadyExistsError,
    RunNotFoundError,
    StaleRunError,
    StoreError,
)
from workflows.stores import (
    Commit,
    InboundEvent,
    InputRequest,
    InputRequestClosedError,
    RunFinishedError,
    RunRecord,
    RunStore,
)

from .conftest import StoreFactory

_ids = itertools.count(1)

PERSON_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "age": {"type": "integer"},
        "approved": {"type": "boolean"},
        "choice": {"enum": ["yes", "no"]},
        "tags": {"type": "array", "items": {"type": "string"}},
        "address": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "zip": {"type": "string"}},
            "required": ["city"],
        },
    },
    "required": ["name"],
}


def new_run(run_id: str | None = None, **changes: Any) -> RunRecord:
    run_id = run_id or f"run-{next(_ids)}"
    fields: dict[str, Any] = {
        "run_id": run_id,
        "workflow": "flow",
        "status": "running",
        "snapshot": {"state": {"n": 0}, "queue": []},
        "version": 0,
        "created_at": 1000.0 + next(_ids),
        "updated_at": 1000.0,
    }
    fields.update(changes)
    return RunRecord(**fields)


def new_request(run_id: str, request_id: str | None = None, **changes: Any) -> InputRequest:
    fields: dict[str, Any] = {
        "request_id": request_id or f"req-{next(_ids)}",
        "run_id": run_id,
        "workflow": "flow",
        "event_type": "InputRequiredEvent",
        "payload": {"prefix": "Name?"},
        "response_schema": PERSON_SCHEMA,
        "created_at": 2000.0 + next(_ids),
    }
    fields.update(changes)
    return InputRequest(**fields)


async def paused_run(store: Any, **request_changes: Any) -> tuple[RunRecord, InputRequest]:
    """A run that committed one input request and now waits (version 1)."""
    run = new_run()
    await store.create_run(run)
    request = new_request(run.run_id, **request_changes)
    await store.commit(
        Commit(
            run.run_id,
            0,
            {"waiting": True},
            "waiting",
            new_requests=[request],
            stream=[(1, "InputRequiredEvent", {"prefix": "Name?"})],
        )
    )
    return run, request


# -- lifecycle ---------------------------------------------------------------------------


async def test_store_implements_the_protocol(store: Any) -> None:
    assert isinstance(store, RunStore)
    assert store.is_open


async def test_use_before_open_is_refused(make_store: StoreFactory) -> None:
    store = make_store()
    with pytest.raises(StoreError, match="not open"):
        await store.get_run("x")


async def test_use_after_close_is_refused(make_store: StoreFactory) -> None:
    store = make_store()
    await store.open()
    await store.close()
    await store.close()  # closing twice is fine
    with pytest.raises(StoreError, match="store is closed"):
        await store.list_runs()
    with pytest.raises(StoreError, match="store is closed"):
        await store.commit(Commit("x", 0, {}, "running"))
    with pytest.raises(StoreError, match="closed"):
        await store.open()


async def test_open_twice_is_refused(store: Any) -> None:
    with pytest.raises(StoreError, match="already open"):
        await store.open()


# -- runs --------------------------------------------------------------------------------


async def test_create_and_get_run_round_trip(store: Any) -> None:
    run = new_run(
        snapshot={"a": [1, 2.5, "x", None, True], "nested": {"k": {"deep": "é✓"}}},
        result={"ok": 1},
        error=None,
        owner=None,
    )
    await store.create_run(run)
    assert await store.get_run(run.run_id) == run


async def test_create_existing_run_is_refused(store: Any) -> None:
    run = new_run()
    await store.create_run(run)
    with pytest.raises(RunAlreadyExistsError) as info:
        await store.create_run(new_run(run.run_id, workflow="other"))
    assert info.value.run_id == run.run_id
    assert (await store.get_run(run.run_id)).workflow == "flow"


async def test_get_unknown_run(store: Any) -> None:
    with pytest.raises(RunNotFoundError, match="nope"):
        await store.get_run("nope")


async def test_values_that_are_not_json_safe_are_refused(store: Any) -> None:
    with pytest.raises(StoreError, match="snapshot of run 'bad' is not JSON-safe"):
        await store.create_run(new_run("bad", snapshot={"x": object()}))
    with pytest.raises(RunNotFoundError):
        await store.get_run("bad")
    with pytest.raises(ValueError, match="unknown run status"):
        await store.create_run(new_run("bad", status="sleeping"))


async def test_list_runs_newest_first_with_filters_and_paging(store: Any) -> None:
    runs = [
        new_run(
            f"r{i}",
            created_at=100.0 + i,
            workflow="a" if i % 2 else "b",
            status="waiting" if i < 3 else "running",
        )
        for i in range(6)
    ]
    for run in runs:
        await store.create_run(run)
    listed = [r.run_id for r in await store.list_runs()]
    assert listed == ["r5", "r4", "r3", "r2", "r1", "r0"]
    assert [r.run_id for r in await store.list_runs(workflow="a")] == ["r5", "r3", "r1"]
    assert [r.run_id for r in await store.list_runs(status="waiting")] == ["r2", "r1", "r0"]
    assert [r.run_id for r in await store.list_runs(status="waiting", workflow="b")] == ["r2", "r0"]
    assert [r.run_id for r in await store.list_runs(limit=2, offset=1)] == ["r4", "r3"]
    assert await store.list_runs(status="completed") == []
    assert (await store.list_runs(limit=1))[0] == runs[5]


async def test_delete_run_removes_everything_of_it(store: Any) -> None:
    run, request = await paused_run(store)
    await store.add_inbound(run.run_id, {"x": 1})
    other, other_request = await paused_run(store)
    await store.delete_run(run.run_id)
    with pytest.raises(RunNotFoundError):
        await store.get_run(run.run_id)
    with pytest.raises(RunNotFoundError):
        await store.read_stream(run.run_id)
    with pytest.raises(InputRequestNotFoundError):
        await store.get_request(request.request_id)
    assert await store.runs_with_work() == []
    assert (await store.get_request(other_request.request_id)).status == "pending"
    assert len(await store.read_stream(other.run_id)) == 1
    with pytest.raises(RunNotFoundError):
        await store.delete_run(run.run_id)


# -- commits -----------------------------------------------------------------------------


async def test_commit_replaces_the_snapshot_and_bumps_the_version(make_store: StoreFactory) -> None:
    async with make_store(clock=lambda: 5000.0) as store:
        run = new_run()
        await store.create_run(run)
        version = await store.commit(
            Commit(run.run_id, 0, {"step": 1}, "running", stream=[(1, "A", {"v": 1})])
        )
        assert version == 1
        version = await store.commit(
            Commit(run.run_id, 1, {"step": 2}, "completed", result=[1, "two"])
        )
        assert version == 2
        stored = await store.get_run(run.run_id)
        assert stored.snapshot == {"step": 2}
        assert stored.status == "completed"
        assert stored.result == [1, "two"]
        assert stored.version == 2
        assert stored.updated_at == 5000.0
        assert stored.created_at == run.created_at


async def test_commit_records_an_error(store: Any) -> None:
    run = new_run()
    await store.create_run(run)
    await store.commit(Commit(run.run_id, 0, {}, "failed", error={"type": "ValueError"}))
    stored = await store.get_run(run.run_id)
    assert (stored.status, stored.error, stored.is_finished) == (
        "failed",
        {"type": "ValueError"},
        True,
    )


async def test_stale_commit_is_refused_and_writes_nothing(store: Any) -> None:
    run = new_run()
    await store.create_run(run)
    await store.commit(Commit(run.run_id, 0, {"first": True}, "running"))
    request = new_request(run.run_id)
    with pytest.raises(StaleRunError, match="stored version 1, expected 0") as info:
        await store.commit(
            Commit(
                run.run_id,
                0,
                {"second": True},
                "waiting",
                stream=[(1, "A", {})],
                new_requests=[request],
            )
        )
    assert info.value.run_id == run.run_id
    stored = await store.get_run(run.run_id)
    assert (stored.snapshot, stored.version, stored.status) == ({"first": True}, 1, "running")
    assert await store.read_stream(run.run_id) == []
    with pytest.raises(InputRequestNotFoundError):
        await store.get_request(request.request_id)


async def test_commit_to_an_unknown_run(store: Any) -> None:
    with pytest.raises(RunNotFoundError):
        await store.commit(Commit("ghost", 0, {}, "running"))


async def test_commit_to_a_finished_run_is_refused(store: Any) -> None:
    run = new_run()
    await store.create_run(run)
    await store.commit(Commit(run.run_id, 0, {}, "cancelled"))
    with pytest.raises(RunFinishedError, match="cancelled"):
        await store.commit(Commit(run.run_id, 1, {}, "running"))


async def test_failed_commit_midway_leaves_nothing_written(store: Any) -> None:
    """A duplicate stream seq is found after other parts were written: all roll back."""
    run, request = await paused_run(store)
    answer = await store.add_inbound(run.run_id, {"hello": 1})
    later = new_request(run.run_id)
    with pytest.raises(StoreError, match="seq"):
        await store.commit(
            Commit(
                run.run_id,
                1,
                {"changed": True},
                "running",
                stream=[(2, "B", {}), (1, "Again", {})],
                new_requests=[later],
                closed_requests=[(request.request_id, "expired")],
                consumed_inbound=[answer.id],
            )
        )
    stored = await store.get_run(run.run_id)
    assert (stored.snapshot, stored.version, stored.status) == ({"waiting": True}, 1, "waiting")
    assert [e.seq for e in await store.read_stream(run.run_id)] == [1]
    assert (await store.get_request(request.request_id)).status == "pending"
    with pytest.raises(InputRequestNotFoundError):
        await store.get_request(later.request_id)
    assert await store.list_inbound(run.run_id) == [answer]
    # the same commit, fixed, goes through
    await store.commit(
        Commit(
            run.run_id,
            1,
            {"changed": True},
            "running",
            stream=[(2, "B", {})],
            new_requests=[later],
            closed_requests=[(request.request_id, "expired")],
            consumed_inbound=[answer.id],
        )
    )
    assert (await store.get_request(request.request_id)).status == "expired"
    assert await store.list_inbound(run.run_id) == []


async def test_commit_refuses_a_seq_repeated_inside_it(store: Any) -> None:
    run = new_run()
    await store.create_run(run)
    with pytest.raises(StoreError, match="seq"):
        await store.commit(
            Commit(run.run_id, 0, {}, "running", stream=[(1, "A", {}), (1, "B", {})])
        )
    assert (await store.get_run(run.run_id)).version == 0


async def test_commit_refuses_an_existing_request_id(store: Any) -> None:
    run, request = await paused_run(store)
    with pytest.raises(StoreError, match=request.request_id):
        await store.commit(Commit(run.run_id, 1, {"x": 1}, "waiting", new_requests=[request]))
    assert (await store.get_run(run.run_id)).version == 1


async def test_commit_refuses_a_request_of_another_run(store: Any) -> None:
    run = new_run()
    await store.create_run(run)
    with pytest.raises(StoreError, match="belongs to run"):
        await store.commit(
            Commit(run.run_id, 0, {}, "waiting", new_requests=[new_request("other-run")])
        )


async def test_closing_a_request_answered_meanwhile_is_stale(store: Any) -> None:
    run, request = await paused_run(store)
    await store.answer_request(request.request_id, {"name": "Ann"})
    with pytest.raises(StaleRunError, match="already answered"):
        await store.commit(
            Commit(
                run.run_id,
                1,
                {"timed out": True},
                "running",
                closed_requests=[(request.request_id, "expired")],
            )
        )
    assert (await store.get_run(run.run_id)).version == 1
    # closing it as answered (the engine consumed the answer) is fine
    inbound = await store.list_inbound(run.run_id)
    await store.commit(
        Commit(
            run.run_id,
            1,
            {},
            "running",
            closed_requests=[(request.request_id, "answered")],
            consumed_inbound=[inbound[0].id],
        )
    )
    assert (await store.get_request(request.request_id)).response == {"name": "Ann"}


async def test_closing_an_unknown_request_is_stale(store: Any) -> None:
    run = new_run()
    await store.create_run(run)
    with pytest.raises(StaleRunError, match="nope"):
        await store.commit(
            Commit(run.run_id, 0, {}, "running", closed_requests=[("nope", "cancelled")])
        )


async def test_consuming_an_unknown_inbound_event_is_stale(store: Any) -> None:
    run = new_run()
    await store.create_run(run)
    event = await store.add_inbound(run.run_id, {"a": 1})
    with pytest.raises(StaleRunError, match="consumed"):
        await store.commit(
            Commit(run.run_id, 0, {"x": 1}, "running", consumed_inbound=[event.id, event.id + 999])
        )
    assert await store.list_inbound(run.run_id) == [event]
    assert (await store.get_run(run.run_id)).snapshot == run.snapshot


async def test_finishing_a_run_cancels_its_requests_and_drops_its_inbound(store: Any) -> None:
    run, request = await paused_run(store)
    await store.add_inbound(run.run_id, {"late": True})
    await store.claim_run(run.run_id, "worker-1", 30)
    await store.commit(Commit(run.run_id, 2, {}, "completed", result="done"))
    assert (await store.get_request(request.request_id)).status == "cancelled"
    assert await store.list_requests() == []
    assert await store.list_inbound(run.run_id) == []
    stored = await store.get_run(run.run_id)
    assert (stored.owner, stored.lease_expires_at) == (None, None)
    with pytest.raises(InputRequestClosedError, match="cancelled"):
        await store.answer_request(request.request_id, {"name": "Bo"})


# -- stream log --------------------------------------------------------------------------


async def test_read_stream_in_seq_order_after_a_position(store: Any) -> None:
    run = new_run()
    await store.create_run(run)
    assert await store.read_stream(run.run_id) == []
    await store.commit(
        Commit(run.run_id, 0, {}, "running", stream=[(1, "A", {"i": 1}), (2, "B", {"i": 2})])
    )
    await store.commit(
        Commit(run.run_id, 1, {}, "running", stream=[(4, "D", {"i": 4}), (3, "C", {"i": 3})])
    )
    entries = await store.read_stream(run.run_id)
    assert [(e.seq, e.event_type, e.payload) for e in entries] == [
        (1, "A", {"i": 1}),
        (2, "B", {"i": 2}),
        (3, "C", {"i": 3}),
        (4, "D", {"i": 4}),
    ]
    assert all(e.run_id == run.run_id for e in entries)
    assert [e.seq for e in await store.read_stream(run.run_id, after=2)] == [3, 4]
    assert [e.seq for e in await store.read_stream(run.run_id, after=1, limit=2)] == [2, 3]
    assert await store.read_stream(run.run_id, after=4) == []
    with pytest.raises(RunNotFoundError):
        await store.read_stream("ghost")


# -- inbound events ----------------------------------------------------------------------


async def test_add_and_list_inbound(store: Any) -> None:
    run = new_run(status="waiting")
    await store.create_run(run)
    first = await store.add_inbound(run.run_id, {"type": "HumanResponseEvent", "response": "hi"})
    second = await store.add_inbound(run.run_id, {"n": 2})
    assert isinstance(first, InboundEvent)
    assert first.id < second.id
    assert (first.run_id, first.payload, first.request_id) == (
        run.run_id,
        {"type": "HumanResponseEvent", "response": "hi"},
        None,
    )
    assert await store.list_inbound(run.run_id) == [first, second]
    await store.commit(Commit(run.run_id, 0, {}, "running", consumed_inbound=[first.id]))
    assert await store.list_inbound(run.run_id) == [second]


async def test_add_inbound_to_unknown_or_finished_run(store: Any) -> None:
    with pytest.raises(RunNotFoundError):
        await store.add_inbound("ghost", {})
    with pytest.raises(RunNotFoundError):
        await store.list_inbound("ghost")
    run = new_run()
    await store.create_run(run)
    await store.commit(Commit(run.run_id, 0, {}, "completed"))
    with pytest.raises(RunFinishedError, match="completed") as info:
        await store.add_inbound(run.run_id, {})
    assert info.value.run_id == run.run_id


# -- input requests ----------------------------------------------------------------------


async def test_get_and_list_requests(store: Any) -> None:
    run_a, req_a = await paused_run(store, workflow="alpha", created_at=10.0, deadline=99.5)
    run_b, req_b = await paused_run(store, created_at=20.0)
    stored = await store.get_request(req_a.request_id)
    assert stored == req_a
    assert stored.response_schema == PERSON_SCHEMA
    assert (stored.status, stored.response, stored.answered_at) == ("pending", None, None)
    assert [r.request_id for r in await store.list_requests()] == [
        req_b.request_id,
        req_a.request_id,
    ]
    assert await store.list_requests(workflow="alpha") == [req_a]
    assert await store.list_requests(run_id=run_b.run_id) == [req_b]
    assert await store.list_requests(limit=1, offset=1) == [req_a]
    await store.answer_request(req_b.request_id, {"name": "x"})
    assert await store.list_requests() == [req_a]
    assert [r.request_id for r in await store.list_requests(status="answered")] == [
        req_b.request_id
    ]
    assert len(await store.list_requests(status=None)) == 2
    with pytest.raises(InputRequestNotFoundError, match="ghost"):
        await store.get_request("ghost")


async def test_schemas_shared_by_requests_stay_distinct(store: Any) -> None:
    run = new_run()
    await store.create_run(run)
    one = new_request(run.run_id, response_schema={"type": "object"})
    two = new_request(run.run_id, response_schema={"type": "object"})
    three = new_request(run.run_id, response_schema={})
    await store.commit(Commit(run.run_id, 0, {}, "waiting", new_requests=[one, two, three]))
    assert (await store.get_request(two.request_id)).response_schema == {"type": "object"}
    assert (await store.get_request(three.request_id)).response_schema == {}


async def test_answer_request_delivers_the_response_to_its_run(store: Any) -> None:
    run, request = await paused_run(store)
    event = await store.answer_request(
        request.request_id, {"name": "Ann", "age": 41}, idempotency_key="k1"
    )
    assert isinstance(event, InboundEvent)
    assert event.run_id == run.run_id
    assert event.request_id == request.request_id
    assert event.payload == {
        "request_id": request.request_id,
        "response": {"name": "Ann", "age": 41},
    }
    assert await store.list_inbound(run.run_id) == [event]
    answered = await store.get_request(request.request_id)
    assert answered.status == "answered"
    assert answered.response == {"name": "Ann", "age": 41}
    assert answered.idempotency_key == "k1"
    assert answered.answered_at is not None
    assert await store.runs_with_work() == [run.run_id]


async def test_repeated_answers(store: Any) -> None:
    run, request = await paused_run(store)
    rid = request.request_id
    assert await store.answer_request(rid, {"name": "Ann"}, idempotency_key="k") is not None
    # same idempotency key: a no-op, even with another body
    assert await store.answer_request(rid, {"name": "Other"}, idempotency_key="k") is None
    # the identical response: a no-op
    assert await store.answer_request(rid, {"name": "Ann"}) is None
    # anything else: refused
    with pytest.raises(InputRequestAlreadyAnsweredError, match=rid):
        await store.answer_request(rid, {"name": "Bob"})
    with pytest.raises(InputRequestAlreadyAnsweredError):
        await store.answer_request(rid, {"name": "Bob"}, idempotency_key="other-key")
    assert len(await store.list_inbound(run.run_id)) == 1
    assert (await store.get_request(rid)).response == {"name": "Ann"}


async def test_an_answer_given_the_request_as_known_is_decided_by_the_store(
    store: Any,
) -> None:
    """``known`` (the request as the caller last saw it) may spare a read; a stale copy
    changes no outcome: the store's write decides whether the request is still pending."""
    run, request = await paused_run(store)
    rid = request.request_id
    stale = await store.get_request(rid)  # pending, as the caller saw it
    assert await store.answer_request(rid, {"name": "Ann"}, known=stale) is not None
    assert await store.answer_request(rid, {"name": "Ann"}, known=stale) is None  # repeat
    with pytest.raises(InputRequestAlreadyAnsweredError, match=rid):
        await store.answer_request(rid, {"name": "Bob"}, known=stale)
    with pytest.raises(InputRequestAlreadyAnsweredError):  # the stored status comes first
        await store.answer_request(rid, {"wrong": 1}, known=stale)
    other_run, other = await paused_run(store)
    with pytest.raises(InvalidResponseError):  # the schema still decides what fits
        await store.answer_request(other.request_id, {"wrong": 1}, known=other)
    with pytest.raises(InputRequestClosedError):  # a copy of another request is not used
        await store.commit(
            Commit(
                other_run.run_id, 1, {}, "running", closed_requests=[(other.request_id, "expired")]
            )
        )
        await store.answer_request(other.request_id, {"name": "late"}, known=stale)
    assert len(await store.list_inbound(run.run_id)) == 1
    assert await store.list_inbound(other_run.run_id) == []


async def test_answer_unknown_or_closed_request(store: Any) -> None:
    with pytest.raises(InputRequestNotFoundError):
        await store.answer_request("ghost", {})
    run, request = await paused_run(store)
    await store.commit(
        Commit(run.run_id, 1, {}, "running", closed_requests=[(request.request_id, "expired")])
    )
    with pytest.raises(InputRequestClosedError, match="expired"):
        await store.answer_request(request.request_id, {"name": "late"})
    assert await store.list_inbound(run.run_id) == []


async def test_concurrent_answers_exactly_one_wins(
    make_store: StoreFactory, store_kind: str
) -> None:
    async with make_store() as store, make_store() as other:
        if store_kind == "memory":
            other = store  # memory stores share nothing across instances
        run, request = await paused_run(store)

        async def answer(i: int) -> Any:
            target = store if i % 2 else other
            try:
                return await target.answer_request(request.request_id, {"name": f"n{i}"})
            except InputRequestAlreadyAnsweredError as exc:
                return exc

        outcomes = await asyncio.gather(*(answer(i) for i in range(24)))
        winners = [o for o in outcomes if isinstance(o, InboundEvent)]
        losers = [o for o in outcomes if isinstance(o, InputRequestAlreadyAnsweredError)]
        assert len(winners) == 1
        assert len(losers) == 23
        inbound = await store.list_inbound(run.run_id)
        assert inbound == winners
        assert (await store.get_request(request.request_id)).response == winners[0].payload[
            "response"
        ]


@pytest.mark.parametrize(
    ("response", "message"),
    [
        ({}, "field 'name' is required"),
        ({"name": 3}, "field 'name': expected string, got integer"),
        ({"name": "a", "age": "old"}, "field 'age': expected integer, got string"),
        ({"name": "a", "age": True}, "field 'age': expected integer, got boolean"),
        ({"name": "a", "approved": "yes"}, "field 'approved': expected boolean"),
        ({"name": "a", "choice": "maybe"}, "field 'choice': must be one of"),
        ({"name": "a", "tags": ["x", 2]}, r"field 'tags\[1\]': expected string"),
        ({"name": "a", "tags": "x"}, "field 'tags': expected array"),
        ({"name": "a", "address": {"zip": "1"}}, "field 'address.city' is required"),
        ({"name": "a", "address": {"city": 7}}, "field 'address.city': expected string"),
        ({"name": "a", "address": "Paris"}, "field 'address': expected object"),
        (["not", "an", "object"], "expected a JSON object"),
    ],
)
async def test_invalid_responses_are_refused_naming_the_field(
    store: Any, response: Any, message: str
) -> None:
    run, request = await paused_run(store)
    with pytest.raises(InvalidResponseError, match=message) as info:
        await store.answer_request(request.request_id, response)
    assert info.value.request_id == request.request_id
    assert (await store.get_request(request.request_id)).status == "pending"
    assert await store.list_inbound(run.run_id) == []


async def test_valid_responses_of_every_supported_kind(store: Any) -> None:
    schema = {
        "type": "object",
        "properties": {
            "n": {"type": "number", "minimum": 0},
            "opt": {"anyOf": [{"type": "string"}, {"type": "null"}]},
            "ref": {"$ref": "#/$defs/Inner"},
        },
        "$defs": {"Inner": {"type": "object", "required": ["x"]}},
        "additionalProperties": False,
    }
    run, request = await paused_run(store, response_schema=schema)
    with pytest.raises(InvalidResponseError, match="field 'extra' is not allowed"):
        await store.answer_request(request.request_id, {"extra": 1})
    with pytest.raises(InvalidResponseError, match="field 'ref.x' is required"):
        await store.answer_request(request.request_id, {"ref": {}})
    with pytest.raises(InvalidResponseError, match="field 'n': must be >= 0"):
        await store.answer_request(request.request_id, {"n": -1})
    event = await store.answer_request(
        request.request_id, {"n": 2.5, "opt": None, "ref": {"x": [1]}}
    )
    assert event is not None


# -- recovery and leases -----------------------------------------------------------------


async def test_runs_with_work(store: Any) -> None:
    running = new_run(status="running")
    idle = new_run(status="waiting")
    poked = new_run(status="waiting")
    done = new_run(status="running")
    for run in (running, idle, poked, done):
        await store.create_run(run)
    await store.add_inbound(poked.run_id, {"go": True})
    await store.commit(Commit(done.run_id, 0, {}, "completed"))
    assert sorted(await store.runs_with_work()) == sorted([running.run_id, poked.run_id])
    await store.claim_run(running.run_id, "w1", 60, now=100.0)
    assert await store.runs_with_work(now=120.0) == [poked.run_id]
    assert sorted(await store.runs_with_work(now=161.0)) == sorted([running.run_id, poked.run_id])


async def test_due_requests(store: Any) -> None:
    _, late = await paused_run(store, deadline=50.0)
    _, later = await paused_run(store, deadline=40.0)
    _, never = await paused_run(store, deadline=None)
    _, future = await paused_run(store, deadline=500.0)
    due = await store.due_requests(100.0)
    assert [r.request_id for r in due] == [later.request_id, late.request_id]
    await store.answer_request(later.request_id, {"name": "x"})
    assert [r.request_id for r in await store.due_requests(100.0)] == [late.request_id]
    assert len(await store.due_requests(1000.0)) == 2


async def test_leases(store: Any) -> None:
    run = new_run()
    await store.create_run(run)
    claimed = await store.claim_run(run.run_id, "w1", 30, now=100.0)
    assert (claimed.owner, claimed.lease_expires_at, claimed.version) == ("w1", 130.0, 1)
    assert await store.renew_lease(run.run_id, "w1", 30, now=120.0) == 150.0
    renewed = await store.get_run(run.run_id)
    assert (renewed.lease_expires_at, renewed.version) == (150.0, 1)
    with pytest.raises(StaleRunError, match="w1"):
        await store.claim_run(run.run_id, "w2", 30, now=140.0)
    taken = await store.claim_run(run.run_id, "w2", 30, now=151.0)
    assert (taken.owner, taken.version) == ("w2", 2)
    # the previous owner's commit, prepared at version 1, is fenced off
    with pytest.raises(StaleRunError):
        await store.commit(Commit(run.run_id, 1, {}, "running"))
    # and its heartbeat does not take the lease back
    with pytest.raises(StaleRunError, match="taken over by 'w2'"):
        await store.renew_lease(run.run_id, "w1", 30, now=152.0)
    await store.commit(Commit(run.run_id, 2, {}, "waiting"))
    await store.release_run(run.run_id, "w1")  # not the owner: nothing happens
    assert (await store.get_run(run.run_id)).owner == "w2"
    await store.release_run(run.run_id, "w2")
    released = await store.get_run(run.run_id)
    assert (released.owner, released.lease_expires_at, released.version) == (None, None, 3)
    # a released run is not taken back by a heartbeat either: only by a claim
    with pytest.raises(StaleRunError, match="no owner"):
        await store.renew_lease(run.run_id, "w2", 30, now=153.0)
    with pytest.raises(RunNotFoundError):
        await store.claim_run("ghost", "w1", 30)
    with pytest.raises(RunNotFoundError):
        await store.renew_lease("ghost", "w1", 30)
    await store.commit(Commit(run.run_id, 3, {}, "timed_out"))
    with pytest.raises(RunFinishedError):
        await store.claim_run(run.run_id, "w1", 30)
    with pytest.raises(RunFinishedError):
        await store.renew_lease(run.run_id, "w1", 30)


async def test_every_claim_starts_a_new_lease_epoch(store: Any) -> None:
    """Claiming again, even by the same owner, fences whatever executed the run before:
    a second process that was started with the same worker id cannot commit under the
    first one's version."""
    run = new_run()
    await store.create_run(run)
    first = await store.claim_run(run.run_id, "w1", 30, now=100.0)
    again = await store.claim_run(run.run_id, "w1", 30, now=101.0)
    assert again.version == first.version + 1
    with pytest.raises(StaleRunError):
        await store.commit(Commit(run.run_id, first.version, {}, "running"))
    assert await store.commit(Commit(run.run_id, again.version, {}, "running")) == (
        again.version + 1
    )


async def test_an_expired_lease_nobody_took_can_be_renewed(store: Any) -> None:
    """A frozen worker whose lease ran out while nobody claimed the run may go on: no one
    else executed it, and a claim would bump the version anyway."""
    run = new_run()
    await store.create_run(run)
    claimed = await store.claim_run(run.run_id, "w1", 3, now=100.0)
    assert await store.renew_lease(run.run_id, "w1", 3, now=200.0) == 203.0
    assert await store.commit(Commit(run.run_id, claimed.version, {}, "running")) == (
        claimed.version + 1
    )


# -- persistence -------------------------------------------------------------------------


async def test_a_reopened_store_sees_everything(make_store: StoreFactory, store_kind: str) -> None:
    if store_kind == "memory":
        pytest.skip("a MemoryStore keeps nothing once closed")
    async with make_store() as store:
        run, request = await paused_run(store)
        other, _ = await paused_run(store)
        await store.answer_request(request.request_id, {"name": "Ann"}, idempotency_key="k")
        await store.add_inbound(other.run_id, {"poke": 1})
        before = (
            await store.list_runs(),
            await store.list_requests(status=None),
            await store.read_stream(run.run_id),
            await store.list_inbound(run.run_id),
            await store.list_inbound(other.run_id),
        )
    async with make_store() as reopened:
        after = (
            await reopened.list_runs(),
            await reopened.list_requests(status=None),
            await reopened.read_stream(run.run_id),
            await reopened.list_inbound(run.run_id),
            await reopened.list_inbound(other.run_id),
        )
        assert after == before
        assert (
            await reopened.answer_request(request.request_id, {"name": "x"}, idempotency_key="k")
            is None
        )
        # ids keep growing after a reopen
        newer = await reopened.add_inbound(other.run_id, {"poke": 2})
        assert newer.id > max(e.id for e in before[4])


async def test_commit_refuses_repeats_inside_it(store: Any) -> None:
    run, request = await paused_run(store)
    event = await store.add_inbound(run.run_id, {"a": 1})
    with pytest.raises(StoreError, match="twice"):
        await store.commit(Commit(run.run_id, 1, {}, "running", consumed_inbound=[event.id] * 2))
    with pytest.raises(StoreError, match="twice"):
        await store.commit(
            Commit(
                run.run_id,
                1,
                {},
                "running",
                closed_requests=[(request.request_id, "expired")] * 2,
            )
        )
    assert await store.list_inbound(run.run_id) == [event]
    assert (await store.get_run(run.run_id)).version == 1


async def test_a_commit_may_close_a_request_it_adds(store: Any) -> None:
    run = new_run()
    await store.create_run(run)
    request = new_request(run.run_id)
    await store.commit(
        Commit(
            run.run_id,
            0,
            {},
            "running",
            new_requests=[request],
            closed_requests=[(request.request_id, "answered")],
        )
    )
    assert (await store.get_request(request.request_id)).status == "answered"


# -- damaged rows and quarantine ------------------------------------------------------------


async def test_a_damaged_run_is_listed_marked_and_named(store: Any) -> None:
    intact = new_run()
    torn = new_run()
    not_object = new_run()
    done = new_run()
    failed = new_run()
    for run in (intact, torn, not_object, done, failed):
        await store.create_run(run)
    await store.commit(Commit(done.run_id, 0, {}, "completed", result={"total": 3}))
    await store.commit(Commit(failed.run_id, 0, {}, "failed", error={"type": "E", "message": "x"}))
    await damage(store, "wf_runs", "snapshot", TRUNCATED, torn.run_id)
    await damage(store, "wf_runs", "snapshot", "[1, 2]", not_object.run_id)
    await damage(store, "wf_runs", "result", '{"total": ', done.run_id)
    await damage(store, "wf_runs", "error", '{"type": "E", "mess', failed.run_id)

    listed = {run.run_id: run for run in await store.list_runs()}
    assert len(listed) == 5
    assert listed[intact.run_id] == await store.get_run(intact.run_id)
    assert listed[intact.run_id].corrupt is None
    for run_id, column, status in (
        (torn.run_id, "snapshot", "running"),
        (not_object.run_id, "snapshot", "running"),
        (done.run_id, "result", "completed"),
        (failed.run_id, "error", "failed"),
    ):
        record = listed[run_id]
        assert record.status == status  # everything readable is as stored
        assert record.corrupt is not None and list(record.corrupt) == [column]
        assert record.error is not None and record.error["type"] == "CorruptRecordError"
        assert run_id in record.error["message"] and column in record.error["message"]
        assert record.result is None  # damaged, or never set: the runs with one are done
        if column == "snapshot":
            assert record.snapshot == {}
        # The run's own read names the damage instead of a decoder's error.
        with pytest.raises(CorruptRecordError) as caught:
            await store.get_run(run_id)
        assert (caught.value.run_id, caught.value.column, caught.value.key) == (
            run_id,
            column,
            None,
        )
        assert caught.value.record == record
        assert isinstance(caught.value, StoreError)
    assert "not valid JSON" in listed[torn.run_id].corrupt["snapshot"]  # type: ignore[index]
    assert listed[not_object.run_id].corrupt == {"snapshot": "expected a JSON object, got an array"}
    # Filters and paging still work around the damaged rows.
    assert [r.run_id for r in await store.list_runs(status="completed")] == [done.run_id]
    assert len(await store.list_runs(limit=2, offset=3)) == 2


async def test_a_value_nested_too_deeply_to_decode_is_damage(store: Any) -> None:
    run = new_run()
    await store.create_run(run)
    await damage(store, "wf_runs", "snapshot", "[" * 100_000 + "]" * 100_000, run.run_id)
    with pytest.raises(CorruptRecordError, match="nested too deeply"):
        await store.get_run(run.run_id)
    [listed] = await store.list_runs()
    assert listed.corrupt == {"snapshot": "nested too deeply to decode"}


async def test_damaged_requests_are_listed_marked(store: Any) -> None:
    run, shown = await paused_run(store, deadline=50.0)
    _, unanswerable = await paused_run(store, deadline=60.0)
    _, intact = await paused_run(store)
    await damage(store, "wf_requests", "payload", '{"prefix": "Na', shown.request_id)
    await damage(store, "wf_requests", "response_schema", '{"type": "obj', unanswerable.request_id)

    listed = {r.request_id: r for r in await store.list_requests()}
    assert len(listed) == 3 and listed[intact.request_id].corrupt is None
    damaged = listed[shown.request_id]
    assert damaged.payload == {} and damaged.response_schema == PERSON_SCHEMA
    assert damaged.corrupt is not None and list(damaged.corrupt) == ["payload"]
    assert "not valid JSON" in damaged.corrupt["payload"]
    assert listed[unanswerable.request_id].corrupt is not None
    assert list(listed[unanswerable.request_id].corrupt or {}) == ["response_schema"]
    assert await store.get_request(shown.request_id) == damaged
    due = await store.due_requests(100.0)
    assert [r.request_id for r in due] == [shown.request_id, unanswerable.request_id]
    assert due[0] == damaged

    # A damaged prompt does not stop an answer; a damaged schema does, naming it.
    event = await store.answer_request(shown.request_id, {"name": "Ann"})
    assert event is not None and event.payload["response"] == {"name": "Ann"}
    with pytest.raises(CorruptRecordError) as caught:
        await store.answer_request(unanswerable.request_id, {"name": "Bob"})
    assert caught.value.column == "response_schema"
    assert caught.value.key == f"input request {unanswerable.request_id!r}"
    assert (await store.get_request(unanswerable.request_id)).status == "pending"
    assert [e.request_id for e in await store.list_inbound(run.run_id)] == [shown.request_id]


async def test_a_damaged_answer_is_named_when_answered_again(store: Any) -> None:
    _, request = await paused_run(store)
    await store.answer_request(request.request_id, {"name": "Ann"})
    await damage(store, "wf_requests", "response", '{"name": "A', request.request_id)
    [listed] = await store.list_requests(status="answered")
    assert listed.response is None and list(listed.corrupt or {}) == ["response"]
    with pytest.raises(CorruptRecordError, match="stored response of input request"):
        await store.answer_request(request.request_id, {"name": "Ann"})


async def test_a_damaged_inbound_event_is_named_and_kept(store: Any) -> None:
    run = new_run()
    await store.create_run(run)
    good = await store.add_inbound(run.run_id, {"event": 1})
    bad = await store.add_inbound(run.run_id, {"event": 2})
    await damage(store, "wf_inbound", "payload", '{"event": ', bad.id)
    with pytest.raises(CorruptRecordError) as caught:
        await store.list_inbound(run.run_id)
    assert (caught.value.run_id, caught.value.column) == (run.run_id, "payload")
    assert caught.value.key == f"inbound event {bad.id}"
    # Consuming the good one leaves the damaged one where it is.
    await store.commit(Commit(run.run_id, 0, {}, "running", consumed_inbound=[good.id]))
    with pytest.raises(CorruptRecordError):
        await store.list_inbound(run.run_id)
    assert await store.runs_with_work() == [run.run_id]


async def test_a_damaged_stream_entry_is_returned_marked(store: Any) -> None:
    run = new_run()
    await store.create_run(run)
    stream = [(seq, "Progress", {"n": seq}) for seq in (1, 2, 3)]
    await store.commit(Commit(run.run_id, 0, {}, "running", stream=stream))
    await damage(store, "wf_stream", "payload", '{"n": ', (run.run_id, 2))
    entries = await store.read_stream(run.run_id)
    assert [(e.seq, e.payload, e.corrupt is None) for e in entries] == [
        (1, {"n": 1}, True),
        (2, {}, False),
        (3, {"n": 3}, True),
    ]
    assert entries[1].event_type == "Progress"
    assert "not valid JSON" in (entries[1].corrupt or {})["payload"]
    assert [e.seq for e in await store.read_stream(run.run_id, after=1, limit=1)] == [2]


async def test_claiming_a_damaged_run_takes_it_and_names_the_damage(store: Any) -> None:
    run = new_run()
    await store.create_run(run)
    await damage(store, "wf_runs", "snapshot", TRUNCATED, run.run_id)
    with pytest.raises(CorruptRecordError) as caught:
        await store.claim_run(run.run_id, "w1", 30, now=100.0)
    record = caught.value.record
    assert (record.owner, record.version, record.status) == ("w1", 1, "running")
    # The lease is held like any other: renewed, fenced, released without decoding.
    assert await store.renew_lease(run.run_id, "w1", 30, now=110.0) == 140.0
    with pytest.raises(StaleRunError, match="w1"):
        await store.claim_run(run.run_id, "w2", 30, now=120.0)
    await store.release_run(run.run_id, "w1")
    [listed] = await store.list_runs()
    assert (listed.owner, listed.version) == (None, 1)


async def test_quarantine_sets_a_run_aside_as_it_was_found(store: Any) -> None:
    run, request = await paused_run(store)  # version 1, one pending request, stream 1
    inbound = await store.add_inbound(run.run_id, {"event": "not deliverable"})
    await store.claim_run(run.run_id, "w1", 30, now=100.0)  # version 2
    await damage(store, "wf_runs", "snapshot", TRUNCATED, run.run_id)
    error = {"type": "ContextSerdeError", "message": f"run {run.run_id!r} is poisoned"}

    with pytest.raises(StaleRunError, match="expected 1"):
        await store.quarantine_run(run.run_id, 1, error)  # fenced like a commit
    with pytest.raises(RunNotFoundError):
        await store.quarantine_run("ghost", 0, error)
    with pytest.raises(StoreError, match="must be a dict"):
        await store.quarantine_run(run.run_id, 2, ["not", "a", "dict"])  # type: ignore[arg-type]
    assert await store.quarantine_run(run.run_id, 2, error) == 3

    [listed] = await store.list_runs(status="quarantined")
    assert (listed.run_id, listed.status, listed.version) == (run.run_id, "quarantined", 3)
    assert listed.error == error and listed.is_finished
    assert (listed.owner, listed.lease_expires_at) == (None, None)
    assert listed.corrupt is not None and "snapshot" in listed.corrupt  # kept as stored
    with pytest.raises(CorruptRecordError):
        await store.get_run(run.run_id)
    assert (await store.get_request(request.request_id)).status == "cancelled"
    assert await store.list_inbound(run.run_id) == [inbound]  # kept for inspection
    assert [e.seq for e in await store.read_stream(run.run_id)] == [1]
    assert run.run_id not in await store.runs_with_work()

    # Finished: nothing more is accepted, not even a second quarantine.
    with pytest.raises(RunFinishedError, match="quarantined"):
        await store.quarantine_run(run.run_id, 3, error)
    with pytest.raises(RunFinishedError):
        await store.commit(Commit(run.run_id, 3, {}, "running"))
    with pytest.raises(RunFinishedError):
        await store.add_inbound(run.run_id, {"more": 1})
    with pytest.raises(RunFinishedError):
        await store.claim_run(run.run_id, "w1", 30)
    with pytest.raises(InputRequestClosedError):
        await store.answer_request(request.request_id, {"name": "Ann"})
    await store.delete_run(run.run_id)
    assert await store.list_runs() == []


async def test_a_finished_run_is_not_quarantined(store: Any) -> None:
    run = new_run()
    await store.create_run(run)
    await store.commit(Commit(run.run_id, 0, {}, "completed", result=1))
    with pytest.raises(RunFinishedError, match="completed"):
        await store.quarantine_run(run.run_id, 1, {"type": "T", "message": "m"})
    assert (await store.get_run(run.run_id)).status == "completed"


# -- group commit (commit_many) ----------------------------------------------------------


async def test_commit_many_writes_every_commit_of_the_batch(store: Any) -> None:
    runs = []
    for _ in range(3):
        run, request = await paused_run(store)
        answer = await store.answer_request(request.request_id, {"name": "Ann"})
        assert answer is not None
        runs.append((run, request, answer))
    fresh = new_run()
    await store.create_run(fresh)
    asks = [new_request(fresh.run_id), new_request(fresh.run_id)]
    commits = [
        Commit(
            run.run_id,
            1,
            {"done": i},
            "completed",
            result=i,
            stream=[(2, "StopEvent", {"result": i})],
            consumed_inbound=[answer.id],
        )
        for i, (run, _, answer) in enumerate(runs)
    ]
    commits.append(
        Commit(
            fresh.run_id,
            0,
            {"asks": 2},
            "waiting",
            stream=[(1, "InputRequiredEvent", {}), (2, "InputRequiredEvent", {})],
            new_requests=asks,  # both with PERSON_SCHEMA: interned once
        )
    )
    assert await store.commit_many(commits) == [2, 2, 2, 1]
    for i, (run, request, _) in enumerate(runs):
        stored = await store.get_run(run.run_id)
        assert (stored.status, stored.result, stored.version) == ("completed", i, 2)
        assert [e.seq for e in await store.read_stream(run.run_id)] == [1, 2]
        assert await store.list_inbound(run.run_id) == []
        assert (await store.get_request(request.request_id)).status == "answered"
    pending = await store.list_requests(run_id=fresh.run_id)
    assert sorted(r.request_id for r in pending) == sorted(r.request_id for r in asks)
    assert all(r.response_schema == PERSON_SCHEMA for r in pending)
    assert await store.commit_many([]) == []


async def test_commit_many_refused_commits_fail_alone(store: Any) -> None:
    """Every way a commit can be refused, in one batch between good commits: each bad
    one gets its own error and writes nothing; the good ones are all written."""
    good = []
    for _ in range(2):
        run = new_run()
        await store.create_run(run)
        good.append(run)
    stale = new_run()
    await store.create_run(stale)
    await store.commit(Commit(stale.run_id, 0, {"first": True}, "running"))
    finished = new_run()
    await store.create_run(finished)
    await store.commit(Commit(finished.run_id, 0, {}, "completed", result=1))
    midway, midway_request = await paused_run(store)  # duplicate seq after other writes
    midway_answer = await store.add_inbound(midway.run_id, {"hello": 1})
    taken, taken_request = await paused_run(store)  # adds a request id that exists
    closing, closing_request = await paused_run(store)  # closes an answered request
    await store.answer_request(closing_request.request_id, {"name": "Bo"})
    consuming = new_run()  # consumes an inbound event that is gone
    await store.create_run(consuming)
    unencodable = new_run()
    await store.create_run(unencodable)
    stale_request = new_request(stale.run_id)
    midway_later = new_request(midway.run_id)

    outcomes = await store.commit_many(
        [
            Commit(good[0].run_id, 0, {"good": 0}, "running", stream=[(1, "A", {})]),
            Commit(
                stale.run_id,
                0,
                {"second": True},
                "waiting",
                stream=[(1, "A", {})],
                new_requests=[stale_request],
            ),
            Commit("ghost", 0, {}, "running"),
            Commit(finished.run_id, 1, {}, "running"),
            Commit(
                midway.run_id,
                1,
                {"changed": True},
                "running",
                stream=[(2, "B", {}), (1, "Again", {})],
                new_requests=[midway_later],
                closed_requests=[(midway_request.request_id, "expired")],
                consumed_inbound=[midway_answer.id],
            ),
            Commit(taken.run_id, 1, {"x": 1}, "waiting", new_requests=[taken_request]),
            Commit(
                closing.run_id,
                1,
                {},
                "running",
                closed_requests=[(closing_request.request_id, "expired")],
            ),
            Commit(consuming.run_id, 0, {}, "running", consumed_inbound=[987_654]),
            Commit(unencodable.run_id, 0, {"x": object()}, "running"),
            Commit(good[1].run_id, 0, {"good": 1}, "running", stream=[(1, "A", {})]),
        ]
    )
    assert outcomes[0] == 1 and outcomes[-1] == 1
    kinds = [type(outcome) for outcome in outcomes[1:-1]]
    assert kinds[:3] == [StaleRunError, RunNotFoundError, RunFinishedError]
    assert all(issubclass(kind, StoreError) for kind in kinds), outcomes
    assert "seq" in str(outcomes[4])
    assert taken_request.request_id in str(outcomes[5])
    assert isinstance(outcomes[6], StaleRunError) and isinstance(outcomes[7], StaleRunError)
    assert "not JSON-safe" in str(outcomes[8])

    for i, run in enumerate(good):
        stored = await store.get_run(run.run_id)
        assert (stored.snapshot, stored.version) == ({"good": i}, 1)
        assert [e.seq for e in await store.read_stream(run.run_id)] == [1]
    stored = await store.get_run(stale.run_id)
    assert (stored.snapshot, stored.version) == ({"first": True}, 1)
    assert await store.read_stream(stale.run_id) == []
    with pytest.raises(InputRequestNotFoundError):
        await store.get_request(stale_request.request_id)
    stored = await store.get_run(midway.run_id)
    assert (stored.snapshot, stored.version) == ({"waiting": True}, 1)
    assert [e.seq for e in await store.read_stream(midway.run_id)] == [1]
    assert (await store.get_request(midway_request.request_id)).status == "pending"
    with pytest.raises(InputRequestNotFoundError):
        await store.get_request(midway_later.request_id)
    assert await store.list_inbound(midway.run_id) == [midway_answer]
    for run in (taken, closing):
        assert (await store.get_run(run.run_id)).version == 1
    assert (await store.get_request(closing_request.request_id)).status == "answered"
    for run in (consuming, unencodable):
        assert (await store.get_run(run.run_id)).version == 0


async def test_commit_many_two_commits_of_one_run_apply_in_order(store: Any) -> None:
    run = new_run()
    await store.create_run(run)
    outcomes = await store.commit_many(
        [
            Commit(run.run_id, 0, {"n": 1}, "running", stream=[(1, "A", {})]),
            Commit(run.run_id, 1, {"n": 2}, "running", stream=[(2, "B", {})]),
            Commit(run.run_id, 1, {"n": "stale"}, "running", stream=[(3, "C", {})]),
        ]
    )
    assert outcomes[:2] == [1, 2]
    assert isinstance(outcomes[2], StaleRunError)
    stored = await store.get_run(run.run_id)
    assert (stored.snapshot, stored.version) == ({"n": 2}, 2)
    assert [e.seq for e in await store.read_stream(run.run_id)] == [1, 2]


async def test_commit_many_malformed_and_unstorable_commits_fail_alone(store: Any) -> None:
    runs = [new_run() for _ in range(3)]
    for run in runs:
        await store.create_run(run)
    outcomes = await store.commit_many(
        [
            Commit(runs[0].run_id, 0, {}, "sleeping"),  # type: ignore[arg-type]
            # A lone surrogate: not encodable as UTF-8 by the SQL stores.
            Commit(runs[1].run_id, 0, {"text": "\ud800"}, "running"),
            Commit(runs[2].run_id, 0, {"ok": True}, "running"),
        ]
    )
    assert isinstance(outcomes[0], ValueError)
    assert isinstance(outcomes[1], (Exception, int))
    assert outcomes[2] == 1
    assert (await store.get_run(runs[0].run_id)).version == 0
    assert (await store.get_run(runs[2].run_id)).snapshot == {"ok": True}


async def test_concurrent_batches_over_the_same_runs_never_deadlock(store: Any) -> None:
    """Two writers commit the same runs in opposite orders (one of them fenced off):
    every run takes exactly one of the two commits, and neither call fails."""
    runs = [new_run() for _ in range(12)]
    for run in runs:
        await store.create_run(run)
    first = [Commit(r.run_id, 0, {"by": "a"}, "running") for r in runs]
    second = [Commit(r.run_id, 0, {"by": "b"}, "running") for r in reversed(runs)]
    a, b = await asyncio.wait_for(
        asyncio.gather(store.commit_many(first), store.commit_many(second)), 30
    )
    b = b[::-1]  # in the order of ``runs``
    for run, won_a, won_b in zip(runs, a, b):
        assert [won_a == 1, won_b == 1].count(True) == 1, (won_a, won_b)
        loser = won_b if won_a == 1 else won_a
        assert isinstance(loser, StaleRunError)
        stored = await store.get_run(run.run_id)
        assert stored.version == 1
        assert stored.snapshot == {"by": "a" if won_a == 1 else "b"}


async def test_commit_many_on_a_closed_store_is_refused(make_store: StoreFactory) -> None:
    store = make_store()
    await store.open()
    await store.close()
    with pytest.raises(StoreError, match="closed"):
        await store.commit_many([Commit("x", 0, {}, "running")])


# -- leases in bulk (renew_leases, claim_runs) -------------------------------------------


async def test_renew_leases_renews_what_the_owner_holds_and_names_the_rest(store: Any) -> None:
    held = [new_run() for _ in range(3)]
    for run in held:
        await store.create_run(run)
        await store.claim_run(run.run_id, "w1", 30, now=100.0)
    other = new_run()
    await store.create_run(other)
    await store.claim_run(other.run_id, "w2", 30, now=100.0)
    released = new_run()
    await store.create_run(released)
    await store.claim_run(released.run_id, "w1", 30, now=100.0)
    await store.release_run(released.run_id, "w1")
    finished = new_run()
    await store.create_run(finished)
    claimed = await store.claim_run(finished.run_id, "w1", 30, now=100.0)
    await store.commit(Commit(finished.run_id, claimed.version, {}, "completed", result=1))
    versions = {r.run_id: (await store.get_run(r.run_id)).version for r in held}

    ids = [held[0].run_id, other.run_id, "ghost", held[1].run_id, released.run_id]
    ids += [finished.run_id, held[2].run_id]
    lost = await store.renew_leases(ids, "w1", 60, now=120.0)
    assert lost == [other.run_id, "ghost", released.run_id, finished.run_id]
    for run in held:
        stored = await store.get_run(run.run_id)
        assert (stored.owner, stored.lease_expires_at) == ("w1", 180.0)
        assert stored.version == versions[run.run_id]  # renewing is no new epoch
    assert (await store.get_run(other.run_id)).lease_expires_at == 130.0
    assert (await store.get_run(released.run_id)).owner is None
    assert await store.renew_leases([], "w1", 60) == []
    for run_id in lost[:1] + lost[2:]:  # renew_lease tells why
        with pytest.raises((StaleRunError, RunFinishedError)):
            await store.renew_lease(run_id, "w1", 60, now=121.0)


async def test_claim_runs_takes_free_runs_with_work_each_in_a_new_epoch(store: Any) -> None:
    free = [new_run(created_at=10.0 + i) for i in range(3)]
    for run in free:
        await store.create_run(run)
    expired = new_run()
    await store.create_run(expired)
    await store.claim_run(expired.run_id, "w2", 10, now=100.0)  # expires at 110
    held = new_run()
    await store.create_run(held)
    await store.claim_run(held.run_id, "w2", 60, now=100.0)  # valid until 160
    mine = new_run()
    await store.create_run(mine)
    await store.claim_run(mine.run_id, "w1", 60, now=100.0)  # ours, executed: excluded
    ours = new_run()
    await store.create_run(ours)
    await store.claim_run(ours.run_id, "w1", 60, now=100.0)  # ours, not executed: taken
    idle = new_run(status="waiting")  # nothing to do: no claim
    await store.create_run(idle)
    answered, request = await paused_run(store)  # waiting, but with an answer to take
    await store.answer_request(request.request_id, {"name": "Ann"})
    done = new_run()
    await store.create_run(done)
    await store.commit(Commit(done.run_id, 0, {}, "completed", result=1))
    before = {r.run_id: r.version for r in await store.list_runs(limit=100)}

    claimed = await store.claim_runs("w1", 100, limit=100, exclude=[mine.run_id], now=120.0)
    expected = {r.run_id for r in free} | {expired.run_id, answered.run_id, ours.run_id}
    assert {r.run_id for r in claimed} == expected
    for record in claimed:
        assert (record.owner, record.lease_expires_at) == ("w1", 220.0)
        assert record.version == before[record.run_id] + 1
        assert record == await store.get_run(record.run_id)
    assert (await store.get_run(held.run_id)).owner == "w2"
    assert (await store.get_run(mine.run_id)).version == before[mine.run_id]
    assert await store.claim_runs("w3", 30, limit=100, now=121.0) == []  # all held
    # Leases that ran out (w1's own on ``mine`` too) are another worker's to take.
    later = await store.claim_runs("w3", 30, limit=100, now=161.0)
    assert {r.run_id for r in later} == {mine.run_id, held.run_id}
    assert await store.claim_runs("w1", 30, limit=0) == []


async def test_claim_runs_with_a_limit_and_among_given_ids(store: Any) -> None:
    runs = [new_run() for _ in range(5)]
    for run in runs:
        await store.create_run(run)
    idle = new_run(status="waiting")  # no work, but named: taken, like claim_run would
    await store.create_run(idle)
    done = new_run()
    await store.create_run(done)
    await store.commit(Commit(done.run_id, 0, {}, "completed", result=1))
    named = await store.claim_runs("w9", 30, limit=5, run_ids=[idle.run_id, done.run_id])
    assert [r.run_id for r in named] == [idle.run_id]
    first = await store.claim_runs("w1", 30, limit=2, now=100.0)
    assert len(first) == 2
    wanted = [r.run_id for r in runs if r.run_id not in {c.run_id for c in first}]
    some = await store.claim_runs(
        "w2", 30, limit=10, run_ids=[wanted[0], first[0].run_id, "ghost"], now=100.0
    )
    assert [r.run_id for r in some] == [wanted[0]]  # the other one is w1's
    assert await store.claim_runs("w2", 30, limit=10, run_ids=[], now=100.0) == []
    rest = await store.claim_runs("w3", 30, limit=10, now=100.0)
    assert sorted(r.run_id for r in rest) == sorted(wanted[1:])


async def test_concurrent_claim_runs_share_the_runs(store: Any) -> None:
    """Workers claiming at the same moment get disjoint runs, all of them in total."""
    runs = [new_run() for _ in range(30)]
    for run in runs:
        await store.create_run(run)
    results = await asyncio.gather(
        *(store.claim_runs(f"w{i}", 30, limit=12, now=100.0) for i in range(4))
    )
    claimed = [r.run_id for batch in results for r in batch]
    assert len(claimed) == len(set(claimed))  # no run claimed twice
    assert set(claimed) == {r.run_id for r in runs}
    for batch in results:
        for record in batch:
            assert (await store.get_run(record.run_id)).owner == record.owner


async def test_claim_runs_returns_a_damaged_run_marked(store: Any) -> None:
    run = new_run()
    await store.create_run(run)
    await damage(store, "wf_runs", "snapshot", TRUNCATED, run.run_id)
    [claimed] = await store.claim_runs("w1", 30, limit=5, now=100.0)
    assert claimed.run_id == run.run_id and claimed.owner == "w1"
    assert claimed.corrupt is not None and "snapshot" in claimed.corrupt
    assert claimed.version == 1


# -- answers in bulk (answer_requests) ---------------------------------------------------


async def test_answer_requests_decides_each_answer_alone(store: Any) -> None:
    runs = [await paused_run(store) for _ in range(4)]
    (r0, q0), (r1, q1), (r2, q2), (r3, q3) = runs
    await store.answer_request(q1.request_id, {"name": "Bo"}, idempotency_key="k1")
    await store.answer_request(q2.request_id, {"name": "Cy"})
    outcomes = await store.answer_requests(
        [
            (q0.request_id, {"name": "Ann"}, "k0"),
            (q1.request_id, {"name": "other"}, "k1"),  # same key: a repeat
            (q2.request_id, {"name": "Dee"}, None),  # another answer: refused
            ("ghost", {"name": "x"}, None),
            (q3.request_id, {"age": 3}, None),  # no name: does not fit the schema
            (q3.request_id, {"name": "Eve"}, None),
            (q3.request_id, {"name": "Eve"}, None),  # the identical answer again: a repeat
        ]
    )
    assert isinstance(outcomes[0], InboundEvent)
    assert outcomes[0].payload == {"request_id": q0.request_id, "response": {"name": "Ann"}}
    assert outcomes[0].run_id == r0.run_id and outcomes[0].request_id == q0.request_id
    assert outcomes[1] is None
    assert isinstance(outcomes[2], InputRequestAlreadyAnsweredError)
    assert isinstance(outcomes[3], InputRequestNotFoundError)
    assert isinstance(outcomes[4], InvalidResponseError)
    assert isinstance(outcomes[5], InboundEvent) and outcomes[5].run_id == r3.run_id
    assert outcomes[6] is None
    assert await store.list_inbound(r0.run_id) == [outcomes[0]]
    assert await store.list_inbound(r3.run_id) == [outcomes[5]]
    stored = await store.get_request(q0.request_id)
    assert (stored.status, stored.response, stored.idempotency_key) == (
        "answered",
        {"name": "Ann"},
        "k0",
    )
    assert (await store.get_request(q2.request_id)).response == {"name": "Cy"}
    assert await store.answer_requests([]) == []


async def test_concurrent_bulk_answers_to_one_request_exactly_one_wins(store: Any) -> None:
    pairs = [await paused_run(store) for _ in range(10)]
    batches = [[(q.request_id, {"name": f"w{w}"}, None) for _, q in pairs] for w in range(3)]
    results = await asyncio.gather(*(store.answer_requests(b) for b in batches))
    for i, (run, request) in enumerate(pairs):
        wins = [r[i] for r in results if isinstance(r[i], InboundEvent)]
        assert len(wins) == 1, [r[i] for r in results]
        losers = [r[i] for r in results if not isinstance(r[i], InboundEvent)]
        assert all(isinstance(x, InputRequestAlreadyAnsweredError) for x in losers)
        assert await store.list_inbound(run.run_id) == wins


async def test_load_many_reads_what_the_single_reads_read(store: Any) -> None:
    first, asked = await paused_run(store)
    answered = await store.answer_request(asked.request_id, {"name": "Ann"})
    assert answered is not None
    sent = await store.add_inbound(first.run_id, {"event": 1})
    second = new_run()
    await store.create_run(second)
    loaded = await store.load_many([first.run_id, "no-such-run", second.run_id, first.run_id])
    assert set(loaded) == {first.run_id, second.run_id}  # an unknown id is left out
    for run_id, one in loaded.items():
        assert one.run == await store.get_run(run_id)
        assert one.inbound == await store.list_inbound(run_id)
        assert one.requests == await store.list_requests(run_id=run_id, status=None)
        assert one.damage is None
    assert [e.id for e in loaded[first.run_id].inbound] == [answered.id, sent.id]
    assert [r.status for r in loaded[first.run_id].requests] == ["answered"]
    assert loaded[second.run_id].inbound == [] and loaded[second.run_id].requests == []
    assert await store.load_many([]) == {}


async def test_load_many_returns_requests_of_every_status_newest_first(store: Any) -> None:
    run = new_run()
    await store.create_run(run)
    older, newer = new_request(run.run_id), new_request(run.run_id)
    await store.commit(Commit(run.run_id, 0, {}, "waiting", new_requests=[older, newer]))
    await store.commit(
        Commit(run.run_id, 1, {}, "waiting", closed_requests=[(older.request_id, "expired")])
    )
    [(_, one)] = (await store.load_many([run.run_id])).items()
    assert [(r.request_id, r.status) for r in one.requests] == [
        (newer.request_id, "pending"),
        (older.request_id, "expired"),
    ]


async def test_load_many_names_the_damage_of_one_run_and_loads_the_others(store: Any) -> None:
    damaged_row, damaged_inbound, intact = new_run(), new_run(), new_run()
    for run in (damaged_row, damaged_inbound, intact):
        await store.create_run(run)
    await damage(store, "wf_runs", "snapshot", TRUNCATED, damaged_row.run_id)
    bad = await store.add_inbound(damaged_inbound.run_id, {"event": 2})
    await damage(store, "wf_inbound", "payload", '{"event": ', bad.id)
    loaded = await store.load_many([damaged_row.run_id, damaged_inbound.run_id, intact.run_id])
    row = loaded[damaged_row.run_id]
    with pytest.raises(CorruptRecordError) as caught:
        await store.get_run(damaged_row.run_id)
    assert row.damage is not None and str(row.damage) == str(caught.value)
    assert row.run == caught.value.record  # marked, with the version to fence a quarantine
    assert row.run.corrupt is not None and "snapshot" in row.run.corrupt
    inbound = loaded[damaged_inbound.run_id]
    with pytest.raises(CorruptRecordError) as caught:
        await store.list_inbound(damaged_inbound.run_id)
    assert inbound.damage is not None and str(inbound.damage) == str(caught.value)
    assert inbound.damage.key == f"inbound event {bad.id}"
    assert inbound.run == await store.get_run(damaged_inbound.run_id)
    assert loaded[intact.run_id].damage is None


async def test_load_many_of_many_runs(store: Any) -> None:
    runs = [new_run() for _ in range(700)]  # more than one SQL chunk of ids
    for run in runs:
        await store.create_run(run)
    loaded = await store.load_many([run.run_id for run in runs])
    assert sorted(loaded) == sorted(run.run_id for run in runs)


async def test_load_many_on_a_closed_store_is_refused(make_store: StoreFactory) -> None:
    store = make_store()
    await store.open()
    await store.close()
    with pytest.raises(StoreError, match="closed"):
        await store.load_many(["run-1"])


# -- the audit trail: who answered, and each run's start input ----------------------------

START_INPUT = {"$event": "app.Expense", "data": {"amount": 12.5, "who": "Ada", "tags": ["a"]}}


async def test_a_run_keeps_its_start_input(store: Any) -> None:
    with_input = new_run(input=START_INPUT)
    without = new_run()
    await store.create_run(with_input)
    await store.create_run(without)
    assert (await store.get_run(with_input.run_id)).input == START_INPUT
    assert (await store.get_run(without.run_id)).input is None
    listed = {r.run_id: r.input for r in await store.list_runs()}
    assert listed == {with_input.run_id: START_INPUT, without.run_id: None}
    await store.commit(Commit(with_input.run_id, 0, {"n": 1}, "completed", result=3))
    assert (await store.get_run(with_input.run_id)).input == START_INPUT  # commits keep it
    with pytest.raises(StoreError):
        await store.create_run(new_run(input={"bad": object()}))


async def test_an_answer_records_who_gave_it(store: Any) -> None:
    run, request = await paused_run(store)
    _, anonymous = await paused_run(store)
    await store.answer_request(request.request_id, {"name": "Ann"}, answered_by="ada@example")
    await store.answer_request(anonymous.request_id, {"name": "Bo"})
    stored = await store.get_request(request.request_id)
    assert (stored.status, stored.answered_by) == ("answered", "ada@example")
    assert stored.answered_at is not None
    assert (await store.get_request(anonymous.request_id)).answered_by is None
    # A repeat of the accepted answer changes nothing, whoever repeats it.
    repeat = await store.answer_request(request.request_id, {"name": "Ann"}, answered_by="eve")
    assert repeat is None
    assert (await store.get_request(request.request_id)).answered_by == "ada@example"
    [listed] = await store.list_requests(run_id=run.run_id, status="answered")
    assert listed.answered_by == "ada@example"
    with pytest.raises(StoreError, match="answered_by"):
        await store.answer_request(request.request_id, {"name": "Ann"}, answered_by=7)


async def test_bulk_answers_record_who_gave_each(store: Any) -> None:
    (_, q0), (_, q1), (_, q2) = [await paused_run(store) for _ in range(3)]
    outcomes = await store.answer_requests(
        [
            (q0.request_id, {"name": "Ann"}, None, "ada"),
            (q1.request_id, {"name": "Bo"}, "k1"),  # three parts: nobody named
            (q2.request_id, {"name": "Cy"}, None, "grace"),
        ]
    )
    assert all(isinstance(outcome, InboundEvent) for outcome in outcomes)
    who = [(await store.get_request(q.request_id)).answered_by for q in (q0, q1, q2)]
    assert who == ["ada", None, "grace"]


@pytest.mark.parametrize("many", [False, True], ids=["commit", "commit_many"])
async def test_a_commit_that_closes_a_request_as_answered_records_who(
    store: Any, many: bool
) -> None:
    run, request = await paused_run(store)
    other = new_request(run.run_id)
    await store.commit(Commit(run.run_id, 1, {}, "waiting", new_requests=[other]))
    closing = Commit(
        run.run_id,
        2,
        {},
        "running",
        closed_requests=[(request.request_id, "answered"), (other.request_id, "answered")],
        answered_by={request.request_id: "lin"},
    )
    assert (await store.commit_many([closing]) if many else [await store.commit(closing)]) == [3]
    stored = await store.get_request(request.request_id)
    assert (stored.status, stored.answered_by) == ("answered", "lin")
    assert stored.answered_at is not None
    assert (await store.get_request(other.request_id)).answered_by is None


async def test_a_commit_keeps_who_answered_through_the_inbox(store: Any) -> None:
    run, request = await paused_run(store)
    await store.answer_request(request.request_id, {"name": "Ann"}, answered_by="ada")
    await store.commit(
        Commit(
            run.run_id,
            1,
            {},
            "running",
            closed_requests=[(request.request_id, "answered")],
            answered_by={request.request_id: "someone else"},
            consumed_inbound=[e.id for e in await store.list_inbound(run.run_id)],
        )
    )
    assert (await store.get_request(request.request_id)).answered_by == "ada"


async def test_a_commit_names_who_answered_only_requests_it_closes_as_answered(
    store: Any,
) -> None:
    run, request = await paused_run(store)
    for closed in ([], [(request.request_id, "expired")]):
        with pytest.raises(StoreError, match="does not close as answered"):
            await store.commit(
                Commit(
                    run.run_id,
                    1,
                    {},
                    "running",
                    closed_requests=closed,
                    answered_by={request.request_id: "x"},
                )
            )
    assert (await store.get_request(request.request_id)).status == "pending"
    assert (await store.get_run(run.run_id)).version == 1
