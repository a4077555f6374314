"""Fixtures of the fault tests: a private PostgreSQL cluster that a test may cut, stop
and restart (``tests/_pgcluster.py``), one per test module.

Skipped with a message saying how to enable them when the PostgreSQL server binaries
(or asyncpg) are missing, unless ``WORKFLOWS_REQUIRE_POSTGRES=1`` (set by ``.ci/run``),
which turns that into a failure.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from _pgcluster import HOW_TO_ENABLE, REQUIRE_ENV, PgCluster, cluster_problem, find_bindir


@pytest.fixture(scope="module")
def pg_cluster_for_module() -> Iterator[PgCluster]:
    """A private cluster shared by the tests of one module (started once, ~1.5 s)."""
    problem = cluster_problem()
    if problem is not None:
        if os.environ.get(REQUIRE_ENV) == "1":
            pytest.fail(f"{problem}; {REQUIRE_ENV}=1 makes the PostgreSQL fault tests mandatory")
        pytest.skip(f"{problem}: {HOW_TO_ENABLE}")
    bindir = find_bindir()
    assert bindir is not None
    cluster = PgCluster(bindir)
    cluster.create()
    try:
        yield cluster
    finally:
        cluster.destroy()


@pytest.fixture
def pg_cluster(pg_cluster_for_module: PgCluster) -> PgCluster:
    """The module's private cluster, running (a test that failed while it was down left
    it stopped: it is started again here)."""
    if not pg_cluster_for_module.is_running():
        pg_cluster_for_module.start_now()
    return pg_cluster_for_module


@pytest.fixture
def fault_schema() -> str:
    """A schema name of the test's own (the cluster is thrown away, so none is dropped)."""
    return f"wf_fault_{uuid.uuid4().hex[:12]}"
