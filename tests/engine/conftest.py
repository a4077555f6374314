"""Store URLs for the engine tests: memory, a SQLite file, a Postgres schema per test.

PostgreSQL uses ``WORKFLOWS_TEST_POSTGRES_URL`` (default
``postgresql://127.0.0.1:5432/test``), each test in a schema of its own, dropped after.
Skipped when unreachable, unless ``WORKFLOWS_REQUIRE_POSTGRES=1`` makes that a failure.
"""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def store_url(store_kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """A store URL of the kind under test; every Engine made with it shares the data
    (except ``memory://``, which is private to one engine)."""
    if store_kind == "memory":
        return "memory://"
    if store_kind == "sqlite":
        return f"sqlite:///{tmp_path / 'runs.db'}"
    return str(request.getfixturevalue("postgres_schema_url"))
