"""The inbox page in a real headless Chromium, against the real server over loopback HTTP.

A run asks for a typed approval; the page shows the prompt as it arrives (SSE), builds
the form from the response schema, shows the server's 422 inline, sends the answer, and
the run finishes with it. Without ``/usr/bin/chromium`` (or Playwright) the browser tests
skip, unless ``WORKFLOWS_REQUIRE_BROWSER=1`` (CI), where they fail.
"""

from __future__ import annotations

import enum
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import httpx
import pytest
from pydantic import BaseModel, Field, field_validator
from starlette.applications import Starlette

from _live_server import LiveServer
from workflows import Context, Workflow, step
from workflows.events import HumanResponseEvent, InputRequiredEvent, StartEvent, StopEvent
from workflows.server import create_app
from workflows.server._pages import page_routes

SCREENSHOT = Path("/tmp/inbox.png")


# -- the workflows --------------------------------------------------------------------------
class Approval(HumanResponseEvent):
    """A manager's typed verdict."""

    approved: bool
    comment: str = Field(default="", description="Shown to the employee.")
    priority: Literal["low", "normal", "high"] = "normal"
    budget: float | None = Field(default=None, ge=0)

    @field_validator("comment")
    @classmethod
    def _not_nope(cls, value: str) -> str:
        if value.strip().lower() == "nope":
            raise ValueError("say why, not just 'nope'")
        return value


class ExpenseApproval(Workflow):
    """Asks for an approval, then reports the verdict."""

    @step
    async def ask(self, ctx: Context, ev: StartEvent) -> InputRequiredEvent:
        await ctx.store.set("employee", ev.employee)
        return InputRequiredEvent(
            prefix=f"Approve {ev.amount:.2f} for {ev.employee}?", employee=ev.employee
        )

    @step
    async def decide(self, ctx: Context, ev: Approval) -> StopEvent:
        return StopEvent(
            result={
                "employee": await ctx.store.get("employee"),
                "approved": ev.approved,
                "comment": ev.comment,
                "priority": ev.priority,
                "budget": ev.budget,
            }
        )


class Reviewer(BaseModel):
    name: str = Field(description="Who reviewed it.")
    team: str = "finance"


class Review(HumanResponseEvent):
    """An answer with a nested model (a ``$ref`` into ``$defs`` in its JSON schema)."""

    accepted: bool
    reviewer: Reviewer


class PaperReview(Workflow):
    """Asks for a review with a nested reviewer."""

    @step
    async def ask(self, ev: StartEvent) -> InputRequiredEvent:
        return InputRequiredEvent(prefix="Review the paper")

    @step
    async def decide(self, ev: Review) -> StopEvent:
        return StopEvent(result={"accepted": ev.accepted, "reviewer": ev.reviewer.model_dump()})


class Color(str, enum.Enum):
    RED = "red"
    BLUE = "blue"


class Everything(HumanResponseEvent):
    """One field of each kind the form generator knows."""

    title: str = Field(min_length=2)
    count: int = Field(ge=1, le=10)
    ratio: float = 0.5
    ok: bool = False
    color: Color
    level: Literal["a", "b"] = "a"
    tags: list[str] = []
    sizes: list[Literal["s", "m", "l"]] = []
    note: str | None = None
    extra: dict[str, int] = {}
    reviewer: Reviewer


class Survey(Workflow):
    """Asks for an Everything."""

    @step
    async def ask(self, ev: StartEvent) -> InputRequiredEvent:
        return InputRequiredEvent(prefix="Fill in everything")

    @step
    async def done(self, ev: Everything) -> StopEvent:
        return StopEvent(result=ev.title)


# -- a real server --------------------------------------------------------------------------
@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Any]:
    """``serve(token=None) -> LiveServer`` on a fresh SQLite file; stopped after the test."""
    started: list[LiveServer] = []

    def start(token: str | None = None) -> LiveServer:
        url = f"sqlite:///{tmp_path / 'inbox.db'}"
        workflows = {
            "expense": ExpenseApproval(timeout=None),
            "review": PaperReview(timeout=None),
            "survey": Survey(timeout=None),
        }
        app = create_app(url, workflows, token=token)
        server = LiveServer(app).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


async def _start_run(client: httpx.AsyncClient, employee: str, amount: float) -> str:
    response = await client.post(
        "/workflows/expense/runs", json={"input": {"employee": employee, "amount": amount}}
    )
    assert response.status_code == 201, response.text
    return response.json()["run_id"]


# -- tests ----------------------------------------------------------------------------------
async def test_prompt_arrives_live_and_the_answer_finishes_the_run(serve: Any, page: Any) -> None:
    from playwright.async_api import expect

    server = serve()
    await page.goto(server.url + "/")
    await expect(page.get_by_role("heading", name="Inbox", level=1)).to_be_visible()
    await expect(page.get_by_text("No pending requests")).to_be_visible()
    await expect(page.locator("#live-state")).to_have_attribute("data-state", "live")

    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        run_id = await _start_run(client, "ada", 420)

        # The request arrives over SSE: no reload.
        card = page.locator("article.request", has_text="Approve 420.00 for ada?")
        await expect(card).to_be_visible()
        await expect(page.get_by_role("heading", name="expense")).to_be_visible()
        await expect(card.get_by_role("link", name=f"run {run_id}")).to_be_visible()
        await expect(card.locator(".prompt-fields")).to_contain_text("ada")

        # The form is generated from the response schema.
        approved = card.get_by_label("Approved")
        await expect(approved).to_have_attribute("type", "checkbox")
        comment = card.get_by_label("Comment")
        await expect(comment).to_have_attribute("type", "text")
        priority = card.get_by_label("Priority")
        await expect(priority).to_have_value("v1")  # the default, "normal"
        budget = card.get_by_label("Budget")
        await expect(budget).to_have_attribute("type", "number")
        await expect(budget).to_have_attribute("min", "0")
        await expect(card.get_by_text("Shown to the employee.")).to_be_visible()

        await approved.check()
        await comment.fill("nope")
        await priority.select_option(label="high")
        await budget.fill("99.5")
        await page.screenshot(path=str(SCREENSHOT), full_page=True)

        # The server's 422 shows inline; the request stays pending.
        send = card.get_by_role("button", name="Send answer")
        await send.click()
        await expect(card.get_by_role("alert")).to_contain_text("say why")
        await expect(card).to_be_visible()

        await comment.fill("Within budget")
        await send.click()
        await expect(page.locator("#announcer")).to_contain_text("Answer sent")
        await expect(card).to_have_count(0)
        await expect(page.get_by_text("No pending requests")).to_be_visible()

        # The run finished with the answer.
        response = await client.get(f"/runs/{run_id}")
        assert response.status_code == 200, response.text
        run = response.json()
        assert run["status"] == "completed", run
        assert run["result"] == {
            "employee": "ada",
            "approved": True,
            "comment": "Within budget",
            "priority": "high",
            "budget": 99.5,
        }

    # The run's page shows its status, result and timeline.
    await page.goto(f"{server.url}/runs/{run_id}/page")
    await expect(page.locator("#run-status")).to_have_text("completed")
    await expect(page.locator("#run-workflow")).to_have_text("expense")
    await expect(page.locator("#run-result")).to_contain_text('"comment": "Within budget"')
    timeline = page.locator("#timeline > li")
    await expect(timeline.filter(has_text="InputRequiredEvent")).to_have_count(1)
    await expect(timeline.filter(has_text="StopEvent")).to_have_count(1)
    await expect(page.locator("#live-state")).to_have_attribute("data-state", "done")
    await page.screenshot(path="/tmp/run.png", full_page=True)


async def test_inbox_follows_answers_made_elsewhere(serve: Any, page: Any) -> None:
    from playwright.async_api import expect

    server = serve()
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        first = await _start_run(client, "ada", 10)
        cards = page.locator("article.request")
        await page.goto(server.url + "/")
        await expect(cards).to_have_count(1)
        await expect(page.locator("#live-state")).to_have_attribute("data-state", "live")
        await _start_run(client, "bob", 20)
        await expect(cards).to_have_count(2)
        # Newest first, in one group for the workflow.
        await expect(cards.nth(0)).to_contain_text("Approve 20.00 for bob?")
        await expect(cards.nth(1)).to_contain_text("Approve 10.00 for ada?")
        await expect(page.locator(".workflow-group .count")).to_have_text("2 pending")

        # A half-typed answer survives the other request going away.
        bob = cards.filter(has_text="bob")
        await bob.get_by_label("Comment").fill("typing…")
        [request] = (await client.get("/requests", params={"run_id": first})).json()["requests"]
        answer = {"approved": False, "comment": "answered elsewhere"}
        response = await client.post(f"/requests/{request['request_id']}/response", json=answer)
        assert response.status_code == 200, response.text
        await expect(cards).to_have_count(1)
        await expect(bob.get_by_label("Comment")).to_have_value("typing…")
        await expect(page.locator("#announcer")).to_contain_text("answered or closed elsewhere")


async def test_run_page_follows_the_run_live(serve: Any, page: Any) -> None:
    from playwright.async_api import expect

    server = serve()
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        run_id = await _start_run(client, "ada", 12)
        await page.goto(f"{server.url}/runs/{run_id}/page")
        await expect(page.get_by_role("heading", level=1)).to_contain_text(run_id)
        timeline = page.locator("#timeline > li")
        await expect(timeline.filter(has_text="InputRequiredEvent")).to_contain_text("#1")
        await expect(page.locator("#run-status")).to_have_text("waiting")
        await expect(page.locator("#live-state")).to_have_attribute("data-state", "live")

        # The pending request can be answered from the run's page as well.
        waiting = page.get_by_role("region", name="Waiting for input")
        card = waiting.locator("article.request", has_text="Approve 12.00 for ada?")
        await card.get_by_label("Comment").fill("from the run page")
        await card.get_by_role("button", name="Send answer").click()

        await expect(page.locator("#run-status")).to_have_text("completed")
        await expect(timeline.filter(has_text="StopEvent")).to_contain_text("from the run page")
        await expect(waiting).to_be_hidden()
        await expect(page.locator("#run-result")).to_contain_text('"approved": false')
        await expect(page.locator("#announcer")).to_contain_text("Run completed")
        await expect(page.locator("#live-state")).to_have_attribute("data-state", "done")

    await page.goto(f"{server.url}/runs/no-such-run/page")
    await expect(page.locator("#load-error")).to_contain_text("no run with id no-such-run")


async def test_token_is_asked_for_and_sent(serve: Any, page: Any) -> None:
    from playwright.async_api import expect

    server = serve(token="s3cret")
    headers = {"Authorization": "Bearer s3cret"}
    async with httpx.AsyncClient(base_url=server.url, timeout=30, headers=headers) as client:
        run_id = await _start_run(client, "ada", 5)
        await page.goto(server.url + "/")
        token = page.get_by_label("Access token")
        await expect(token).to_be_focused()
        await token.fill("wrong")
        await page.get_by_role("button", name="Use token").click()
        await expect(page.locator("#auth-error")).to_contain_text("not accepted")
        await token.fill("s3cret")
        await page.get_by_role("button", name="Use token").click()
        card = page.locator("article.request", has_text="Approve 5.00 for ada?")
        await expect(card).to_be_visible()
        await expect(page.locator("#auth")).to_be_hidden()
        # The inbox stream carries the token too: a new request still arrives live.
        await expect(page.locator("#live-state")).to_have_attribute("data-state", "live")
        await _start_run(client, "bob", 6)
        await expect(
            page.locator("article.request", has_text="Approve 6.00 for bob?")
        ).to_be_visible()

        await card.get_by_label("Approved").check()
        await card.get_by_role("button", name="Send answer").click()
        await expect(card).to_have_count(0)
        run = (await client.get(f"/runs/{run_id}")).json()
        assert run["status"] == "completed", run
        assert run["result"]["approved"] is True


async def test_nested_model_answered_through_a_fieldset(serve: Any, page: Any) -> None:
    from playwright.async_api import expect

    server = serve()
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        response = await client.post("/workflows/review/runs", json={})
        assert response.status_code == 201, response.text
        run_id = response.json()["run_id"]
        await page.goto(server.url + "/")
        card = page.locator("article.request", has_text="Review the paper")
        await expect(card).to_be_visible()
        reviewer = card.get_by_role("group", name="Reviewer")
        name = reviewer.get_by_label("Name")
        await expect(name).to_have_attribute("required", "")
        await expect(reviewer.get_by_text("Who reviewed it.")).to_be_visible()
        await expect(reviewer.get_by_label("Team")).to_have_value("finance")
        await card.get_by_label("Accepted").check()
        await name.fill("grace")
        await card.get_by_role("button", name="Send answer").click()
        rejected = card.locator(".form-error", has_text="rejected")
        await expect(
            page.locator("#announcer", has_text="Answer sent").or_(rejected)
        ).to_have_count(1)
        assert await rejected.count() == 0, await rejected.all_text_contents()
        await expect(card).to_have_count(0)
        run = (await client.get(f"/runs/{run_id}")).json()
        assert run["status"] == "completed", run
        assert run["result"] == {"accepted": True, "reviewer": {"name": "grace", "team": "finance"}}


async def test_form_covers_the_schema_subset(serve: Any, page: Any) -> None:
    """What the generated form sends, seen by intercepting the POST (answered 409, then 200)."""
    from playwright.async_api import expect

    server = serve()
    sent: list[tuple[Any, str | None]] = []
    replies = [
        (
            409,
            {
                "error": {
                    "code": "request_already_answered",
                    "message": "already answered differently",
                }
            },
        ),
        (200, {"accepted": True, "duplicate": False}),
    ]

    async def answer(route: Any) -> None:
        sent.append((route.request.post_data_json, route.request.headers.get("idempotency-key")))
        status, body = replies[len(sent) - 1]
        await route.fulfill(status=status, content_type="application/json", body=json.dumps(body))

    await page.route("**/requests/*/response", answer)
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        response = await client.post("/workflows/survey/runs", json={})
        assert response.status_code == 201, response.text
    await page.goto(server.url + "/")
    card = page.locator("article.request", has_text="Fill in everything")
    await expect(card).to_be_visible()
    await expect(card.get_by_text("Fields marked * are required.")).to_be_visible()

    title = card.get_by_label("Title")
    await expect(title).to_have_attribute("minlength", "2")
    count = card.get_by_label("Count")
    await expect(count).to_have_attribute("step", "1")
    await expect(count).to_have_attribute("max", "10")
    await expect(card.get_by_label("Ratio")).to_have_value("0.5")
    color = card.get_by_label("Color")
    await expect(color).to_have_attribute("required", "")
    await expect(color.locator("option")).to_have_text(["Choose…", "red", "blue"])

    await title.fill("ab")
    await count.fill("3")
    await card.get_by_label("Ok").check()
    await color.select_option(label="blue")
    await card.get_by_label("Level").select_option(label="b")
    await card.get_by_label("Tags").fill("x\n\n y \n")
    await card.get_by_role("group", name="Sizes").get_by_label("m").check()
    await card.get_by_label("Extra").fill('{"a": 1}')
    await card.get_by_role("group", name="Reviewer").get_by_label("Name").fill("grace")
    send = card.get_by_role("button", name="Send answer")
    await send.click()
    await expect(card.get_by_role("alert")).to_have_text(
        "Not accepted: already answered differently"
    )
    await send.click()
    await expect(page.locator("#announcer")).to_contain_text("Answer sent")

    expected = {
        "title": "ab",
        "count": 3,
        "ratio": 0.5,
        "ok": True,
        "color": "blue",
        "level": "b",
        "tags": ["x", "y"],
        "sizes": ["m"],
        "extra": {"a": 1},
        "reviewer": {"name": "grace", "team": "finance"},
    }
    assert [body for body, _ in sent] == [expected, expected]
    keys = {key for _, key in sent}
    assert len(keys) == 1, "a retry of the same answer reuses its idempotency key"
    uuid.UUID(keys.pop())


# -- the page routes without a browser --------------------------------------------------------
async def test_page_routes_serve_the_packaged_files() -> None:
    transport = httpx.ASGITransport(app=Starlette(routes=page_routes()))
    async with httpx.AsyncClient(transport=transport, base_url="http://pages") as client:
        await _check_page_routes(client)


async def _check_page_routes(client: httpx.AsyncClient) -> None:
    inbox = await client.get("/")
    assert inbox.status_code == 200
    assert inbox.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in inbox.headers["content-security-policy"]
    assert 'src="/static/app.js"' in inbox.text

    run = await client.get("/runs/a%22b%3Cc/page")
    assert run.status_code == 200
    assert 'data-run-id="a&quot;b&lt;c"' in run.text

    script = await client.get("/static/app.js")
    assert script.status_code == 200
    assert script.headers["content-type"].startswith("text/javascript")
    again = await client.get("/static/app.js", headers={"If-None-Match": script.headers["etag"]})
    assert again.status_code == 304
    assert (await client.get("/static/style.css")).headers["content-type"].startswith("text/css")

    for missing in ("/static/nope.js", "/static/inbox.html", "/static/.hidden.css"):
        response = await client.get(missing)
        assert response.status_code == 404, missing
        assert response.json()["error"]["code"] == "not_found"
    assert (await client.get("/static/..%2F_pages.py")).status_code == 404
