"""Shared test configuration: the PostgreSQL server the store and engine tests use.

PostgreSQL tests use ``WORKFLOWS_TEST_POSTGRES_URL`` (default
``postgresql://127.0.0.1:5432/test``). They are skipped with a message when the server
cannot be reached, unless ``WORKFLOWS_REQUIRE_POSTGRES=1`` (set by ``.ci/run``), which
turns that into a failure.
"""

from __future__ import annotations

import os
import socket
from urllib.parse import urlsplit

import pytest

POSTGRES_URL = os.environ.get("WORKFLOWS_TEST_POSTGRES_URL", "postgresql://127.0.0.1:5432/test")
REQUIRE_POSTGRES = os.environ.get("WORKFLOWS_REQUIRE_POSTGRES") == "1"


def _postgres_problem() -> str | None:
    try:
        import asyncpg  # noqa: F401
    except ImportError:
        return "asyncpg is not installed (pip install 'durable-workflows[postgres]')"
    parts = urlsplit(POSTGRES_URL)
    address = (parts.hostname or "127.0.0.1", parts.port or 5432)
    try:
        socket.create_connection(address, timeout=2).close()
    except OSError as exc:
        return f"PostgreSQL is not reachable at {address[0]}:{address[1]} ({exc})"
    return None


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """The URL of the test PostgreSQL server; skips (or fails, if required) without one."""
    problem = _postgres_problem()
    if problem is not None:
        if REQUIRE_POSTGRES:
            pytest.fail(f"{problem}; WORKFLOWS_REQUIRE_POSTGRES=1 makes PostgreSQL mandatory")
        pytest.skip(
            f"{problem}: start PostgreSQL or set WORKFLOWS_TEST_POSTGRES_URL to run these "
            "tests (WORKFLOWS_REQUIRE_POSTGRES=1 makes them mandatory)"
        )
    return POSTGRES_URL
