"""``workflows serve``: the HTTP server and inbox page over a store."""

from __future__ import annotations

import logging
import os
import socket
from typing import TYPE_CHECKING

import click
from click.core import ParameterSource

from ..webhooks import Webhook
from ._loading import RuntimeFailure, check_store_location, check_store_url, load_many
from ._settings import history_option

if TYPE_CHECKING:
    from ..server import TrustedHeader

__all__ = ["serve_command"]


def check_port_free(host: str, port: int) -> None:
    """Refuse to start when ``host:port`` cannot be listened on (taken, say), with one
    clear line instead of the server's start-up failure.

    Raises:
        RuntimeFailure: the address cannot be bound or the host not resolved.
    """
    if port == 0:
        return
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise RuntimeFailure(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    for family, kind, proto, _, address in infos:
        with socket.socket(family, kind, proto) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server does
            try:
                sock.bind(address)
            except OSError as exc:
                why = exc.strerror or str(exc)
                raise RuntimeFailure(
                    f"cannot listen on {host}:{port}: {why.lower()} (is another server "
                    "running there? choose another --port)"
                ) from None


def _webhooks(urls: tuple[str, ...], secret_env: str) -> list[Webhook]:
    """The ``--webhook`` endpoints, signed with the secret in ``secret_env``."""
    if not urls:
        return []
    if len(set(urls)) < len(urls):
        raise click.BadParameter("the same URL is given twice", param_hint="--webhook")
    secret = os.environ.get(secret_env)
    if not secret:
        raise click.BadParameter(
            f"the environment variable {secret_env} (the secret to sign with) is not set",
            param_hint="--webhook-secret-env",
        )
    try:
        return [Webhook(url, secret) for url in urls]
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--webhook") from None


def _trusted_header(user: str | None, groups: str | None) -> TrustedHeader | None:
    if user is None:
        if groups is not None:
            raise click.UsageError("--trust-groups-header needs --trust-user-header")
        return None
    try:
        from ..server import TrustedHeader
    except ImportError:  # the server extra is missing: serve says so below
        return None
    try:
        return TrustedHeader(user, groups=groups)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None


def _from_command_line(name: str) -> bool:
    return click.get_current_context().get_parameter_source(name) is ParameterSource.COMMANDLINE


def _auth_options(
    token: str | None, users: str | None, trusted: TrustedHeader | None
) -> tuple[str | None, str | None]:
    """``(token, users)`` to serve with: one way of auth. An option given on the command
    line wins over one from the environment (which then stays for the other commands,
    such as a client's token); two given on the command line are a usage error."""
    if trusted is not None and users is not None:
        if _from_command_line("users"):
            raise click.UsageError("--users does not go with --trust-user-header")
        users = None
    if token is None or (users is None and trusted is None):
        return token, users
    if not _from_command_line("token"):
        return None, users
    if users is not None and not _from_command_line("users"):
        return token, None
    raise click.UsageError(
        "--token does not go with --users or --trust-user-header: tokens are in the users "
        "file, and behind a proxy the proxy authenticates"
    )


class _DropStartupExit(logging.Filter):
    """Drops asyncio's "Task exception was never retrieved" report of uvicorn's
    ``SystemExit`` when it cannot start (the CLI says why, on one line)."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, SystemExit)


@click.command("serve")
@click.argument("targets", nargs=-1, required=True, metavar="MODULE:ATTR...")
@click.option(
    "--store",
    default="sqlite:///workflows.db",
    show_default=True,
    envvar="WORKFLOWS_STORE",
    callback=check_store_url,
    help="Store URL (memory://, sqlite:///path.db, postgresql://...). [env: WORKFLOWS_STORE]",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True)
@click.option(
    "--token",
    envvar="WORKFLOWS_TOKEN",
    help="Require this bearer token on the API; whoever has it is an admin. [env: WORKFLOWS_TOKEN]",
)
@click.option(
    "--users",
    "users",
    type=click.Path(dir_okay=False),
    envvar="WORKFLOWS_USERS",
    help="Users file (TOML: hashed tokens, users, groups; re-read when it changes): each "
    "token names a user, who sees only the requests meant for them. [env: WORKFLOWS_USERS]",
)
@click.option(
    "--trust-user-header",
    metavar="NAME",
    help="Take the caller's user name from this request header, set by an authenticating "
    "reverse proxy. Only behind a proxy that removes it from what clients send.",
)
@click.option(
    "--trust-groups-header",
    metavar="NAME",
    help="With --trust-user-header: take the caller's groups (comma-separated) from this header.",
)
@click.option(
    "--workers",
    type=click.IntRange(0, 1),
    default=1,
    show_default=True,
    help="1: this process also executes runs; 0: API only (run `workflows worker` beside it).",
)
@click.option(
    "--owner",
    default=None,
    help="Worker id, when this process executes runs beside other workers (PostgreSQL).",
)
@click.option(
    "--max-body",
    "max_body_bytes",
    type=click.IntRange(1),
    default=1024 * 1024,
    show_default=True,
    help="Largest request body in bytes (413 beyond it).",
)
@click.option(
    "--max-json-depth",
    type=click.IntRange(1, 80),
    default=64,
    show_default=True,
    help="Deepest nesting of JSON in a request body (422 beyond it).",
)
@click.option(
    "--control-events",
    "control_events",
    multiple=True,
    metavar="WORKFLOW",
    help="Let POST /runs/{id}/events send built-in control events (StopEvent, "
    "WorkflowFailedEvent, ...) to runs of this workflow; repeatable, 'all' for every "
    "workflow. Refused by default: whoever may call the API could end such a run.",
)
@click.option(
    "--webhook",
    "webhook_urls",
    multiple=True,
    metavar="URL",
    help="POST a signed message to URL on every change of a request (created, claimed, "
    "answered, overdue, ...); repeatable. See docs/webhooks.md.",
)
@click.option(
    "--webhook-secret-env",
    default="WORKFLOWS_WEBHOOK_SECRET",
    show_default=True,
    metavar="NAME",
    help="Environment variable holding the secret the --webhook messages are signed with.",
)
@history_option
def serve_command(
    targets: tuple[str, ...],
    store: str,
    host: str,
    port: int,
    token: str | None,
    users: str | None,
    trust_user_header: str | None,
    trust_groups_header: str | None,
    workers: int,
    owner: str | None,
    max_body_bytes: int,
    max_json_depth: int,
    control_events: tuple[str, ...],
    webhook_urls: tuple[str, ...],
    webhook_secret_env: str,
    history: str,
) -> None:
    """Serve workflows over HTTP, with the inbox page at /.

    Each MODULE:ATTR names a Workflow instance or class, or a dict / list of them.

    \b
    Example:
        workflows serve app:approval --store sqlite:///workflows.db --port 8000
    """
    trusted = _trusted_header(trust_user_header, trust_groups_header)
    token, users = _auth_options(token, users, trusted)
    workflows = load_many(targets)
    webhooks = _webhooks(webhook_urls, webhook_secret_env)
    check_store_location(store, must_exist=False)
    check_port_free(host, port)
    try:
        from ..server import serve
    except ImportError as exc:
        raise RuntimeFailure(
            f"the server is not available ({exc}): pip install 'durable-workflows[server]'"
        ) from None
    from ..server import InputLimits

    logging.getLogger("asyncio").addFilter(_DropStartupExit())
    try:
        serve(
            workflows,
            store=store,
            host=host,
            port=port,
            token=token,
            users=users,
            trusted_header=trusted,
            workers=workers,
            owner=owner,
            limits=InputLimits(max_body_bytes=max_body_bytes, max_depth=max_json_depth),
            control_events=True if "all" in control_events else set(control_events),
            webhooks=webhooks,
            history=history,
        )
    except SystemExit as exc:
        if exc.code in (0, None):
            return
        why = exc.code if isinstance(exc.code, str) else "the server could not start (see above)"
        raise RuntimeFailure(why) from None
