"""Where the runs are: ``--store URL`` (read directly) or ``--url`` (ask a server)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import click

from ..client import WorkflowClient
from ..stores import RunStore, open_store
from ._loading import check_store_location, check_store_url

__all__ = [
    "DEFAULT_STORE",
    "Where",
    "check_server_url",
    "opened_store",
    "pick",
    "where_options",
]

DEFAULT_STORE = "sqlite:///workflows.db"
"""The store every command uses without ``--store``, ``--url`` or their variables."""

F = TypeVar("F", bound=Callable[..., Any])


def where_options(func: F) -> F:
    """``--store`` / ``--url`` / ``--token``: where the runs are."""
    func = click.option(
        "--token",
        envvar="WORKFLOWS_TOKEN",
        help="The server's bearer token (with --url). [env: WORKFLOWS_TOKEN]",
    )(func)
    func = click.option(
        "--url",
        envvar="WORKFLOWS_URL",
        metavar="http://HOST:PORT",
        help="Talk to a workflows server instead of a store. [env: WORKFLOWS_URL]",
    )(func)
    return click.option(
        "--store",
        envvar="WORKFLOWS_STORE",
        callback=check_store_url,
        help=f"Store URL to read directly (default {DEFAULT_STORE}). [env: WORKFLOWS_STORE]",
    )(func)


@dataclass(frozen=True)
class Where:
    """A store URL or a server URL (exactly one is set), and the server's token."""

    store: str | None
    url: str | None
    token: str | None = None

    def client(self, user: str | None = None) -> WorkflowClient:
        """A client for the server (use with ``async with``), acting as ``user`` when
        given (sent as ``X-Workflows-User``)."""
        assert self.url is not None
        return WorkflowClient(self.url, self.token, user=user)


def check_server_url(url: str) -> str:
    """``url`` if it is an http(s) URL, else a usage error."""
    if not url.startswith(("http://", "https://")):
        raise click.BadParameter(f"expected an http(s):// URL, got {url!r}", param_hint="'--url'")
    return url


def pick(
    store: str | None, url: str | None, token: str | None = None, *, must_exist: bool = True
) -> Where:
    """Choose between ``--store`` and ``--url`` (default: the default store).

    ``must_exist``: the command reads or answers runs, so a SQLite file that does not
    exist is refused (instead of an empty database being created), and so is
    ``memory://``, which keeps nothing between commands.

    Raises:
        click.UsageError: both given, a URL that is not http(s), or a store as above.
    """
    if store and url:
        store, url = _prefer_command_line(store, url)
    if store and url:
        raise click.UsageError("give either --store or --url, not both")
    if url:
        return Where(None, check_server_url(url), token)
    chosen = store or DEFAULT_STORE
    if must_exist and chosen.strip().lower().startswith("memory:"):
        raise click.BadParameter(
            "memory:// keeps nothing between commands; give the store the runs are in "
            "(sqlite:///path.db, postgresql://...) or a server's --url",
            param_hint="'--store'",
        )
    check_store_location(chosen, must_exist=must_exist)
    return Where(chosen, None, token)


def _prefer_command_line(store: str, url: str) -> tuple[str | None, str | None]:
    """When one of ``--store`` and ``--url`` comes from the environment and the other
    from the command line, the command line wins."""
    ctx = click.get_current_context(silent=True)
    if ctx is None:
        return store, url
    from_env = click.core.ParameterSource.ENVIRONMENT
    store_env = ctx.get_parameter_source("store") == from_env
    url_env = ctx.get_parameter_source("url") == from_env
    if store_env and not url_env:
        return None, url
    if url_env and not store_env:
        return store, None
    return store, url


@asynccontextmanager
async def opened_store(url: str) -> AsyncIterator[RunStore]:
    """The store at ``url``, open for the block."""
    db = await open_store(url)
    try:
        yield db
    finally:
        await db.close()
