"""The HTTP server: an :class:`~workflows.engine.Engine` over a JSON + SSE API.

::

    from workflows.server import serve
    serve({"expense": ExpenseApproval()}, store="sqlite:///workflows.db")

The API is described in ``docs/server-api.md`` and served as OpenAPI 3.1 at
``/openapi.json``. Needs the ``server`` extra: ``pip install 'durable-workflows[server]'``.
"""

from __future__ import annotations

try:
    import starlette  # noqa: F401
    import uvicorn  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "workflows.server needs the server extra: pip install 'durable-workflows[server]'"
    ) from exc

from ._app import TOKEN_ENV, create_app
from ._identity import Identity, TrustedHeader, identity_of
from ._limits import InputLimits
from ._serve import serve
from ._users import USERS_ENV, hash_token

__all__ = [
    "TOKEN_ENV",
    "USERS_ENV",
    "Identity",
    "InputLimits",
    "TrustedHeader",
    "create_app",
    "hash_token",
    "identity_of",
    "serve",
]
