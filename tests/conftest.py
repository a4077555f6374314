"""Shared test configuration: the PostgreSQL server the store and engine tests use, a
SQLite store URL, and live HTTP servers (``tests/_live_server.py``) for the suites that
define ``served_workflows``.

PostgreSQL tests use ``WORKFLOWS_TEST_POSTGRES_URL`` (default
``postgresql://127.0.0.1:5432/test``). They are skipped with a message when the server
cannot be reached, unless ``WORKFLOWS_REQUIRE_POSTGRES=1`` (set by ``.ci/run``), which
turns that into a failure.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import socket
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
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


def _drop_schema(postgres_url: str, schema: str) -> None:
    # In a thread of its own, so it works from sync and async tests alike.
    import asyncpg

    async def drop() -> None:
        conn = await asyncpg.connect(postgres_url)
        try:
            await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        finally:
            await conn.close()

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, drop()).result()


@pytest.fixture
def postgres_schema(postgres_url: str) -> Iterator[str]:
    """A fresh PostgreSQL schema name for one test, dropped after it."""
    schema = f"wf_test_{uuid.uuid4().hex[:16]}"
    yield schema
    _drop_schema(postgres_url, schema)


@pytest.fixture
def postgres_schema_url(postgres_url: str, postgres_schema: str) -> str:
    """A PostgreSQL store URL on a fresh schema, dropped after the test."""
    sep = "&" if "?" in postgres_url else "?"
    return f"{postgres_url}{sep}schema={postgres_schema}"


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def store_kind(request: pytest.FixtureRequest) -> str:
    """The store implementation under test (the stores' and engine's tests run on all)."""
    return str(request.param)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A SQLite store URL on a file of its own."""
    return f"sqlite:///{tmp_path / 'runs.db'}"


@pytest.fixture
def start_server(served_workflows: Callable[[], dict[str, Any]]) -> Iterator[Any]:
    """``start_server(store_url, port=0, **create_app_options) -> LiveServer`` serving
    fresh ``served_workflows()`` (a fixture of the suite); stopped after the test."""
    from _live_server import live_servers

    with live_servers(served_workflows) as start:
        yield start


@pytest.fixture
def server(start_server: Any, sqlite_url: str) -> Any:
    """A live server without a token on a fresh SQLite file."""
    return start_server(sqlite_url)
