"""``serve``: run the app with uvicorn, refusing to expose an unauthenticated server."""

from __future__ import annotations

import asyncio
import gc
import ipaddress
import logging
import os
import socket
import sys
from collections.abc import Collection, Sequence
from typing import Any

from ..engine import Engine
from ..errors import WorkflowConfigurationError
from ..webhooks import Webhook
from ._app import TOKEN_ENV, Workflows, create_app
from ._identity import TrustedHeader
from ._limits import InputLimits
from ._users import USERS_ENV

logger = logging.getLogger("workflows.server")

__all__ = ["is_loopback", "serve"]


def is_loopback(host: str) -> bool:
    """Whether ``host`` only accepts connections from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def serve(
    workflows: Workflows,
    store: str = "sqlite:///workflows.db",
    host: str = "127.0.0.1",
    port: int = 8000,
    token: str | None = None,
    *,
    allow_remote: bool = False,
    users: str | os.PathLike[str] | None = None,
    trusted_header: TrustedHeader | None = None,
    cors_origins: Sequence[str] | None = None,
    log_level: str = "info",
    graceful_timeout: int = 5,
    workers: int = 1,
    owner: str | None = None,
    limits: InputLimits | None = None,
    control_events: bool | Collection[str] = False,
    webhooks: Sequence[Webhook] = (),
    history: str = "none",
) -> None:
    """Serve ``workflows`` over HTTP with uvicorn until interrupted.

    Before the server starts, the objects that exist so far (modules, classes, the app,
    but no run: the engine opens once uvicorn starts) are frozen out of the garbage
    collector (``gc.freeze()``), which shortens its full collections, the longest
    pauses a busy server has.

    Args:
        workflows: workflows to serve (by name, or a list under their names).
        store: the store URL.
        host: interface to bind; without a token, users file or trusted header only a
            loopback address is allowed.
        port: TCP port.
        token: the single bearer token (``None`` reads ``WORKFLOWS_TOKEN``).
        allow_remote: bind a non-loopback host even without any auth.
        users: a users file of hashed tokens, users and groups (``None`` reads
            ``WORKFLOWS_USERS``); see :func:`create_app`.
        trusted_header: trust a reverse proxy to name the caller in a header.
        cors_origins: origins allowed by CORS (off by default).
        log_level: uvicorn's log level.
        graceful_timeout: seconds open connections (SSE streams) get at shutdown
            before they are closed; unfinished runs stay in the store either way.
        workers: ``1`` executes runs in this process too; ``0`` serves the API only and
            leaves execution to ``workflows worker`` processes on the same database.
        owner: worker id when this process executes runs beside other workers (leases).
        limits: bounds on request bodies (see :class:`~workflows.server.InputLimits`).
        control_events: workflows that take control events (StopEvent, ...) over HTTP:
            ``True`` for all, or their names (see :func:`create_app`).
        webhooks: endpoints told of every change of a request (see :func:`create_app`).
        history: which commits of the runs this process executes are kept as
            checkpoints (see :func:`create_app`).

    Raises:
        WorkflowConfigurationError: a non-loopback ``host`` without any auth and
            without ``allow_remote``; auth settings that do not go together, or a users
            file that is not valid (see :func:`create_app`).
    """
    import uvicorn

    if users is None and trusted_header is None and token is None:
        users = os.environ.get(USERS_ENV) or None
    if token is None and users is None and trusted_header is None:
        token = os.environ.get(TOKEN_ENV) or None
    if trusted_header is not None:
        logger.warning(
            "trusting the %s header to name the caller: serve only behind a proxy that "
            "authenticates every request and removes that header from what clients send",
            trusted_header.user,
        )
    if token is None and users is None and trusted_header is None:
        if not is_loopback(host) and not allow_remote:
            raise WorkflowConfigurationError(
                f"refusing to serve on {host} without a token: set --token or "
                f"{TOKEN_ENV}, a users file (--users or {USERS_ENV}), or pass "
                "allow_remote=True"
            )
        if is_loopback(host):
            logger.warning(
                "no token set: serving on %s only (loopback); set a token to serve other hosts",
                host,
            )
    if workers not in (0, 1):
        raise WorkflowConfigurationError(
            f"workers must be 0 (API only) or 1 (this process executes runs), got {workers}; "
            "start more executors with `workflows worker`"
        )
    if owner is None and workers == 1 and store.startswith(("postgresql:", "postgres:")):
        # Beside `workflows worker` processes this one must take leases too.
        owner = f"{socket.gethostname()}:{os.getpid()}:serve"
    engine = Engine(store, execute=workers == 1, owner=owner, history=history)
    app = create_app(
        engine,
        workflows,
        token=token,
        users=users,
        trusted_header=trusted_header,
        cors_origins=cors_origins,
        limits=limits,
        control_events=control_events,
        webhooks=webhooks,
    )
    # What exists now (modules, classes, the app; no run yet: the engine opens in the
    # lifespan) lives as long as the process: moved out of the garbage collector's
    # reach, it no longer lengthens every full collection, which pauses every request
    # and stream of the server at once.
    gc.collect()
    gc.freeze()
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host=host,
            port=port,
            log_level=log_level,
            timeout_graceful_shutdown=graceful_timeout,
        )
    )
    _run_on_uvicorns_loop(server.config, _serve_until_stopped(server, engine))
    if engine.failure is not None:
        # A server whose engine crashed does not linger half alive: its supervisor
        # restarts it (the engine has given its runs back already).
        raise SystemExit(f"workflows serve stopped: {engine.failure}")
    if not server.started:
        raise SystemExit(1)  # uvicorn could not start (the port is taken, say): it said why


def _run_on_uvicorns_loop(config: Any, main: Any) -> None:
    """Run ``main`` on the event loop uvicorn would pick (uvloop when configured)."""
    get_factory = getattr(config, "get_loop_factory", None)
    if get_factory is None:  # uvicorn before 0.36 sets the policy instead
        config.setup_event_loop()
        asyncio.run(main)
        return
    loop_factory = get_factory()
    if loop_factory is None:
        asyncio.run(main)
    elif sys.version_info >= (3, 11):
        with asyncio.Runner(loop_factory=loop_factory) as runner:
            runner.run(main)
    else:  # Python 3.10: no Runner; the same steps by hand
        loop = loop_factory()
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(main)
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            asyncio.set_event_loop(None)
            loop.close()


async def _serve_until_stopped(server: Any, engine: Engine) -> None:
    """Run ``server`` until it stops, or its engine fails (then stop it gracefully)."""
    serving = asyncio.ensure_future(server.serve())
    failed = asyncio.ensure_future(engine.wait_failed())
    try:
        await asyncio.wait({serving, failed}, return_when=asyncio.FIRST_COMPLETED)
        if failed.done() and not serving.done():
            logger.critical("engine failed (%s); stopping the server", engine.failure)
            server.should_exit = True
            await serving
    finally:
        failed.cancel()
