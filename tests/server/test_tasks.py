"""Human tasks over HTTP with a users file: who sees which request (404 otherwise), who
may answer it (403 otherwise), claims (of two at once exactly one wins), unclaim and
assign, the audit list, the filtered and sorted inbox with keyset paging, each user's
inbox stream, and the webhook deliveries for admins.

Requests with task fields are written into the server's store from outside (a run of
an unregistered workflow waiting on them), as a workflow would commit them; answers go
to a real run, assigned over the API.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from _live_server import LiveServer
from _wait import TIMEOUT
from workflows.stores import (
    Commit,
    DeliveryAttempt,
    InputRequest,
    MemoryStore,
    RunRecord,
    RunStore,
    open_store,
)

from ._helpers import assert_error, finished_run, pending_requests, started_run
from ._sse import Message, messages
from ._users import bearer, write_users

USERS: dict[str, tuple[str, list[str]]] = {
    "ada": ("tok-ada", ["finance"]),
    "fay": ("tok-fay", ["finance"]),
    "bob": ("tok-bob", ["legal"]),
    "root": ("tok-root", ["admins"]),
}
"""ada and fay in finance, bob in legal, root an admin."""

_ids = itertools.count(1)


@dataclass
class Tasks:
    """A live server with a users file, and a way to write requests into its store."""

    server: LiveServer
    store: RunStore

    async def seed(self, **fields: Any) -> str:
        """A waiting run of the unregistered workflow ``expense`` with one pending
        request carrying ``fields`` (task fields, ``now``); its id."""
        n = next(_ids)
        run_id, request_id = f"run-{n}", f"req-{n}"
        await self.store.create_run(RunRecord.new(run_id, "expense", {}))
        request = InputRequest.new(
            request_id,
            run_id,
            "expense",
            "workflows.events.InputRequiredEvent",
            {"$event": "workflows.events.InputRequiredEvent", "data": {"prefix": f"#{n}"}},
            {"type": "object"},
            **fields,
        )
        await self.store.commit(Commit(run_id, 0, {}, "waiting", new_requests=[request]))
        return request_id

    def client(self, user: str) -> httpx.AsyncClient:
        """An HTTP client calling as ``user``."""
        return httpx.AsyncClient(base_url=self.server.url, timeout=30, headers=bearer(user, USERS))


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def store_kind(request: pytest.FixtureRequest) -> str:
    """The store the server runs on (PostgreSQL: skipped without one)."""
    return str(request.param)


@pytest.fixture
async def tasks(
    store_kind: str, start_server: Any, tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[Tasks]:
    users = str(write_users(tmp_path / "users.toml", USERS))
    if store_kind == "memory":
        # One store object: the server's, written to from the test as well.
        shared = MemoryStore()
        yield Tasks(start_server(shared, users=users), shared)
        return
    if store_kind == "sqlite":
        url = f"sqlite:///{tmp_path / 'tasks.db'}"
    else:
        url = str(request.getfixturevalue("postgres_schema_url"))
    server = start_server(url, users=users)
    outside = await open_store(url)  # another connection to the server's database
    try:
        yield Tasks(server, outside)
    finally:
        await outside.close()


async def _ids_listed(client: httpx.AsyncClient, **params: Any) -> list[str]:
    response = await client.get("/requests", params=params)
    assert response.status_code == 200, response.text
    return [r["request_id"] for r in response.json()["requests"]]


# -- who sees and answers what --------------------------------------------------------------


async def test_each_user_sees_only_their_tasks(tasks: Tasks) -> None:
    open_ = await tasks.seed()
    finance = await tasks.seed(candidate_groups=["finance"])
    legal = await tasks.seed(candidate_groups=["legal"])
    bobs = await tasks.seed(assignee="bob")
    for_ada = await tasks.seed(candidate_users=["ada"])
    taken = await tasks.seed(candidate_groups=["finance"], assignee="fay")
    async with tasks.client("ada") as ada, tasks.client("bob") as bob, tasks.client("root") as root:
        assert set(await _ids_listed(ada)) == {open_, finance, for_ada, taken}
        assert set(await _ids_listed(bob)) == {open_, legal, bobs}
        assert set(await _ids_listed(root)) == {open_, finance, legal, bobs, for_ada, taken}
        assert set(await _ids_listed(ada, status="all")) == {open_, finance, for_ada, taken}

        # not visible: the same 404 as a request that does not exist
        missing = assert_error(await ada.get("/requests/nope"), 404, "request_not_found")
        hidden = assert_error(await ada.get(f"/requests/{legal}"), 404, "request_not_found")
        assert hidden["error"]["message"] == missing["error"]["message"].replace("nope", legal)
        for path in (f"/requests/{legal}/audit",):
            assert_error(await ada.get(path), 404, "request_not_found")
        for action in ("response", "claim", "unclaim"):
            body = {"response": "y"} if action == "response" else None
            refused = await ada.post(f"/requests/{bobs}/{action}", json=body)
            assert_error(refused, 404, "request_not_found")
        assign = await ada.post(f"/requests/{legal}/assign", json={"assignee": "ada"})
        assert_error(assign, 404, "request_not_found")
        assert (await bob.get(f"/requests/{bobs}")).json()["assignee"] == "bob"

        # visible but assigned to someone else: a 403 for an answer
        seen = (await ada.get(f"/requests/{taken}")).json()
        assert (seen["assignee"], seen["candidate_groups"]) == ("fay", ["finance"])
        refused = await ada.post(f"/requests/{taken}/response", json={"response": "y"})
        assert_error(refused, 403, "forbidden")
        # allowed past the rules (the workflow is not served here: the next check)
        passed = await ada.post(f"/requests/{finance}/response", json={"response": "y"})
        assert_error(passed, 409, "workflow_not_registered")


async def test_an_assigned_real_run_is_answered_by_its_assignee_only(tasks: Tasks) -> None:
    async with tasks.client("root") as root, tasks.client("ada") as ada:
        async with tasks.client("bob") as bob:
            run = await started_run(root, "approval", amount=9)
            [asked] = await pending_requests(root, run_id=run["run_id"])
            request_id = asked["request_id"]
            assigned = await root.post(f"/requests/{request_id}/assign", json={"assignee": "bob"})
            assert assigned.status_code == 200, assigned.text
            assert assigned.json()["assignee"] == "bob"
            assert_error(await ada.get(f"/requests/{request_id}"), 404, "request_not_found")
            # sending the answer as an event is held to the same rule
            event = {"type": "HumanResponseEvent", "data": {"response": "y"}}
            sent = await ada.post(f"/runs/{run['run_id']}/events", json=event)
            assert_error(sent, 403, "forbidden")
            answered = await bob.post(f"/requests/{request_id}/response", json={"response": "ok"})
            assert answered.json() == {"accepted": True, "duplicate": False}
            done = await finished_run(root, run["run_id"])
            assert done["result"] == {"amount": 9, "verdict": "ok"}
            audit = (await bob.get(f"/requests/{request_id}/audit")).json()["audit"]
            assert [(e["action"], e["actor"]) for e in audit] == [
                ("created", None),
                ("assigned", "root"),
                ("answered", "bob"),
            ]
            assert audit[1]["detail"] == {"assignee": "bob", "previous": None}
            assert audit[0]["run_id"] == run["run_id"] and audit[0]["workflow"] == "approval"
            assert [e["id"] for e in audit] == sorted(e["id"] for e in audit)


# -- claim, unclaim, assign -----------------------------------------------------------------


async def test_two_claims_at_once_one_wins(tasks: Tasks) -> None:
    ids = [await tasks.seed(candidate_groups=["finance"]) for _ in range(5)]
    async with tasks.client("ada") as ada, tasks.client("fay") as fay:
        for request_id in ids:
            url = f"/requests/{request_id}/claim"
            first, second = await asyncio.gather(ada.post(url), fay.post(url))
            statuses = sorted((first.status_code, second.status_code))
            assert statuses == [200, 409], (first.text, second.text)
            winner, loser = (first, second) if first.status_code == 200 else (second, first)
            assert_error(loser, 409, "request_claimed")
            holder = winner.json()["assignee"]
            assert holder in ("ada", "fay")
            assert (await ada.get(f"/requests/{request_id}")).json()["assignee"] == holder
            audit = (await ada.get(f"/requests/{request_id}/audit")).json()["audit"]
            assert [(e["action"], e["actor"]) for e in audit] == [
                ("created", None),
                ("claimed", holder),
            ]


async def test_unclaim_and_assign_rules(tasks: Tasks) -> None:
    request_id = await tasks.seed(candidate_groups=["finance"])
    url = f"/requests/{request_id}"
    async with AsyncExitStack() as stack:
        ada, fay, bob, root = [
            await stack.enter_async_context(tasks.client(name))
            for name in ("ada", "fay", "bob", "root")
        ]
        # unclaiming what nobody holds changes nothing
        assert (await ada.post(f"{url}/unclaim")).json()["assignee"] is None
        assert_error(await fay.post(f"{url}/assign", json={"assignee": "fay"}), 403, "forbidden")
        claimed = await ada.post(f"{url}/claim")
        assert claimed.json()["assignee"] == "ada"
        assert (await ada.post(f"{url}/claim")).json()["assignee"] == "ada"  # a no-op
        assert_error(await fay.post(f"{url}/claim"), 409, "request_claimed")
        assert_error(await fay.post(f"{url}/unclaim"), 403, "forbidden")
        assert_error(await fay.post(f"{url}/assign", json={"assignee": "fay"}), 403, "forbidden")
        assert_error(await bob.post(f"{url}/claim"), 404, "request_not_found")
        # the assignee hands it over
        handed = await ada.post(f"{url}/assign", json={"assignee": "fay"})
        assert handed.json()["assignee"] == "fay"
        refused = await ada.post(f"{url}/response", json={"response": "y"})
        assert_error(refused, 403, "forbidden")
        assert (await fay.post(f"{url}/unclaim")).json()["assignee"] is None
        # an admin may do anything: hand it to someone outside the groups, take it back
        given = await root.post(f"{url}/assign", json={"assignee": "bob"})
        assert given.json()["assignee"] == "bob"
        assert (await bob.get(url)).json()["assignee"] == "bob"  # the assignee sees it
        assert (await ada.get(url)).status_code == 200  # so do its candidates
        assert_error(await ada.post(f"{url}/response", json={"response": "y"}), 403, "forbidden")
        assert (await root.post(f"{url}/unclaim")).json()["assignee"] is None
        assert_error(await bob.get(url), 404, "request_not_found")  # bob no longer does
        nobody = await root.post(f"{url}/assign", json={"assignee": None})
        assert nobody.json()["assignee"] is None

        audit = (await root.get(f"{url}/audit")).json()["audit"]
        assert [(e["action"], e["actor"], e["detail"].get("assignee")) for e in audit] == [
            ("created", None, None),
            ("claimed", "ada", "ada"),
            ("assigned", "ada", "fay"),
            ("unclaimed", "fay", None),
            ("assigned", "root", "bob"),
            ("unclaimed", "root", None),
            ("assigned", "root", None),
        ]
        assert audit[0]["detail"] == {"candidate_groups": ["finance"]}

        for body, status, code in (
            ({"assignee": ""}, 422, "validation_failed"),
            ({"assignee": "a,b"}, 422, "validation_failed"),
            ({"assignee": " ada"}, 422, "validation_failed"),
            ({"assignee": "ada", "extra": 1}, 422, "validation_failed"),
            ({}, 422, "validation_failed"),
        ):
            assert_error(await root.post(f"{url}/assign", json=body), status, code)
        assert_error(await root.post(f"{url}/assign"), 400, "body_required")


async def test_a_closed_request_cannot_be_claimed(tasks: Tasks) -> None:
    async with tasks.client("root") as root, tasks.client("ada") as ada:
        run = await started_run(root, "approval", amount=1)
        [asked] = await pending_requests(root, run_id=run["run_id"])
        url = f"/requests/{asked['request_id']}"
        assert (await ada.post(f"{url}/response", json={"response": "y"})).status_code == 200
        await finished_run(root, run["run_id"])
        assert_error(await ada.post(f"{url}/claim"), 409, "request_already_answered")
        assert_error(await root.post(f"{url}/unclaim"), 409, "request_already_answered")
        assigned = await root.post(f"{url}/assign", json={"assignee": "ada"})
        assert_error(assigned, 409, "request_already_answered")


# -- the inbox: filters, orders, pages --------------------------------------------------------


async def test_filters_and_orders(tasks: Tasks) -> None:
    mine = await tasks.seed(assignee="ada", priority=1, due=5000.0, now=100.0)
    finance = await tasks.seed(candidate_groups=["finance"], priority=5, now=101.0)
    urgent = await tasks.seed(
        candidate_groups=["finance", "legal"], priority=9, due=3000.0, now=102.0
    )
    legal = await tasks.seed(candidate_groups=["legal"], due=4000.0, now=103.0)
    async with tasks.client("ada") as ada, tasks.client("root") as root:
        assert await _ids_listed(ada) == [urgent, finance, mine]  # newest first
        assert await _ids_listed(ada, mine="true") == [mine]
        assert await _ids_listed(ada, group="mine") == [urgent, finance]
        assert await _ids_listed(root, group="legal") == [legal, urgent]
        assert await _ids_listed(root, group=["legal", "finance"]) == [legal, urgent, finance]
        assert await _ids_listed(ada, group="legal") == [urgent]  # only what ada sees
        assert await _ids_listed(root, assignee="ada") == [mine]
        assert await _ids_listed(root, unassigned="true") == [legal, urgent, finance]
        assert await _ids_listed(root, priority_min=5) == [urgent, finance]
        assert await _ids_listed(root, sort="priority") == [urgent, finance, mine, legal]
        assert await _ids_listed(root, sort="due") == [urgent, legal, mine, finance]
        assert await _ids_listed(root, due_before=4000) == [legal, urgent]
        assert await _ids_listed(root, due_before="1970-01-01T01:06:40Z") == [legal, urgent]
        assert await _ids_listed(root, due_after="1970-01-01T01:06:40") == [legal, mine]
        assert await _ids_listed(root, due_after=4000.5, due_before=5000) == [mine]

        for params in (
            {"mine": "true", "assignee": "bob"},
            {"unassigned": "true", "assignee": "bob"},
            {"sort": "oldest"},
            {"due_before": "tomorrow"},
            {"priority_min": "1.5"},
            {"group": "a|b"},
            {"offset": 1, "sort": "due"},
            {"offset": 1, "cursor": "x"},
            {"cursor": "not-a-cursor"},
            {"assignee": ""},
        ):
            response = await root.get("/requests", params=params)
            assert_error(response, 400, "bad_parameter")


async def test_keyset_pages_list_each_visible_request_once(tasks: Tasks) -> None:
    seen_by_ada = []
    for n in range(7):
        seen_by_ada.append(await tasks.seed(candidate_groups=["finance"], priority=n % 3))
        await tasks.seed(candidate_groups=["legal"], priority=n % 3)
    async with tasks.client("ada") as ada:
        for sort in ("created", "priority", "due"):
            listed: list[str] = []
            cursor = None
            for _ in range(10):
                params: dict[str, Any] = {"sort": sort, "limit": 3}
                if cursor is not None:
                    params["cursor"] = cursor
                page = (await ada.get("/requests", params=params)).json()
                listed += [r["request_id"] for r in page["requests"]]
                cursor = page["next_cursor"]
                if cursor is None:
                    break
            assert sorted(listed) == sorted(seen_by_ada), sort
            assert listed == await _ids_listed(ada, sort=sort), sort
        first = (await ada.get("/requests", params={"sort": "created", "limit": 3})).json()
        other_sort = {"sort": "due", "cursor": first["next_cursor"]}
        assert_error(await ada.get("/requests", params=other_sort), 400, "bad_parameter")
        # offset paging still works, filtered by what ada sees
        everything = await _ids_listed(ada)
        assert await _ids_listed(ada, limit=3, offset=0) == everything[:3]
        assert await _ids_listed(ada, limit=3, offset=3) == everything[3:6]
        assert await _ids_listed(ada, limit=3, offset=6) == everything[6:]
        assert await _ids_listed(ada, limit=3, offset=9) == []
        by_offset = (await ada.get("/requests", params={"limit": 3, "offset": 0})).json()
        assert by_offset["next_cursor"] is None


# -- each user's stream -------------------------------------------------------------------------


async def _stream(client: httpx.AsyncClient, stack: AsyncExitStack) -> AsyncIterator[Message]:
    response = await stack.enter_async_context(client.stream("GET", "/requests/stream"))
    assert response.status_code == 200
    stream = messages(response)
    first = await asyncio.wait_for(stream.__anext__(), TIMEOUT)
    assert (first.event, first.data) == (":", "connected")
    return stream


async def _next(stream: AsyncIterator[Message]) -> Message:
    async def one() -> Message:
        async for message in stream:
            if message.event != ":":
                return message
        raise AssertionError("the stream ended")

    return await asyncio.wait_for(one(), TIMEOUT)


async def test_each_users_stream_carries_only_what_they_see(tasks: Tasks) -> None:
    async with AsyncExitStack() as stack:
        ada, bob, root = [
            await stack.enter_async_context(tasks.client(name)) for name in ("ada", "bob", "root")
        ]
        ada_stream, bob_stream, root_stream = [await _stream(c, stack) for c in (ada, bob, root)]
        legal = await tasks.seed(candidate_groups=["legal"], now=200.0)
        finance = await tasks.seed(candidate_groups=["finance"], now=201.0)

        created = [await _next(root_stream), await _next(root_stream)]
        assert [(m.event, m.json()["request_id"]) for m in created] == [
            ("request_created", legal),
            ("request_created", finance),
        ]
        ada_first = await _next(ada_stream)
        assert (ada_first.event, ada_first.json()["request_id"]) == ("request_created", finance)
        bob_first = await _next(bob_stream)
        assert (bob_first.event, bob_first.json()["request_id"]) == ("request_created", legal)
        assert bob_first.json()["candidate_groups"] == ["legal"]

        # open to all, then handed to bob: ada is told it is out of her sight
        shared = await tasks.seed(now=201.5)
        for stream in (ada_stream, bob_stream, root_stream):
            arrived = await _next(stream)
            assert (arrived.event, arrived.json()["request_id"]) == ("request_created", shared)
        given = await root.post(f"/requests/{shared}/assign", json={"assignee": "bob"})
        assert given.status_code == 200
        got = await _next(bob_stream)
        assert (got.event, got.json()["request_id"]) == ("request_updated", shared)
        assert got.json()["assignee"] == "bob"
        gone = await _next(ada_stream)
        assert (gone.event, gone.json()) == ("request_hidden", {"request_id": shared})
        updated = await _next(root_stream)
        assert (updated.event, updated.json()["assignee"]) == ("request_updated", "bob")

        # closed: only those who see it hear of it
        seen = await tasks.seed(candidate_groups=["finance"], now=202.0)
        arrived = await _next(ada_stream)
        assert (arrived.event, arrived.json()["request_id"]) == ("request_created", seen)
        assert (await _next(root_stream)).json()["request_id"] == seen
        claimed = await ada.post(f"/requests/{seen}/claim")
        assert claimed.status_code == 200
        mine = await _next(ada_stream)
        assert (mine.event, mine.json()["assignee"]) == ("request_updated", "ada")
        # bob saw none of ada's requests: his next message is about his own
        ours = await tasks.seed(candidate_groups=["legal"], now=203.0)
        nxt = await _next(bob_stream)
        assert (nxt.event, nxt.json()["request_id"]) == ("request_created", ours)


# -- webhook deliveries -------------------------------------------------------------------------


async def test_webhook_deliveries_are_for_admins(tasks: Tasks) -> None:
    request_id = await tasks.seed()
    for attempt, delivered in ((1, False), (2, True)):
        await tasks.store.record_delivery(
            DeliveryAttempt(
                endpoint="hooks",
                audit_id=1,
                request_id=request_id,
                attempt=attempt,
                at=1000.0 + attempt,
                status_code=200 if delivered else 503,
                error=None if delivered else "HTTP 503",
                delivered=delivered,
            )
        )
    async with tasks.client("ada") as ada, tasks.client("root") as root:
        assert_error(await ada.get("/webhooks/deliveries"), 403, "forbidden")
        listed = (await root.get("/webhooks/deliveries")).json()["deliveries"]
        assert [(d["attempt"], d["delivered"], d["status_code"]) for d in listed] == [
            (2, True, 200),
            (1, False, 503),
        ]
        assert listed[1]["error"] == "HTTP 503" and listed[0]["endpoint"] == "hooks"
        one = await root.get("/webhooks/deliveries", params={"request_id": "other"})
        assert one.json() == {"deliveries": []}
        named = await root.get("/webhooks/deliveries", params={"endpoint": "hooks", "limit": 1})
        assert [d["attempt"] for d in named.json()["deliveries"]] == [2]
