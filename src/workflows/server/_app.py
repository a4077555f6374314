"""``create_app``: the Starlette app serving an :class:`~workflows.engine.Engine`."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import AsyncIterator, Collection, Mapping, Sequence

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Match, Route
from starlette.types import Scope

from ..engine import Engine
from ..errors import WorkflowConfigurationError
from ..stores import RunStore, store_scheme
from ..webhooks import Webhook
from ..workflow import Workflow
from ._auth import Authenticator, HeaderAuth, IdentityMiddleware, SharedTokenAuth, UsersAuth
from ._errors import exception_handlers
from ._identity import TrustedHeader
from ._limits import InputLimits
from ._openapi import openapi_document
from ._routes_checkpoints import checkpoint_routes
from ._routes_deliveries import delivery_routes
from ._routes_me import me_routes
from ._routes_requests import request_routes
from ._routes_runs import run_routes
from ._routes_workflows import workflow_routes
from ._state import ServerState
from ._users import USERS_ENV, UsersFile
from ._webhooks import WebhookDispatcher

logger = logging.getLogger("workflows.server")

__all__ = ["TOKEN_ENV", "USERS_ENV", "authenticator_for", "create_app"]

TOKEN_ENV = "WORKFLOWS_TOKEN"
"""Environment variable read for the bearer token when none is given."""

Workflows = Mapping[str, Workflow] | Sequence[Workflow]


def _page_routes() -> list[BaseRoute]:
    try:
        from ._pages import page_routes
    except ImportError:
        logger.debug("no HTML pages: workflows.server._pages is not available")
        return []
    return list(page_routes())


def authenticator_for(
    token: str | None,
    users: str | os.PathLike[str] | None,
    trusted_header: TrustedHeader | None,
) -> Authenticator:
    """How the app finds each caller's identity: the users file, the trusted header, or
    the single token (none of them: no auth). ``None`` for ``token`` or ``users`` reads
    ``WORKFLOWS_TOKEN`` / ``WORKFLOWS_USERS`` (the users file's variable only without a
    trusted header).

    Raises:
        WorkflowConfigurationError: two modes given at once, or a users file that
            cannot be read or is not valid.
    """
    if users is not None and trusted_header is not None:
        raise WorkflowConfigurationError("give either a users file or a trusted header, not both")
    if token is not None and (users is not None or trusted_header is not None):
        raise WorkflowConfigurationError(
            "a single token does not go with a users file or a trusted header: tokens are "
            "in the users file, and behind a proxy the proxy authenticates"
        )
    if trusted_header is not None:
        return HeaderAuth(trusted_header)
    if users is None and token is None:
        users = os.environ.get(USERS_ENV) or None
    if users is not None:
        return UsersAuth(UsersFile(users))
    if token is None:
        token = os.environ.get(TOKEN_ENV) or None
    return SharedTokenAuth(token)


def create_app(
    engine_or_store_url: Engine | RunStore | str,
    workflows: Workflows = (),
    *,
    token: str | None = None,
    users: str | os.PathLike[str] | None = None,
    trusted_header: TrustedHeader | None = None,
    cors_origins: Sequence[str] | None = None,
    heartbeat: float = 15.0,
    idle_release_after: float | None = 30.0,
    history: str = "none",
    limits: InputLimits | None = None,
    control_events: bool | Collection[str] = False,
    webhooks: Sequence[Webhook] = (),
) -> Starlette:
    """Build the ASGI app of the HTTP API (see ``docs/server-api.md``).

    The app's lifespan opens the engine at start-up (which resumes unfinished runs
    from the store) and closes it at shutdown (runs in flight stay in the store).

    Args:
        engine_or_store_url: an unopened :class:`~workflows.engine.Engine` (the app owns
            it from now on), a store, or a store URL such as ``sqlite:///workflows.db``.
        workflows: workflows to serve, by name or under their ``workflow_name``;
            added to the engine's own.
        token: the one bearer token required on every endpoint but ``GET /health``
            and the HTML pages; every caller is then an admin. ``None`` reads
            ``WORKFLOWS_TOKEN`` (unset or empty, and no users file nor trusted header:
            no auth).
        users: a users file (TOML: hashed tokens, users, groups; see
            ``docs/server.md``): each bearer token names a user, who sees and answers
            only the requests meant for them. ``None`` reads ``WORKFLOWS_USERS``. The
            file is re-read when it changes.
        trusted_header: trust a reverse proxy to name the caller in a header (only
            behind a proxy that removes that header from what clients send).
        cors_origins: origins allowed by CORS; ``None`` (the default) turns CORS off.
        heartbeat: seconds between SSE heartbeat comments.
        idle_release_after: passed to the Engine when one is built here.
        history: which commits of a run are kept as checkpoints (``"none"``, ``"all"``,
            ``"waits"``, ``"last N"``; see ``docs/time-travel.md``), passed to the Engine
            when one is built here (an engine given keeps its own setting).
        limits: bounds on request bodies (size, JSON depth, items, number length);
            ``None`` uses the defaults of :class:`~workflows.server.InputLimits`.
        control_events: which workflows take the engine's control events (``StopEvent``,
            ``WorkflowFailedEvent``, ``StartEvent``, ``InputRequiredEvent``, ...) from
            ``POST /runs/{id}/events``: ``False`` (the default) none, ``True`` all, or
            a collection of registered workflow names. Anyone who may call the API can
            then end such a run with any result.
        webhooks: endpoints told of every change of a request, signed, at least once
            (see ``docs/webhooks.md``); their names must differ.

    Returns:
        The Starlette app; run it with uvicorn or :func:`~workflows.server.serve`.

    Raises:
        WorkflowConfigurationError: more than one of ``token``, ``users`` and
            ``trusted_header``, a users file that cannot be read or is not valid, or an
            unknown ``history``.

    Example::

        app = create_app("sqlite:///workflows.db", {"expense": ExpenseApproval()})
    """
    authenticator = authenticator_for(token, users, trusted_header)
    if isinstance(engine_or_store_url, Engine):
        engine = engine_or_store_url
    else:
        engine = Engine(engine_or_store_url, idle_release_after=idle_release_after, history=history)
    items = (
        workflows.items()
        if isinstance(workflows, Mapping)
        else ((wf.workflow_name, wf) for wf in workflows)
    )
    for name, wf in items:
        engine.register(wf, name)
    if not isinstance(control_events, bool):
        control_events = frozenset(control_events)
    state = ServerState(
        engine,
        "",  # the store's scheme, known once the engine opened its store
        heartbeat=heartbeat,
        limits=limits if limits is not None else InputLimits(),
        control_events=control_events,
        verified_users=authenticator.verified,
    )
    if isinstance(authenticator, UsersAuth):  # the users file's [[webhooks]] tables
        webhooks = [*webhooks, *authenticator.users.config.webhooks]
    dispatcher = WebhookDispatcher(engine, state.views, webhooks)
    pages = _page_routes()
    document = openapi_document(secured=authenticator.bearer, pages=bool(pages), version=_version())

    async def openapi(request: Request) -> Response:
        return JSONResponse(document)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await engine.open()
        state.store_scheme = store_scheme(engine.store)
        logger.info(
            "engine open on %s store with workflows: %s",
            state.store_scheme,
            ", ".join(sorted(engine.workflows)) or "none",
        )
        try:
            await state.inbox.start()
            await dispatcher.start()
            yield
        finally:
            await dispatcher.stop()
            await state.inbox.stop()
            await engine.close()
            logger.info("engine closed; unfinished runs stay in the store")

    def is_public(scope: Scope) -> bool:
        if scope.get("path") == "/health":
            return True
        return any(route.matches(scope)[0] == Match.FULL for route in pages)

    middleware: list[Middleware] = []
    if cors_origins:
        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=list(cors_origins),
                allow_methods=["GET", "POST"],
                allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "Last-Event-ID"],
            )
        )
    middleware.append(
        Middleware(IdentityMiddleware, authenticator=authenticator, is_public=is_public)
    )
    routes: list[BaseRoute] = [
        Route("/openapi.json", openapi, methods=["GET"]),
        *workflow_routes(),
        *run_routes(),
        *checkpoint_routes(),
        *request_routes(),
        *me_routes(),
        *delivery_routes(),
        *pages,
    ]
    app = Starlette(
        routes=routes,
        middleware=middleware,
        exception_handlers=exception_handlers(),
        lifespan=lifespan,
    )
    app.state.server = state
    return app


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("durable-workflows")
    except Exception:  # not installed (running from a checkout)
        return "0"
