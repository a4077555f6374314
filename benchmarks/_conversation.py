"""The human-in-the-loop workflow shared by the round-trip and history workloads.

A ``Conversation`` asks ``turns`` questions in sequence: a step returns an
``InputRequiredEvent(turn=k)``, the caller answers with
``HumanResponseEvent(turn=k, response=answer_for(k))`` and the ``reply`` step adds the
answer to a running total kept in ``ctx.store`` and asks the next question. The last
answer stops the run with the total. ``reply`` refuses an answer for the wrong turn,
so a lost or duplicated answer fails the run instead of skewing the figures.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from _harness import check

from workflows import Context, Workflow, step
from workflows.events import HumanResponseEvent, InputRequiredEvent, StartEvent, StopEvent
from workflows.handler import WorkflowHandler


def answer_for(turn: int) -> int:
    """The answer the caller gives to question ``turn``."""
    return 2 * turn + 1


def expected_total(turns: int) -> int:
    """The result of a conversation of ``turns`` questions answered by ``answer_for``."""
    return turns * turns


def question(turn: int) -> InputRequiredEvent:
    """The prompt for question ``turn``."""
    return InputRequiredEvent(prefix=f"question {turn}: ", turn=turn)


class Conversation(Workflow):
    """Ask ``turns`` questions one at a time; stop with the sum of the answers."""

    @step
    async def open(self, ctx: Context, ev: StartEvent) -> InputRequiredEvent:
        await ctx.store.set("turns", ev.turns)
        await ctx.store.set("answered", 0)
        await ctx.store.set("total", 0)
        return question(0)

    @step
    async def reply(self, ctx: Context, ev: HumanResponseEvent) -> InputRequiredEvent | StopEvent:
        answered = await ctx.store.get("answered")
        if ev.turn != answered:
            raise RuntimeError(f"answer for turn {ev.turn} arrived, expected turn {answered}")
        total = await ctx.store.get("total") + ev.response
        await ctx.store.set("total", total)
        await ctx.store.set("answered", answered + 1)
        if answered + 1 == await ctx.store.get("turns"):
            return StopEvent(result=total)
        return question(answered + 1)


async def converse(
    handler: WorkflowHandler,
    *,
    answers: int,
    on_prompt: Callable[[int], None] | None = None,
    timed: bool = True,
) -> list[float]:
    """Answer questions ``0 .. answers - 1`` as they appear on ``handler``'s stream.

    Returns once question ``answers`` has been received (it is left unanswered) or the
    stream has ended. ``on_prompt(turn)`` runs when a question arrives, before the
    answer is sent and outside the measured interval.

    Returns:
        Seconds from each answer being sent to the next question being received;
        empty when ``timed`` is false (memory passes keep no growing list).
    """
    latencies: list[float] = []
    sent_at: float | None = None
    expected = 0
    async for ev in handler.stream_events():
        if not isinstance(ev, InputRequiredEvent):
            continue
        received_at = time.perf_counter()
        if timed and sent_at is not None:
            latencies.append(received_at - sent_at)
        check(ev.turn == expected, f"question {ev.turn} streamed, expected question {expected}")
        if expected == answers:
            break
        if on_prompt is not None:
            on_prompt(expected)
        expected += 1
        sent_at = time.perf_counter()
        await handler.send_event(HumanResponseEvent(turn=ev.turn, response=answer_for(ev.turn)))
    check(expected == answers, f"stream ended after {expected} of {answers} questions")
    return latencies
