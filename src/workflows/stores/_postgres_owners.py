"""Which workers are alive, as PostgreSQL sees it: a session lock per worker id.

A worker holds ``pg_advisory_lock(hashtext(schema), hashtext(owner))`` on its listening
connection. PostgreSQL releases it the moment that session ends (the process died, its
machine is gone and TCP said so, the backend was terminated), so another worker can tell
from ``pg_locks`` that an owner is gone without waiting for its leases to expire. A live
worker that is frozen or partitioned keeps its session for a while: lease expiry stays
the fallback, and fencing by version makes a wrong guess harmless either way.
"""

from __future__ import annotations

from typing import Any

from workflows.errors import StoreError

__all__ = ["EXPIRE_GONE_OWNERS_SQL", "take_owner_lock"]


async def take_owner_lock(conn: Any, schema: str, owner: str) -> None:
    """Take ``owner``'s liveness lock on ``conn`` for the life of its session.

    Raises:
        StoreError: another live session holds it (two workers share one id).
    """
    taken = await conn.fetchval(
        "SELECT pg_try_advisory_lock(hashtext($1), hashtext($2))", schema, owner
    )
    if not taken:
        raise StoreError(
            f"worker id {owner!r} is in use by another live session on this database "
            "(give every worker its own id; a restarted worker gets it once the old "
            "session is gone)"
        )


#: Ends the leases of owners without a live session and returns the freed runs' ids.
#: Parameters: ``$1`` the asking owner, ``$2`` now (epoch seconds), ``$3`` the schema,
#: ``$4`` the grace period after a database start. A two-key advisory lock shows in
#: pg_locks as classid = key 1, objid = key 2, objsubid = 2, both keys as unsigned
#: 32-bit numbers.
EXPIRE_GONE_OWNERS_SQL = """
WITH leased AS (
    SELECT DISTINCT owner FROM wf_runs
    WHERE owner IS NOT NULL AND owner <> $1 AND lease_expires_at > $2
      AND status IN ('running', 'waiting')
), gone AS (
    SELECT leased.owner FROM leased
    WHERE now() - pg_postmaster_start_time() > make_interval(secs => $4::double precision)
      AND NOT EXISTS (
        SELECT 1 FROM pg_locks l
        WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2
          AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
          AND l.classid::bigint = (hashtext($3)::bigint & 4294967295)
          AND l.objid::bigint = (hashtext(leased.owner)::bigint & 4294967295))
)
UPDATE wf_runs r SET lease_expires_at = $2 FROM gone
WHERE r.owner = gone.owner AND r.lease_expires_at > $2 AND r.status IN ('running', 'waiting')
RETURNING r.run_id
"""
