"""A real uvicorn server on a loopback port, in a thread, over a SQLite file.

The listening socket is bound and listening before the server thread starts, so a
client can connect at once: its requests queue until uvicorn has started (no polling).
A server can be restarted on the same port and store to cut open connections.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from workflows.client import WorkflowClient
from workflows.server import create_app

from ._flows import workflows

STOP_TIMEOUT = 30.0


class LiveServer:
    """One uvicorn server in a thread on ``port`` (0: a free one)."""

    def __init__(self, store: str, port: int = 0, **options: Any) -> None:
        options.setdefault("heartbeat", 0.5)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen(128)
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        app = create_app(store, workflows(), **options)
        config = uvicorn.Config(
            app, log_level="warning", lifespan="on", timeout_graceful_shutdown=1
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )
        self.thread.start()

    def stop(self) -> None:
        """Ask uvicorn to exit and wait for it (open streams are cut)."""
        self.server.should_exit = True
        self.thread.join(STOP_TIMEOUT)
        assert not self.thread.is_alive(), "server did not stop"
        self.sock.close()


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'client.db'}"


@pytest.fixture
def start_server() -> Iterator[Any]:
    """``start_server(store_url, port=0, **create_app_options) -> LiveServer``."""
    started: list[LiveServer] = []

    def start(store: str, port: int = 0, **options: Any) -> LiveServer:
        server = LiveServer(store, port, **options)
        started.append(server)
        return server

    yield start
    for server in started:
        if server.thread.is_alive():
            server.stop()


@pytest.fixture
def server(start_server: Any, store_url: str) -> LiveServer:
    """A server without a token on a fresh SQLite file."""
    server: LiveServer = start_server(store_url)
    return server


@pytest.fixture
async def client(server: LiveServer) -> AsyncIterator[WorkflowClient]:
    """A client of ``server`` that knows the test workflows' event classes."""
    async with WorkflowClient(server.url, workflows=workflows()) as client:
        yield client
