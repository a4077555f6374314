"""What every route needs: the engine, the view builder and the server's settings."""

from __future__ import annotations

from dataclasses import dataclass, field

from starlette.requests import Request

from ..engine import Engine
from ._views import Views

__all__ = ["ServerState", "state_of"]


@dataclass
class ServerState:
    """Shared by the routes of one app (``app.state.server``).

    Attributes:
        engine: the engine the app serves (opened and closed by the app's lifespan).
        store_scheme: the store's URL scheme, reported by ``/health``.
        heartbeat: seconds between SSE heartbeat comments.
        max_wait: upper bound of ``?timeout=`` in wait-for-result mode.
    """

    engine: Engine
    store_scheme: str
    heartbeat: float = 15.0
    max_wait: float = 300.0
    views: Views = field(init=False)

    def __post_init__(self) -> None:
        self.views = Views(self.engine)


def state_of(request: Request) -> ServerState:
    """The :class:`ServerState` of the app serving ``request``."""
    state: ServerState = request.app.state.server
    return state
