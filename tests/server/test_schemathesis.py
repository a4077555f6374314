"""Schemathesis against the live server's own ``/openapi.json``.

For every documented operation it generates requests (valid and invalid ones) and
checks that none produces a server error and that every response matches the
documented schema. Bounded and deterministic: ``max_examples=25`` per operation,
``derandomize=True``, no deadline. The never-ending inbox stream and the HTML pages
(served by the page module) are left out. It runs on SQLite and on PostgreSQL (skipped
without one, failing with ``WORKFLOWS_REQUIRE_POSTGRES=1``): the document bounds integer
query values at 2^63 - 1 and ``Last-Event-ID`` to ASCII digits, so negative cases probe
past them; hand-written hostile input is in ``test_hostile_input.py``.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from _live_server import LiveServer
from _served_flows import server_workflows
from workflows.server import create_app


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def live_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """The server on a SQLite file, then on a PostgreSQL schema of its own (which
    refuses values SQLite takes, such as NUL in text or integers past 64 bits)."""
    if request.param == "sqlite":
        db: Path = tmp_path_factory.mktemp("schemathesis") / "api.db"
        url = f"sqlite:///{db}"
    else:
        base: str = request.getfixturevalue("postgres_url")
        schema = f"wf_schemathesis_{uuid.uuid4().hex[:12]}"
        url = f"{base}{'&' if '?' in base else '?'}schema={schema}"
    server = LiveServer(create_app(url, server_workflows(), heartbeat=0.5)).start()
    yield server
    server.stop()
    if request.param == "postgres":
        asyncio.run(_drop_schema(base, schema))


async def _drop_schema(url: str, schema: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await conn.close()


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_api_conforms_to_its_schema(live_server: LiveServer, mode: GenerationMode) -> None:
    # schemathesis' pytest plugin (from_fixture) does not run on pytest 9, so each
    # operation's strategy is driven by hypothesis here directly.
    schema = schemathesis.openapi.from_url(f"{live_server.url}/openapi.json")
    schema = schema.exclude(path="/requests/stream").exclude(tag="pages")
    failures: list[str] = []
    tested = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        tested += 1

        @settings(
            max_examples=25,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy(generation_mode=mode))
        def check(case: Any) -> None:
            case.call_and_validate(
                base_url=live_server.url,
                checks=[not_a_server_error, response_schema_conformance],
                timeout=30,
            )

        try:
            check()
        except Unsatisfiable:
            # Negative mode: nothing of this operation can be made invalid (e.g. a
            # path parameter that accepts any string).
            assert mode is GenerationMode.NEGATIVE, operation.label
        except Exception as exc:  # report every operation, not only the first
            failures.append(f"{operation.label}: {exc}")
    assert tested >= 12, tested
    assert not failures, "\n\n".join(failures)
