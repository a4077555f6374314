"""``workflows serve`` in a subprocess, for the tests of the command line, the
documentation and a poisoned store.

:func:`serving` starts the command on a free port and yields the server's URL once
uvicorn says it accepts connections (a handshake on its log line, not a sleep); it stops
the server with SIGINT, as a person at the terminal would.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest

__all__ = ["SERVE", "free_port", "serving"]

SERVE = (sys.executable, "-m", "workflows.cli", "serve")
"""``workflows serve`` with the interpreter running the tests."""

_STOP_TIMEOUT = 30


def free_port() -> int:
    """A TCP port nobody listens on (now)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serving(
    command: Sequence[str], *, cwd: Path, env: dict[str, str], start_timeout: float
) -> Iterator[str]:
    """Run ``command`` (a ``workflows serve ...`` command line) with ``--port`` set to
    a free port; yield its URL once it listens, stop it with SIGINT after the block.

    Fails the test, with what the command wrote, when it exits without listening.
    """
    port = free_port()
    proc = subprocess.Popen(
        [*command, "--port", str(port)],
        cwd=cwd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    try:
        seen: list[str] = []
        for line in proc.stderr:
            seen.append(line)
            if "Uvicorn running on" in line:
                break
        else:
            proc.wait(timeout=start_timeout)
            pytest.fail(f"{' '.join(command)} did not start:\n{''.join(seen)}")
        yield f"http://127.0.0.1:{port}"
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=_STOP_TIMEOUT)
