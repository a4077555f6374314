"""The run page's checkpoints in headless Chromium against a live server keeping every
commit: a timeline of the states the run went through, "Fork from here" on the
checkpoint before the answer, the new run listed and linked (its page says where it
comes from), the original untouched. Screenshots go to ``.ci/artifacts/``. Without
``/usr/bin/chromium`` (or Playwright) the test skips, unless
``WORKFLOWS_REQUIRE_BROWSER=1`` (CI), where it fails."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from _live_server import LiveServer
from _served_flows import server_workflows
from workflows import Workflow

from ._helpers import finished_run, pending_requests, started_run

ARTIFACTS = Path(__file__).resolve().parents[2] / ".ci" / "artifacts"


@pytest.fixture
def served_workflows() -> Callable[[], dict[str, Workflow]]:
    return server_workflows


@pytest.fixture
def server(start_server: Any, sqlite_url: str) -> LiveServer:
    live: LiveServer = start_server(sqlite_url, history="all")
    return live


async def test_fork_from_the_checkpoint_before_the_answer(
    server: LiveServer, client: httpx.AsyncClient, page: Any
) -> None:
    from playwright.async_api import expect

    run_id = (await started_run(client, "approval", amount=5))["run_id"]
    [request] = await pending_requests(client, run_id=run_id)
    answered = await client.post(
        f"/requests/{request['request_id']}/response", json={"response": "yes"}
    )
    assert answered.status_code == 200, answered.text
    original = await finished_run(client, run_id)
    kept = (await client.get(f"/runs/{run_id}/checkpoints")).json()["checkpoints"]
    before = [c for c in kept if c["status"] == "waiting"][-1]  # the answer came after it

    await page.goto(f"{server.url}/runs/{run_id}/page")
    await expect(page.locator("#run-status")).to_have_text("completed")
    items = page.locator("#checkpoints > li")
    await expect(items).to_have_count(len(kept))
    await expect(page.locator("#checkpoints-empty")).to_be_hidden()
    await expect(page.locator("#lineage")).to_be_hidden()
    await expect(page.locator("#forks-box")).to_be_hidden()
    end = items.last
    await expect(end).to_have_attribute("data-status", "completed")
    await expect(end).to_contain_text("end:StopEvent")
    await expect(end.get_by_role("button", name="Fork from here")).to_have_count(0)
    waiting = page.locator(f'#checkpoints > li[data-seq="{before["seq"]}"]')
    await expect(waiting).to_contain_text(f"Checkpoint {before['seq']}")
    await expect(waiting).to_contain_text("waiting")

    await waiting.get_by_role("button", name="Fork from here").click()
    new = page.locator("#forks > li.new")
    await expect(new).to_have_count(1)
    await expect(new).to_contain_text(f"from checkpoint {before['seq']}")
    link = new.get_by_role("link")
    await expect(link).to_be_focused()
    await expect(page.locator("#announcer")).to_contain_text(
        f"Forked from checkpoint {before['seq']}"
    )
    fork_id = await new.get_attribute("data-run-id")
    assert fork_id and fork_id != run_id
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "run-page-checkpoints-fork.png"), full_page=True)

    # The original is untouched: the same run, the same checkpoints; its fork is linked.
    assert (await client.get(f"/runs/{run_id}")).json() == original
    after = (await client.get(f"/runs/{run_id}/checkpoints")).json()
    assert after["checkpoints"] == kept
    assert [link["run_id"] for link in after["forks"]] == [fork_id]

    # The fork's page: waiting for its own answer, from where it was forked.
    await link.click()
    await expect(page).to_have_url(f"{server.url}/runs/{fork_id}/page")
    await expect(page.locator("#run-status")).to_have_text("waiting")
    lineage = page.locator("#lineage")
    await expect(lineage).to_contain_text(f"Forked from run {run_id[:12]}")
    await expect(lineage).to_contain_text(f"at checkpoint {before['seq']}")
    first = page.locator("#checkpoints > li").first
    await expect(first).to_contain_text("fork")
    await expect(first).to_contain_text(f"forked from {before['checkpoint_id']}")
    card = page.get_by_role("region", name="Waiting for input").locator("article.request")
    await expect(card).to_contain_text("Approve 5?")
    [asked] = await pending_requests(client, run_id=fork_id)
    no = await client.post(f"/requests/{asked['request_id']}/response", json={"response": "no"})
    assert no.status_code == 200, no.text
    await expect(page.locator("#run-status")).to_have_text("completed")
    assert (await finished_run(client, fork_id))["result"] == {"amount": 5, "verdict": "no"}
    assert (await client.get(f"/runs/{run_id}")).json()["result"] == {
        "amount": 5,
        "verdict": "yes",
    }
