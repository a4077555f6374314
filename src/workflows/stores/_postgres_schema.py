"""The PostgreSQL schema, as an ordered list of migrations, and the code that applies them.

Migration ``n`` (1-based) brings a schema from version ``n - 1`` to ``n``; the version
lives in the one-row table ``wf_schema_version``. All pending migrations run in one
transaction under an advisory lock (so several workers starting together migrate once),
and PostgreSQL DDL is transactional: a failed or refused upgrade writes nothing.

A commit is one call of the ``wf_commit`` function: one round trip and one statement,
hence one transaction, whatever the commit holds. It raises SQLSTATE ``WF404`` (no such
run), ``WF409`` (stale: version, request or inbound event changed) or ``WF410`` (the
run has finished); a duplicate stream seq or request id is a unique violation.

Versions: 1 creates the tables and ``wf_commit``; 2 adds the terminal status
``quarantined`` (``wf_commit`` is replaced so that it refuses such runs); 3 adds
``wf_commit_many``, the group commit of many runs in one statement; 4 keeps who answered
each request and each run's start input; 5 adds ``wf_state`` (a run's state, one row per
key) and ``wf_commit_state``, which a commit calls to write the keys that changed
(``wf_commit_many`` is replaced to take them); 6 adds the task fields of requests, their
audit trail and the webhook bookkeeping (``wf_commit`` and ``wf_commit_many`` are
replaced to take the task fields and write the audit entries); 7 adds ``wf_checkpoints``
(a run's kept checkpoints, written by the statement that commits, next to the function
call) and ``wf_forks`` (which run was forked from which checkpoint).
"""

from __future__ import annotations

from typing import Any, Final

from workflows.errors import StoreSchemaError

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "migrate"]

_TERMINAL = "('completed', 'failed', 'cancelled', 'timed_out')"
_TERMINAL_V2 = "('completed', 'failed', 'cancelled', 'timed_out', 'quarantined')"


def _commit_function(create: str, terminal: str, *, closed_by: bool = False) -> str:
    """The ``wf_commit`` function, finishing runs in the ``terminal`` statuses; with
    ``closed_by`` (migration 4) it takes who answered each closed request as its last
    argument (``p_closed_by``, parallel to ``p_closed_ids``)."""
    by_param = ", p_closed_by text[]" if closed_by else ""
    by_set = ", answered_by = c.who" if closed_by else ""
    by_unnest = (
        "unnest(p_closed_ids, p_closed_statuses, p_closed_by) AS c(id, st, who)"
        if closed_by
        else "unnest(p_closed_ids, p_closed_statuses) AS c(id, st)"
    )
    return f"""
{create} wf_commit(
    p_run_id text, p_expected bigint, p_snapshot text, p_status text, p_result text,
    p_error text, p_now double precision,
    p_seqs bigint[], p_types text[], p_payloads text[],
    p_req_ids text[], p_req_workflows text[], p_req_types text[], p_req_payloads text[],
    p_req_created double precision[], p_req_deadlines double precision[],
    p_req_digests text[], p_schema_digests text[], p_schema_bodies text[],
    p_closed_ids text[], p_closed_statuses text[], p_consumed bigint[]{by_param}
) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    v_finished boolean := p_status IN {terminal};
    v_version bigint;
    v_status text;
    v_count integer;
    v_bad text;
BEGIN
    UPDATE wf_runs SET snapshot = p_snapshot, status = p_status, result = p_result,
        error = p_error, version = version + 1, updated_at = p_now,
        owner = CASE WHEN v_finished THEN NULL ELSE owner END,
        lease_expires_at = CASE WHEN v_finished THEN NULL ELSE lease_expires_at END
    WHERE run_id = p_run_id AND version = p_expected AND status NOT IN {terminal};
    IF NOT FOUND THEN
        SELECT version, status INTO v_version, v_status FROM wf_runs WHERE run_id = p_run_id;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'run not found' USING ERRCODE = 'WF404';
        END IF;
        IF v_status IN {terminal} THEN
            RAISE EXCEPTION '%', v_status USING ERRCODE = 'WF410';
        END IF;
        RAISE EXCEPTION 'stored version %, expected %', v_version, p_expected
            USING ERRCODE = 'WF409';
    END IF;
    IF cardinality(p_seqs) > 0 THEN
        INSERT INTO wf_stream (run_id, seq, event_type, created_at, payload)
        SELECT p_run_id, u.s, u.t, p_now, u.p
        FROM unnest(p_seqs, p_types, p_payloads) AS u(s, t, p);
    END IF;
    IF cardinality(p_schema_digests) > 0 THEN
        INSERT INTO wf_schemas (digest, body)
        SELECT u.d, u.b FROM unnest(p_schema_digests, p_schema_bodies) AS u(d, b)
        ON CONFLICT DO NOTHING;
    END IF;
    IF cardinality(p_req_ids) > 0 THEN
        INSERT INTO wf_requests (request_id, run_id, workflow, event_type, status,
            created_at, deadline, schema_digest, payload)
        SELECT u.i, p_run_id, u.w, u.t, 'pending', u.c, u.d, u.g, u.p
        FROM unnest(p_req_ids, p_req_workflows, p_req_types, p_req_created,
                    p_req_deadlines, p_req_digests, p_req_payloads) AS u(i, w, t, c, d, g, p);
    END IF;
    IF cardinality(p_closed_ids) > 0 THEN
        UPDATE wf_requests r SET status = c.st, answered_at = p_now{by_set}
        FROM {by_unnest}
        WHERE r.request_id = c.id AND r.run_id = p_run_id AND r.status = 'pending';
        SELECT format('input request %L is %s', c.id,
                      coalesce('already ' || r.status, 'not a request of this run'))
        INTO v_bad
        FROM unnest(p_closed_ids, p_closed_statuses) AS c(id, st)
        LEFT JOIN wf_requests r ON r.request_id = c.id AND r.run_id = p_run_id
        WHERE r.status IS DISTINCT FROM c.st
        LIMIT 1;
        IF v_bad IS NOT NULL THEN
            RAISE EXCEPTION '%', v_bad USING ERRCODE = 'WF409';
        END IF;
    END IF;
    IF cardinality(p_consumed) > 0 THEN
        DELETE FROM wf_inbound WHERE run_id = p_run_id AND id = ANY (p_consumed);
        GET DIAGNOSTICS v_count = ROW_COUNT;
        IF v_count <> cardinality(p_consumed) THEN
            RAISE EXCEPTION 'an inbound event to consume was already consumed'
                USING ERRCODE = 'WF409';
        END IF;
    END IF;
    IF v_finished THEN
        UPDATE wf_requests SET status = 'cancelled', answered_at = p_now
        WHERE run_id = p_run_id AND status = 'pending';
        DELETE FROM wf_inbound WHERE run_id = p_run_id;
    END IF;
    RETURN p_expected + 1;
END
$$
"""


def _commit_many_function(
    *, closed_by: bool = False, with_state: bool = False, tasks: bool = False
) -> str:
    """The ``wf_commit_many`` function (migration 3): a group commit in one statement;
    with ``closed_by`` (migration 4) it takes who answered each closed request as an
    argument parallel to ``p_closed_ids``, and passes it on to ``wf_commit``.

    The commits come as parallel arrays, one element per commit; their stream entries,
    requests, closed requests and consumed inbound ids as flat arrays, commit ``i``
    owning the elements after ``*_ends[i - 1]`` up to ``*_ends[i]``. Each commit is one
    call of ``wf_commit``. With ``p_isolate`` false, the first refusal fails the whole
    statement (nothing written: the caller runs it again isolated); with ``p_isolate``
    true, each commit runs in a block of its own (a subtransaction), so a refused
    commit is undone alone and reported in its row (SQLSTATE, message, constraint,
    detail) while the others are written. ``with_state``: each commit also writes its
    state rows (``wf_commit_state``), from ``p_state_resets[i]`` and the flat arrays of
    deleted keys and of written keys and values (ends as above). ``tasks`` (migration 6):
    the new requests' task fields and ``created`` audit details come as flat arrays
    parallel to ``p_req_ids``, and the statement takes the audit writers' lock first
    (``wf_audit_writer``).
    """
    by_arg = ", p_closed_by[c0 + 1 : p_closed_ends[i]]" if closed_by else ""
    if tasks:
        by_arg += "".join(
            f",\n                p_req_{name}[r0 + 1 : p_req_ends[i]]" for name in _TASK_ARRAYS
        )
    call = f"""wf_commit(
                p_run_ids[i], p_expected[i], p_snapshots[i], p_statuses[i], p_results[i],
                p_errors[i], p_now,
                p_seqs[s0 + 1 : p_stream_ends[i]], p_types[s0 + 1 : p_stream_ends[i]],
                p_payloads[s0 + 1 : p_stream_ends[i]],
                p_req_ids[r0 + 1 : p_req_ends[i]], p_req_workflows[r0 + 1 : p_req_ends[i]],
                p_req_types[r0 + 1 : p_req_ends[i]], p_req_payloads[r0 + 1 : p_req_ends[i]],
                p_req_created[r0 + 1 : p_req_ends[i]], p_req_deadlines[r0 + 1 : p_req_ends[i]],
                p_req_digests[r0 + 1 : p_req_ends[i]], v_none, v_none,
                p_closed_ids[c0 + 1 : p_closed_ends[i]],
                p_closed_statuses[c0 + 1 : p_closed_ends[i]],
                p_consumed[u0 + 1 : p_consumed_ends[i]]{by_arg})"""
    by_param = ",\n    p_closed_by text[]" if closed_by else ""
    task_params = task_lock = ""
    if tasks:
        task_params = ",\n    " + ", ".join(
            f"p_req_{name} {kind}" for name, kind in _TASK_ARRAYS.items()
        )
        task_lock = "\n    PERFORM wf_audit_writer();"
    state_params = state_call = state_vars = state_next = ""
    if with_state:
        state_params = """,
    p_state_resets boolean[], p_state_del_ends integer[], p_state_deleted text[],
    p_state_ends integer[], p_state_keys text[], p_state_values text[]"""
        state_call = """
                PERFORM wf_commit_state(p_run_ids[i], p_state_resets[i],
                    p_state_deleted[d0 + 1 : p_state_del_ends[i]],
                    p_state_keys[k0 + 1 : p_state_ends[i]],
                    p_state_values[k0 + 1 : p_state_ends[i]]);"""
        state_vars = """
    d0 integer := 0;
    k0 integer := 0;"""
        state_next = """
        d0 := p_state_del_ends[i];
        k0 := p_state_ends[i];"""
    return f"""
CREATE FUNCTION wf_commit_many(
    p_isolate boolean, p_now double precision,
    p_run_ids text[], p_expected bigint[], p_snapshots text[], p_statuses text[],
    p_results text[], p_errors text[],
    p_stream_ends integer[], p_seqs bigint[], p_types text[], p_payloads text[],
    p_req_ends integer[], p_req_ids text[], p_req_workflows text[], p_req_types text[],
    p_req_payloads text[], p_req_created double precision[],
    p_req_deadlines double precision[], p_req_digests text[],
    p_schema_digests text[], p_schema_bodies text[],
    p_closed_ends integer[], p_closed_ids text[], p_closed_statuses text[],
    p_consumed_ends integer[], p_consumed bigint[]{by_param}{state_params}{task_params}
) RETURNS TABLE (o_version bigint, o_code text, o_message text, o_constraint text,
                 o_detail text) LANGUAGE plpgsql AS $$
DECLARE
    i integer;
    s0 integer := 0;
    r0 integer := 0;
    c0 integer := 0;
    u0 integer := 0;{state_vars}
    v_none text[] := '{{}}';
BEGIN{task_lock}
    IF cardinality(p_schema_digests) > 0 THEN
        INSERT INTO wf_schemas (digest, body)
        SELECT u.d, u.b FROM unnest(p_schema_digests, p_schema_bodies) AS u(d, b)
        ON CONFLICT DO NOTHING;
    END IF;
    FOR i IN 1 .. coalesce(cardinality(p_run_ids), 0) LOOP
        o_version := NULL;
        o_code := NULL;
        o_message := NULL;
        o_constraint := NULL;
        o_detail := NULL;
        IF p_isolate THEN
            BEGIN
                o_version := {call};{state_call}
            EXCEPTION WHEN OTHERS THEN
                GET STACKED DIAGNOSTICS o_code = RETURNED_SQLSTATE, o_message = MESSAGE_TEXT,
                    o_constraint = CONSTRAINT_NAME, o_detail = PG_EXCEPTION_DETAIL;
            END;
        ELSE
            o_version := {call};{state_call}
        END IF;
        s0 := p_stream_ends[i];
        r0 := p_req_ends[i];
        c0 := p_closed_ends[i];
        u0 := p_consumed_ends[i];{state_next}
        RETURN NEXT;
    END LOOP;
END
$$
"""


_STATE_FUNCTION = """
CREATE FUNCTION wf_commit_state(
    p_run_id text, p_reset boolean, p_deleted text[], p_keys text[], p_values text[]
) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF p_reset THEN
        DELETE FROM wf_state WHERE run_id = p_run_id;
    ELSIF cardinality(p_deleted) > 0 THEN
        DELETE FROM wf_state WHERE run_id = p_run_id AND key = ANY (p_deleted);
    END IF;
    IF cardinality(p_keys) > 0 THEN
        INSERT INTO wf_state (run_id, key, value)
        SELECT p_run_id, u.k, u.v
        FROM unnest(p_keys, p_values) WITH ORDINALITY AS u(k, v, n) ORDER BY u.n
        ON CONFLICT (run_id, key) DO UPDATE SET value = excluded.value;
    END IF;
END
$$
"""
"""Writes one commit's state rows (``StateChanges``): a reset or the deleted keys
first, then the written keys (a stored key keeps its ``pos``, a new one gets the next)."""

_TASK_ARRAYS: Final[dict[str, str]] = {
    "assignees": "text[]",
    "users": "text[]",
    "groups": "text[]",
    "priorities": "bigint[]",
    "dues": "double precision[]",
    "follow_ups": "double precision[]",
    "details": "text[]",
}
"""The arguments (after ``p_closed_by``) by which ``wf_commit`` takes the task fields
of its new requests, parallel to ``p_req_ids``: candidate lists as JSON arrays, the
``created`` audit entries' details as JSON objects."""

_AUDIT_LOCKS = """
CREATE FUNCTION wf_audit_writer() RETURNS void LANGUAGE sql AS $$
    SELECT pg_advisory_xact_lock_shared(hashtext('durable-workflows-audit:' || current_schema()))
$$;
CREATE FUNCTION wf_audit_reader() RETURNS void LANGUAGE sql AS $$
    SELECT pg_advisory_xact_lock(hashtext('durable-workflows-audit:' || current_schema()))
$$;
CREATE FUNCTION wf_audit_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM wf_audit_writer();
    RETURN NULL;
END
$$;
CREATE TRIGGER wf_request_audit_order BEFORE INSERT ON wf_request_audit
    FOR EACH STATEMENT EXECUTE FUNCTION wf_audit_insert();
"""
"""The order of the audit feed (``RunStore.audit_after``). Audit ids come from an
identity, allocated when a row is inserted, but transactions commit in any order: a
reader could see id 7 committed while id 6 is still in flight, and move its cursor past
6 for ever. So every transaction writing audit rows holds a shared advisory lock (taken
before its first id is allocated: the statement trigger fires before any row's
default, and the store's write paths take it first thing, before any row lock, so a
waiting reader never closes a deadlock cycle), and the reader takes the lock
exclusively: it waits for the writers in flight to end, then sees every id below the
next one allocated."""

_TASK_COMMIT_FUNCTION = f"""
CREATE FUNCTION wf_commit(
    p_run_id text, p_expected bigint, p_snapshot text, p_status text, p_result text,
    p_error text, p_now double precision,
    p_seqs bigint[], p_types text[], p_payloads text[],
    p_req_ids text[], p_req_workflows text[], p_req_types text[], p_req_payloads text[],
    p_req_created double precision[], p_req_deadlines double precision[],
    p_req_digests text[], p_schema_digests text[], p_schema_bodies text[],
    p_closed_ids text[], p_closed_statuses text[], p_consumed bigint[], p_closed_by text[],
    {", ".join(f"p_req_{name} {kind}" for name, kind in _TASK_ARRAYS.items())}
) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    v_finished boolean := p_status IN {_TERMINAL_V2};
    v_version bigint;
    v_status text;
    v_count integer;
    v_bad text;
BEGIN
    IF v_finished OR cardinality(p_req_ids) > 0 OR cardinality(p_closed_ids) > 0 THEN
        PERFORM wf_audit_writer();  -- before any row lock (see _AUDIT_LOCKS)
    END IF;
    UPDATE wf_runs SET snapshot = p_snapshot, status = p_status, result = p_result,
        error = p_error, version = version + 1, updated_at = p_now,
        owner = CASE WHEN v_finished THEN NULL ELSE owner END,
        lease_expires_at = CASE WHEN v_finished THEN NULL ELSE lease_expires_at END
    WHERE run_id = p_run_id AND version = p_expected AND status NOT IN {_TERMINAL_V2};
    IF NOT FOUND THEN
        SELECT version, status INTO v_version, v_status FROM wf_runs WHERE run_id = p_run_id;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'run not found' USING ERRCODE = 'WF404';
        END IF;
        IF v_status IN {_TERMINAL_V2} THEN
            RAISE EXCEPTION '%', v_status USING ERRCODE = 'WF410';
        END IF;
        RAISE EXCEPTION 'stored version %, expected %', v_version, p_expected
            USING ERRCODE = 'WF409';
    END IF;
    IF cardinality(p_seqs) > 0 THEN
        INSERT INTO wf_stream (run_id, seq, event_type, created_at, payload)
        SELECT p_run_id, u.s, u.t, p_now, u.p
        FROM unnest(p_seqs, p_types, p_payloads) AS u(s, t, p);
    END IF;
    IF cardinality(p_schema_digests) > 0 THEN
        INSERT INTO wf_schemas (digest, body)
        SELECT u.d, u.b FROM unnest(p_schema_digests, p_schema_bodies) AS u(d, b)
        ON CONFLICT DO NOTHING;
    END IF;
    IF cardinality(p_req_ids) > 0 THEN
        INSERT INTO wf_requests (request_id, run_id, workflow, event_type, status,
            created_at, deadline, schema_digest, payload, assignee, candidate_users,
            candidate_groups, priority, due, follow_up)
        SELECT u.i, p_run_id, u.w, u.t, 'pending', u.c, u.d, u.g, u.p, u.a,
            wf_names(u.cu), wf_names(u.cg), u.pr, u.du, u.fu
        FROM unnest(p_req_ids, p_req_workflows, p_req_types, p_req_created,
                    p_req_deadlines, p_req_digests, p_req_payloads, p_req_assignees,
                    p_req_users, p_req_groups, p_req_priorities, p_req_dues,
                    p_req_follow_ups)
            AS u(i, w, t, c, d, g, p, a, cu, cg, pr, du, fu);
        INSERT INTO wf_request_audit (request_id, run_id, workflow, at, action, actor, detail)
        SELECT u.i, p_run_id, u.w, u.c, 'created', NULL, u.det
        FROM unnest(p_req_ids, p_req_workflows, p_req_created, p_req_details)
            WITH ORDINALITY AS u(i, w, c, det, n)
        ORDER BY u.n;
    END IF;
    IF cardinality(p_closed_ids) > 0 THEN
        WITH closed AS (
            UPDATE wf_requests r SET status = c.st, answered_at = p_now, answered_by = c.who
            FROM unnest(p_closed_ids, p_closed_statuses, p_closed_by)
                WITH ORDINALITY AS c(id, st, who, n)
            WHERE r.request_id = c.id AND r.run_id = p_run_id AND r.status = 'pending'
            RETURNING r.request_id, r.workflow, c.st, c.who, c.n
        )
        INSERT INTO wf_request_audit (request_id, run_id, workflow, at, action, actor, detail)
        SELECT request_id, p_run_id, workflow, p_now, st, who, '{{}}' FROM closed ORDER BY n;
        SELECT format('input request %L is %s', c.id,
                      coalesce('already ' || r.status, 'not a request of this run'))
        INTO v_bad
        FROM unnest(p_closed_ids, p_closed_statuses) AS c(id, st)
        LEFT JOIN wf_requests r ON r.request_id = c.id AND r.run_id = p_run_id
        WHERE r.status IS DISTINCT FROM c.st
        LIMIT 1;
        IF v_bad IS NOT NULL THEN
            RAISE EXCEPTION '%', v_bad USING ERRCODE = 'WF409';
        END IF;
    END IF;
    IF cardinality(p_consumed) > 0 THEN
        DELETE FROM wf_inbound WHERE run_id = p_run_id AND id = ANY (p_consumed);
        GET DIAGNOSTICS v_count = ROW_COUNT;
        IF v_count <> cardinality(p_consumed) THEN
            RAISE EXCEPTION 'an inbound event to consume was already consumed'
                USING ERRCODE = 'WF409';
        END IF;
    END IF;
    IF v_finished THEN
        PERFORM wf_cancel_pending(p_run_id, p_now);
        DELETE FROM wf_inbound WHERE run_id = p_run_id;
    END IF;
    RETURN p_expected + 1;
END
$$
"""
"""``wf_commit`` from migration 6 on: it also stores the new requests' task fields and
writes the audit entries of the requests it adds and closes."""

_CANCEL_PENDING = """
CREATE FUNCTION wf_cancel_pending(p_run_id text, p_now double precision)
RETURNS void LANGUAGE sql AS $$
    WITH cancelled AS (
        UPDATE wf_requests SET status = 'cancelled', answered_at = p_now
        WHERE run_id = p_run_id AND status = 'pending'
        RETURNING request_id, workflow
    )
    INSERT INTO wf_request_audit (request_id, run_id, workflow, at, action, actor, detail)
    SELECT request_id, p_run_id, workflow, p_now, 'cancelled', NULL, '{}'
    FROM cancelled ORDER BY request_id
$$
"""
"""Cancels a finishing run's pending requests, with their audit entries."""

_NAMES = """
CREATE FUNCTION wf_names(p_json text) RETURNS text[] LANGUAGE sql IMMUTABLE AS $$
    SELECT coalesce(array_agg(e.v ORDER BY e.n), '{}')
    FROM json_array_elements_text(p_json::json) WITH ORDINALITY AS e(v, n)
$$
"""
"""A JSON array of names as a ``text[]`` (candidate lists travel as JSON: arrays of
arrays must be rectangular)."""

_COMMIT_FUNCTION = _commit_function("CREATE FUNCTION", _TERMINAL)
"""``wf_commit`` as migration 1 created it (migrations never change once released)."""

MIGRATIONS: Final[tuple[tuple[str, ...], ...]] = (
    (
        """CREATE TABLE wf_runs (
            run_id text PRIMARY KEY,
            workflow text NOT NULL,
            status text NOT NULL,
            version bigint NOT NULL,
            created_at double precision NOT NULL,
            updated_at double precision NOT NULL,
            owner text,
            lease_expires_at double precision,
            result text,
            error text,
            snapshot text NOT NULL
        )""",
        "CREATE INDEX wf_runs_status ON wf_runs (status)",
        """CREATE TABLE wf_stream (
            run_id text NOT NULL,
            seq bigint NOT NULL,
            event_type text NOT NULL,
            created_at double precision NOT NULL,
            payload text NOT NULL,
            PRIMARY KEY (run_id, seq)
        )""",
        """CREATE TABLE wf_schemas (
            digest text PRIMARY KEY,
            body text NOT NULL
        )""",
        """CREATE TABLE wf_requests (
            request_id text PRIMARY KEY,
            run_id text NOT NULL,
            workflow text NOT NULL,
            event_type text NOT NULL,
            status text NOT NULL,
            created_at double precision NOT NULL,
            deadline double precision,
            answered_at double precision,
            idempotency_key text,
            schema_digest text NOT NULL,
            payload text NOT NULL,
            response text
        )""",
        "CREATE INDEX wf_requests_run ON wf_requests (run_id)",
        """CREATE INDEX wf_requests_deadline ON wf_requests (deadline)
            WHERE status = 'pending' AND deadline IS NOT NULL""",
        """CREATE TABLE wf_inbound (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            run_id text NOT NULL,
            request_id text,
            created_at double precision NOT NULL,
            payload text NOT NULL
        )""",
        "CREATE INDEX wf_inbound_run ON wf_inbound (run_id)",
        _COMMIT_FUNCTION,
    ),
    # 2: runs may be 'quarantined', a terminal status (RunStore.quarantine_run):
    # wf_commit refuses to commit to such a run. The bump also keeps older versions
    # of the library, which would take the status for an unfinished one, away.
    (_commit_function("CREATE OR REPLACE FUNCTION", _TERMINAL_V2),),
    # 3: group commit: wf_commit_many writes the commits of many runs in one statement
    # (one transaction), each refused commit undone alone (RunStore.commit_many).
    (_commit_many_function(),),
    # 4: the audit trail: who answered each request (free text the answering client
    # gives; stored with the answer, or by the commit that closes a request answered by
    # an event) and the start event each run was started with. wf_commit and
    # wf_commit_many take who answered as a new last argument, so both are replaced.
    (
        "ALTER TABLE wf_requests ADD COLUMN answered_by text",
        "ALTER TABLE wf_runs ADD COLUMN input text",
        "DROP FUNCTION wf_commit_many",
        "DROP FUNCTION wf_commit",
        _commit_function("CREATE FUNCTION", _TERMINAL_V2, closed_by=True),
        _commit_many_function(closed_by=True),
    ),
    # 5: state rows (workflows.stores.StateChanges): one row per top-level key of a run's
    # state, so that a commit writes the keys that changed, not the whole state; ``pos``
    # keeps the order in which the keys were first written. wf_commit_many takes each
    # commit's state changes (wf_commit_state, in the commit's own block). Existing runs
    # keep their state in the snapshot column and load as before.
    (
        """CREATE TABLE wf_state (
            run_id text NOT NULL,
            key text NOT NULL,
            pos bigint GENERATED ALWAYS AS IDENTITY,
            value text NOT NULL,
            PRIMARY KEY (run_id, key)
        )""",
        _STATE_FUNCTION,
        "DROP FUNCTION wf_commit_many",
        _commit_many_function(closed_by=True, with_state=True),
    ),
    # 6: human tasks. A request's task fields, indexes that serve the three inbox orders
    # of pending requests (each ends with request_id in the "C" collation, the
    # tie-break, so the order is the same in every database and a keyset page is one
    # index range), one by assignee and one to find overdue requests; the append-only
    # audit trail, ordered for the webhook feed (_AUDIT_LOCKS); the webhook cursors and
    # delivery attempts. wf_commit and wf_commit_many take the task fields and write the
    # audit entries, so both are replaced. Existing requests read with defaults.
    (
        """ALTER TABLE wf_requests
            ADD COLUMN assignee text,
            ADD COLUMN candidate_users text[] NOT NULL DEFAULT '{}',
            ADD COLUMN candidate_groups text[] NOT NULL DEFAULT '{}',
            ADD COLUMN priority bigint NOT NULL DEFAULT 0,
            ADD COLUMN due double precision,
            ADD COLUMN follow_up double precision,
            ADD COLUMN overdue_at double precision""",
        """CREATE INDEX wf_requests_pending_created
            ON wf_requests (created_at DESC, request_id COLLATE "C" DESC)
            WHERE status = 'pending'""",
        """CREATE INDEX wf_requests_pending_priority
            ON wf_requests (priority DESC, created_at DESC, request_id COLLATE "C" DESC)
            WHERE status = 'pending'""",
        """CREATE INDEX wf_requests_pending_due
            ON wf_requests ((coalesce(due, 'Infinity')), created_at DESC,
                            request_id COLLATE "C" DESC)
            WHERE status = 'pending'""",
        """CREATE INDEX wf_requests_pending_assignee
            ON wf_requests (assignee, created_at DESC, request_id COLLATE "C" DESC)
            WHERE status = 'pending'""",
        """CREATE INDEX wf_requests_overdue ON wf_requests (due)
            WHERE status = 'pending' AND due IS NOT NULL AND overdue_at IS NULL""",
        """CREATE TABLE wf_request_audit (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            request_id text NOT NULL,
            run_id text NOT NULL,
            workflow text NOT NULL,
            at double precision NOT NULL,
            action text NOT NULL,
            actor text,
            detail text NOT NULL
        )""",
        "CREATE INDEX wf_request_audit_request ON wf_request_audit (request_id, id)",
        "CREATE INDEX wf_request_audit_run ON wf_request_audit (run_id)",
        _AUDIT_LOCKS,
        """CREATE TABLE wf_webhook_cursors (
            endpoint text PRIMARY KEY,
            audit_id bigint NOT NULL
        )""",
        """CREATE TABLE wf_webhook_deliveries (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            endpoint text NOT NULL,
            audit_id bigint NOT NULL,
            request_id text NOT NULL,
            attempt integer NOT NULL,
            at double precision NOT NULL,
            status_code integer,
            error text,
            delivered boolean NOT NULL
        )""",
        "CREATE INDEX wf_webhook_deliveries_endpoint ON wf_webhook_deliveries (endpoint, id)",
        "CREATE INDEX wf_webhook_deliveries_request ON wf_webhook_deliveries (request_id, id)",
        _NAMES,
        _CANCEL_PENDING,
        "DROP FUNCTION wf_commit_many",
        "DROP FUNCTION wf_commit",
        _TASK_COMMIT_FUNCTION,
        _commit_many_function(closed_by=True, with_state=True, tasks=True),
    ),
    # 7: checkpoint history (workflows.stores.CheckpointStore): the checkpoints a run keeps,
    # whole snapshots or deltas, one row each, and the fork links, found from either end.
    # The commit statements write checkpoints beside their function call (in the same
    # statement), so no function changes. Existing runs simply have none.
    (
        """CREATE TABLE wf_checkpoints (
            run_id text NOT NULL,
            seq bigint NOT NULL,
            anchor bigint NOT NULL,
            at double precision NOT NULL,
            status text NOT NULL,
            kind text NOT NULL,
            meta text NOT NULL,
            body text NOT NULL,
            PRIMARY KEY (run_id, seq)
        )""",
        """CREATE TABLE wf_forks (
            run_id text PRIMARY KEY,
            parent_run_id text NOT NULL,
            parent_seq bigint NOT NULL,
            created_at double precision NOT NULL
        )""",
        "CREATE INDEX wf_forks_parent ON wf_forks (parent_run_id)",
    ),
)
"""Migrations in order; ``MIGRATIONS[i]`` brings schema version ``i`` to ``i + 1``."""

SCHEMA_VERSION: Final[int] = len(MIGRATIONS)
"""The schema version this code writes and reads."""


async def migrate(conn: Any, schema: str, where: str) -> int:
    """Bring ``schema`` to :data:`SCHEMA_VERSION` over an asyncpg connection whose
    ``search_path`` is ``schema``; return the version found before.

    Raises:
        StoreSchemaError: the schema is of a newer version (nothing is written).
    """
    async with conn.transaction():
        await conn.execute(
            "SELECT pg_advisory_xact_lock(hashtext($1))", f"durable-workflows:{schema}"
        )
        await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS wf_schema_version (version integer NOT NULL)"
        )
        found = await conn.fetchval("SELECT max(version) FROM wf_schema_version")
        found = 0 if found is None else int(found)
        if found > SCHEMA_VERSION:
            raise StoreSchemaError(
                f"the store at {where} has schema version {found}, newer than version "
                f"{SCHEMA_VERSION} that this version of durable-workflows knows; "
                "upgrade durable-workflows"
            )
        for statements in MIGRATIONS[found:]:
            for statement in statements:
                await conn.execute(statement)
        if found != SCHEMA_VERSION:
            await conn.execute("DELETE FROM wf_schema_version")
            await conn.execute(
                "INSERT INTO wf_schema_version (version) VALUES ($1)", SCHEMA_VERSION
            )
    return found
