"""llama-index-core's agents, unchanged, on this package: in memory and durably.

Needs llama-index-core installed next to durable-workflows (the README's "Durable
LlamaIndex agents" command). Without it these tests skip; with
``WORKFLOWS_REQUIRE_LLAMA_INDEX=1`` (set by ``.ci/run``) they fail instead.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

if os.environ.get("WORKFLOWS_REQUIRE_LLAMA_INDEX") != "1":
    pytest.importorskip(
        "llama_index.core",
        reason="llama-index-core is not installed: see 'Durable LlamaIndex agents' in README.md",
    )

from llama_index.core.agent.workflow import (  # noqa: E402
    AgentWorkflow,
    ReActAgent,
)
from llama_index.core.llms import ChatMessage, MessageRole  # noqa: E402
from llama_index.core.llms.mock import MockFunctionCallingLLM  # noqa: E402

from workflows import Context  # noqa: E402
from workflows.engine import Engine  # noqa: E402
from workflows.events import HumanResponseEvent, InputRequiredEvent  # noqa: E402
from workflows.integrations.llama_index import agent_start_event, durable_agent  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "examples"))
import llamaindex_agent as example  # noqa: E402

# --- a ReAct agent: the same approval tool, a scripted text LLM ------------------------


def _react_script(messages: Sequence[ChatMessage], **kwargs: Any) -> ChatMessage:
    # The system prompt explains the format (it contains "Observation:" too): skip it.
    text = "\n".join(str(m.content or "") for m in messages if m.role != MessageRole.SYSTEM)
    observed = re.findall(r"Observation: (.*)", text)
    if observed:
        return ChatMessage(
            role="assistant", content=f"Thought: I can answer now.\nAnswer: Done: {observed[-1]}"
        )
    return ChatMessage(
        role="assistant",
        content=(
            "Thought: I need approval to move money.\nAction: transfer_money\n"
            'Action Input: {"amount": 75, "to": "carol"}'
        ),
    )


def react_agent() -> ReActAgent:
    return ReActAgent(
        name="react_banker",
        description="Moves money once a person approves (ReAct).",
        tools=[example.transfer_money],
        llm=MockFunctionCallingLLM(response_generator=_react_script),
        streaming=False,
        timeout=None,
    )


async def _answer_prompts(handler: Any, answer: str) -> list[str]:
    prompts = []
    async for event in handler.stream_events():
        if isinstance(event, InputRequiredEvent):
            prompts.append(event.prefix)
            handler.ctx.send_event(HumanResponseEvent(response=answer))
    return prompts


# --- in memory -------------------------------------------------------------------------


async def test_function_agent_runs_its_approval_tool_in_memory() -> None:
    handler = example.build_agent().run(user_msg="send 120 to bob")
    prompts = await _answer_prompts(handler, "yes")
    assert prompts == ["Approve a transfer of 120 to bob? [yes/no]"]
    assert str(await handler) == "Done: transferred 120 to bob."


async def test_function_agent_reports_a_refusal() -> None:
    handler = example.build_agent().run(user_msg="send 9 to eve")
    await _answer_prompts(handler, "no")
    assert str(await handler) == "Done: the transfer of 9 to eve was refused."


async def test_react_agent_runs_its_approval_tool_in_memory() -> None:
    handler = react_agent().run(user_msg="pay carol")
    prompts = await _answer_prompts(handler, "yes")
    assert prompts == ["Approve a transfer of 75 to carol? [yes/no]"]
    assert "transferred 75 to carol" in str(await handler)


async def test_agent_workflow_hands_the_request_to_its_root_agent() -> None:
    flow = AgentWorkflow(agents=[example.build_agent()], root_agent="banker", timeout=None)
    handler = flow.run(user_msg="send 5 to dan")
    prompts = await _answer_prompts(handler, "yes")
    assert prompts == ["Approve a transfer of 5 to dan? [yes/no]"]
    assert "transferred 5 to dan" in str(await handler)


async def test_agent_state_is_kept_across_runs_on_one_context() -> None:
    agent = example.build_agent()
    ctx = Context(agent)
    first = agent.run(user_msg="send 1 to ann", ctx=ctx)
    await _answer_prompts(first, "yes")
    await first
    second = agent.run(user_msg="send 2 to ann", ctx=ctx)
    await _answer_prompts(second, "yes")
    await second
    memory = await ctx.store.get("memory")
    users = [m.content for m in memory.get_all() if m.role == MessageRole.USER]
    assert users == ["send 1 to ann", "send 2 to ann"]


async def test_a_paused_agent_resumes_from_a_json_snapshot() -> None:
    agent = durable_agent(example.build_agent())
    handler = agent.run(user_msg="send 30 to fay")
    async for event in handler.stream_events():
        if isinstance(event, InputRequiredEvent):
            break
    data = handler.ctx.to_dict()
    await handler.cancel_run()
    restored = Context.from_dict(agent, data)
    assert restored.is_running  # an unfinished run: run(ctx=...) continues it
    resumed = durable_agent(example.build_agent()).run(ctx=restored)
    # The prompt was streamed before the snapshot and is not asked again: answer it.
    resumed.ctx.send_event(HumanResponseEvent(response="yes"))
    assert str(await asyncio.wait_for(resumed, 30)) == "Done: transferred 30 to fay."


# --- durably, on the engine -------------------------------------------------------------


@pytest.mark.parametrize("make", [example.build_agent, react_agent], ids=["function", "react"])
async def test_agent_pauses_durably_and_finishes_in_a_new_engine(tmp_path: Path, make: Any) -> None:
    url = f"sqlite:///{tmp_path / 'agents.db'}"
    async with Engine(url, {"agent": durable_agent(make())}, idle_release_after=0) as eng:
        handle = await eng.start("agent", start_event=agent_start_event("send 120 to bob"))
        requests: list[Any] = []
        for _ in range(400):
            requests = await eng.inbox()
            if requests:
                break
            await asyncio.sleep(0.05)
        assert len(requests) == 1
    # a new engine (as another process would) answers; the agent finishes there
    async with Engine(url, {"agent": durable_agent(make())}, idle_release_after=0) as eng:
        await eng.respond(requests[0].request_id, "yes")
        result = await asyncio.wait_for(eng.get(handle.run_id).result(), 60)
    assert "transferred" in str(result)


@pytest.mark.timeout(240)
def test_agent_survives_sigkill_while_waiting_and_is_approved_from_another_process() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "llamaindex_agent.py"), "demo"],
        capture_output=True,
        text=True,
        timeout=200,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "killed the starting process (exit -9)" in done.stdout
    assert done.stdout.strip().endswith("Done: transferred 120 to bob.")
