"""``workflows claim``, ``unclaim`` and ``assign``, and the inbox's task filters
(``--mine``, ``--group``, ``--sort``, ...): on a store or a server.

On a server the rules of ``docs/human-tasks.md`` apply: a user claims what they may
see and nobody holds, unclaims what they hold, and reassigns what they hold (an admin
anything). On a store the command goes through an engine, without identities: it may do
all of it, recorded under ``--as NAME`` (default: the login name).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import click

from ..client import AuditEntryInfo, InputRequestInfo
from ..engine import Engine
from ..stores import AuditEntry, RequestQuery
from ._acting import answerer, as_option, remote_user
from ._follow import request_info
from ._where import Where, opened_store, pick, where_options

__all__ = [
    "TaskFilter",
    "assign_command",
    "audit_info",
    "claim_command",
    "list_tasks",
    "task_filter_options",
    "unclaim_command",
]

Sort = Literal["created", "due", "priority"]
F = TypeVar("F", bound=Callable[..., Any])


def audit_info(entry: AuditEntry) -> AuditEntryInfo:
    """A stored audit entry in the client's shape."""
    return AuditEntryInfo(
        entry.id,
        entry.request_id,
        entry.run_id,
        entry.workflow,
        entry.at,
        entry.action,
        entry.actor,
        dict(entry.detail),
    )


# -- inbox filters ------------------------------------------------------------------------
@dataclass(frozen=True)
class TaskFilter:
    """The task options of ``workflows inbox``."""

    mine: bool = False
    groups: tuple[str, ...] = ()
    assignee: str | None = None
    unassigned: bool = False
    sort: Sort | None = None

    @property
    def given(self) -> bool:
        """Whether any of them was given (else the inbox lists as before them)."""
        return bool(
            self.mine or self.groups or self.assignee or self.unassigned or self.sort is not None
        )


def task_filter_options(func: F) -> F:
    """``--mine``, ``--group``, ``--assignee``, ``--unassigned``, ``--sort``, ``--as``."""
    options = [
        click.option("--mine", is_flag=True, help="Only the requests assigned to you (see --as)."),
        click.option(
            "--group",
            "groups",
            multiple=True,
            metavar="NAME",
            help="Only requests offered to this group (repeatable; 'mine': any of your "
            "groups, with --url).",
        ),
        click.option("--assignee", metavar="USER", help="Only the requests assigned to USER."),
        click.option("--unassigned", is_flag=True, help="Only the requests nobody holds."),
        click.option(
            "--sort",
            type=click.Choice(["created", "due", "priority"]),
            help="created: newest first (the default); due: earliest due first; "
            "priority: highest first.",
        ),
        as_option(
            "Who you are for --mine (default: your login name; with --url on a server "
            "with users, the token says who you are)."
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


async def list_tasks(
    where: Where,
    acting_as: str | None,
    filters: TaskFilter,
    status: str,
    **where_filters: Any,
) -> list[InputRequestInfo]:
    """The requests ``filters`` select (with ``workflow``/``run_id``/``limit``)."""
    if filters.mine and filters.assignee is not None:
        raise click.UsageError("give either --mine or --assignee, not both")
    if where.url is not None:
        user = await remote_user(where, acting_as) if filters.mine or acting_as else None
        async with where.client(user) as client:
            page = await client.requests(
                mine=filters.mine,
                group=filters.groups,
                assignee=filters.assignee,
                unassigned=filters.unassigned,
                sort=filters.sort or "created",
                status=status,
                **where_filters,
            )
            return page.requests
    if "mine" in filters.groups:
        raise click.BadParameter(
            "a store does not know your groups: name them, or ask a server with --url",
            param_hint="'--group mine'",
        )
    assignee = filters.assignee
    if filters.mine:
        assignee = answerer(acting_as)
        if assignee is None:
            raise click.UsageError("--mine needs a name: give --as NAME")
    query = RequestQuery(
        status=None if status == "all" else status,  # type: ignore[arg-type]
        assignee=assignee,
        unassigned=filters.unassigned,
        groups=frozenset(filters.groups) or None,
        sort=filters.sort or "created",
        **where_filters,
    )
    assert where.store is not None
    async with opened_store(where.store) as db:
        found = await db.query_requests(query)
    return [request_info(r) for r in found.requests]


# -- claim / unclaim / assign -------------------------------------------------------------
async def _remote_change(
    where: Where, acting_as: str | None, action: str, request_id: str, assignee: str | None
) -> InputRequestInfo:
    user = await remote_user(where, acting_as)
    async with where.client(user) as client:
        if action == "claim":
            return await client.claim(request_id)
        if action == "unclaim":
            return await client.unclaim(request_id)
        return await client.assign(request_id, assignee)


async def _store_change(
    store: str, acting_as: str | None, action: str, request_id: str, assignee: str | None
) -> InputRequestInfo:
    """Through an engine on the store (that only stores, executes nothing), as the
    server does it but without its rules: claiming one's own request and unclaiming a
    request nobody holds change nothing."""
    me = answerer(acting_as)
    if action == "claim" and me is None:
        raise click.UsageError("claim needs a name: give --as NAME")
    async with Engine(store, {}, execute=False, idle_release_after=None) as engine:
        found = await engine.request(request_id)
        if found.status == "pending" and (
            (action == "claim" and found.assignee == me)
            or (action == "unclaim" and found.assignee is None)
        ):
            return request_info(found)
        if action == "claim":
            changed = await engine.set_assignee(
                request_id, me, actor=me, action="claimed", expected=None
            )
        elif action == "unclaim":
            changed = await engine.set_assignee(
                request_id, None, actor=me, action="unclaimed", expected=found.assignee
            )
        else:
            changed = await engine.set_assignee(
                request_id, assignee, actor=me, action="assigned", expected=found.assignee
            )
    return request_info(changed)


def _change(
    where: Where, acting_as: str | None, action: str, request_id: str, assignee: str | None = None
) -> InputRequestInfo:
    if where.url is not None:
        return asyncio.run(_remote_change(where, acting_as, action, request_id, assignee))
    assert where.store is not None
    return asyncio.run(_store_change(where.store, acting_as, action, request_id, assignee))


_AS_HELP = (
    "Who acts, recorded in the request's history (default: your login name; with --url "
    "on a server with users, the token says who you are)."
)


@click.command("claim")
@click.argument("request_id")
@where_options
@as_option(_AS_HELP)
def claim_command(
    request_id: str, store: str | None, url: str | None, token: str | None, acting_as: str | None
) -> None:
    """Claim input request REQUEST_ID: it becomes yours (its assignee) until it is
    answered, unclaimed or reassigned. A request someone holds cannot be claimed.

    \b
    Examples:
        workflows claim 3f2c...:1 --url http://127.0.0.1:8000
        workflows claim 3f2c...:1 --as ada
    """
    request = _change(pick(store, url, token), acting_as, "claim", request_id)
    click.echo(f"claimed {request_id} (assigned to {request.assignee})", err=True)


@click.command("unclaim")
@click.argument("request_id")
@where_options
@as_option(_AS_HELP)
def unclaim_command(
    request_id: str, store: str | None, url: str | None, token: str | None, acting_as: str | None
) -> None:
    """Give back input request REQUEST_ID, which you hold: nobody holds it afterwards
    (on a server, an admin may unclaim anyone's).

    \b
    Examples:
        workflows unclaim 3f2c...:1 --url http://127.0.0.1:8000
    """
    _change(pick(store, url, token), acting_as, "unclaim", request_id)
    click.echo(f"unclaimed {request_id}; nobody holds it now", err=True)


@click.command("assign")
@click.argument("request_id")
@click.argument("user", required=False)
@click.option("--none", "to_nobody", is_flag=True, help="Assign it to nobody (unassign it).")
@where_options
@as_option(_AS_HELP)
def assign_command(
    request_id: str,
    user: str | None,
    to_nobody: bool,
    store: str | None,
    url: str | None,
    token: str | None,
    acting_as: str | None,
) -> None:
    """Assign input request REQUEST_ID to USER (or to nobody with --none). On a server,
    its current assignee or an admin may.

    \b
    Examples:
        workflows assign 3f2c...:1 bob --url http://127.0.0.1:8000
        workflows assign 3f2c...:1 --none
    """
    if (user is None) == (not to_nobody):
        raise click.UsageError("give either USER or --none")
    request = _change(pick(store, url, token), acting_as, "assign", request_id, user)
    if request.assignee is None:
        click.echo(f"unassigned {request_id}; nobody holds it now", err=True)
    else:
        click.echo(f"assigned {request_id} to {request.assignee}", err=True)
