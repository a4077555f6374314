"""What an engine reports about its own background machinery, for liveness probes."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from ._parts import EngineCore

__all__ = ["EngineHealth", "health_of"]

HealthStatus = Literal["ok", "degraded", "failed"]


@dataclass(frozen=True)
class EngineHealth:
    """The state of an engine and of each long-lived part of it.

    ``status`` is ``"failed"`` when the engine stopped serving (a background task
    crashed, or it is closed), ``"degraded"`` when it serves but a part is recovering
    (the wake-up listener reconnecting, lease renewals not reaching the store) and
    ``"ok"`` otherwise. A liveness probe should restart the process on ``"failed"``
    only: a degraded engine heals by itself when the database comes back.
    """

    status: HealthStatus
    engine: str
    components: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON."""
        return {"status": self.status, "engine": self.engine, "components": self.components}


def _ago(moment: float | None) -> float | None:
    return None if moment is None else round(time.monotonic() - moment, 3)


def health_of(engine: EngineCore) -> EngineHealth:
    """Read ``engine``'s health without any I/O."""
    coordinator = engine.coordinator
    leases = coordinator.leases
    failure = engine.failure
    writer_alive = engine.phase == "open" and engine.writer.alive
    components: dict[str, dict[str, Any]] = {
        "writer": {
            "state": "running" if writer_alive else "stopped",
            "backlog": engine.writer.backlog if engine.phase != "new" else 0,
        },
        "maintenance": {"last_turn_seconds_ago": _ago(coordinator.last_turn)},
        "listener": {"state": coordinator.listener_state, "error": coordinator.listener_error},
    }
    if engine.owner is not None:
        components["leases"] = {
            "state": "failing" if leases.last_error else "ok",
            "held": leases.held,
            "lost": leases.lost,
            "last_renewed_seconds_ago": _ago(leases.last_renewed),
            "error": leases.last_error,
        }
    if failure is not None:
        components["failure"] = {"error": f"{type(failure).__name__}: {failure}"}
    status: HealthStatus
    if failure is not None or engine.phase != "open" or not writer_alive:
        status = "failed"
    elif coordinator.listener_state == "reconnecting" or leases.last_error:
        status = "degraded"
    else:
        status = "ok"
    return EngineHealth(status=status, engine=engine.phase, components=components)
