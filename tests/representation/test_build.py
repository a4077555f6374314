"""get_workflow_representation: node ids, kinds, labels and edges as the reference draws them.

Every expected list below was read from llama-index-workflows 2.26.1 running the same
workflow classes (``tests/representation/_flows.py``); order included.
"""

from __future__ import annotations

import hashlib
import inspect
import json
from typing import Any

import pytest

from workflows import Workflow, step
from workflows.events import Event, StartEvent, StopEvent
from workflows.representation import (
    WorkflowEventNode,
    WorkflowExternalNode,
    WorkflowGraph,
    WorkflowResourceNode,
    WorkflowStepNode,
    get_workflow_representation,
)

from . import _flows as f


def _nodes(graph: WorkflowGraph) -> list[tuple[str, str]]:
    return [(n.id, n.node_type) for n in graph.nodes]


def _edges(graph: WorkflowGraph) -> list[tuple[str, str, str | None]]:
    return [(e.source, e.target, e.label) for e in graph.edges]


def _without_schemas(dump: dict[str, Any]) -> dict[str, Any]:
    for node in dump["nodes"]:
        node.pop("event_schema", None)
    return dump


def test_linear_chain_dumps_like_the_reference() -> None:
    graph = get_workflow_representation(f.LinearFlow)
    assert _without_schemas(graph.model_dump()) == {
        "name": "LinearFlow",
        "description": "Three steps in a row.",
        "nodes": [
            {"id": "begin", "label": "begin", "node_type": "step", "description": "Start it."},
            {
                "id": "StartEvent",
                "label": "StartEvent",
                "node_type": "event",
                "event_type": "StartEvent",
                "event_types": ["StartEvent"],
                "produced_by": [],
            },
            {
                "id": "FirstEvent",
                "label": "FirstEvent",
                "node_type": "event",
                "event_type": "FirstEvent",
                "event_types": ["FirstEvent"],
                "produced_by": ["begin"],
            },
            {"id": "finish", "label": "finish", "node_type": "step", "description": None},
            {
                "id": "SecondEvent",
                "label": "SecondEvent",
                "node_type": "event",
                "event_type": "SecondEvent",
                "event_types": ["SecondEvent"],
                "produced_by": ["middle"],
            },
            {
                "id": "StopEvent",
                "label": "StopEvent",
                "node_type": "event",
                "event_type": "StopEvent",
                "event_types": ["StopEvent"],
                "produced_by": ["finish"],
            },
            {"id": "middle", "label": "middle", "node_type": "step", "description": None},
        ],
        "edges": [
            {"source": "begin", "target": "FirstEvent", "label": None},
            {"source": "StartEvent", "target": "begin", "label": None},
            {"source": "finish", "target": "StopEvent", "label": None},
            {"source": "SecondEvent", "target": "finish", "label": None},
            {"source": "middle", "target": "SecondEvent", "label": None},
            {"source": "FirstEvent", "target": "middle", "label": None},
        ],
    }


def test_event_nodes_carry_the_event_class_json_schema() -> None:
    graph = get_workflow_representation(f.LinearFlow)
    schemas = {n.id: n.event_schema for n in graph.nodes if isinstance(n, WorkflowEventNode)}
    assert schemas["FirstEvent"] == f.FirstEvent.model_json_schema()
    assert schemas["FirstEvent"] is not None
    assert schemas["FirstEvent"]["required"] == ["text"]
    assert schemas["StopEvent"] == StopEvent.model_json_schema()


def test_dump_is_json_and_loads_back_to_an_equal_graph() -> None:
    graph = get_workflow_representation(f.HitlSubclassFlow)
    text = graph.model_dump_json()
    assert json.loads(text)["name"] == "HitlSubclassFlow"
    again = WorkflowGraph.model_validate_json(text)
    assert again == graph
    assert [type(n) for n in again.nodes] == [type(n) for n in graph.nodes]


def test_instance_and_class_give_the_same_graph() -> None:
    assert get_workflow_representation(f.BranchFlow()) == get_workflow_representation(f.BranchFlow)


def test_branching_with_unions() -> None:
    graph = get_workflow_representation(f.BranchFlow)
    assert _nodes(graph) == [
        ("both", "step"),
        ("LeftEvent", "event"),
        ("RightEvent", "event"),
        ("join", "step"),
        ("JoinEvent", "event"),
        ("StopEvent", "event"),
        ("left", "step"),
        ("right", "step"),
        ("split", "step"),
        ("StartEvent", "event"),
    ]
    assert _edges(graph) == [
        ("LeftEvent", "both", None),
        ("RightEvent", "both", None),
        ("join", "StopEvent", None),
        ("JoinEvent", "join", None),
        ("left", "JoinEvent", None),
        ("LeftEvent", "left", None),
        ("right", "JoinEvent", None),
        ("right", "StopEvent", None),
        ("RightEvent", "right", None),
        ("split", "LeftEvent", None),
        ("split", "RightEvent", None),
        ("StartEvent", "split", None),
    ]
    produced = {n.id: n.produced_by for n in graph.nodes if isinstance(n, WorkflowEventNode)}
    assert produced == {
        "LeftEvent": ["split"],
        "RightEvent": ["split"],
        "JoinEvent": ["left", "right"],
        "StopEvent": ["join", "right"],
        "StartEvent": [],
    }


def test_hitl_events_connect_through_the_external_node() -> None:
    graph = get_workflow_representation(f.HitlFlow)
    assert _nodes(graph) == [
        ("ask", "step"),
        ("StartEvent", "event"),
        ("InputRequiredEvent", "event"),
        ("external_step", "external"),
        ("got", "step"),
        ("HumanResponseEvent", "event"),
        ("StopEvent", "event"),
    ]
    assert _edges(graph) == [
        ("ask", "InputRequiredEvent", None),
        ("InputRequiredEvent", "external_step", None),
        ("StartEvent", "ask", None),
        ("got", "StopEvent", None),
        ("HumanResponseEvent", "got", None),
        ("external_step", "HumanResponseEvent", None),
    ]
    external = graph.nodes[3]
    assert isinstance(external, WorkflowExternalNode)
    assert external.label == "external_step"


def test_hitl_subclasses_keep_their_base_names_in_event_types() -> None:
    graph = get_workflow_representation(f.HitlSubclassFlow)
    assert _edges(graph) == [
        ("ask", "AskEvent", None),
        ("AskEvent", "external_step", None),
        ("StartEvent", "ask", None),
        ("got", "StopEvent", None),
        ("AnswerEvent", "got", None),
        ("external_step", "AnswerEvent", None),
    ]
    events = {n.id: n for n in graph.nodes if isinstance(n, WorkflowEventNode)}
    assert events["AskEvent"].event_types == ["AskEvent", "InputRequiredEvent"]
    assert events["AnswerEvent"].event_types == ["AnswerEvent", "HumanResponseEvent"]
    assert events["AnswerEvent"].is_subclass_of("HumanResponseEvent")
    assert not events["AskEvent"].is_subclass_of("HumanResponseEvent")


def test_resources_are_one_node_per_factory_with_labelled_edges() -> None:
    graph = get_workflow_representation(f.ResourceFlow)
    path = f.__file__

    def node_id(name: str) -> str:
        return "resource_" + hashlib.sha256(f"{name}:{path}".encode()).hexdigest()[:12]

    client_id, db_id = node_id("get_client"), node_id("get_db")
    assert _nodes(graph) == [
        ("one", "step"),
        ("StartEvent", "event"),
        ("FirstEvent", "event"),
        (client_id, "resource"),
        ("two", "step"),
        ("StopEvent", "event"),
        (db_id, "resource"),
    ]
    assert _edges(graph) == [
        ("one", "FirstEvent", None),
        ("StartEvent", "one", None),
        ("one", client_id, "client"),
        ("two", "StopEvent", None),
        ("FirstEvent", "two", None),
        ("two", client_id, "api"),
        ("two", db_id, "db"),
    ]
    client, db = graph.nodes[3], graph.nodes[6]
    assert isinstance(client, WorkflowResourceNode)
    assert isinstance(db, WorkflowResourceNode)
    assert client.model_dump() == {
        "id": client_id,
        "label": "Client",
        "node_type": "resource",
        "type_name": "Client",
        "getter_name": "get_client",
        "source_file": path,
        "source_line": f.get_client.__code__.co_firstlineno,
        "description": "Build the client.",
    }
    assert (db.label, db.type_name, db.getter_name, db.description) == ("Db", "Db", "get_db", None)


def test_custom_start_and_stop_events() -> None:
    graph = get_workflow_representation(f.CustomFlow)
    assert _nodes(graph) == [
        ("end", "step"),
        ("FirstEvent", "event"),
        ("MyStop", "event"),
        ("go", "step"),
        ("MyStart", "event"),
    ]
    assert _edges(graph) == [
        ("end", "MyStop", None),
        ("FirstEvent", "end", None),
        ("go", "FirstEvent", None),
        ("MyStart", "go", None),
    ]
    events = {n.id: n for n in graph.nodes if isinstance(n, WorkflowEventNode)}
    assert events["MyStart"].event_types == ["MyStart", "StartEvent"]
    assert events["MyStop"].event_types == ["MyStop", "StopEvent"]
    assert events["MyStop"].produced_by == ["end"]


def test_catch_error_handler_is_fed_by_step_failed_event() -> None:
    graph = get_workflow_representation(f.ErrFlow)
    assert _nodes(graph) == [
        ("recover", "step"),
        ("StepFailedEvent", "event"),
        ("StopEvent", "event"),
        ("work", "step"),
        ("StartEvent", "event"),
    ]
    assert _edges(graph) == [
        ("recover", "StopEvent", None),
        ("StepFailedEvent", "recover", None),
        ("work", "StopEvent", None),
        ("StartEvent", "work", None),
    ]


def test_free_function_steps_come_after_methods() -> None:
    graph = get_workflow_representation(f.FreeFlow)
    assert _nodes(graph) == [
        ("zed", "step"),
        ("StartEvent", "event"),
        ("Child", "event"),
        ("free", "step"),
        ("StopEvent", "event"),
    ]
    assert _edges(graph) == [
        ("zed", "Child", None),
        ("StartEvent", "zed", None),
        ("free", "StopEvent", None),
        ("Child", "free", None),
    ]


def test_description_is_the_workflow_own_docstring_only() -> None:
    class Documented(f.LinearFlow):
        pass

    assert get_workflow_representation(f.BranchFlow).description is None
    assert get_workflow_representation(Documented).description == "Three steps in a row."


def test_step_node_description_is_the_step_docstring() -> None:
    graph = get_workflow_representation(f.LinearFlow)
    steps = {n.id: n for n in graph.nodes if isinstance(n, WorkflowStepNode)}
    assert steps["begin"].description == "Start it."
    assert steps["middle"].description is None


def test_resource_type_read_from_postponed_annotations_of_a_local_class() -> None:
    # This module uses `from __future__ import annotations`: the annotation is a string
    # naming a class local to this function.
    from typing import Annotated

    from workflows.resource import Resource

    class Local:
        pass

    def make_local() -> Local:
        return Local()

    class LocalFlow(Workflow):
        @step
        async def only(
            self, ev: StartEvent, thing: Annotated[Local, Resource(make_local)]
        ) -> StopEvent:
            return StopEvent()

    graph = get_workflow_representation(LocalFlow)
    [resource] = [n for n in graph.nodes if isinstance(n, WorkflowResourceNode)]
    assert resource.type_name == "Local"
    assert resource.label == "Local"
    assert resource.getter_name == make_local.__qualname__
    assert ("only", resource.id, "thing") in _edges(graph)


_SUBCLASS_OPTION = "accept_event_subclasses" in inspect.signature(step).parameters


@pytest.mark.skipif(not _SUBCLASS_OPTION, reason="@step has no accept_event_subclasses")
def test_subclass_aware_step_is_fed_by_subclasses_but_not_stop_events() -> None:
    class SubclassAwareFlow(Workflow):
        @step
        async def emit(self, ev: StartEvent) -> f.Child | StopEvent:
            return f.Child()

        @step(accept_event_subclasses=True)
        async def anything(self, ev: Event) -> None:
            return None

    graph = get_workflow_representation(SubclassAwareFlow)
    assert _nodes(graph) == [
        ("anything", "step"),
        ("Event", "event"),
        ("emit", "step"),
        ("StartEvent", "event"),
        ("Child", "event"),
        ("StopEvent", "event"),
    ]
    # The reference lists the three sources in set order; the set is the same.
    into_anything = [e for e in _edges(graph) if e[1] == "anything"]
    assert into_anything == [
        ("Event", "anything", None),
        ("StartEvent", "anything", None),
        ("Child", "anything", None),
    ]
    assert _edges(graph)[3:] == [
        ("emit", "Child", None),
        ("emit", "StopEvent", None),
        ("StartEvent", "emit", None),
    ]


@pytest.mark.skipif(not _SUBCLASS_OPTION, reason="@step has no accept_event_subclasses")
def test_exact_step_is_not_fed_by_subclasses() -> None:
    graph = get_workflow_representation(_exact_flow())
    assert ("Child", "base", None) not in _edges(graph)
    assert ("Base", "base", None) in _edges(graph)


def _exact_flow() -> type[Workflow]:
    class ExactFlow(Workflow):
        @step
        async def start(self, ev: StartEvent) -> f.Child:
            return f.Child()

        @step
        async def base(self, ev: f.Base) -> StopEvent:
            return StopEvent()

    return ExactFlow
