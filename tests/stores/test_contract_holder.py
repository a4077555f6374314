"""The RunStore contract for answering as a holder: ``answer_request(..., holder=...)``
and the fifth part of an ``answer_requests`` answer refuse an answer to a request
another user holds, decided in the same write as the answer, so a claim and an answer
racing each other never both win. Run against MemoryStore, SqliteStore and PostgresStore.
"""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import pytest

from workflows.errors import (
    InputRequestAlreadyAnsweredError,
    RequestAssigneeChangedError,
    StoreError,
)
from workflows.stores import Commit, InboundEvent, InputRequest, RunRecord

from .conftest import StoreFactory

_ids = itertools.count(1)


async def _requests(store: Any, count: int, **fields: Any) -> tuple[str, list[InputRequest]]:
    """A waiting run that made ``count`` requests with the task ``fields``."""
    run_id = f"run-{next(_ids)}"
    await store.create_run(RunRecord.new(run_id, "flow", {}, now=1000.0))
    requests = [
        InputRequest.new(
            f"task-{next(_ids)}",
            run_id,
            "flow",
            "Ask",
            {},
            {"type": "object"},
            now=2000.0 + i,
            **fields,
        )
        for i in range(count)
    ]
    await store.commit(Commit(run_id, 0, {}, "waiting", new_requests=requests))
    return run_id, requests


async def _actions(store: Any, request_id: str) -> list[tuple[str, str | None]]:
    return [(e.action, e.actor) for e in await store.request_audit(request_id)]


async def test_an_answer_as_holder_of_a_request_another_user_holds_is_refused(
    store: Any,
) -> None:
    run_id, [request] = await _requests(store, 1, candidate_groups=["fin"])
    rid = request.request_id
    await store.set_assignee(rid, "bob", actor="bob", action="claimed", expected=None)
    with pytest.raises(RequestAssigneeChangedError) as info:
        await store.answer_request(rid, {"ok": True}, answered_by="ada", holder="ada")
    assert (info.value.request_id, info.value.assignee) == (rid, "bob")
    # ``known`` (the request as read before the claim) does not let it through either
    with pytest.raises(RequestAssigneeChangedError):
        await store.answer_request(
            rid, {"ok": True}, answered_by="ada", holder="ada", known=request
        )
    stored = await store.get_request(rid)
    assert (stored.status, stored.assignee, stored.response) == ("pending", "bob", None)
    assert await store.list_inbound(run_id) == []
    assert await _actions(store, rid) == [("created", None), ("claimed", "bob")]

    event = await store.answer_request(rid, {"ok": True}, answered_by="bob", holder="bob")
    assert isinstance(event, InboundEvent) and event.request_id == rid
    answered = await store.get_request(rid)
    assert (answered.status, answered.answered_by) == ("answered", "bob")
    # whatever its status, the request stays bob's: a repeat by another is refused too
    with pytest.raises(RequestAssigneeChangedError):
        await store.answer_request(rid, {"ok": True}, holder="ada")
    assert await store.answer_request(rid, {"ok": True}, holder="bob") is None


async def test_an_answer_as_holder_of_an_unassigned_request_is_accepted(store: Any) -> None:
    _, [request] = await _requests(store, 1)
    event = await store.answer_request(
        request.request_id, {}, answered_by="ada", holder="ada", known=request
    )
    assert isinstance(event, InboundEvent)
    assert (await store.get_request(request.request_id)).answered_by == "ada"


async def test_an_answer_without_holder_answers_whoever_holds_the_request(store: Any) -> None:
    _, [request] = await _requests(store, 1, assignee="bob")
    assert await store.answer_request(request.request_id, {}, answered_by="root") is not None


async def test_a_holder_that_is_not_a_string_is_refused(store: Any) -> None:
    _, [request] = await _requests(store, 1)
    with pytest.raises(StoreError, match="holder"):
        await store.answer_request(request.request_id, {}, holder=7)
    assert (await store.get_request(request.request_id)).status == "pending"


async def test_answer_requests_takes_a_holder_as_fifth_part(store: Any) -> None:
    run_id, [held, free, old_three, old_four] = await _requests(store, 4)
    await store.set_assignee(held.request_id, "bob", actor="bob", action="claimed")
    outcomes = await store.answer_requests(
        [
            (held.request_id, {}, None, "ada", "ada"),
            (free.request_id, {}, None, "ada", "ada"),
            (old_three.request_id, {}, "k"),
            (old_four.request_id, {}, None, "cy"),
        ]
    )
    refused, *accepted = outcomes
    assert isinstance(refused, RequestAssigneeChangedError) and refused.assignee == "bob"
    assert all(isinstance(outcome, InboundEvent) for outcome in accepted)
    assert (await store.get_request(held.request_id)).status == "pending"
    assert {e.request_id for e in await store.list_inbound(run_id)} == {
        free.request_id,
        old_three.request_id,
        old_four.request_id,
    }
    assert (await store.get_request(old_four.request_id)).answered_by == "cy"


async def test_a_claim_and_an_answer_at_once_never_both_win(
    make_store: StoreFactory, store_kind: str
) -> None:
    """Each round, bob claims a request while ada answers it as holder, from two store
    instances (two connections): either the claim wins and the answer is refused, or
    the answer wins and the claim is refused."""
    async with make_store() as store, make_store() as other:
        if store_kind == "memory":
            other = store  # memory stores share nothing across instances
        run_id, requests = await _requests(store, 16, candidate_groups=["fin"])

        async def claim(request: InputRequest) -> Any:
            try:
                return await store.set_assignee(
                    request.request_id, "bob", actor="bob", action="claimed", expected=None
                )
            except InputRequestAlreadyAnsweredError as exc:
                return exc

        async def answer(request: InputRequest) -> Any:
            try:
                return await other.answer_request(
                    request.request_id, {}, answered_by="ada", holder="ada", known=request
                )
            except RequestAssigneeChangedError as exc:
                return exc

        for index, request in enumerate(requests):
            if index % 2:  # each goes first in half of the rounds
                claimed, answered = await asyncio.gather(claim(request), answer(request))
            else:
                answered, claimed = await asyncio.gather(answer(request), claim(request))
            if isinstance(answered, RequestAssigneeChangedError):
                assert isinstance(claimed, InputRequest) and claimed.assignee == "bob"
                stored = await store.get_request(request.request_id)
                assert (stored.status, stored.assignee) == ("pending", "bob")
                assert await _actions(store, request.request_id) == [
                    ("created", None),
                    ("claimed", "bob"),
                ]
            else:
                assert isinstance(answered, InboundEvent)
                assert isinstance(claimed, InputRequestAlreadyAnsweredError)
                stored = await store.get_request(request.request_id)
                assert (stored.status, stored.assignee, stored.answered_by) == (
                    "answered",
                    None,
                    "ada",
                )
                assert await _actions(store, request.request_id) == [
                    ("created", None),
                    ("answered", "ada"),
                ]
        answered_ids = {e.request_id for e in await store.list_inbound(run_id)}
        pending = await store.list_requests(run_id=run_id)
        assert answered_ids | {r.request_id for r in pending} == {r.request_id for r in requests}
        assert answered_ids.isdisjoint(r.request_id for r in pending)
