"""Fixtures giving every store implementation to the contract suite.

PostgreSQL tests use ``WORKFLOWS_TEST_POSTGRES_URL`` (default
``postgresql://127.0.0.1:5432/test``), each test in a schema of its own. They are
skipped when the server cannot be reached, unless ``WORKFLOWS_REQUIRE_POSTGRES=1``, which
turns that into a failure.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from workflows.stores import MemoryStore, RunStore, SqliteStore

StoreFactory = Callable[..., RunStore]


@pytest.fixture
def make_store(store_kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> StoreFactory:
    """Build unopened stores of the kind under test, all on the same database."""
    if store_kind == "memory":
        return lambda **options: MemoryStore(**options)
    if store_kind == "sqlite":
        path = tmp_path / "runs.db"
        return lambda **options: SqliteStore(path, **options)
    postgres_url = request.getfixturevalue("postgres_url")
    schema = request.getfixturevalue("postgres_schema")
    from workflows.stores import PostgresStore

    return lambda **options: PostgresStore(postgres_url, schema=schema, **options)


@pytest.fixture
async def store(make_store: StoreFactory) -> AsyncIterator[Any]:
    """An open store of the kind under test."""
    async with make_store() as opened:
        yield opened
