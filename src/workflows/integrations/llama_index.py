"""Running llama-index-core's agents durably.

llama-index-core's agents (``FunctionAgent``, ``ReActAgent``, ``CodeActAgent``,
``AgentWorkflow``) are workflows and run on this package unchanged, in memory. To run
them on the durable :class:`~workflows.engine.Engine`, their state must survive a
snapshot under the JSON serializer: the chat memory, chat messages and tool results an
agent keeps in ``ctx.store``. :func:`agent_serializer` returns a
:class:`~workflows.context.serializers.JsonSerializer` whose allowlist holds those
llama-index-core classes (decoding still imports nothing by a name read from the data)::

    from workflows.integrations.llama_index import durable_agent

    agent = durable_agent(FunctionAgent(tools=[...], llm=llm, timeout=None))
    async with Engine("sqlite:///agents.db", {"assistant": agent}) as engine:
        handle = await engine.start("assistant", start_event=agent_start_event("..."))

Needs ``llama-index-core`` (see "Durable LlamaIndex agents" in the README).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar

from pydantic import BaseModel

from ..context.serializers import JsonSerializer, ModelCodec
from ..runtime.host import set_serializer
from ..workflow import Workflow

__all__ = ["agent_serializer", "agent_start_event", "agent_types", "durable_agent"]

W = TypeVar("W", bound=Workflow)


def agent_types() -> tuple[type[Any], ...]:
    """The llama-index-core classes an agent keeps in its state or events.

    Raises:
        ImportError: llama-index-core is not installed.
    """
    try:
        from llama_index.core.agent.workflow import workflow_events as agent_events
        from llama_index.core.base.llms.types import ChatMessage, ChatResponse
        from llama_index.core.memory import ChatMemoryBuffer, ChatSummaryMemoryBuffer, Memory
        from llama_index.core.storage.chat_store import SimpleChatStore
        from llama_index.core.tools import ToolOutput, ToolSelection
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "workflows.integrations.llama_index needs llama-index-core: see 'Durable "
            "LlamaIndex agents' in the durable-workflows README"
        ) from exc
    found: list[type[Any]] = [
        ChatMessage,
        ChatResponse,
        ChatMemoryBuffer,
        ChatSummaryMemoryBuffer,
        Memory,
        SimpleChatStore,
        ToolOutput,
        ToolSelection,
    ]
    try:  # ReActAgent keeps its reasoning steps in ctx.store
        from llama_index.core.agent.react import types as react_types
    except ImportError:  # pragma: no cover - older llama-index-core
        react_types = None
    if react_types is not None:
        found.extend(
            getattr(react_types, name)
            for name in (
                "ActionReasoningStep",
                "ObservationReasoningStep",
                "ResponseReasoningStep",
            )
            if hasattr(react_types, name)
        )
    for name in getattr(agent_events, "__all__", dir(agent_events)):
        value = getattr(agent_events, name, None)
        if (
            isinstance(value, type)
            and issubclass(value, BaseModel)
            and value.__module__ == agent_events.__name__
        ):
            found.append(value)
    return tuple(dict.fromkeys(found))


def agent_serializer(extra_types: Iterable[type[Any]] = ()) -> JsonSerializer:
    """A JSON serializer that can snapshot llama-index-core agents' state.

    ``ChatMemoryBuffer`` (the agents' default memory) cannot dump itself with the
    pydantic versions llama-index-core 0.14 supports, and holds a tokenizer function;
    it is written as its settings and messages, and rebuilt with the default tokenizer.

    Args:
        extra_types: further pydantic classes your tools keep in ``ctx.store``.
    """
    from llama_index.core.memory import ChatMemoryBuffer

    return JsonSerializer(
        extra_types=(*agent_types(), *extra_types),
        codecs={ChatMemoryBuffer: ModelCodec(_memory_to_data, _memory_from_data)},
    )


def _memory_to_data(memory: Any) -> dict[str, Any]:
    return {
        "token_limit": memory.token_limit,
        "chat_store_key": memory.chat_store_key,
        "messages": [m.model_dump(mode="json") for m in memory.get_all()],
    }


def _memory_from_data(data: Any) -> Any:
    from llama_index.core.llms import ChatMessage
    from llama_index.core.memory import ChatMemoryBuffer

    memory = ChatMemoryBuffer.from_defaults(
        token_limit=data["token_limit"], chat_store_key=data["chat_store_key"]
    )
    memory.set([ChatMessage.model_validate(m) for m in data["messages"]])
    return memory


def durable_agent(agent: W, extra_types: Iterable[type[Any]] = ()) -> W:
    """Give ``agent`` (any workflow) the serializer of :func:`agent_serializer`; returns it.

    An agent built by llama-index-core does not pass ``serializer=`` to the workflow
    constructor, so it is set here before the agent is registered with an engine.
    """
    set_serializer(agent, agent_serializer(extra_types))
    return agent


def agent_start_event(
    user_msg: Any,
    chat_history: list[Any] | None = None,
    max_iterations: int | None = None,
    early_stopping_method: str | None = None,
) -> Any:
    """The ``AgentWorkflowStartEvent`` that ``agent.run(user_msg=...)`` would build.

    Give it to ``Engine.start(name, start_event=...)``: the event carries every field the
    agent's start event serializes (built from keywords alone, it would lack some).
    """
    from llama_index.core.agent.workflow.workflow_events import AgentWorkflowStartEvent

    return AgentWorkflowStartEvent(
        user_msg=user_msg,
        chat_history=chat_history,
        max_iterations=max_iterations,
        early_stopping_method=early_stopping_method,
    )
