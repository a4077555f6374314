"""The RunStore contract for human tasks: task fields, assignment, listing, audit, due
dates and webhook bookkeeping. Part of the contract suite (``test_contract.py``), run
against MemoryStore, SqliteStore and PostgresStore."""

from __future__ import annotations

import asyncio
import itertools
import random
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from workflows.errors import (
    InputRequestAlreadyAnsweredError,
    InputRequestNotFoundError,
    RequestAssigneeChangedError,
    StoreError,
)
from workflows.stores import (
    ANY,
    Commit,
    DeliveryAttempt,
    InboundEvent,
    InputRequest,
    InputRequestClosedError,
    RequestQuery,
    RunRecord,
    Viewer,
    visible_to,
)

from .conftest import StoreFactory

_ids = itertools.count(1)


def _request(run_id: str, **fields: Any) -> InputRequest:
    fields.setdefault("now", 2000.0 + next(_ids))
    return InputRequest.new(
        fields.pop("request_id", f"task-{next(_ids)}"),
        run_id,
        "flow",
        "Ask",
        {"q": "ok?"},
        {"type": "object"},
        **fields,
    )


async def _run_with(store: Any, *requests_fields: dict[str, Any]) -> tuple[str, list[InputRequest]]:
    """A waiting run that made one request per ``requests_fields`` (version 1)."""
    run_id = f"run-{next(_ids)}"
    await store.create_run(RunRecord.new(run_id, "flow", {}, now=1000.0))
    requests = [_request(run_id, **fields) for fields in requests_fields]
    await store.commit(Commit(run_id, 0, {}, "waiting", new_requests=requests))
    return run_id, requests


# -- task fields -------------------------------------------------------------------------


async def test_task_fields_round_trip(store: Any) -> None:
    run_id, [full, plain] = await _run_with(
        store,
        {
            "assignee": "ada",
            "candidate_users": ["bob", "cy"],
            "candidate_groups": ("finance", "légal"),
            "priority": -3,
            "due": 5000.5,
            "follow_up": 4000.25,
        },
        {},
    )
    assert full.candidate_users == ("bob", "cy")
    assert await store.get_request(full.request_id) == full
    assert await store.get_request(plain.request_id) == plain
    assert (plain.assignee, plain.candidate_users, plain.priority, plain.due) == (None, (), 0, None)
    expected = sorted([full, plain], key=lambda r: r.request_id)
    listed = await store.list_requests(run_id=run_id)
    assert sorted(listed, key=lambda r: r.request_id) == expected
    loaded = (await store.load_many([run_id]))[run_id].requests
    assert sorted(loaded, key=lambda r: r.request_id) == expected


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"assignee": ""}, "assignee"),
        ({"assignee": "a\nb"}, "control"),
        ({"candidate_users": ["ok", "x\x1fy"]}, "control"),
        ({"candidate_groups": ["", "g"]}, "candidate_groups"),
        ({"priority": True}, "priority"),
        ({"priority": 2**63}, "priority"),
        ({"due": float("nan")}, "due"),
        ({"follow_up": "tomorrow"}, "follow_up"),
    ],
)
async def test_task_fields_a_store_cannot_hold_are_refused(
    store: Any, fields: dict[str, Any], message: str
) -> None:
    run_id = f"run-{next(_ids)}"
    await store.create_run(RunRecord.new(run_id, "flow", {}))
    request = _request(run_id, **fields)
    with pytest.raises(StoreError, match=message):
        await store.commit(Commit(run_id, 0, {}, "waiting", new_requests=[request]))
    assert (await store.get_run(run_id)).version == 0


async def test_candidates_given_as_a_string_are_refused(store: Any) -> None:
    run_id = f"run-{next(_ids)}"
    await store.create_run(RunRecord.new(run_id, "flow", {}))
    request = InputRequest("q", run_id, "flow", "Ask", {}, {}, 1.0, candidate_groups="fin")  # type: ignore[arg-type]
    with pytest.raises(StoreError, match="candidate_groups"):
        await store.commit(Commit(run_id, 0, {}, "waiting", new_requests=[request]))


# -- visibility ----------------------------------------------------------------------------


_USERS = ["ada", "bob", "cy"]
_GROUPS = ["fin", "legal", "ops"]
_task_fields = st.fixed_dictionaries(
    {
        "assignee": st.none() | st.sampled_from(_USERS),
        "candidate_users": st.lists(st.sampled_from(_USERS), unique=True, max_size=2),
        "candidate_groups": st.lists(st.sampled_from(_GROUPS), unique=True, max_size=2),
    }
)
_viewers = st.builds(
    Viewer,
    st.sampled_from([*_USERS, "zed"]),
    st.frozensets(st.sampled_from([*_GROUPS, "other"]), max_size=3),
    st.booleans(),
)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    fields=st.lists(_task_fields, min_size=1, max_size=12),
    viewers=st.lists(_viewers, min_size=1, max_size=4),
)
def test_listing_for_a_viewer_agrees_with_visible_to(
    make_store: StoreFactory, fields: list[dict[str, Any]], viewers: list[Viewer]
) -> None:
    async def check() -> None:
        async with make_store() as store:
            run_id, requests = await _run_with(store, *fields)
            for viewer in viewers:
                page = await store.query_requests(
                    RequestQuery(viewer=viewer, run_id=run_id, limit=1000)
                )
                listed = {r.request_id for r in page.requests}
                assert listed == {r.request_id for r in requests if visible_to(viewer, r)}

    asyncio.run(check())


# -- listing: filters, orders, keyset paging -------------------------------------------------


def _reference(requests: list[InputRequest], sort: str) -> list[InputRequest]:
    """``requests`` in the ``sort`` order, sorted with plain multi-pass stable sorts."""
    ordered = sorted(requests, key=lambda r: r.request_id, reverse=True)
    ordered.sort(key=lambda r: r.created_at, reverse=True)
    if sort == "priority":
        ordered.sort(key=lambda r: r.priority, reverse=True)
    if sort == "due":
        ordered.sort(key=lambda r: (r.due is None, r.due or 0))
    return ordered


async def _page_through(store: Any, query: RequestQuery) -> list[InputRequest]:
    found: list[InputRequest] = []
    after = None
    for _ in range(1000):
        page = await store.query_requests(RequestQuery(**{**_fields_of(query), "after": after}))
        assert len(page.requests) <= query.limit
        found.extend(page.requests)
        if page.next_cursor is None:
            return found
        assert len(page.requests) == query.limit
        after = page.next_cursor
    raise AssertionError("paging did not end")


def _fields_of(query: RequestQuery) -> dict[str, Any]:
    return {name: getattr(query, name) for name in query.__slots__}  # type: ignore[attr-defined]


async def _many_requests(store: Any, count: int, seed: int) -> tuple[str, list[InputRequest]]:
    """Requests with many ties of created_at, priority and due."""
    rng = random.Random(seed)
    fields = [
        {
            "request_id": f"q{rng.randrange(10**6):06d}-{i}",
            "now": 3000.0 + rng.randrange(8),
            "priority": rng.choice([0, 0, 1, 5, -2]),
            "due": rng.choice([None, None, 100.0, 150.5, 200.0]),
            "assignee": rng.choice([None, None, "ada", "bob"]),
            "candidate_groups": rng.choice([[], ["fin"], ["fin", "ops"]]),
        }
        for i in range(count)
    ]
    return await _run_with(store, *fields)


@pytest.mark.parametrize("sort", ["created", "due", "priority"])
async def test_each_order_pages_through_with_cursors(store: Any, sort: str) -> None:
    run_id, requests = await _many_requests(store, 40, seed=7)
    query = RequestQuery(run_id=run_id, sort=sort, limit=7)  # type: ignore[arg-type]
    found = await _page_through(store, query)
    assert [r.request_id for r in found] == [r.request_id for r in _reference(requests, sort)]
    whole = await store.query_requests(RequestQuery(run_id=run_id, sort=sort, limit=1000))  # type: ignore[arg-type]
    assert whole.requests == found and whole.next_cursor is None


async def test_a_page_that_ends_exactly_at_the_last_request(store: Any) -> None:
    run_id, requests = await _many_requests(store, 6, seed=1)
    first = await store.query_requests(RequestQuery(run_id=run_id, limit=3))
    second = await store.query_requests(
        RequestQuery(run_id=run_id, limit=3, after=first.next_cursor)
    )
    assert len(second.requests) == 3
    if second.next_cursor is not None:  # a store may not know yet that nothing follows
        assert (
            await store.query_requests(
                RequestQuery(run_id=run_id, limit=3, after=second.next_cursor)
            )
        ).requests == []


@pytest.mark.parametrize(
    ("filters", "keep"),
    [
        ({"assignee": "ada"}, lambda r: r.assignee == "ada"),
        ({"unassigned": True}, lambda r: r.assignee is None),
        ({"groups": frozenset({"ops", "x"})}, lambda r: "ops" in r.candidate_groups),
        ({"priority_min": 1}, lambda r: r.priority >= 1),
        ({"due_before": 150.5}, lambda r: r.due is not None and r.due <= 150.5),
        ({"due_after": 150.5}, lambda r: r.due is not None and r.due >= 150.5),
        (
            {"viewer": Viewer("bob", frozenset({"fin"})), "priority_min": 0},
            lambda r: visible_to(Viewer("bob", frozenset({"fin"})), r) and r.priority >= 0,
        ),
    ],
)
async def test_query_filters(store: Any, filters: dict[str, Any], keep: Any) -> None:
    run_id, requests = await _many_requests(store, 30, seed=3)
    for sort in ("created", "due", "priority"):
        query = RequestQuery(run_id=run_id, sort=sort, limit=4, **filters)  # type: ignore[arg-type]
        found = await _page_through(store, query)
        expected = _reference([r for r in requests if keep(r)], sort)
        assert [r.request_id for r in found] == [r.request_id for r in expected]


async def test_query_by_status_workflow_and_candidate_user(store: Any) -> None:
    run_id, [a, b, c] = await _run_with(
        store, {"candidate_users": ["cy", "dan"]}, {"candidate_users": ["dan"]}, {}
    )
    await store.answer_request(c.request_id, {})
    page = await store.query_requests(RequestQuery(run_id=run_id, candidate_user="cy"))
    assert page.requests == [a]
    answered = await store.query_requests(RequestQuery(run_id=run_id, status="answered"))
    assert [r.request_id for r in answered.requests] == [c.request_id]
    every = await store.query_requests(RequestQuery(run_id=run_id, status=None))
    assert {r.request_id for r in every.requests} == {a.request_id, b.request_id, c.request_id}
    other = await store.query_requests(RequestQuery(workflow="another", status=None))
    assert other.requests == []


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 1001}, "limit"),
        ({"sort": "name"}, "sort"),
        ({"status": "open"}, "status"),
        ({"after": "not a cursor!"}, "cursor 'not a cursor!'"),
        ({"after": "WyJjcmVhdGVkIl0"}, "malformed cursor"),  # ["created"]
    ],
)
async def test_a_malformed_query_is_refused(
    store: Any, changes: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        await store.query_requests(RequestQuery(**changes))


async def test_a_cursor_of_another_order_is_refused(store: Any) -> None:
    run_id, _ = await _many_requests(store, 4, seed=2)
    page = await store.query_requests(RequestQuery(run_id=run_id, limit=2))
    assert page.next_cursor is not None
    with pytest.raises(ValueError, match="'created' order"):
        await store.query_requests(RequestQuery(sort="due", after=page.next_cursor))


# -- assignment ------------------------------------------------------------------------------


async def test_claim_unclaim_and_assign(store: Any) -> None:
    _, [request] = await _run_with(store, {"candidate_groups": ["fin"]})
    rid = request.request_id
    claimed = await store.set_assignee(rid, "ada", actor="ada", action="claimed", expected=None)
    assert claimed.assignee == "ada"
    assert await store.get_request(rid) == claimed
    with pytest.raises(RequestAssigneeChangedError) as info:
        await store.set_assignee(rid, "bob", actor="bob", action="claimed", expected=None)
    assert (info.value.request_id, info.value.assignee) == (rid, "ada")
    released = await store.set_assignee(
        rid, None, actor="ada", action="unclaimed", expected="ada", now=7000.0
    )
    assert released.assignee is None
    assigned = await store.set_assignee(rid, "bob", actor="root", action="assigned")
    assert assigned.assignee == "bob"
    again = await store.set_assignee(rid, "cy", actor="root", action="assigned", expected=ANY)
    assert again.assignee == "cy"
    audit = await store.request_audit(rid)
    assert [(e.action, e.actor, e.detail) for e in audit] == [
        ("created", None, {"candidate_groups": ["fin"]}),
        ("claimed", "ada", {"assignee": "ada", "previous": None}),
        ("unclaimed", "ada", {"assignee": None, "previous": "ada"}),
        ("assigned", "root", {"assignee": "bob", "previous": None}),
        ("assigned", "root", {"assignee": "cy", "previous": "bob"}),
    ]
    assert audit[2].at == 7000.0


async def test_assignment_of_a_closed_or_unknown_request_is_refused(store: Any) -> None:
    run_id, [answered, expired] = await _run_with(store, {}, {})
    await store.answer_request(answered.request_id, {})
    await store.commit(
        Commit(run_id, 1, {}, "waiting", closed_requests=[(expired.request_id, "expired")])
    )
    with pytest.raises(InputRequestAlreadyAnsweredError):
        await store.set_assignee(answered.request_id, "ada", actor="ada", action="claimed")
    with pytest.raises(InputRequestClosedError, match="expired"):
        await store.set_assignee(expired.request_id, "ada", actor="ada", action="claimed")
    with pytest.raises(InputRequestNotFoundError):
        await store.set_assignee("nope", "ada", actor="ada", action="claimed")
    with pytest.raises(ValueError, match="action"):
        await store.set_assignee(answered.request_id, "ada", actor="ada", action="took")
    with pytest.raises(StoreError, match="assignee"):
        await store.set_assignee(answered.request_id, "", actor="ada", action="assigned")
    assert [e.action for e in await store.request_audit(expired.request_id)] == [
        "created",
        "expired",
    ]


async def test_concurrent_claims_exactly_one_wins(
    make_store: StoreFactory, store_kind: str
) -> None:
    async with make_store() as store, make_store() as other:
        if store_kind == "memory":
            other = store  # memory stores share nothing across instances
        _, [request] = await _run_with(store, {"candidate_groups": ["fin"]})

        async def claim(i: int) -> Any:
            target = store if i % 2 else other
            try:
                return await target.set_assignee(
                    request.request_id, f"u{i}", actor=f"u{i}", action="claimed", expected=None
                )
            except RequestAssigneeChangedError as exc:
                return exc

        outcomes = await asyncio.gather(*(claim(i) for i in range(12)))
        winners = [o for o in outcomes if isinstance(o, InputRequest)]
        losers = [o for o in outcomes if isinstance(o, RequestAssigneeChangedError)]
        assert len(winners) == 1 and len(losers) == 11
        assert {loser.assignee for loser in losers} == {winners[0].assignee}
        stored = await store.get_request(request.request_id)
        assert stored.assignee == winners[0].assignee
        claims = [e for e in await store.request_audit(request.request_id) if e.action == "claimed"]
        assert [e.actor for e in claims] == [winners[0].assignee]


# -- audit -------------------------------------------------------------------------------------


async def test_every_path_writes_its_audit_entry(store: Any) -> None:
    run_id, [by_api, by_event, expiring, cancelling, bulk, dropped] = await _run_with(
        store, {"priority": 2, "due": 50.0, "assignee": "ada"}, {}, {}, {}, {}, {}
    )
    await store.answer_request(by_api.request_id, {}, answered_by="ada")
    await store.answer_requests([(bulk.request_id, {}, None, "bob")])
    await store.commit(
        Commit(
            run_id,
            1,
            {},
            "waiting",
            closed_requests=[
                (by_event.request_id, "answered"),
                (expiring.request_id, "expired"),
                (cancelling.request_id, "cancelled"),
            ],
            answered_by={by_event.request_id: "cy"},
        )
    )
    await store.commit(Commit(run_id, 2, {}, "completed"))  # cancels what is pending

    async def history(request: InputRequest) -> list[tuple[str, str | None]]:
        return [(e.action, e.actor) for e in await store.request_audit(request.request_id)]

    assert await history(by_api) == [("created", None), ("answered", "ada")]
    assert await history(bulk) == [("created", None), ("answered", "bob")]
    assert await history(by_event) == [("created", None), ("answered", "cy")]
    assert await history(expiring) == [("created", None), ("expired", None)]
    assert await history(cancelling) == [("created", None), ("cancelled", None)]
    assert await history(dropped) == [("created", None), ("cancelled", None)]
    [created] = (await store.request_audit(by_api.request_id))[:1]
    assert created.detail == {"assignee": "ada", "priority": 2, "due": 50.0}
    assert (created.run_id, created.workflow) == (run_id, "flow")
    with pytest.raises(InputRequestNotFoundError):
        await store.request_audit("nope")


async def test_a_repeated_or_refused_answer_writes_no_audit_entry(store: Any) -> None:
    run_id, [request] = await _run_with(store, {})
    await store.answer_request(request.request_id, {"a": 1}, idempotency_key="k")
    assert await store.answer_request(request.request_id, {"a": 1}, idempotency_key="k") is None
    with pytest.raises(InputRequestAlreadyAnsweredError):
        await store.answer_request(request.request_id, {"a": 2})
    # closing it as answered in the commit that reads the answer adds nothing either
    inbound = [e.id for e in await store.list_inbound(run_id)]
    await store.commit(
        Commit(
            run_id,
            1,
            {},
            "running",
            closed_requests=[(request.request_id, "answered")],
            consumed_inbound=inbound,
        )
    )
    assert [e.action for e in await store.request_audit(request.request_id)] == [
        "created",
        "answered",
    ]


async def test_audit_after_is_the_feed_of_every_request(store: Any) -> None:
    _, [a, b] = await _run_with(store, {}, {})
    await store.set_assignee(a.request_id, "ada", actor="ada", action="claimed")
    await store.answer_request(b.request_id, {}, answered_by="bob")
    feed = await store.audit_after(0)
    ids = [e.id for e in feed]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert [(e.request_id, e.action) for e in feed] == [
        (a.request_id, "created"),
        (b.request_id, "created"),
        (a.request_id, "claimed"),
        (b.request_id, "answered"),
    ]
    assert await store.audit_after(ids[1]) == feed[2:]
    assert await store.audit_after(ids[0], limit=2) == feed[1:3]
    assert await store.audit_after(ids[-1]) == []


# -- due dates ---------------------------------------------------------------------------------


async def test_mark_overdue_marks_each_request_once_and_tells_its_run(store: Any) -> None:
    run_id, [early, late, undated, answered] = await _run_with(
        store, {"due": 100.0}, {"due": 200.0}, {}, {"due": 50.0}
    )
    await store.answer_request(answered.request_id, {})
    [marked] = await store.mark_overdue(150.0)
    assert marked.request_id == early.request_id and marked.overdue_at == 150.0
    assert (await store.get_request(early.request_id)).overdue_at == 150.0
    assert await store.mark_overdue(160.0) == []
    inbound = [e for e in await store.list_inbound(run_id) if "overdue" in e.payload]
    assert [(e.payload, e.request_id) for e in inbound] == [
        ({"overdue": early.request_id, "due": 100.0}, None)
    ]
    [overdue] = [e for e in await store.request_audit(early.request_id) if e.action == "overdue"]
    assert (overdue.actor, overdue.detail, overdue.at) == (None, {"due": 100.0}, 150.0)
    assert [r.request_id for r in await store.mark_overdue(1e9)] == [late.request_id]
    assert (await store.get_request(undated.request_id)).overdue_at is None
    assert (await store.get_request(answered.request_id)).overdue_at is None


async def test_concurrent_mark_overdue_marks_once(
    make_store: StoreFactory, store_kind: str
) -> None:
    async with make_store() as store, make_store() as other:
        if store_kind == "memory":
            other = store
        run_id, requests = await _run_with(store, *({"due": 10.0 + i} for i in range(5)))
        outcomes = await asyncio.gather(
            *(target.mark_overdue(100.0) for target in (store, other, store, other))
        )
        marked = [r.request_id for found in outcomes for r in found]
        assert sorted(marked) == sorted(r.request_id for r in requests)
        assert len(await store.list_inbound(run_id)) == 5


# -- webhook bookkeeping --------------------------------------------------------------------------


async def test_webhook_cursors_only_move_forward(make_store: StoreFactory, store_kind: str) -> None:
    async with make_store() as store:
        assert await store.webhook_cursor("hook") is None
        await store.advance_webhook_cursor("hook", 5)
        await store.advance_webhook_cursor("hook", 3)
        assert await store.webhook_cursor("hook") == 5
        await store.advance_webhook_cursor("hook", 9)
        await store.advance_webhook_cursor("other", 0)
        assert (await store.webhook_cursor("hook"), await store.webhook_cursor("other")) == (9, 0)
    if store_kind != "memory":
        async with make_store() as reopened:
            assert await reopened.webhook_cursor("hook") == 9


async def test_deliveries_are_listed_newest_first(store: Any) -> None:
    attempts = [
        DeliveryAttempt("hook", 1, "q1", 1, 10.0, 500, None, False),
        DeliveryAttempt("hook", 1, "q1", 2, 11.0, None, "timed out", False),
        DeliveryAttempt("hook", 1, "q1", 3, 13.0, 204, None, True),
        DeliveryAttempt("other", 2, "q2", 1, 12.0, 200, None, True),
    ]
    for attempt in attempts:
        await store.record_delivery(attempt)
    assert await store.list_deliveries() == attempts[::-1]
    assert await store.list_deliveries(endpoint="hook", limit=2) == [attempts[2], attempts[1]]
    assert await store.list_deliveries(request_id="q2") == [attempts[3]]
    assert await store.list_deliveries(audit_id=1, endpoint="other") == []
    with pytest.raises(StoreError, match="attempt"):
        await store.record_delivery(DeliveryAttempt("hook", 1, "q1", "x", 1.0, None, None, False))  # type: ignore[arg-type]


async def test_deleting_a_run_deletes_its_audit(store: Any) -> None:
    run_id, [request] = await _run_with(store, {})
    assert await store.audit_after(0) != []
    await store.delete_run(run_id)
    assert await store.audit_after(0) == []
    with pytest.raises(InputRequestNotFoundError):
        await store.request_audit(request.request_id)


async def test_answers_still_deliver_to_the_run(store: Any) -> None:
    """The task fields change nothing of how an answer reaches its run."""
    run_id, [request] = await _run_with(store, {"assignee": "ada"})
    event = await store.answer_request(request.request_id, {"ok": True}, answered_by="ada")
    assert isinstance(event, InboundEvent) and event.request_id == request.request_id
