"""A live server (``tests/_live_server.py``) over a SQLite file with the client tests'
workflows (``tests/_served_flows.py``); it can be restarted on the same port and store to
cut open connections."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from _live_server import LiveServer, live_servers
from _served_flows import client_workflows
from workflows.client import WorkflowClient


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'client.db'}"


@pytest.fixture
def start_server() -> Iterator[Any]:
    """``start_server(store_url, port=0, **create_app_options) -> LiveServer`` serving
    the client tests' workflows; stopped after the test."""
    with live_servers(client_workflows) as start:
        yield start


@pytest.fixture
def server(start_server: Any, store_url: str) -> LiveServer:
    """A server without a token on a fresh SQLite file."""
    server: LiveServer = start_server(store_url)
    return server


@pytest.fixture
async def client(server: LiveServer) -> AsyncIterator[WorkflowClient]:
    """A client of ``server`` that knows the test workflows' event classes."""
    async with WorkflowClient(server.url, workflows=client_workflows()) as client:
        yield client
