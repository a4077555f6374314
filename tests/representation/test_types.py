"""The graph models: label truncation, subclass checks, filtering and JSON loading."""

from __future__ import annotations

import workflows.representation as representation
import workflows.representation.types as types_module
from workflows.representation import (
    WorkflowEventNode,
    WorkflowExternalNode,
    WorkflowGenericNode,
    WorkflowGraph,
    WorkflowGraphEdge,
    WorkflowResourceConfigNode,
    WorkflowResourceNode,
    WorkflowStepNode,
    get_workflow_representation,
)

from . import _flows as f


def _edge_set(graph: WorkflowGraph) -> set[tuple[str, str, str | None]]:
    return {(e.source, e.target, e.label) for e in graph.edges}


def test_all_lists_the_reference_names() -> None:
    expected = {
        "WorkflowNodeBase",
        "WorkflowStepNode",
        "WorkflowEventNode",
        "WorkflowExternalNode",
        "WorkflowResourceNode",
        "WorkflowResourceConfigNode",
        "WorkflowGenericNode",
        "WorkflowGraphNode",
        "WorkflowGraphEdge",
        "WorkflowGraph",
    }
    assert set(types_module.__all__) == expected
    assert set(representation.__all__) == expected | {"get_workflow_representation"}
    assert all(hasattr(representation, name) for name in representation.__all__)


def test_truncated_label_marks_a_cut_with_a_star() -> None:
    node = WorkflowStepNode(id="s", label="summarize")
    assert node.truncated_label(9) == "summarize"
    assert node.truncated_label(20) == "summarize"
    assert node.truncated_label(5) == "summ*"


def test_node_types_default_to_their_kind() -> None:
    assert WorkflowStepNode(id="a", label="a").node_type == "step"
    assert WorkflowExternalNode(id="x", label="x").node_type == "external"
    assert WorkflowResourceNode(id="r", label="r").node_type == "resource"
    assert WorkflowResourceConfigNode(id="c", label="c").node_type == "resource_config"
    event = WorkflowEventNode(id="E", label="E", event_type="E", event_types=["E"])
    assert (event.node_type, event.produced_by, event.event_schema) == ("event", [], None)


def test_generic_node_subclass_check_needs_event_types() -> None:
    bare = WorkflowGenericNode(id="a", label="a", node_type="agent")
    assert not bare.is_subclass_of("Agent")
    typed = WorkflowGenericNode(
        id="b", label="b", node_type="agent", event_type="Mine", event_types=["Mine", "Agent"]
    )
    assert typed.is_subclass_of("Other", "Agent")
    assert not typed.is_subclass_of("Other")


def test_nodes_load_into_the_model_their_node_type_names() -> None:
    graph = WorkflowGraph.model_validate(
        {
            "name": "x",
            "nodes": [
                {"id": "a", "label": "a", "node_type": "agent"},
                {"id": "b", "label": "b", "node_type": "step"},
                {
                    "id": "c",
                    "label": "c",
                    "node_type": "event",
                    "event_type": "c",
                    "event_types": ["c"],
                },
                {"id": "d", "label": "d", "node_type": "external"},
                {"id": "e", "label": "e", "node_type": "resource", "getter_name": "g"},
                {"id": "f", "label": "f", "node_type": "resource_config", "config_file": "c.json"},
            ],
            "edges": [{"source": "b", "target": "c"}],
        }
    )
    assert [type(n) for n in graph.nodes] == [
        WorkflowGenericNode,
        WorkflowStepNode,
        WorkflowEventNode,
        WorkflowExternalNode,
        WorkflowResourceNode,
        WorkflowResourceConfigNode,
    ]
    assert graph.edges == [WorkflowGraphEdge(source="b", target="c", label=None)]
    assert graph.description is None


def test_filter_events_links_steps_labelled_with_the_event() -> None:
    graph = get_workflow_representation(f.LinearFlow).filter_by_node_type("event")
    assert [n.id for n in graph.nodes] == ["begin", "finish", "middle"]
    assert _edge_set(graph) == {
        ("begin", "middle", "FirstEvent"),
        ("middle", "finish", "SecondEvent"),
    }
    assert graph.name == "LinearFlow"
    assert graph.description == "Three steps in a row."


def test_filter_keeps_direct_edge_labels_and_leaves_the_source_graph_alone() -> None:
    full = get_workflow_representation(f.ResourceFlow)
    before = full.model_dump()
    graph = full.filter_by_node_type("event")
    client = next(n.id for n in full.nodes if n.label == "Client")
    db = next(n.id for n in full.nodes if n.label == "Db")
    assert [n.id for n in graph.nodes] == ["one", client, "two", db]
    assert _edge_set(graph) == {
        ("one", client, "client"),
        ("one", "two", "FirstEvent"),
        ("two", client, "api"),
        ("two", db, "db"),
    }
    assert full.model_dump() == before


def test_filter_through_several_kinds_uses_the_first_removed_label() -> None:
    full = get_workflow_representation(f.HitlFlow)
    only_events = full.filter_by_node_type("event")
    assert [n.id for n in only_events.nodes] == ["ask", "external_step", "got"]
    assert _edge_set(only_events) == {
        ("ask", "external_step", "InputRequiredEvent"),
        ("external_step", "got", "HumanResponseEvent"),
    }
    steps_only = full.filter_by_node_type("event", "external")
    assert [n.id for n in steps_only.nodes] == ["ask", "got"]
    assert _edge_set(steps_only) == {("ask", "got", "InputRequiredEvent")}


def test_filter_steps_links_events_labelled_with_the_step() -> None:
    graph = get_workflow_representation(f.ErrFlow).filter_by_node_type("step")
    assert _edge_set(graph) == {
        ("StartEvent", "StopEvent", "work"),
        ("StepFailedEvent", "StopEvent", "recover"),
    }


def test_filter_gives_each_pair_once_and_survives_cycles() -> None:
    graph = WorkflowGraph(
        name="loop",
        nodes=[
            WorkflowStepNode(id="a", label="a"),
            WorkflowEventNode(id="E", label="E", event_type="E", event_types=["E"]),
            WorkflowEventNode(id="F", label="F", event_type="F", event_types=["F"]),
        ],
        edges=[
            WorkflowGraphEdge(source="a", target="E"),
            WorkflowGraphEdge(source="a", target="F"),
            WorkflowGraphEdge(source="E", target="F"),
            WorkflowGraphEdge(source="F", target="E"),
            WorkflowGraphEdge(source="F", target="a"),
        ],
    )
    filtered = graph.filter_by_node_type("event")
    assert [(e.source, e.target, e.label) for e in filtered.edges] == [("a", "a", "E")]
