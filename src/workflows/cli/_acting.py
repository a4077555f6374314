"""Who a command acts as: ``--as NAME``, else the user name of this machine's login.

On a store, that name is recorded as is (who answered, who claimed). A server that
authenticates its callers (a users file, a trusted proxy header) knows who calls from
the token and refuses an ``X-Workflows-User`` header naming someone else, so there the
login name is only sent when the server takes it as the caller's name (a server with a
single token or none); an explicit ``--as`` is always sent.
"""

from __future__ import annotations

import getpass
from collections.abc import Callable
from typing import Any, TypeVar

import click

from ..errors import ClientError
from ..runtime.user_name import check_user_name
from ._where import Where

__all__ = ["answerer", "as_option", "remote_user"]

F = TypeVar("F", bound=Callable[..., Any])


def as_option(help_text: str) -> Callable[[F], F]:
    """``--as NAME`` (the parameter ``acting_as``), with ``help_text``."""
    return click.option("--as", "acting_as", metavar="NAME", help=help_text)


def answerer(name: str | None) -> str | None:
    """Who acts: ``name`` (``--as``) checked, else the OS user name, else ``None``."""
    if name is None:
        try:
            name = getpass.getuser()
        except Exception:  # no user name known (no USER variable, no passwd entry)
            return None
        try:
            return check_user_name(name)
        except ValueError:
            return None
    try:
        return check_user_name(name)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--as") from None


async def remote_user(where: Where, name: str | None) -> str | None:
    """The name to send a server as ``X-Workflows-User``: ``name`` (``--as``) checked;
    else the login name when the server takes callers by that header, ``None`` when it
    knows them from their token (``GET /me`` names someone else) or no name is known."""
    if name is not None:
        return answerer(name)
    login = answerer(None)
    if login is None:
        return None
    async with where.client(login) as client:
        try:
            me = await client.me()
        except ClientError as exc:
            if exc.status_code == 404:  # a server from before users: takes the header
                return login
            raise
    return None if me.verified else login
