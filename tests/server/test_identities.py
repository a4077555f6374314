"""Who calls the API: a users file of hashed tokens (reloaded without a restart), a
trusted proxy header, and the single token (everyone an admin), on live servers."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from pathlib import Path
from typing import Any

import httpx
import pytest

from _served_flows import server_workflows as workflows
from _wait import until
from workflows.errors import WorkflowConfigurationError
from workflows.server import TrustedHeader, create_app, hash_token

from ._helpers import assert_error, finished_run, pending_requests, started_run
from ._users import USERS, bearer, write_users

STORE = "memory://"


@pytest.fixture
def users_path(tmp_path: Path) -> Path:
    return write_users(tmp_path / "users.toml")


async def test_a_users_file_names_the_caller(start_server: Any, users_path: Path) -> None:
    server = start_server(STORE, users=str(users_path))
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        assert (await client.get("/health")).status_code == 200
        assert (await client.get("/")).status_code == 200  # the pages stay public
        missing = await client.get("/me")
        assert_error(missing, 401, "unauthorized")
        assert missing.headers["www-authenticate"].startswith("Bearer")
        wrong = await client.get("/me", headers={"Authorization": "Bearer tok-eve"})
        assert_error(wrong, 401, "unauthorized")
        not_bearer = await client.get("/me", headers={"Authorization": "Basic tok-ada"})
        assert_error(not_bearer, 401, "unauthorized")
        ada = await client.get("/me", headers=bearer("ada"))
        assert ada.json() == {"user": "ada", "groups": ["finance"], "admin": False}
        root = await client.get("/me", headers=bearer("root"))
        assert root.json() == {"user": "root", "groups": ["admins"], "admin": True}
        # the scheme is case-insensitive, as HTTP says
        lower = await client.get("/me", headers={"Authorization": "bearer tok-bob"})
        assert lower.json()["user"] == "bob"
        document = (await client.get("/openapi.json", headers=bearer("ada"))).json()
        assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
        assert "/me" in document["paths"]


async def test_answers_are_recorded_under_the_caller(start_server: Any, users_path: Path) -> None:
    server = start_server(STORE, users=str(users_path))
    async with httpx.AsyncClient(base_url=server.url, timeout=30, headers=bearer("ada")) as client:
        run = await started_run(client, "approval", amount=5)
        [asked] = await pending_requests(client, run_id=run["run_id"])
        url = f"/requests/{asked['request_id']}/response"
        someone_else = await client.post(
            url, json={"response": "yes"}, headers={"X-Workflows-User": "bob"}
        )
        assert_error(someone_else, 403, "forbidden")
        assert (await client.get(url.rsplit("/", 1)[0])).json()["status"] == "pending"
        answered = await client.post(
            url, json={"response": "yes"}, headers={"X-Workflows-User": "ada"}
        )
        assert answered.json() == {"accepted": True, "duplicate": False}
        await finished_run(client, run["run_id"])
        closed = (await client.get(f"/requests/{asked['request_id']}")).json()
        assert closed["answered_by"] == "ada"

        # the same through POST /runs/{id}/events, without naming anyone
        run = await started_run(client, "approval", amount=6)
        [asked] = await pending_requests(client, run_id=run["run_id"])
        event = {"type": "HumanResponseEvent", "data": {"response": "no"}}
        refused = await client.post(
            f"/runs/{run['run_id']}/events", json=event, headers={"X-Workflows-User": "bob"}
        )
        assert_error(refused, 403, "forbidden")
        sent = await client.post(f"/runs/{run['run_id']}/events", json=event)
        assert sent.status_code == 202, sent.text
        await finished_run(client, run["run_id"])
        closed = (await client.get(f"/requests/{asked['request_id']}")).json()
        assert (closed["status"], closed["answered_by"]) == ("answered", "ada")


async def test_the_users_file_is_reloaded_without_a_restart(
    start_server: Any, users_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    server = start_server(STORE, users=str(users_path))
    carl = {"Authorization": "Bearer tok-carl"}
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:

        async def me(headers: dict[str, str]) -> httpx.Response:
            return await client.get("/me", headers=headers)

        assert_error(await me(carl), 401, "unauthorized")
        write_users(users_path, {**USERS, "carl": ("tok-carl", ["legal", "finance"])})

        async def carl_known() -> dict[str, Any] | None:
            response = await me(carl)
            return response.json() if response.status_code == 200 else None

        known = await until(carl_known, "carl's token to be taken after the reload")
        assert known == {"user": "carl", "groups": ["finance", "legal"], "admin": False}

        # a broken file keeps the last good one in force, and says why once
        with caplog.at_level(logging.ERROR, logger="workflows.server"):
            broken = "[users.carl\ntoken_sha256 = 'x'\n"
            await asyncio.to_thread(users_path.write_text, broken, encoding="utf-8")

            async def reported() -> bool:
                assert (await me(carl)).status_code == 200  # a request looks at the file
                return any("users file" in r.getMessage() for r in caplog.records)

            await until(reported, "the broken users file to be reported")
        [record] = [r for r in caplog.records if "users file" in r.getMessage()]
        assert str(users_path) in record.getMessage()
        assert "not valid TOML" in record.getMessage()
        assert (await me(carl)).json()["user"] == "carl"
        assert (await me(bearer("ada"))).json()["user"] == "ada"

        # taking a user out takes effect as well
        write_users(users_path, {"carl": ("tok-carl", [])})

        async def ada_gone() -> bool:
            return (await me(bearer("ada"))).status_code == 401

        await until(ada_gone, "ada's token to be refused after the reload")
        assert (await me(carl)).json() == {"user": "carl", "groups": [], "admin": False}


@pytest.mark.parametrize(
    ("content", "why"),
    [
        ("[users.ada\n", "not valid TOML"),
        ("[users.ada]\ngroups = []\n", "users.ada has no token_sha256"),
        ("[users.ada]\ntoken_sha256 = 'abc'\n", "64 hex digits"),
        ("[users.ada]\ntoken_sha256 = '" + "z" * 64 + "'\n", "64 hex digits"),
        ("[user.ada]\ntoken_sha256 = 'abc'\n", "unknown top-level keys: user"),
        ("[users.ada]\ntoken_sha256 = '" + "a" * 64 + "'\nrole = 'x'\n", "unknown keys: role"),
        ("[users.ada]\ntoken_sha256 = '" + "a" * 64 + "'\ngroups = 'finance'\n", "list of"),
        (
            "[users.ada]\ntoken_sha256 = '" + "a" * 64 + "'\n"
            "[users.bob]\ntoken_sha256 = '" + "A" * 64 + "'\n",
            "one token hash is given twice (users.ada and users.bob)",
        ),
        ('[users."a,b"]\ntoken_sha256 = \'' + "a" * 64 + "'\n", "','"),
        ("[users.ada]\ntoken_sha256 = '" + "a" * 64 + "'\ngroups = [' x']\n", "whitespace"),
        ("admin_group = ''\n", "admin_group is empty"),
    ],
)
def test_a_broken_users_file_stops_the_start(tmp_path: Path, content: str, why: str) -> None:
    path = tmp_path / "users.toml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(WorkflowConfigurationError) as caught:
        create_app(STORE, workflows(), users=str(path))
    assert str(path) in str(caught.value)
    assert why in str(caught.value)


def test_a_missing_users_file_stops_the_start(tmp_path: Path) -> None:
    with pytest.raises(WorkflowConfigurationError, match="No such file"):
        create_app(STORE, workflows(), users=str(tmp_path / "nope.toml"))


def test_one_way_of_auth_at_a_time(users_path: Path) -> None:
    with pytest.raises(WorkflowConfigurationError, match="not both"):
        create_app(STORE, (), users=str(users_path), trusted_header=TrustedHeader())
    with pytest.raises(WorkflowConfigurationError, match="single token"):
        create_app(STORE, (), token="t", users=str(users_path))
    with pytest.raises(WorkflowConfigurationError, match="single token"):
        create_app(STORE, (), token="t", trusted_header=TrustedHeader())


async def test_users_file_from_the_environment(
    start_server: Any, users_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WORKFLOWS_USERS", str(users_path))
    monkeypatch.setenv("WORKFLOWS_TOKEN", "shared")  # the users file wins
    server = start_server(STORE)
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        shared = await client.get("/me", headers={"Authorization": "Bearer shared"})
        assert_error(shared, 401, "unauthorized")
        assert (await client.get("/me", headers=bearer("bob"))).json()["user"] == "bob"


async def test_several_tokens_for_one_user(start_server: Any, tmp_path: Path) -> None:
    new, old = (hashlib.sha256(t.encode()).hexdigest() for t in ("new", "old"))
    path = tmp_path / "users.toml"
    path.write_text(
        f'admin_group = "ops"\n[users.ada]\ntoken_sha256 = ["{new}", "{old}"]\ngroups = ["ops"]\n',
        encoding="utf-8",
    )
    server = start_server(STORE, users=str(path))
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        for token in ("new", "old"):
            me = await client.get("/me", headers={"Authorization": f"Bearer {token}"})
            assert me.json() == {"user": "ada", "groups": ["ops"], "admin": True}


async def test_a_trusted_header_names_the_caller(start_server: Any) -> None:
    trusted = TrustedHeader("X-Forwarded-User", groups="X-Forwarded-Groups")
    server = start_server(STORE, trusted_header=trusted)
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        assert (await client.get("/health")).status_code == 200
        assert_error(await client.get("/me"), 401, "unauthorized")
        ada = {"X-Forwarded-User": "ada", "X-Forwarded-Groups": "finance, legal"}
        me = await client.get("/me", headers=ada)
        assert me.json() == {"user": "ada", "groups": ["finance", "legal"], "admin": False}
        root = await client.get(
            "/me", headers={"X-Forwarded-User": "root", "X-Forwarded-Groups": "admins"}
        )
        assert root.json()["admin"] is True
        # UTF-8 names, as the X-Workflows-User header carries them
        zoe = await client.get("/me", headers={"X-Forwarded-User": "Zoë Ng".encode()})
        assert zoe.json()["user"] == "Zoë Ng"
        twice = await client.get(
            "/me", headers=[("X-Forwarded-User", "ada"), ("X-Forwarded-User", "root")]
        )
        assert_error(twice, 400, "bad_parameter")
        bad = await client.get("/me", headers={"X-Forwarded-User": "a|b"})
        assert_error(bad, 400, "bad_parameter")

        client.headers.update(ada)
        run_id = (await started_run(client, "approval", amount=1))["run_id"]
        [asked] = await pending_requests(client, run_id=run_id)
        url = f"/requests/{asked['request_id']}/response"
        refused = await client.post(url, json={"response": "y"}, headers={"X-Workflows-User": "x"})
        assert_error(refused, 403, "forbidden")
        assert (await client.post(url, json={"response": "y"})).status_code == 200
        await finished_run(client, run_id)
        assert (await client.get(url.rsplit("/", 1)[0])).json()["answered_by"] == "ada"


def test_a_trusted_header_is_a_header_name() -> None:
    with pytest.raises(ValueError, match="not an HTTP header name"):
        TrustedHeader("X Forwarded User")
    with pytest.raises(ValueError, match="must differ"):
        TrustedHeader("X-User", groups="x-user")


async def test_single_token_everyone_is_an_admin(start_server: Any) -> None:
    server = start_server(STORE, token="s3cret")
    headers = {"Authorization": "Bearer s3cret"}
    async with httpx.AsyncClient(base_url=server.url, timeout=30, headers=headers) as client:
        me = await client.get("/me")
        assert me.json() == {"user": "anonymous", "groups": [], "admin": True}
        zoe = {"X-Workflows-User": "Zoë".encode()}
        named = await client.get("/me", headers=zoe)
        assert named.json() == {"user": "Zoë", "groups": [], "admin": True}
        # claims go by the name given, as answers do
        run = await started_run(client, "approval", amount=3)
        [asked] = await pending_requests(client, run_id=run["run_id"])
        claimed = await client.post(f"/requests/{asked['request_id']}/claim", headers=zoe)
        assert claimed.json()["assignee"] == "Zoë"
        mine = await client.get("/requests", params={"mine": "true"}, headers=zoe)
        assert [r["request_id"] for r in mine.json()["requests"]] == [asked["request_id"]]
        # everyone is an admin: another name may still answer
        answered = await client.post(
            f"/requests/{asked['request_id']}/response",
            json={"response": "y"},
            headers={"X-Workflows-User": "eve"},
        )
        assert answered.status_code == 200
        await finished_run(client, run["run_id"])


def test_hash_token_is_the_sha256_of_the_token() -> None:
    assert hash_token("s3cret") == hashlib.sha256(b"s3cret").hexdigest()
    assert hash_token("zoë") == hashlib.sha256("zoë".encode()).hexdigest()
