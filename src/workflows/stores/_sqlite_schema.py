"""The SQLite schema, as an ordered list of migrations, and the code that applies them.

Migration ``n`` (1-based) brings a database from schema version ``n - 1`` to ``n``. The
version lives in the one-row table ``wf_schema_version``. All pending migrations run in
one ``BEGIN IMMEDIATE`` transaction (SQLite DDL is transactional), so a failed or
refused upgrade writes nothing.

Layout notes (stored bytes matter: a paused run should cost well under 2 KB):
JSON is kept as compact TEXT; the snapshot is the last column of ``wf_runs`` so reading
the small columns never touches its overflow pages; stream entries and requests are
``WITHOUT ROWID`` tables keyed by their natural key (no second index); response schemas
are interned in ``wf_schemas`` by digest, since every request of one waiter type has the
same schema.

Versions: 1 creates the tables; 2 marks that runs may have the terminal status
``quarantined``; 3 keeps who answered each request and each run's start input; 4 adds
``wf_state``, a run's state kept one row per key; 5 adds the task fields of requests,
their audit trail and the webhook bookkeeping; 6 adds ``wf_checkpoints`` (a run's kept
checkpoints) and ``wf_forks`` (which run was forked from which checkpoint).
"""

from __future__ import annotations

import sqlite3
from typing import Final

from workflows.errors import StoreSchemaError

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "migrate"]

MIGRATIONS: Final[tuple[tuple[str, ...], ...]] = (
    (
        """CREATE TABLE wf_runs (
            run_id TEXT PRIMARY KEY NOT NULL,
            workflow TEXT NOT NULL,
            status TEXT NOT NULL,
            version INTEGER NOT NULL,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL,
            owner TEXT,
            lease_expires_at REAL,
            result TEXT,
            error TEXT,
            snapshot TEXT NOT NULL
        )""",
        "CREATE INDEX wf_runs_status ON wf_runs (status)",
        """CREATE TABLE wf_stream (
            run_id TEXT NOT NULL,
            seq INTEGER NOT NULL,
            event_type TEXT NOT NULL,
            created_at REAL NOT NULL,
            payload TEXT NOT NULL,
            PRIMARY KEY (run_id, seq)
        ) WITHOUT ROWID""",
        """CREATE TABLE wf_schemas (
            digest TEXT PRIMARY KEY NOT NULL,
            body TEXT NOT NULL
        ) WITHOUT ROWID""",
        """CREATE TABLE wf_requests (
            request_id TEXT PRIMARY KEY NOT NULL,
            run_id TEXT NOT NULL,
            workflow TEXT NOT NULL,
            event_type TEXT NOT NULL,
            status TEXT NOT NULL,
            created_at REAL NOT NULL,
            deadline REAL,
            answered_at REAL,
            idempotency_key TEXT,
            schema_digest TEXT NOT NULL,
            payload TEXT NOT NULL,
            response TEXT
        ) WITHOUT ROWID""",
        "CREATE INDEX wf_requests_run ON wf_requests (run_id)",
        """CREATE INDEX wf_requests_deadline ON wf_requests (deadline)
            WHERE status = 'pending' AND deadline IS NOT NULL""",
        """CREATE TABLE wf_inbound (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            run_id TEXT NOT NULL,
            request_id TEXT,
            created_at REAL NOT NULL,
            payload TEXT NOT NULL
        )""",
        "CREATE INDEX wf_inbound_run ON wf_inbound (run_id)",
    ),
    # 2: runs may be 'quarantined', a terminal status (RunStore.quarantine_run). The
    # tables do not change (the finished statuses live in the code); the bump keeps
    # older versions of the library, which would take such a run for an unfinished
    # one, from opening the file.
    (),
    # 3: the audit trail: who answered each request (free text the answering client
    # gives, stored with the answer) and the start event each run was started with
    # (JSON, as the engine encodes events). Both NULL for rows written before.
    (
        "ALTER TABLE wf_requests ADD COLUMN answered_by TEXT",
        "ALTER TABLE wf_runs ADD COLUMN input TEXT",
    ),
    # 4: state rows (workflows.stores.StateChanges): one row per top-level key of a run's
    # state, so that a commit writes the keys that changed, not the whole state. A rowid
    # table: the rowid keeps the order in which the keys were first written (an upsert
    # keeps it). Existing runs keep their state in the snapshot column and load as
    # before, until a commit moves it into rows.
    (
        """CREATE TABLE wf_state (
            run_id TEXT NOT NULL,
            key TEXT NOT NULL,
            value TEXT NOT NULL,
            PRIMARY KEY (run_id, key)
        )""",
    ),
    # 5: human tasks. A request's task fields (candidate lists as names wrapped in
    # U+001F separators, NULL for none; see _rows.names_text), indexes that serve the
    # three inbox orders of pending requests (each ends with request_id, the tie-break,
    # so a keyset page is one index range) and finding overdue requests; the append-only
    # audit trail (AUTOINCREMENT: ids are never reused, so they order the webhook feed),
    # the webhook cursors and delivery attempts. Existing requests read with defaults.
    (
        "ALTER TABLE wf_requests ADD COLUMN assignee TEXT",
        "ALTER TABLE wf_requests ADD COLUMN candidate_users TEXT",
        "ALTER TABLE wf_requests ADD COLUMN candidate_groups TEXT",
        "ALTER TABLE wf_requests ADD COLUMN priority INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE wf_requests ADD COLUMN due REAL",
        "ALTER TABLE wf_requests ADD COLUMN follow_up REAL",
        "ALTER TABLE wf_requests ADD COLUMN overdue_at REAL",
        """CREATE INDEX wf_requests_pending_created
            ON wf_requests (created_at DESC, request_id DESC) WHERE status = 'pending'""",
        """CREATE INDEX wf_requests_pending_priority
            ON wf_requests (priority DESC, created_at DESC, request_id DESC)
            WHERE status = 'pending'""",
        """CREATE INDEX wf_requests_pending_due
            ON wf_requests (coalesce(due, 9e999), created_at DESC, request_id DESC)
            WHERE status = 'pending'""",
        """CREATE INDEX wf_requests_pending_assignee
            ON wf_requests (assignee, created_at DESC, request_id DESC)
            WHERE status = 'pending'""",
        """CREATE INDEX wf_requests_overdue ON wf_requests (due)
            WHERE status = 'pending' AND due IS NOT NULL AND overdue_at IS NULL""",
        """CREATE TABLE wf_request_audit (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            request_id TEXT NOT NULL,
            run_id TEXT NOT NULL,
            workflow TEXT NOT NULL,
            at REAL NOT NULL,
            action TEXT NOT NULL,
            actor TEXT,
            detail TEXT NOT NULL
        )""",
        "CREATE INDEX wf_request_audit_request ON wf_request_audit (request_id, id)",
        "CREATE INDEX wf_request_audit_run ON wf_request_audit (run_id)",
        """CREATE TABLE wf_webhook_cursors (
            endpoint TEXT PRIMARY KEY NOT NULL,
            audit_id INTEGER NOT NULL
        ) WITHOUT ROWID""",
        """CREATE TABLE wf_webhook_deliveries (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            endpoint TEXT NOT NULL,
            audit_id INTEGER NOT NULL,
            request_id TEXT NOT NULL,
            attempt INTEGER NOT NULL,
            at REAL NOT NULL,
            status_code INTEGER,
            error TEXT,
            delivered INTEGER NOT NULL
        )""",
        "CREATE INDEX wf_webhook_deliveries_endpoint ON wf_webhook_deliveries (endpoint, id)",
        "CREATE INDEX wf_webhook_deliveries_request ON wf_webhook_deliveries (request_id, id)",
    ),
    # 6: checkpoint history (workflows.stores.CheckpointStore): the checkpoints a run keeps,
    # whole snapshots or deltas, one row each (a rowid table: bodies may be large), and
    # the fork links, found from either end. Existing runs simply have none.
    (
        """CREATE TABLE wf_checkpoints (
            run_id TEXT NOT NULL,
            seq INTEGER NOT NULL,
            anchor INTEGER NOT NULL,
            at REAL NOT NULL,
            status TEXT NOT NULL,
            kind TEXT NOT NULL,
            meta TEXT NOT NULL,
            body TEXT NOT NULL,
            PRIMARY KEY (run_id, seq)
        )""",
        """CREATE TABLE wf_forks (
            run_id TEXT PRIMARY KEY NOT NULL,
            parent_run_id TEXT NOT NULL,
            parent_seq INTEGER NOT NULL,
            created_at REAL NOT NULL
        ) WITHOUT ROWID""",
        "CREATE INDEX wf_forks_parent ON wf_forks (parent_run_id)",
    ),
)
"""Migrations in order; ``MIGRATIONS[i]`` brings schema version ``i`` to ``i + 1``."""

SCHEMA_VERSION: Final[int] = len(MIGRATIONS)
"""The schema version this code writes and reads."""


def migrate(conn: sqlite3.Connection, where: str) -> int:
    """Bring the database to :data:`SCHEMA_VERSION`; return the version found before.

    ``conn`` must be in autocommit mode (``isolation_level=None``).

    Raises:
        StoreSchemaError: the database is of a newer version (nothing is written).
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute("CREATE TABLE IF NOT EXISTS wf_schema_version (version INTEGER NOT NULL)")
        row = conn.execute("SELECT max(version) FROM wf_schema_version").fetchone()
        found = 0 if row is None or row[0] is None else int(row[0])
        if found > SCHEMA_VERSION:
            raise StoreSchemaError(
                f"the store at {where} has schema version {found}, newer than version "
                f"{SCHEMA_VERSION} that this version of durable-workflows knows; "
                "upgrade durable-workflows"
            )
        for statements in MIGRATIONS[found:]:
            for statement in statements:
                conn.execute(statement)
        if found != SCHEMA_VERSION:
            conn.execute("DELETE FROM wf_schema_version")
            conn.execute("INSERT INTO wf_schema_version (version) VALUES (?)", (SCHEMA_VERSION,))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return found
