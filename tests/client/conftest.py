"""The client tests serve their workflows (``tests/_served_flows.py``) on the live
servers of ``tests/conftest.py`` (one can be restarted on the same port and store to cut
open connections); ``client`` is a WorkflowClient of ``server``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest

from _live_server import LiveServer
from _served_flows import client_workflows
from workflows import Workflow
from workflows.client import WorkflowClient


@pytest.fixture
def served_workflows() -> Callable[[], dict[str, Workflow]]:
    """What the live servers of these tests serve (``start_server``, ``server``)."""
    return client_workflows


@pytest.fixture
async def client(server: LiveServer) -> AsyncIterator[WorkflowClient]:
    """A client of ``server`` that knows the test workflows' event classes."""
    async with WorkflowClient(server.url, workflows=client_workflows()) as client:
        yield client
