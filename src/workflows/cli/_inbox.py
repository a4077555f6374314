"""``workflows runs``, ``inbox`` and ``respond``: on a local store or a server."""

from __future__ import annotations

import asyncio
from typing import Any

import click

from ..client import InputRequestInfo, RunInfo
from ..engine import Engine
from ..errors import InvalidResponseError
from ..stores import InputRequest, RunRecord
from ._acting import answerer, remote_user
from ._follow import finish, follow, request_info, show_waiting
from ._loading import did_you_mean, load_many, parse_json
from ._messages import one_line
from ._output import show_requests, show_runs
from ._prompting import answer_example
from ._settings import history_option
from ._tasks import Sort, TaskFilter, list_tasks, task_filter_options
from ._where import Where, opened_store, pick, where_options

__all__ = ["inbox_command", "respond_command", "run_info", "runs_command"]


def run_info(record: RunRecord) -> RunInfo:
    """A stored run in the client's shape."""
    return RunInfo(
        record.run_id,
        record.workflow,
        record.status,
        record.created_at,
        record.updated_at,
        record.result,
        record.error,
        None if record.input is None else stored_event_json(record.input),
    )


def stored_event_json(encoded: dict[str, Any]) -> dict[str, Any]:
    """An event as the engine stores it (``{"$event": key, "data": {...}}``) in the
    server's shape (``{"type", "type_key", "data"}``), without decoding it."""
    key = str(encoded.get("$event", ""))
    data = encoded.get("data")
    return {
        "type": key.rpartition(".")[2] or "Event",
        "type_key": key,
        "data": data if isinstance(data, dict) else {},
    }


async def _list_runs(where: Where, **filters: Any) -> list[RunInfo]:
    if where.url is not None:
        async with where.client() as client:
            return await client.runs(**filters)
    assert where.store is not None
    async with opened_store(where.store) as db:
        return [run_info(r) for r in await db.list_runs(**filters)]


async def _known_workflows(where: Where) -> list[str]:
    """Workflow names the server runs, or that the store's latest runs belong to."""
    if where.url is not None:
        async with where.client() as client:
            return [info.name for info in await client.workflows()]
    return sorted({run.workflow for run in await _list_runs(where, limit=1000)})


async def _list_requests(where: Where, status: str, **filters: Any) -> list[InputRequestInfo]:
    if where.url is not None:
        async with where.client() as client:
            return await client.inbox(status=status, **filters)
    assert where.store is not None
    async with opened_store(where.store) as db:
        chosen = None if status == "all" else status
        found = await db.list_requests(status=chosen, **filters)  # type: ignore[arg-type]
        return [request_info(r) for r in found]


def _note_unknown_workflow(where: Where, workflow: str | None) -> None:
    """Say so when ``--workflow`` matched nothing because it is misspelled."""
    if workflow is None:
        return
    known = asyncio.run(_known_workflows(where))
    if workflow not in known:
        hint = did_you_mean(workflow, known)
        click.echo(f"note: no workflow named {workflow!r} here{hint}", err=True)


_RUN_STATUSES = [
    "running",
    "waiting",
    "completed",
    "failed",
    "cancelled",
    "timed_out",
    "quarantined",
]


@click.command("runs")
@where_options
@click.option("--status", type=click.Choice(_RUN_STATUSES), help="Only runs with this status.")
@click.option("--workflow", help="Only runs of this workflow.")
@click.option("--limit", type=click.IntRange(1, 1000), default=100, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def runs_command(
    store: str | None,
    url: str | None,
    token: str | None,
    status: str | None,
    workflow: str | None,
    limit: int,
    as_json: bool,
) -> None:
    """List runs, newest first: status, age, duration and result.

    \b
    Examples:
        workflows runs --status waiting
        workflows runs --url http://127.0.0.1:8000 --json
    """
    where = pick(store, url, token)
    found = asyncio.run(_list_runs(where, status=status, workflow=workflow, limit=limit))
    show_runs(found, as_json)
    if not found:
        _note_unknown_workflow(where, workflow)


@click.command("inbox")
@where_options
@click.option("--workflow", help="Only requests of this workflow.")
@click.option("--run-id", help="Only requests of this run.")
@click.option(
    "--status",
    type=click.Choice(["pending", "answered", "expired", "cancelled", "all"]),
    default="pending",
    show_default=True,
)
@task_filter_options
@click.option("--limit", type=click.IntRange(1, 1000), default=100, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def inbox_command(
    store: str | None,
    url: str | None,
    token: str | None,
    workflow: str | None,
    run_id: str | None,
    status: str,
    mine: bool,
    groups: tuple[str, ...],
    assignee: str | None,
    unassigned: bool,
    sort: Sort | None,
    acting_as: str | None,
    limit: int,
    as_json: bool,
) -> None:
    """List input requests (pending by default), newest first, with who holds them,
    their priority and when they are due.

    \b
    Examples:
        workflows inbox
        workflows inbox --status all --json
        workflows inbox --mine --sort due --url http://127.0.0.1:8000
        workflows inbox --group finance --unassigned --sort priority
    """
    where = pick(store, url, token)
    filters = TaskFilter(mine, groups, assignee, unassigned, sort)
    options = {"workflow": workflow, "run_id": run_id, "limit": limit}
    if filters.given:
        found = asyncio.run(list_tasks(where, acting_as, filters, status, **options))
    else:
        found = asyncio.run(_list_requests(where, status, **options))
    show_requests(found, as_json, status)
    if not found:
        _note_unknown_workflow(where, workflow)


def response_fields(value: str, as_json: bool) -> dict[str, Any]:
    """The response fields ``respond`` sends for VALUE.

    With ``--json`` VALUE is JSON: an object gives the fields, any other value is sent
    as ``{"response": value}``. Without it VALUE is text, sent as ``{"response": VALUE}``;
    text that starts like JSON (``{`` or ``[``) is refused, as it was most likely meant
    as JSON.

    Raises:
        click.BadParameter: malformed JSON (with the position), or JSON-like text
            without ``--json``.
    """
    if as_json:
        parsed = parse_json(value, "VALUE")
        return parsed if isinstance(parsed, dict) else {"response": parsed}
    if value.lstrip().startswith(("{", "[")):
        first = value.lstrip()[0]
        raise click.BadParameter(
            f"it starts with {first!r}, like JSON: add --json to send it as JSON "
            f'(text starting with {first!r} goes as --json \'{{"response": "..."}}\')',
            param_hint="VALUE",
        )
    return {"response": value}


def _fields_hint(schema: dict[str, Any]) -> str:
    """How to answer a request whose response has typed fields, or ``""``."""
    example = answer_example(schema)
    return "" if example == "TEXT" else f"; answer with fields, e.g. {example}"


async def _request_schema(where: Where, request_id: str) -> dict[str, Any]:
    try:
        if where.url is not None:
            async with where.client() as client:
                return (await client.request(request_id)).response_schema
        assert where.store is not None
        async with opened_store(where.store) as db:
            return (await db.get_request(request_id)).response_schema
    except Exception:  # only for a hint: the error being reported matters more
        return {}


async def _respond_remote(
    where: Where, request_id: str, fields: dict[str, Any], key: str | None, name: str | None
) -> bool:
    by = await remote_user(where, name)
    async with where.client() as client:
        return await client.respond(request_id, fields, idempotency_key=key, answered_by=by)


async def _respond_store(
    store: str, request_id: str, fields: dict[str, Any], key: str | None, by: str | None
) -> bool:
    async with opened_store(store) as db:
        answer = await db.answer_request(request_id, fields, idempotency_key=key, answered_by=by)
        delivered = answer is not None
        if not delivered:
            _check_same_answer(await db.get_request(request_id), key, fields)
        return delivered


def _check_same_answer(request: InputRequest, key: str | None, fields: dict[str, Any]) -> None:
    """Refuse a retry that reuses the accepted answer's idempotency key with other fields
    (the store takes the key alone as a repeat), as the server does with a 409."""
    if key is not None and request.idempotency_key == key and request.response != fields:
        raise click.ClickException(
            f"{request.request_id} was already answered with a different response under "
            f"idempotency key {key!r}; repeat the same answer, or use a new key"
        )


async def _respond_and_continue(
    store: str,
    apps: tuple[str, ...],
    request_id: str,
    fields: dict[str, Any],
    key: str | None,
    by: str | None,
    wait: float,
    history: str,
) -> bool:
    workflows = load_many(apps)
    async with Engine(store, workflows, idle_release_after=None, history=history) as engine:
        request = await engine.request(request_id)
        entries = await engine.history(request.run_id)
        after = entries[-1].seq if entries else 0
        delivered = await engine.respond(request_id, fields, idempotency_key=key, answered_by=by)
        if not delivered:
            _check_same_answer(await engine.request(request_id), key, fields)
        _report(request_id, delivered)
        handle = engine.get(request.run_id)
        if (await handle.record()).is_finished and not delivered:
            return delivered
        try:
            pending = await asyncio.wait_for(follow(engine, handle, after=after, answer=None), wait)
        except asyncio.TimeoutError:
            click.echo(
                f"run {handle.run_id} is still going after {wait:g}s; it stays in the store",
                err=True,
            )
            return delivered
        if pending:
            show_waiting(handle.run_id, pending)
        else:
            await finish(handle)
    return delivered


def _report(request_id: str, delivered: bool) -> None:
    if delivered:
        click.echo(f"answered {request_id}", err=True)
    else:
        click.echo(f"{request_id} was already answered with this response", err=True)


@click.command("respond")
@click.argument("request_id")
@click.argument("value")
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="VALUE is JSON: an object gives the response fields ('{\"approved\": true}').",
)
@where_options
@click.option("--idempotency-key", help="Makes retrying this answer safe.")
@click.option(
    "--as",
    "answered_by",
    metavar="NAME",
    help="Who answers, recorded with the answer (default: your user name on this machine; "
    "with --url on a server with users, the token says who you are).",
)
@click.option(
    "--app",
    "apps",
    multiple=True,
    metavar="MODULE:ATTR",
    help="With --store: load these workflows and continue the run here until it ends or "
    "waits again (otherwise the answer is stored and the run continues in the next "
    "engine or server that opens the store).",
)
@click.option(
    "--wait",
    type=click.FloatRange(min=0),
    default=60.0,
    show_default=True,
    help="With --app: seconds to follow the run before leaving it to the store.",
)
@history_option
def respond_command(
    request_id: str,
    value: str,
    as_json: bool,
    store: str | None,
    url: str | None,
    token: str | None,
    idempotency_key: str | None,
    answered_by: str | None,
    apps: tuple[str, ...],
    wait: float,
    history: str,
) -> None:
    """Answer input request REQUEST_ID with VALUE, recorded as answered by --as NAME
    (by default the user name you are logged in as).

    Without --json, VALUE is text, sent as {"response": VALUE} (text starting with
    '{' or '[' is refused: add --json). With --json, VALUE is JSON: an object gives the
    response fields, any other value is sent as {"response": value}.

    \b
    Examples:
        workflows respond 3f2c...:1 Grace
        workflows respond 3f2c...:1 --json '{"approved": true, "reason": "ok"}'
        workflows respond 3f2c...:1 yes --as grace
    """
    fields = response_fields(value, as_json)
    by = answerer(answered_by)
    where = pick(store, url, token)
    if where.url is not None and apps:
        raise click.UsageError("--app only applies with --store")
    try:
        if where.url is not None:
            delivered = asyncio.run(
                _respond_remote(where, request_id, fields, idempotency_key, answered_by)
            )
            _report(request_id, delivered)
        elif apps:
            assert where.store is not None
            asyncio.run(
                _respond_and_continue(
                    where.store, apps, request_id, fields, idempotency_key, by, wait, history
                )
            )
        else:
            assert where.store is not None
            delivered = asyncio.run(
                _respond_store(where.store, request_id, fields, idempotency_key, by)
            )
            _report(request_id, delivered)
    except InvalidResponseError as exc:
        hint = "" if as_json else _fields_hint(asyncio.run(_request_schema(where, request_id)))
        raise click.ClickException(one_line(str(exc)) + hint) from None
