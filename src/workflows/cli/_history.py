"""``workflows history`` and ``workflows fork``: a run's checkpoints, one read back, and
a new run from one of them; on a store or a server."""

from __future__ import annotations

import asyncio
import time
from dataclasses import asdict
from typing import Any

import click
from pydantic_core import to_jsonable_python

from ..client import CheckpointInfo, CheckpointViewInfo, OpenWaitInfo, PendingEventInfo
from ..engine import Checkpoint, CheckpointView, Engine
from ..events import Event
from ..stores import RunLineage
from ._acting import answerer
from ._inspect import remote_info, store_record
from ._loading import load_many, parse_json
from ._output import color_enabled, echo_json, format_value
from ._where import Where, opened_store, pick, where_options

__all__ = ["edit_command", "fork_command", "history_command"]


# -- reading, from a store or a server ---------------------------------------------------------


def _info(checkpoint: Checkpoint) -> CheckpointInfo:
    """An engine's checkpoint in the client's shape."""
    return CheckpointInfo(
        checkpoint.checkpoint_id,
        checkpoint.run_id,
        checkpoint.seq,
        checkpoint.at,
        checkpoint.status,
        checkpoint.causes,
        checkpoint.step,
        checkpoint.event,
        checkpoint.by,
        checkpoint.reason,
        checkpoint.forked_from,
    )


def _view_info(view: CheckpointView) -> CheckpointViewInfo:
    """An engine's checkpoint view in the client's shape (its state as plain JSON)."""
    return CheckpointViewInfo(
        _info(view.checkpoint),
        to_jsonable_python(view.state, fallback=repr),
        [PendingEventInfo(p.step, p.event) for p in view.pending_events],
        [PendingEventInfo(p.step, p.event) for p in view.in_flight],
        [
            OpenWaitInfo(
                w.key, w.step, w.waits_for, w.prompt, w.requirements, w.deadline, w.request_id
            )
            for w in view.open_waits
        ],
    )


def _engine(store: str, apps: tuple[str, ...]) -> Engine:
    """An engine on ``store`` that executes nothing (whoever executes the store's runs
    takes up a fork), with the workflows of ``apps``."""
    return Engine(store, load_many(apps) if apps else {}, execute=False, idle_release_after=None)


async def _history(where: Where, run_id: str) -> tuple[list[CheckpointInfo], RunLineage]:
    if where.url is not None:
        async with where.client() as client:
            full = (await remote_info(client, run_id)).run_id
            return await client.checkpoints(full), await client.lineage(full)
    assert where.store is not None
    async with opened_store(where.store) as db:
        full = (await store_record(db, run_id)).run_id
    async with _engine(where.store, ()) as engine:
        kept = await engine.checkpoints(full)
        return [_info(c) for c in kept], await engine.lineage(full)


async def _checkpoint(
    where: Where, apps: tuple[str, ...], run_id: str, checkpoint: str | int
) -> CheckpointViewInfo:
    if where.url is not None:
        async with where.client() as client:
            full = (await remote_info(client, run_id)).run_id
            return await client.checkpoint(full, checkpoint)
    assert where.store is not None
    async with opened_store(where.store) as db:
        record = await store_record(db, run_id)
    _check_loaded(apps, record.workflow, "reading a checkpoint's state")
    async with _engine(where.store, apps) as engine:
        return _view_info(await engine.checkpoint(record.run_id, checkpoint))


def _check_loaded(apps: tuple[str, ...], workflow: str, what: str) -> None:
    if not apps:
        raise click.UsageError(
            f"{what} needs the run's workflow {workflow!r}: give --app MODULE:ATTR "
            "(or ask a server with --url)"
        )


def _checkpoint_ref(value: str) -> str | int:
    """A CHECKPOINT argument: a seq (digits) or a checkpoint id."""
    return int(value) if value.isdigit() else value


# -- printing ------------------------------------------------------------------------------------


def _when(stamp: float | None) -> str:
    return "-" if stamp is None else time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(stamp))


def _link_json(lineage: RunLineage) -> dict[str, Any]:
    own = lineage.forked_from
    return {
        "forked_from": None if own is None else asdict(own),
        "forks": [asdict(link) for link in lineage.forks],
    }


def show_history(
    run_id: str, kept: list[CheckpointInfo], lineage: RunLineage, as_json: bool
) -> None:
    """Print a run's checkpoints, oldest first, and its fork links (or JSON)."""
    if as_json:
        echo_json(
            {"run_id": run_id, "checkpoints": [asdict(c) for c in kept], **_link_json(lineage)}
        )
        return
    if not kept:
        click.echo(
            f"run {run_id} has no kept checkpoints (its history setting keeps none: "
            "serve or run it with --history all, waits or 'last N')",
            err=True,
        )
    else:
        rows = [
            (
                str(c.seq),
                _when(c.at),
                c.status,
                ", ".join(c.causes) or "-",
                " ".join(
                    part for part in (c.by and f"by {c.by}", c.reason and f"({c.reason})") if part
                ),
            )
            for c in kept
        ]
        header = ("SEQ", "AT", "STATUS", "CAUSES", "BY")
        widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header) - 1)]
        bold = color_enabled()
        for index, row in enumerate([header, *rows]):
            line = "  ".join(
                [*(cell.ljust(w) for cell, w in zip(row, widths, strict=False)), row[-1]]
            )
            click.echo(
                click.style(line.rstrip(), bold=True) if bold and index == 0 else line.rstrip()
            )
    own = lineage.forked_from
    if own is not None:
        click.echo(f"forked from {own.parent_run_id}:c{own.parent_seq} at {_when(own.created_at)}")
    for link in lineage.forks:
        click.echo(
            f"forked as {link.run_id} from checkpoint {link.parent_seq} at {_when(link.created_at)}"
        )


def _event_text(event: Event | None) -> str:
    if event is None:
        return "(a batch)"
    name = getattr(event, "event_type", None) or type(event).__name__
    fields = event.model_dump(mode="json")
    detail = ", ".join(f"{k}={format_value(v)}" for k, v in fields.items())
    return f"{name} {detail}".rstrip()


def _event_json(event: Event | None) -> Any:
    if event is None:
        return None
    name = getattr(event, "event_type", None) or type(event).__name__
    return {"type": name, "data": event.model_dump(mode="json")}


def show_checkpoint(view: CheckpointViewInfo, as_json: bool) -> None:
    """Print one checkpoint: its entry, state, pending events, calls in flight, waits."""
    c = view.checkpoint
    if as_json:
        echo_json(
            {
                "checkpoint": asdict(c),
                "state": view.state,
                "pending_events": [
                    {"step": p.step, "event": _event_json(p.event)} for p in view.pending_events
                ],
                "in_flight": [
                    {"step": p.step, "event": _event_json(p.event)} for p in view.in_flight
                ],
                "open_waits": [
                    {**asdict(w), "prompt": _event_json(w.prompt)} for w in view.open_waits
                ],
            }
        )
        return
    click.echo(f"{'checkpoint':<11}{c.checkpoint_id}")
    click.echo(f"{'at':<11}{_when(c.at)}")
    click.echo(f"{'status':<11}{c.status}")
    click.echo(f"{'causes':<11}{', '.join(c.causes) or '-'}")
    for label, value in (("by", c.by), ("reason", c.reason), ("forked", c.forked_from)):
        if value is not None:
            click.echo(f"{label:<11}{value}")
    click.echo("state:")
    for line in format_value(view.state).splitlines() or ["-"]:
        click.echo(f"  {line}")
    for title, items in (("pending events", view.pending_events), ("in flight", view.in_flight)):
        click.echo(f"{title}:" + ("" if items else " none"))
        for p in items:
            click.echo(f"  {p.step}  {_event_text(p.event)}")
    click.echo("open waits:" + ("" if view.open_waits else " none"))
    for w in view.open_waits:
        click.echo(f"  {w.step}  waits for {w.waits_for.rpartition('.')[2]}")
        if w.prompt is not None:
            click.echo(f"    prompt    {_event_text(w.prompt)}")
        if w.request_id is not None:
            click.echo(f"    request   {w.request_id}")
        if w.deadline is not None:
            click.echo(f"    deadline  {_when(w.deadline)}")


# -- the commands ------------------------------------------------------------------------------


_APP_HELP = (
    "With --store: load these workflows (reading a checkpoint's state and forking need "
    "the run's workflow)."
)


@click.command("history")
@click.argument("run_id")
@click.argument("checkpoint", required=False)
@where_options
@click.option("--app", "apps", multiple=True, metavar="MODULE:ATTR", help=_APP_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
def history_command(
    run_id: str,
    checkpoint: str | None,
    store: str | None,
    url: str | None,
    token: str | None,
    apps: tuple[str, ...],
    as_json: bool,
) -> None:
    """List a run's kept checkpoints, oldest first, with where it was forked from and
    the runs forked from it; with CHECKPOINT (a seq or a checkpoint id), show that one:
    its state, the events waiting for steps and the open waits.

    RUN_ID may be abbreviated to its first characters when no other recent run shares
    them. Runs keep checkpoints as their history setting says (`workflows serve
    --history all`, `Engine(history=...)`); an edit and a fork's start are always kept.

    \b
    Examples:
        workflows history 3f2c9a
        workflows history 3f2c9a 4 --url http://127.0.0.1:8000
        workflows history 3f2c9a 4 --store sqlite:///workflows.db --app app:review --json
    """
    where = pick(store, url, token)
    if where.url is not None and apps:
        raise click.UsageError("--app only applies with --store")
    if checkpoint is None:
        kept, lineage = asyncio.run(_history(where, run_id))
        full = kept[0].run_id if kept else run_id
        show_history(full, kept, lineage, as_json)
        return
    show_checkpoint(
        asyncio.run(_checkpoint(where, apps, run_id, _checkpoint_ref(checkpoint))), as_json
    )


async def _fork(
    where: Where,
    apps: tuple[str, ...],
    run_id: str,
    checkpoint: str | int,
    patch: dict[str, Any] | None,
    reason: str | None,
    by: str | None,
) -> tuple[str, str]:
    """Fork; the new run's id and status."""
    if where.url is not None:
        async with where.client() as client:
            full = (await remote_info(client, run_id)).run_id
            handle = await client.fork(full, checkpoint, patch, reason=reason, by=by)
            return handle.run_id, await handle.status()
    assert where.store is not None
    async with opened_store(where.store) as db:
        record = await store_record(db, run_id)
    _check_loaded(apps, record.workflow, "forking")
    async with _engine(where.store, apps) as engine:
        fork_id = await engine.fork(record.run_id, checkpoint, patch, by=by, reason=reason)
        return fork_id, (await engine.store.get_run(fork_id)).status


@click.command("fork")
@click.argument("run_id")
@click.argument("checkpoint")
@where_options
@click.option(
    "--patch",
    metavar="JSON",
    help="A JSON merge patch of the state the fork starts with, e.g. '{\"amount\": 90}'.",
)
@click.option("--reason", metavar="TEXT", help="Why, kept with the fork's first checkpoint.")
@click.option(
    "--as",
    "by",
    metavar="NAME",
    help="Who forks, kept with the fork (default: your user name on this machine).",
)
@click.option("--app", "apps", multiple=True, metavar="MODULE:ATTR", help=_APP_HELP)
def fork_command(
    run_id: str,
    checkpoint: str,
    store: str | None,
    url: str | None,
    token: str | None,
    patch: str | None,
    reason: str | None,
    by: str | None,
    apps: tuple[str, ...],
) -> None:
    """Start a new run from CHECKPOINT (a seq or a checkpoint id) of run RUN_ID and
    print its id. The fork asks again what was open there (its own requests); the
    original is only read.

    With --store the fork is stored, and the server or worker that executes the store's
    runs takes it up.

    \b
    Examples:
        workflows fork 3f2c9a 4 --url http://127.0.0.1:8000
        workflows fork 3f2c9a 4 --patch '{"amount": 90}' --reason "try a lower amount"
        workflows fork 3f2c9a 3f2c9a...:c4 --store sqlite:///workflows.db --app app:review
    """
    state_patch = None
    if patch is not None:
        state_patch = parse_json(patch, "--patch")
        if not isinstance(state_patch, dict):
            raise click.BadParameter(
                "a merge patch of the state is a JSON object", param_hint="--patch"
            )
    who = answerer(by)
    where = pick(store, url, token)
    if where.url is not None and apps:
        raise click.UsageError("--app only applies with --store")
    ref = _checkpoint_ref(checkpoint)
    fork_id, status = asyncio.run(_fork(where, apps, run_id, ref, state_patch, reason, who))
    click.echo(fork_id)
    click.echo(f"forked {run_id} at checkpoint {checkpoint} as run {fork_id} ({status})", err=True)


async def _edit(
    where: Where,
    apps: tuple[str, ...],
    run_id: str,
    change: dict[str, Any],
    replace: bool,
    reason: str | None,
    by: str | None,
) -> int:
    """Change a waiting run's state; the seq of the edit's checkpoint."""
    keyword = "replace" if replace else "patch"
    if where.url is not None:
        async with where.client() as client:
            full = (await remote_info(client, run_id)).run_id
            info = await client.update_state(full, **{keyword: change}, reason=reason, by=by)
            return info.seq
    assert where.store is not None
    async with opened_store(where.store) as db:
        record = await store_record(db, run_id)
    _check_loaded(apps, record.workflow, "changing a state")
    async with _engine(where.store, apps) as engine:
        edit = await engine.update_state(record.run_id, **{keyword: change}, by=by, reason=reason)
        return edit.seq


@click.command("edit")
@click.argument("run_id")
@click.argument("change", metavar="JSON")
@where_options
@click.option(
    "--replace",
    is_flag=True,
    help="JSON is the whole new state, not a merge patch of it.",
)
@click.option("--reason", metavar="TEXT", help="Why, kept with the edit's checkpoint.")
@click.option(
    "--as",
    "by",
    metavar="NAME",
    help="Who edits, kept with the edit (default: your user name on this machine).",
)
@click.option("--app", "apps", multiple=True, metavar="MODULE:ATTR", help=_APP_HELP)
def edit_command(
    run_id: str,
    change: str,
    store: str | None,
    url: str | None,
    token: str | None,
    replace: bool,
    reason: str | None,
    by: str | None,
    apps: tuple[str, ...],
) -> None:
    """Change the state of run RUN_ID while it waits for an answer, before answering it:
    JSON is a merge patch of the state (a null removes a key), or with --replace the
    whole state. A typed state is checked by its model. The edit is kept as a
    checkpoint with who and why, whatever the history setting.

    \b
    Examples:
        workflows edit 3f2c9a '{"amount": 90}' --reason "receipt says 90" --url http://127.0.0.1:8000
        workflows edit 3f2c9a '{"amount": 90}' --store sqlite:///workflows.db --app app:review
    """
    state = parse_json(change, "JSON")
    if not isinstance(state, dict):
        raise click.BadParameter("the state (or a merge patch of it) is a JSON object")
    who = answerer(by)
    where = pick(store, url, token)
    if where.url is not None and apps:
        raise click.UsageError("--app only applies with --store")
    seq = asyncio.run(_edit(where, apps, run_id, state, replace, reason, who))
    click.echo(f"changed the state of {run_id}: checkpoint {seq}")
