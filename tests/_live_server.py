"""The one live HTTP server of the test suite: uvicorn on loopback, in a thread.

The socket is bound and listening before the thread starts, so clients may connect at
once (their requests queue until uvicorn serves them); :meth:`LiveServer.start` returns
once uvicorn has run the app's start-up (the engine is open). Stopping asks uvicorn to
exit and joins the thread, which runs the lifespan shutdown (the engine closes, runs
stay stored). A server can be started again on the same port (``SO_REUSEADDR``).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn

__all__ = ["LiveServer", "live_servers"]

STOP_TIMEOUT = 30.0
START_TIMEOUT = 30.0


class LiveServer:
    """One uvicorn server for ``app`` in a thread on ``port`` (0: a free one)."""

    def __init__(self, app: Any, port: int = 0) -> None:
        self.app = app
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen(128)
        self.port: int = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            app, log_level="warning", lifespan="on", ws="none", timeout_graceful_shutdown=1
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )

    def start(self) -> LiveServer:
        """Start serving; return once the app's start-up has run (bounded)."""
        self.thread.start()
        deadline = time.monotonic() + START_TIMEOUT
        while not self.server.started:
            assert self.thread.is_alive(), "server thread died during start-up"
            assert time.monotonic() < deadline, "server not started in time"
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        """Ask uvicorn to exit and wait for it (open streams are cut)."""
        self.server.should_exit = True
        self.thread.join(STOP_TIMEOUT)
        assert not self.thread.is_alive(), "server did not stop"
        self.sock.close()


@contextmanager
def live_servers(workflows: Callable[[], dict[str, Any]]) -> Iterator[Callable[..., LiveServer]]:
    """Yield ``start(store_url, port=0, **create_app_options) -> LiveServer``, which
    serves fresh ``workflows()`` (a heartbeat of 0.5 s unless given); every server it
    started and that still runs is stopped after the block."""
    from workflows.server import create_app

    started: list[LiveServer] = []

    def start(store: str, port: int = 0, **options: Any) -> LiveServer:
        options.setdefault("heartbeat", 0.5)
        server = LiveServer(create_app(store, workflows(), **options), port).start()
        started.append(server)
        return server

    try:
        yield start
    finally:
        for server in started:
            if server.thread.is_alive():
                server.stop()
