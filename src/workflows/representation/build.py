"""Building the :class:`~workflows.representation.WorkflowGraph` of a workflow class.

::

    graph = get_workflow_representation(MyFlow)
    payload = graph.model_dump_json()  # what servers and UIs send

Node ids: a step's name; an event's class name; ``external_step`` for the outside
world; ``resource_<hash>`` / ``resource_config_<hash>`` for resources.
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from ..events import Event, HumanResponseEvent, InputRequiredEvent, StopEvent
from ._matching import _routes_in_graph
from ._matching import is_subclass as _is_subclass
from ._resources import (
    _config_node,
    _dependencies,
    _identity,
    _is_config,
    _resource_node,
)
from .types import (
    WorkflowEventNode,
    WorkflowExternalNode,
    WorkflowGraph,
    WorkflowGraphEdge,
    WorkflowGraphNode,
    WorkflowStepNode,
)

if TYPE_CHECKING:
    from .._step_spec import StepSpec
    from ..workflow import Workflow

__all__ = ["get_workflow_representation"]

_EXTERNAL = "external_step"


def get_workflow_representation(workflow: Workflow | type[Workflow]) -> WorkflowGraph:
    """Describe a workflow's structure as a JSON-ready graph.

    Nodes: one per step (in the order ``dir()`` lists step methods, then free-function
    steps in the order they were attached); one per event class a step accepts or
    returns; ``external_step`` when a step returns an
    :class:`~workflows.events.InputRequiredEvent`; one per distinct resource.

    Edges: event -> each step it is routed to (subclasses too for a step that
    accepts them; a StopEvent only to a step naming it exactly); step -> each event it
    returns; input-request event -> ``external_step`` -> each human-response event a
    step accepts; step -> resource, labelled with the parameter name; resource -> each
    resource it depends on.

    Args:
        workflow: a workflow class or instance (only its class matters).

    Returns:
        The graph; ``model_dump()`` / ``model_dump_json()`` give its JSON form.
    """
    workflow_cls = workflow if isinstance(workflow, type) else type(workflow)
    return _Builder(workflow_cls).build()


def _ordered_steps(workflow_cls: type[Workflow]) -> dict[str, StepSpec]:
    """Step methods sorted by name, then free-function steps in attachment order."""
    specs = workflow_cls._step_specs
    methods = sorted(name for name, spec in specs.items() if spec.is_method)
    free = [name for name, spec in specs.items() if not spec.is_method]
    return {name: specs[name] for name in (*methods, *free)}


def _own_docstring(workflow_cls: type[Workflow]) -> str | None:
    """The docstring of the workflow class or of a user base class, not ``Workflow``'s."""
    from ..workflow import Workflow

    for klass in workflow_cls.__mro__:
        if klass is Workflow or klass is object:
            break
        doc = klass.__dict__.get("__doc__")
        if isinstance(doc, str) and doc.strip():
            return inspect.cleandoc(doc)
    return None


def _event_type_chain(event_type: type) -> list[str]:
    """The class name, then its Event base classes' names (nearest first, not Event)."""
    if not _is_subclass(event_type, Event):
        return [event_type.__name__]
    return [
        klass.__name__
        for klass in event_type.__mro__
        if klass is not Event and _is_subclass(klass, Event)
    ]


class _Builder:
    """Collects nodes and edges for one workflow class, each node once."""

    def __init__(self, workflow_cls: type[Workflow]) -> None:
        self.workflow_cls = workflow_cls
        self.steps = _ordered_steps(workflow_cls)
        self.nodes: list[WorkflowGraphNode] = []
        self.edges: list[WorkflowGraphEdge] = []
        self.node_ids: set[str] = set()
        self.event_types: dict[type, None] = {}  # insertion-ordered set
        self.resource_nodes: dict[tuple[Any, ...], WorkflowGraphNode] = {}
        self.resource_edges: set[tuple[str, str, str | None]] = set()
        self.expanded: set[tuple[Any, ...]] = set()
        self.produced_by: dict[str, list[str]] = {}
        for name, spec in self.steps.items():
            for emitted in spec.emits:
                producers = self.produced_by.setdefault(emitted.__name__, [])
                if name not in producers:
                    producers.append(name)
        self.stop_event = next(
            (t for spec in self.steps.values() for t in spec.emits if _is_subclass(t, StopEvent)),
            None,
        )

    def build(self) -> WorkflowGraph:
        for name, spec in self.steps.items():
            self._add_step_nodes(name, spec)
        for name, spec in self.steps.items():
            self._add_step_edges(name, spec)
        return WorkflowGraph(
            name=self.workflow_cls.__name__,
            nodes=self.nodes,
            edges=self.edges,
            description=_own_docstring(self.workflow_cls),
        )

    # -- nodes -----------------------------------------------------------------------------
    def _add(self, node: WorkflowGraphNode) -> None:
        if node.id not in self.node_ids:
            self.node_ids.add(node.id)
            self.nodes.append(node)

    def _add_step_nodes(self, name: str, spec: StepSpec) -> None:
        self._add(WorkflowStepNode(id=name, label=name, description=inspect.getdoc(spec.func)))
        for accepted in spec.accepted:
            # A plain StopEvent accepted by a step is not the workflow's stop event
            # when the workflow ends with a subclass: leave it out.
            if accepted is StopEvent and accepted is not self.stop_event:
                continue
            self._add_event(accepted)
        for emitted in spec.emits:
            self._add_event(emitted)
            if _is_subclass(emitted, InputRequiredEvent):
                self._add(WorkflowExternalNode(id=_EXTERNAL, label=_EXTERNAL))
        for param, descriptor in spec.resources.items():
            self._resource(descriptor, spec.resource_types.get(param))

    def _add_event(self, event_type: type) -> None:
        self.event_types.setdefault(event_type)
        name = event_type.__name__
        if name in self.node_ids:
            return
        schema = (
            event_type.model_json_schema()
            if isinstance(event_type, type) and issubclass(event_type, BaseModel)
            else None
        )
        self._add(
            WorkflowEventNode(
                id=name,
                label=name,
                event_type=name,
                event_types=_event_type_chain(event_type),
                event_schema=schema,
                produced_by=list(self.produced_by.get(name, ())),
            )
        )

    def _resource(self, descriptor: Any, annotation: Any) -> WorkflowGraphNode:
        """The node of ``descriptor`` (added once), with edges to its dependencies."""
        key = _identity(descriptor)
        node = self.resource_nodes.get(key)
        if node is None:
            node = (
                _config_node(descriptor, annotation)
                if _is_config(descriptor)
                else _resource_node(descriptor, annotation)
            )
            self.resource_nodes[key] = node
            self._add(node)
        if key not in self.expanded:
            self.expanded.add(key)  # before recursing: dependency cycles stop here
            for dep_name, dep, dep_annotation in _dependencies(descriptor):
                dep_node = self._resource(dep, dep_annotation)
                edge_key = (node.id, dep_node.id, dep_name)
                if edge_key not in self.resource_edges:
                    self.resource_edges.add(edge_key)
                    self.edges.append(
                        WorkflowGraphEdge(source=node.id, target=dep_node.id, label=dep_name)
                    )
        return node

    # -- edges -----------------------------------------------------------------------------
    def _add_step_edges(self, name: str, spec: StepSpec) -> None:
        for emitted in spec.emits:
            self.edges.append(WorkflowGraphEdge(source=name, target=emitted.__name__))
            if _is_subclass(emitted, InputRequiredEvent):
                self.edges.append(WorkflowGraphEdge(source=emitted.__name__, target=_EXTERNAL))
        sources: dict[type, None] = {}
        for accepted in spec.accepted:
            for candidate in (accepted, *self.event_types):
                if candidate in self.event_types and _routes_in_graph(spec, candidate, accepted):
                    sources.setdefault(candidate)
        for event_type in sources:
            self.edges.append(WorkflowGraphEdge(source=event_type.__name__, target=name))
            if _is_subclass(event_type, HumanResponseEvent) and _EXTERNAL in self.node_ids:
                self.edges.append(WorkflowGraphEdge(source=_EXTERNAL, target=event_type.__name__))
        for param, descriptor in spec.resources.items():
            node = self.resource_nodes[_identity(descriptor)]
            self.edges.append(WorkflowGraphEdge(source=name, target=node.id, label=param))
