"""What every route needs: the engine, the view builder and the server's settings."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field

from starlette.requests import Request

from ..engine import Engine
from ._inbox import InboxFanout
from ._limits import InputLimits
from ._views import Views

__all__ = ["ServerState", "state_of"]


@dataclass
class ServerState:
    """Shared by the routes of one app (``app.state.server``).

    Attributes:
        engine: the engine the app serves (opened and closed by the app's lifespan).
        store_scheme: the store's URL scheme, reported by ``/health`` (set once the
            engine opened its store).
        heartbeat: seconds between SSE heartbeat comments.
        max_wait: upper bound of ``?timeout=`` in wait-for-result mode.
        limits: bounds on request bodies (see :class:`~workflows.server.InputLimits`).
        control_events: which workflows take the engine's control events (StopEvent,
            WorkflowFailedEvent, ...) over ``POST /runs/{id}/events``: ``True`` for all,
            else the names of those that opted in.
        verified_users: callers are authenticated users (a users file or a trusted
            header): who answers is the caller, not what ``X-Workflows-User`` says.
        inbox: the one reader of inbox changes, fanned out to every inbox stream.
    """

    engine: Engine
    store_scheme: str
    heartbeat: float = 15.0
    max_wait: float = 300.0
    limits: InputLimits = field(default_factory=InputLimits)
    control_events: bool | Collection[str] = False
    verified_users: bool = False
    views: Views = field(init=False)
    inbox: InboxFanout = field(init=False)

    def __post_init__(self) -> None:
        self.views = Views(self.engine)
        self.inbox = InboxFanout(self.engine, self.views, heartbeat=self.heartbeat)

    def takes_control_events(self, workflow: str) -> bool:
        """Whether runs of ``workflow`` may be sent control events over HTTP."""
        if isinstance(self.control_events, bool):
            return self.control_events
        return workflow in self.control_events


def state_of(request: Request) -> ServerState:
    """The :class:`ServerState` of the app serving ``request``."""
    state: ServerState = request.app.state.server
    return state
