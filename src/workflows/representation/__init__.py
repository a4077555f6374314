"""A workflow's structure as a JSON-ready graph, and the static checks run on it.

::

    from workflows.representation import get_workflow_representation

    graph = get_workflow_representation(MyFlow)
    graph.model_dump_json()                      # for a server or a UI
    graph.filter_by_node_type("event")           # steps only, linked step to step

See :mod:`workflows.representation.types` for the node and edge models and
:mod:`workflows.representation.validate` for the graph checks.
"""

from __future__ import annotations

from .build import get_workflow_representation
from .types import (
    WorkflowEventNode,
    WorkflowExternalNode,
    WorkflowGenericNode,
    WorkflowGraph,
    WorkflowGraphEdge,
    WorkflowGraphNode,
    WorkflowNodeBase,
    WorkflowResourceConfigNode,
    WorkflowResourceNode,
    WorkflowStepNode,
)

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
    "get_workflow_representation",
]
