"""The inbox and run pages a person uses, in headless Chromium against a live server.

Answering shows a confirmation that links to the run; the run page shows every answer
with when it was given, the time between events, the workflow's graph with the current
step highlighted, and a cancel button; the inbox stays usable with 500 pending requests
(compact rows, a workflow filter, a search box, pages); every value shown is text, never
markup. Also the API the pages read: ``GET /runs/{id}/history``, the workflow's
``graph``, ``RunOut.current_steps`` and ``RequestOut.answered_at``.

Screenshots go to ``.ci/artifacts/``. Without ``/usr/bin/chromium`` (or Playwright) the
browser tests skip, unless ``WORKFLOWS_REQUIRE_BROWSER=1`` (CI), where they fail.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from pydantic import Field

from _live_server import LiveServer
from workflows import Context, Workflow, step
from workflows.events import Event, HumanResponseEvent, InputRequiredEvent, StartEvent, StopEvent
from workflows.server import create_app

from ._helpers import assert_error, finished_run, pending_requests

ARTIFACTS = Path(__file__).resolve().parents[2] / ".ci" / "artifacts"
HOSTILE = '<img src=x onerror="document.body.dataset.xss=1">'
HOSTILE_SCRIPT = "<script>document.body.dataset.xss=2</script>"


# -- the workflows --------------------------------------------------------------------------
class Decision(HumanResponseEvent):
    """A manager's typed answer, waited for with ``wait_for_event``."""

    approved: bool = Field(description="Approve the expense?")
    reason: str = Field(description="Shown to the employee.")
    escalate: bool | None = None


class Claim(Event):
    """What the intake step hands to the review."""

    employee: str
    amount: float


class ExpenseReview(Workflow):
    """intake -> Claim -> review (waits for a Decision) -> StopEvent."""

    @step
    async def intake(self, ev: StartEvent) -> Claim:
        return Claim(employee=ev.employee, amount=ev.amount)

    @step
    async def review(self, ctx: Context, ev: Claim) -> StopEvent:
        decision = await ctx.wait_for_event(
            Decision,
            InputRequiredEvent(
                prefix=f"Approve {ev.amount:.2f} for {ev.employee}?", employee=ev.employee
            ),
            timeout=None,
        )
        return StopEvent(
            result={
                "employee": ev.employee,
                "approved": decision.approved,
                "reason": decision.reason,
                "escalate": decision.escalate,
            }
        )


class Ticket(HumanResponseEvent):
    """A one-field answer."""

    reply: str


class Support(Workflow):
    """ask -> InputRequiredEvent; a Ticket answer -> answer -> StopEvent."""

    @step
    async def ask(self, ev: StartEvent) -> InputRequiredEvent:
        return InputRequiredEvent(prefix=f"Reply to ticket {ev.ticket}", ticket=ev.ticket)

    @step
    async def answer(self, ev: Ticket) -> StopEvent:
        return StopEvent(result=ev.reply)


class HostileAnswer(HumanResponseEvent):
    """Titles and descriptions that look like markup."""

    comment: str = Field(title="<i>Comment</i>", description=HOSTILE)


class Hostile(Workflow):
    """Everything it shows looks like markup."""

    @step
    async def ask(self, ev: StartEvent) -> InputRequiredEvent:
        return InputRequiredEvent(prefix=HOSTILE_SCRIPT, detail=HOSTILE)

    @step
    async def answer(self, ev: HostileAnswer) -> StopEvent:
        return StopEvent(result={"comment": ev.comment, "html": HOSTILE})


HOSTILE_NAME = f"wf {HOSTILE}"
ANSWERER = "Grace Hopper (Zoë)"


def _workflows() -> dict[str, Workflow]:
    return {
        "expense": ExpenseReview(timeout=None),
        "support": Support(timeout=None),
        HOSTILE_NAME: Hostile(timeout=None),
    }


# -- fixtures --------------------------------------------------------------------------------
@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    live = LiveServer(
        create_app(f"sqlite:///{tmp_path / 'pages.db'}", _workflows(), heartbeat=0.5)
    ).start()
    yield live
    live.stop()


@pytest.fixture
def artifacts() -> Path:
    """Where screenshots go (``.ci/artifacts/`` at the repository's root)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


async def _start(client: httpx.AsyncClient, workflow: str, **fields: Any) -> str:
    response = await client.post(
        f"/workflows/{quote(workflow, safe='')}/runs", json={"input": fields}
    )
    assert response.status_code == 201, response.text
    run_id: str = response.json()["run_id"]
    return run_id


def _iso(seconds: float) -> str:
    """What ``Date.toISOString()`` writes for ``seconds``."""
    stamp = datetime.fromtimestamp(seconds, tz=timezone.utc)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z"


# -- the API the pages read --------------------------------------------------------------------
async def test_graph_history_current_steps_and_answered_at(client: httpx.AsyncClient) -> None:
    graph = (await client.get("/workflows/support")).json()["graph"]
    kinds = {node["label"]: node["kind"] for node in graph["nodes"]}
    assert kinds == {
        "StartEvent": "start",
        "ask": "step",
        "InputRequiredEvent": "input",
        "answer": "step",
        "Ticket": "response",
        "StopEvent": "stop",
    }
    edges = {(e["source"], e["target"]) for e in graph["edges"]}
    assert ("step:ask", "event:workflows.events.InputRequiredEvent") in edges
    assert (f"event:{Ticket.__module__}.Ticket", "step:answer") in edges

    run_id = await _start(client, "support", ticket=7)
    [request] = await pending_requests(client, run_id=run_id)
    assert request["answered_at"] is None
    run = (await client.get(f"/runs/{run_id}")).json()
    assert run["status"] == "waiting" and run["current_steps"] == ["answer"]

    expense = await _start(client, "expense", employee="ada", amount=3)
    await pending_requests(client, run_id=expense)
    waiting = (await client.get(f"/runs/{expense}")).json()
    assert waiting["current_steps"] == ["review"]  # the step inside wait_for_event

    answered = await client.post(
        f"/requests/{request['request_id']}/response", json={"reply": "fixed"}
    )
    assert answered.status_code == 200, answered.text
    done = await finished_run(client, run_id)
    assert done["status"] == "completed" and done["current_steps"] == []
    closed = (await client.get(f"/requests/{request['request_id']}")).json()
    assert closed["status"] == "answered"
    assert request["created_at"] <= closed["answered_at"] <= done["updated_at"]

    history = (await client.get(f"/runs/{run_id}/history")).json()["events"]
    assert [e["type"] for e in history] == ["InputRequiredEvent", "StopEvent"]
    assert [e["seq"] for e in history] == [1, 2]
    assert history[0]["created_at"] <= closed["answered_at"] <= history[1]["created_at"]
    assert history[1]["data"] == {"result": "fixed"} and history[1]["corrupt"] is None
    later = (await client.get(f"/runs/{run_id}/history", params={"after": 1})).json()
    assert [e["seq"] for e in later["events"]] == [2]
    first = (await client.get(f"/runs/{run_id}/history", params={"limit": 1})).json()
    assert [e["seq"] for e in first["events"]] == [1]

    assert_error(await client.get("/runs/nope/history"), 404, "run_not_found")
    assert_error(await client.get(f"/runs/{run_id}/history?after=-1"), 400, "bad_parameter")
    assert_error(await client.get(f"/runs/{run_id}/history?limit=0"), 400, "bad_parameter")
    document = (await client.get("/openapi.json")).json()
    assert "/runs/{run_id}/history" in document["paths"]
    assert "graph" in document["components"]["schemas"]["WorkflowOut"]["properties"]


# -- browser tests ------------------------------------------------------------------------------
async def test_answer_is_confirmed_and_the_run_page_keeps_the_record(
    server: LiveServer, client: httpx.AsyncClient, page: Any, artifacts: Path
) -> None:
    from playwright.async_api import expect

    run_id = await _start(client, "expense", employee="ada", amount=420)
    await page.goto(server.url + "/")
    card = page.locator("article.request", has_text="Approve 420.00 for ada?")
    await expect(card).to_be_visible()

    # The form follows the response schema: a checkbox for the boolean, a text box for
    # the string, a yes/no/unset choice for the optional boolean.
    approved = card.get_by_label("Approved")
    await expect(approved).to_have_attribute("type", "checkbox")
    reason = card.get_by_label("Reason")
    await expect(reason).to_have_attribute("type", "text")
    await expect(reason).to_have_attribute("required", "")
    escalate = card.get_by_label("Escalate")
    await expect(escalate.locator("option")).to_have_text(["—", "Yes", "No"])

    await approved.check()
    await reason.fill("Within budget")
    await escalate.select_option(label="No")
    # Who answers: typed once, remembered by the browser, sent with every answer.
    await page.get_by_label("Answering as").fill(ANSWERER)
    await card.get_by_role("button", name="Send answer").click()

    # The card goes, and a confirmation stays with a link to the run.
    confirmation = page.locator("#sent .sent-item")
    await expect(confirmation).to_have_count(1)
    await expect(confirmation).to_contain_text("Answer sent for")
    await expect(confirmation).to_contain_text("Approve 420.00 for ada?")
    await expect(card).to_have_count(0)
    await expect(confirmation.locator(".sent-text")).to_be_focused()
    await expect(page.locator("#announcer")).to_contain_text("Answer sent")
    await page.screenshot(path=str(artifacts / "inbox-answer-confirmation.png"), full_page=True)

    done = await finished_run(client, run_id)
    assert done["result"] == {
        "employee": "ada",
        "approved": True,
        "reason": "Within budget",
        "escalate": False,
    }
    [request] = (await client.get("/requests", params={"run_id": run_id, "status": "all"})).json()[
        "requests"
    ]
    assert request["answered_by"] == ANSWERER

    await confirmation.get_by_role("link", name=f"Open run {run_id[:12]}…").click()
    await expect(page).to_have_url(f"{server.url}/runs/{run_id}/page")
    await expect(page.locator("#run-status")).to_have_text("completed")
    await expect(page.locator("#run-current")).to_contain_text("none: the run is completed")
    await expect(page.locator("#run-duration")).to_contain_text("start to finish")
    await expect(page.locator("#answering-as")).to_have_value(ANSWERER)  # remembered

    # Every answer, what it said and when (the exact instant, in the time element).
    answer = page.locator("#answers > li")
    await expect(answer).to_have_count(1)
    await expect(answer).to_contain_text("Approve 420.00 for ada?")
    await expect(answer).to_contain_text("Within budget")
    await expect(answer.locator(".answer-when")).to_contain_text("answered")
    await expect(answer.locator(".answer-when time")).to_have_attribute(
        "datetime", _iso(request["answered_at"])
    )
    await expect(answer.locator(".answer-after")).to_contain_text("after it was asked")
    await expect(answer.locator(".answer-by")).to_have_text(f" by {ANSWERER}")

    # The start input, a row a field.
    start = page.locator("#run-input")
    await expect(start).to_be_visible()
    await expect(page.locator("#run-input-missing")).to_be_hidden()
    await expect(start.locator("caption")).to_have_text("StartEvent")
    await expect(start.locator("tbody tr")).to_have_count(2)
    await expect(start.locator("tr", has_text="employee").locator("td")).to_have_text("ada")
    await expect(start.locator("tr", has_text="amount").locator("td")).to_have_text("420")

    # The timeline: start, the prompt, the answer, the result, each with its delay.
    entries = page.locator("#timeline > li")
    await expect(entries).to_have_count(4)
    await expect(entries.nth(0)).to_contain_text("Run started")
    await expect(entries.nth(1)).to_contain_text("InputRequiredEvent")
    await expect(entries.nth(2)).to_contain_text("Answer")
    await expect(entries.nth(2)).to_contain_text("Within budget")
    await expect(entries.nth(2).locator(".answer-by")).to_contain_text(ANSWERER)
    await expect(entries.nth(3)).to_contain_text("StopEvent")
    for i in (1, 2, 3):
        await expect(entries.nth(i).locator(".delta")).to_have_text(
            re.compile(r"^\+\d+(\.\d)? (ms|s)$|^\+\d+ min")
        )
        await expect(entries.nth(i).locator(".when time")).to_have_count(1)

    # The graph: every node drawn (wait_for_event's Decision is not in the graph), the
    # event types written marked, no current step.
    graph = page.locator("#graph svg")
    await expect(graph.locator("g.node")).to_have_count(5)
    await expect(graph.locator("g.node.current")).to_have_count(0)
    await expect(graph.locator("g.node.seen", has_text="StopEvent")).to_have_count(1)
    await expect(page.locator("#graph-caption")).to_contain_text("Current step: none")
    await page.screenshot(path=str(artifacts / "run-page-completed.png"), full_page=True)


async def test_run_page_highlights_the_current_step_and_takes_the_answer(
    server: LiveServer, client: httpx.AsyncClient, page: Any, artifacts: Path
) -> None:
    from playwright.async_api import expect

    run_id = await _start(client, "expense", employee="bob", amount=12)
    await pending_requests(client, run_id=run_id)
    await page.goto(f"{server.url}/runs/{run_id}/page")
    await expect(page.locator("#run-status")).to_have_text("waiting")
    await expect(page.locator("#run-current")).to_have_text("review (waiting for an answer)")
    graph = page.locator("#graph svg")
    await expect(graph).to_have_attribute("role", "img")
    current = graph.locator("g.node.current")
    await expect(current).to_have_count(1)
    await expect(current).to_have_attribute("data-label", "review")
    await expect(current).to_have_attribute("aria-current", "step")
    await expect(graph.locator("g.node", has_text="intake")).not_to_have_class("node.*current")
    await expect(page.locator("#graph-caption")).to_have_text(
        "Workflow expense. Current step: review (waiting for an answer)."
    )
    await expect(page.locator("#answers-empty")).to_be_visible()
    await page.screenshot(path=str(artifacts / "run-page-waiting.png"), full_page=True)

    waiting = page.get_by_role("region", name="Waiting for input")
    card = waiting.locator("article.request", has_text="Approve 12.00 for bob?")
    await card.get_by_label("Reason").fill("from the run page")
    await card.get_by_role("button", name="Send answer").click()
    await expect(page.locator("#sent .sent-item")).to_contain_text("Approve 12.00 for bob?")
    await expect(page.locator("#run-status")).to_have_text("completed")
    await expect(current).to_have_count(0)
    await expect(page.locator("#answers > li")).to_contain_text("from the run page")
    await expect(page.locator("#answers > li .answer-by")).to_have_text(" by someone not named")
    await expect(page.locator("#cancel-run")).to_be_hidden()
    await expect(page.locator("#live-state")).to_have_attribute("data-state", "done")


async def test_cancel_from_the_run_page(
    server: LiveServer, client: httpx.AsyncClient, page: Any, artifacts: Path
) -> None:
    from playwright.async_api import expect

    run_id = await _start(client, "support", ticket=9)
    await pending_requests(client, run_id=run_id)
    await page.goto(f"{server.url}/runs/{run_id}/page")
    await expect(page.locator("#run-status")).to_have_text("waiting")
    cancel = page.get_by_role("button", name="Cancel run")

    # Asked first; "keep it running" changes nothing.
    await cancel.click()
    confirm = page.get_by_role("group", name="Cancel this run?")
    await expect(confirm).to_be_visible()
    await expect(confirm.get_by_role("button", name="Keep it running")).to_be_focused()
    await page.screenshot(path=str(artifacts / "run-page-cancel-confirm.png"), full_page=True)
    await confirm.get_by_role("button", name="Keep it running").click()
    await expect(confirm).to_be_hidden()
    assert (await client.get(f"/runs/{run_id}")).json()["status"] == "waiting"

    await cancel.click()
    await confirm.get_by_role("button", name="Yes, cancel the run").click()
    await expect(page.locator("#run-status")).to_have_text("cancelled")
    await expect(page.locator("#announcer")).to_contain_text("Run cancelled")
    await expect(cancel).to_be_hidden()
    await expect(page.get_by_role("region", name="Waiting for input")).to_be_hidden()
    await expect(page.locator("#answers > li")).to_contain_text("cancelled")
    await expect(page.locator("#live-state")).to_have_attribute("data-state", "done")
    run = (await client.get(f"/runs/{run_id}")).json()
    assert run["status"] == "cancelled"
    await page.screenshot(path=str(artifacts / "run-page-cancelled.png"), full_page=True)


async def _start_many(client: httpx.AsyncClient, runs: list[tuple[str, dict[str, Any]]]) -> None:
    gate = asyncio.Semaphore(8)

    async def one(workflow: str, fields: dict[str, Any]) -> None:
        async with gate:
            await _start(client, workflow, **fields)

    await asyncio.gather(*(one(w, f) for w, f in runs))


async def test_inbox_with_500_pending_requests(
    server: LiveServer, client: httpx.AsyncClient, page: Any, artifacts: Path
) -> None:
    from playwright.async_api import expect

    runs = [("expense", {"employee": f"emp-{n:03d}", "amount": n + 1}) for n in range(400)]
    runs += [("support", {"ticket": f"T-{n:03d}"}) for n in range(100)]
    await _start_many(client, runs)
    await pending_requests(client, 500, limit=1000)

    await page.goto(server.url + "/")
    rows = page.locator("#inbox article.request")
    summary = page.locator("#inbox-summary")
    await expect(summary).to_have_text("Showing 1–50 of 500 pending.")
    await expect(rows).to_have_count(50)
    # Compact: one line each, forms closed until asked for.
    await expect(page.locator("#inbox .request-body:visible")).to_have_count(0)
    toggles = page.get_by_role("button", name="Answer", exact=True)
    await expect(toggles).to_have_count(50)
    await toggles.nth(3).click()  # one row opens, the others stay one line
    await expect(rows.nth(3).get_by_role("button", name="Close", exact=True)).to_have_attribute(
        "aria-expanded", "true"
    )
    await expect(rows.nth(3).get_by_role("button", name="Send answer")).to_be_visible()
    await expect(page.locator("#inbox .request-body:visible")).to_have_count(1)
    await rows.nth(3).get_by_role("button", name="Close", exact=True).click()
    await expect(page.locator("#inbox .request-body:visible")).to_have_count(0)
    await expect(page.locator("#page-label")).to_have_text("Page 1 of 10")
    await expect(page.get_by_role("button", name="Previous page")).to_be_disabled()
    box = await rows.nth(0).bounding_box()
    assert box is not None and box["height"] < 80, box
    await page.screenshot(path=str(artifacts / "inbox-500-page-1.png"), full_page=False)

    # Paging.
    first_page = await rows.nth(0).inner_text()
    await page.get_by_role("button", name="Next page").click()
    await expect(summary).to_have_text("Showing 51–100 of 500 pending.")
    await expect(summary).to_be_focused()
    await expect(page.locator("#page-label")).to_have_text("Page 2 of 10")
    await expect(rows).to_have_count(50)
    assert await rows.nth(0).inner_text() != first_page
    assert "page=2" in page.url

    # The workflow filter, with counts.
    select = page.get_by_label("Workflow")
    await expect(select.locator("option")).to_have_text(
        ["All workflows (500)", "expense (400)", "support (100)", f"{HOSTILE_NAME} (0)"]
    )
    await select.select_option("support")
    await expect(summary).to_have_text("Showing 1–50 of 100 pending (500 in all).")
    await expect(page.locator(".workflow-group .count")).to_have_text("100 pending")
    await expect(page.locator("#page-label")).to_have_text("Page 1 of 2")
    await expect(rows.filter(has_text="Approve")).to_have_count(0)

    # The search, within the filter, then across all.
    search = page.get_by_label("Search")
    await search.fill("T-042")
    await expect(summary).to_have_text("Showing 1–1 of 1 pending (500 in all).")
    await expect(rows).to_have_count(1)
    await expect(page.locator("#pager")).to_be_hidden()
    assert "workflow=support" in page.url and "q=T-042" in page.url
    await select.select_option("")
    await search.fill("emp-123 approve")
    await expect(rows).to_have_count(1)
    row = rows.first
    await expect(row).to_contain_text("Approve 124.00 for emp-123?")
    await page.screenshot(path=str(artifacts / "inbox-500-search.png"), full_page=False)

    # Few matches: the row's form is open at once. Answer it: confirmed, and gone from
    # the counts.
    await expect(row.get_by_role("button", name="Close", exact=True)).to_have_attribute(
        "aria-expanded", "true"
    )
    await row.get_by_label("Reason").fill("ok")
    await row.get_by_role("button", name="Send answer").click()
    await expect(page.locator("#sent .sent-item")).to_contain_text("Approve 124.00 for emp-123?")
    await expect(summary).to_have_text("No pending request matches the filter and search.")
    await search.fill("")
    await expect(summary).to_have_text("Showing 1–50 of 499 pending.")
    await expect(select.locator("option").first).to_have_text("All workflows (499)")

    # Deltas from the shared stream still arrive: a new request and one answered elsewhere.
    new_run = await _start(client, "support", ticket="T-NEW")
    await expect(rows.first).to_contain_text("Reply to ticket T-NEW")
    await expect(summary).to_have_text("Showing 1–50 of 500 pending.")
    [other] = (await client.get("/requests", params={"run_id": new_run})).json()["requests"]
    answered = await client.post(f"/requests/{other['request_id']}/response", json={"reply": "x"})
    assert answered.status_code == 200, answered.text
    await expect(summary).to_have_text("Showing 1–50 of 499 pending.")
    await expect(page.locator("#announcer")).to_contain_text("answered or closed elsewhere")
    await page.screenshot(path=str(artifacts / "inbox-500-after-answers.png"), full_page=False)


async def test_every_value_shown_is_text_not_markup(
    server: LiveServer, client: httpx.AsyncClient, page: Any, artifacts: Path
) -> None:
    """Prompt, prompt fields, schema titles and descriptions, workflow name, answer,
    result, confirmation, graph caption: all shown literally, none parsed as HTML."""
    from playwright.async_api import expect

    async def no_markup() -> None:
        injected = page.locator("#main img, #main script, #main i, #main iframe, #main b")
        assert await injected.count() == 0
        assert await page.evaluate("document.body.dataset.xss") is None

    run_id = await _start(client, HOSTILE_NAME)
    await page.goto(server.url + "/")
    card = page.locator("article.request").first
    await expect(card.locator(".prompt")).to_have_text(HOSTILE_SCRIPT)
    await expect(card.locator(".prompt-fields")).to_contain_text(HOSTILE)
    await expect(page.locator(".workflow-group .wf-name")).to_have_text(HOSTILE_NAME)
    await expect(card.locator("label", has_text="<i>Comment</i>")).to_be_visible()
    await expect(card.get_by_text(HOSTILE, exact=True).last).to_be_visible()
    await expect(
        page.get_by_label("Workflow").locator("option", has_text=HOSTILE_NAME)
    ).to_have_count(1)
    await no_markup()

    await card.get_by_label("<i>Comment</i>").fill(HOSTILE)
    await card.get_by_role("button", name="Send answer").click()
    confirmation = page.locator("#sent .sent-item")
    await expect(confirmation).to_contain_text(HOSTILE_SCRIPT)
    await expect(confirmation).to_contain_text(HOSTILE_NAME)
    await no_markup()
    await finished_run(client, run_id)

    await page.goto(f"{server.url}/runs/{run_id}/page")
    await expect(page.locator("#run-status")).to_have_text("completed")
    await expect(page.locator("#run-workflow")).to_have_text(HOSTILE_NAME)
    await expect(page.locator("#run-result")).to_contain_text(json.dumps(HOSTILE))
    await expect(page.locator("#answers > li .prompt")).to_have_text(HOSTILE_SCRIPT)
    await expect(page.locator("#answers > li .answer-fields")).to_contain_text(HOSTILE)
    await expect(page.locator("#graph-caption")).to_contain_text(HOSTILE_NAME)
    await expect(page.locator("#graph svg g.node")).to_have_count(6)
    await expect(page.locator("#timeline > li", has_text="Answer")).to_contain_text(HOSTILE)
    await no_markup()
    await page.screenshot(path=str(artifacts / "run-page-escaped.png"), full_page=True)


async def test_run_page_says_when_the_start_input_was_not_recorded(
    server: LiveServer, page: Any, tmp_path: Path
) -> None:
    """A run stored before start inputs were kept: the page says so instead of a table."""
    from playwright.async_api import expect

    from workflows.stores import RunRecord, SqliteStore

    async with SqliteStore(tmp_path / "pages.db") as store:  # the server's own file
        await store.create_run(RunRecord.new("legacy-run", "support", {}, status="completed"))
    await page.goto(f"{server.url}/runs/legacy-run/page")
    await expect(page.locator("#run-status")).to_have_text("completed")
    await expect(page.locator("#run-input-missing")).to_be_visible()
    await expect(page.locator("#run-input-missing")).to_contain_text("Not recorded")
    await expect(page.locator("#run-input")).to_be_hidden()
