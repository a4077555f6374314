"""The JSON-ready models of a workflow graph: nodes, edges and the graph itself.

Every node has an ``id`` (unique in its graph), a ``label`` to display and a
``node_type`` string that tells a reader which model it is; :data:`WorkflowGraphNode`
is the union a :class:`WorkflowGraph` validates its nodes against, so a graph dumped
with ``model_dump_json()`` loads back with ``WorkflowGraph.model_validate_json``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

__all__ = [
    "WorkflowEventNode",
    "WorkflowExternalNode",
    "WorkflowGenericNode",
    "WorkflowGraph",
    "WorkflowGraphEdge",
    "WorkflowGraphNode",
    "WorkflowNodeBase",
    "WorkflowResourceConfigNode",
    "WorkflowResourceNode",
    "WorkflowStepNode",
]


class WorkflowNodeBase(BaseModel):
    """Fields every graph node has: an ``id`` unique in its graph and a display ``label``."""

    id: str = Field(description="Identifier of the node, unique within its graph")
    label: str = Field(description="Text to display for the node")

    def truncated_label(self, max_length: int) -> str:
        """The label cut to ``max_length`` characters, ending in ``*`` when it was cut.

        Example: a node labelled ``"summarize"`` gives ``"summ*"`` for ``max_length=5``.
        """
        if len(self.label) <= max_length:
            return self.label
        return self.label[: max_length - 1] + "*"


class WorkflowStepNode(WorkflowNodeBase):
    """A ``@step`` of the workflow; ``id`` and ``label`` are the step's name."""

    node_type: Literal["step"] = Field(default="step", description="Always 'step'")
    description: str | None = Field(default=None, description="The step function's docstring")


class WorkflowEventNode(WorkflowNodeBase):
    """An event class a step accepts or returns; ``id`` and ``label`` are its class name."""

    node_type: Literal["event"] = Field(default="event", description="Always 'event'")
    event_type: str = Field(description="Name of the event class")
    event_types: list[str] = Field(
        description="The class name, then the names of its Event base classes "
        "(nearest first, without Event itself), for subclass checks by name"
    )
    event_schema: dict[str, Any] | None = Field(
        default=None, description="JSON schema of the event class"
    )
    produced_by: list[str] = Field(
        default_factory=list,
        description="Names of the steps whose return annotation lists this event class",
    )

    def is_subclass_of(self, *type_names: str) -> bool:
        """True if the event class is, or derives from, a class with one of these names."""
        return any(name in self.event_types for name in type_names)


class WorkflowExternalNode(WorkflowNodeBase):
    """The outside world (a person, another system) that answers input requests."""

    node_type: Literal["external"] = Field(default="external", description="Always 'external'")


class WorkflowResourceNode(WorkflowNodeBase):
    """A resource injected into steps, built by a factory (``Resource(factory)``)."""

    node_type: Literal["resource"] = Field(default="resource", description="Always 'resource'")
    type_name: str | None = Field(
        default=None, description="Name of the type the step parameter is annotated with"
    )
    getter_name: str | None = Field(
        default=None, description="Qualified name of the factory that builds the resource"
    )
    source_file: str | None = Field(
        default=None, description="Path of the file that defines the factory"
    )
    source_line: int | None = Field(
        default=None, description="Line of that file where the factory is defined"
    )
    description: str | None = Field(default=None, description="The factory's docstring")


class WorkflowResourceConfigNode(WorkflowNodeBase):
    """A resource whose value is a pydantic model read from a JSON configuration file."""

    node_type: Literal["resource_config"] = Field(
        default="resource_config", description="Always 'resource_config'"
    )
    type_name: str | None = Field(
        default=None, description="Name of the pydantic model the configuration must fit"
    )
    config_file: str | None = Field(default=None, description="Path of the JSON file")
    path_selector: str | None = Field(
        default=None, description="Dotted path of the section of the file used, if any"
    )
    config_schema: dict[str, Any] | None = Field(
        default=None, description="JSON schema of the configuration model"
    )
    config_value: dict[str, Any] | None = Field(
        default=None, description="The configuration read from the file, when readable"
    )
    description: str | None = Field(
        default=None, description="What the configuration is for, as given by its author"
    )


class WorkflowGenericNode(WorkflowNodeBase):
    """A node of any other kind (agents, tools, ...), named by a free-form ``node_type``.

    It is the last member of :data:`WorkflowGraphNode`, so a node whose ``node_type``
    matches no other model is loaded as this one.
    """

    node_type: str = Field(description="Kind of node, e.g. 'agent' or 'tool'")
    event_type: str | None = Field(
        default=None, description="Type name, for nodes that take part in subclass checks"
    )
    event_types: list[str] | None = Field(
        default=None, description="The type name followed by its base type names"
    )

    def is_subclass_of(self, *type_names: str) -> bool:
        """True if ``event_types`` contains one of these names (False when it is unset)."""
        return bool(self.event_types) and any(
            name in (self.event_types or ()) for name in type_names
        )


WorkflowGraphNode = (
    WorkflowStepNode
    | WorkflowEventNode
    | WorkflowExternalNode
    | WorkflowResourceNode
    | WorkflowResourceConfigNode
    | WorkflowGenericNode
)
"""Any node of a :class:`WorkflowGraph`; the generic node comes last as the catch-all."""


class WorkflowGraphEdge(BaseModel):
    """A directed edge from the node ``source`` to the node ``target`` (both ids)."""

    source: str = Field(description="Id of the node the edge starts at")
    target: str = Field(description="Id of the node the edge points to")
    label: str | None = Field(
        default=None, description="Edge text; for a resource edge, the step parameter name"
    )


class WorkflowGraph(BaseModel):
    """A workflow's structure: its steps, events, resources and how they connect.

    Edges go from an event to each step that accepts it, from a step to each event it
    returns, from a step to each resource it takes (labelled with the parameter name),
    from an input-request event to the external node and from the external node to each
    human-response event.
    """

    name: str = Field(description="Name of the workflow class")
    nodes: list[WorkflowGraphNode] = Field(description="Every node of the graph")
    edges: list[WorkflowGraphEdge] = Field(description="Every edge of the graph")
    description: str | None = Field(default=None, description="The workflow class's docstring")

    def filter_by_node_type(self, *node_types: str) -> WorkflowGraph:
        """A copy of the graph without the nodes of the given ``node_type`` values.

        A path that ran through removed nodes becomes one edge between the kept nodes
        at its ends, labelled with the first removed node's label: with events
        removed, ``step_a -> MyEvent -> step_b`` becomes ``step_a -> step_b`` labelled
        ``"MyEvent"``. A direct edge keeps its own label. Each (source, target) pair
        appears once.

        Args:
            node_types: the ``node_type`` values to remove, e.g. ``"event"``.

        Returns:
            A new graph; this one is not changed.
        """
        dropped = {node.id for node in self.nodes if node.node_type in node_types}
        kept = [node for node in self.nodes if node.id not in dropped]
        kept_ids = {node.id for node in kept}
        labels = {node.id: node.label for node in self.nodes}
        outgoing: dict[str, list[WorkflowGraphEdge]] = {}
        for edge in self.edges:
            outgoing.setdefault(edge.source, []).append(edge)

        new_edges: list[WorkflowGraphEdge] = []
        seen: set[tuple[str, str]] = set()
        for node in kept:
            for target, label in _targets_through(node.id, outgoing, dropped, kept_ids, labels):
                if (node.id, target) not in seen:
                    seen.add((node.id, target))
                    new_edges.append(WorkflowGraphEdge(source=node.id, target=target, label=label))
        return WorkflowGraph(
            name=self.name, nodes=kept, edges=new_edges, description=self.description
        )


def _targets_through(
    start: str,
    outgoing: dict[str, list[WorkflowGraphEdge]],
    dropped: set[str],
    kept: set[str],
    labels: dict[str, str],
) -> list[tuple[str, str | None]]:
    """Kept nodes reachable from ``start`` through dropped nodes only, with edge labels."""
    found: list[tuple[str, str | None]] = []
    visited: set[str] = set()

    def walk(node_id: str, via_label: str | None, direct: bool) -> None:
        for edge in outgoing.get(node_id, ()):
            if edge.target in kept:
                found.append((edge.target, edge.label if direct else via_label))
            elif edge.target in dropped and edge.target not in visited:
                visited.add(edge.target)
                walk(edge.target, labels[edge.target] if direct else via_label, False)

    walk(start, None, True)
    return found
