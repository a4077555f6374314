"""A llama-index-core FunctionAgent whose tool asks a person for approval, run durably.

The agent is llama-index-core's own ``FunctionAgent``, unchanged. Its ``transfer_money``
tool pauses on ``ctx.wait_for_event(HumanResponseEvent, waiter_event=InputRequiredEvent(...))``
until someone approves. The run lives in a SQLite file owned by the durable engine, so the
process that started it may die (even with SIGKILL) while it waits; the approval comes from
another process, which loads the run and lets the agent finish.

The LLM is scripted (llama-index-core's ``MockFunctionCallingLLM`` with a response
generator): no network, no API key. Swap in a real LLM to use it for real.

Needs llama-index-core next to durable-workflows (see "Durable LlamaIndex agents" in the
README)::

    python examples/llamaindex_agent.py start "send 120 to bob" [--db agent.db]
    python examples/llamaindex_agent.py inbox [--db agent.db]
    python examples/llamaindex_agent.py respond REQUEST_ID yes [--db agent.db]
    python examples/llamaindex_agent.py demo   # start, SIGKILL while waiting, approve elsewhere
"""

# No `from __future__ import annotations` here: llama-index-core's FunctionTool finds the
# Context parameter of a tool by comparing the annotation object itself with Context.
import argparse
import asyncio
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from llama_index.core.agent.workflow import FunctionAgent
from llama_index.core.base.llms.types import ToolCallBlock
from llama_index.core.llms import ChatMessage, MessageRole
from llama_index.core.llms.mock import MockFunctionCallingLLM
from llama_index.core.workflow import Context

from workflows.engine import Engine
from workflows.events import HumanResponseEvent, InputRequiredEvent
from workflows.integrations.llama_index import agent_start_event, durable_agent

DEFAULT_DB = "agent.db"


async def transfer_money(ctx: Context, amount: int, to: str) -> str:
    """Transfer ``amount`` to ``to``, once a person has approved it."""
    answer = await ctx.wait_for_event(
        HumanResponseEvent,
        waiter_id=f"approve-transfer-{to}-{amount}",
        waiter_event=InputRequiredEvent(prefix=f"Approve a transfer of {amount} to {to}? [yes/no]"),
        timeout=None,
    )
    if str(answer.response).strip().lower() in {"y", "yes"}:
        return f"transferred {amount} to {to}"
    return f"the transfer of {amount} to {to} was refused"


def _script(messages: Sequence[ChatMessage], **kwargs: Any) -> ChatMessage:
    """The scripted LLM: call the tool for the user's request, then report its result."""
    last = messages[-1]
    if last.role == MessageRole.TOOL:
        return ChatMessage(role="assistant", content=f"Done: {last.content}.")
    user = next(m for m in reversed(messages) if m.role == MessageRole.USER)
    found = re.search(r"(\d+)\s+to\s+(\w+)", user.content or "")
    if found is None:
        return ChatMessage(role="assistant", content="Tell me how much to send, and to whom.")
    call = ToolCallBlock(
        tool_call_id="call-1",
        tool_name="transfer_money",
        tool_kwargs={"amount": int(found.group(1)), "to": found.group(2)},
    )
    return ChatMessage(role="assistant", blocks=[call])


def build_agent() -> FunctionAgent:
    """The banker agent: one approval-gated tool, a scripted LLM, no timeout."""
    return FunctionAgent(
        name="banker",
        description="Moves money once a person approves.",
        tools=[transfer_money],
        llm=MockFunctionCallingLLM(response_generator=_script),
        streaming=False,
        timeout=None,
    )


def engine(db: str) -> Engine:
    """The engine on the SQLite file ``db``; every process registers the same agent."""
    agent = durable_agent(build_agent())
    return Engine(f"sqlite:///{Path(db).resolve()}", {"banker": agent}, idle_release_after=0)


async def start(db: str, request: str, *, wait: bool) -> None:
    async with engine(db) as eng:
        handle = await eng.start("banker", start_event=agent_start_event(request))
        print(f"started {handle.run_id}", flush=True)
        if wait:  # stay up until killed: the run waits for the approval in this process
            await asyncio.Event().wait()


async def inbox(db: str) -> None:
    async with engine(db) as eng:
        for request in await eng.inbox():
            prompt = request.payload.get("data", {}).get("prefix", "")
            print(f"{request.request_id}\t{prompt}")


async def respond(db: str, request_id: str, value: str) -> None:
    async with engine(db) as eng:
        request = await eng.store.get_request(request_id)
        await eng.respond(request_id, value)
        print(str(await eng.get(request.run_id)))


def demo() -> None:
    """Start in one process, SIGKILL it while it waits, approve from another, print."""
    with tempfile.TemporaryDirectory() as tmp:
        db = str(Path(tmp) / "agent.db")
        cmd = [sys.executable, __file__]
        starter = subprocess.Popen(
            [*cmd, "start", "send 120 to bob", "--db", db, "--stay"],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert starter.stdout is not None
        print(starter.stdout.readline().strip())
        listing = ""
        deadline = time.monotonic() + 60
        while not listing and time.monotonic() < deadline:
            listing = _run([*cmd, "inbox", "--db", db]).strip()
            if not listing:
                time.sleep(0.2)
        os.kill(starter.pid, signal.SIGKILL)
        starter.wait()
        print(f"killed the starting process (exit {starter.returncode}); inbox:\n{listing}")
        request_id = listing.splitlines()[0].split("\t")[0]
        print(_run([*cmd, "respond", request_id, "yes", "--db", db]).strip())


def _run(cmd: list[str]) -> str:
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0:
        sys.exit(f"{' '.join(cmd[1:])} failed:\n{done.stderr}")
    return done.stdout


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    p_start = commands.add_parser("start", help="start the agent on a request")
    p_start.add_argument("request")
    p_start.add_argument("--stay", action="store_true", help="keep the process alive")
    p_inbox = commands.add_parser("inbox", help="list pending approvals")
    p_respond = commands.add_parser("respond", help="answer an approval")
    p_respond.add_argument("request_id")
    p_respond.add_argument("value")
    commands.add_parser("demo", help="start, kill -9 while waiting, approve elsewhere")
    for sub in (p_start, p_inbox, p_respond):
        sub.add_argument("--db", default=DEFAULT_DB, help=f"SQLite file (default {DEFAULT_DB})")
    args = parser.parse_args(argv)
    if args.command == "start":
        asyncio.run(start(args.db, args.request, wait=args.stay))
    elif args.command == "inbox":
        asyncio.run(inbox(args.db))
    elif args.command == "respond":
        asyncio.run(respond(args.db, args.request_id, args.value))
    else:
        demo()


if __name__ == "__main__":
    main()
