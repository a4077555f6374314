"""Resource nodes for factories that need other resources and for JSON config resources.

Expected shapes were read from llama-index-workflows 2.26.1 running the same workflows.
The tests need the ``workflows.resource`` features they use and skip without them.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Annotated, Any

import pytest
from pydantic import BaseModel

import workflows.resource as resource_module
from workflows import Workflow, step
from workflows.events import StartEvent, StopEvent
from workflows.representation import (
    WorkflowResourceConfigNode,
    WorkflowResourceNode,
    get_workflow_representation,
)
from workflows.resource import Resource


class Db:
    pass


class Client:
    pass


class Settings(BaseModel):
    url: str


def get_db() -> Db:
    return Db()


def get_client(db: Annotated[Db, Resource(get_db)]) -> Client:
    return Client()


_HAS_DEPENDENCIES = callable(getattr(Resource(get_db), "get_dependencies", None))
_ResourceConfig: Any = getattr(resource_module, "ResourceConfig", None)


@pytest.mark.skipif(not _HAS_DEPENDENCIES, reason="resources cannot depend on resources")
def test_a_resource_links_to_the_resources_its_factory_takes() -> None:
    class DepFlow(Workflow):
        @step
        async def one(
            self, ev: StartEvent, client: Annotated[Client, Resource(get_client)]
        ) -> StopEvent:
            return StopEvent()

    graph = get_workflow_representation(DepFlow)
    resources = [n for n in graph.nodes if isinstance(n, WorkflowResourceNode)]
    assert [(n.label, n.getter_name) for n in resources] == [
        ("Client", "get_client"),
        ("Db", "get_db"),
    ]
    client, db = (n.id for n in resources)
    assert [(e.source, e.target, e.label) for e in graph.edges] == [
        (client, db, "db"),
        ("one", "StopEvent", None),
        ("StartEvent", "one", None),
        ("one", client, "client"),
    ]


@pytest.mark.skipif(_ResourceConfig is None, reason="no ResourceConfig")
def test_config_resource_node_shows_the_file_section_and_schema(tmp_path: Path) -> None:
    config = tmp_path / "settings.json"
    config.write_text(json.dumps({"a": {"b": {"url": "x"}}}), encoding="utf-8")
    descriptor = _ResourceConfig(str(config), path_selector="a.b", description="Where to go")

    class CfgFlow(Workflow):
        @step
        async def one(self, ev: StartEvent, s: Annotated[Settings, descriptor]) -> StopEvent:
            return StopEvent()

    graph = get_workflow_representation(CfgFlow)
    [node] = [n for n in graph.nodes if isinstance(n, WorkflowResourceConfigNode)]
    absolute = str(config.resolve())
    digest = hashlib.sha256(f"{absolute}:a.b".encode()).hexdigest()[:12]
    assert node.model_dump() == {
        "id": f"resource_config_{digest}",
        "label": "Settings",
        "node_type": "resource_config",
        "type_name": "Settings",
        "config_file": absolute,
        "path_selector": "a.b",
        "config_schema": Settings.model_json_schema(),
        "config_value": {"url": "x"},
        "description": "Where to go",
    }
    assert ("one", node.id, "s") in [(e.source, e.target, e.label) for e in graph.edges]


@pytest.mark.skipif(_ResourceConfig is None, reason="no ResourceConfig")
def test_config_label_wins_and_a_missing_file_still_draws(tmp_path: Path) -> None:
    missing = str(tmp_path / "absent.json")
    descriptor = _ResourceConfig(missing, label="Settings file")

    class MissingFlow(Workflow):
        @step
        async def one(self, ev: StartEvent, s: Annotated[Settings, descriptor]) -> StopEvent:
            return StopEvent()

    graph = get_workflow_representation(MissingFlow)
    [node] = [n for n in graph.nodes if isinstance(n, WorkflowResourceConfigNode)]
    assert (node.label, node.config_file, node.config_value) == ("Settings file", missing, None)
