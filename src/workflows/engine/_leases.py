"""The leases an engine holds on the runs it executes, and the one rule that fences them.

The invariant (``docs/durability.md``, "Fencing"): a run is executed only from a copy
loaded right after a claim, and only while that claim's lease is held.

- ``store.claim_run`` starts a new lease epoch: it bumps the run's version, so every
  commit prepared under an earlier epoch, by any process, is refused.
- A heartbeat only *extends* a lease this engine still holds
  (``store.renew_lease``); it never takes a run back and never changes the version the
  in-memory copy commits against. A lease that was released or taken over is lost: the
  in-memory copy is dropped at once, without touching the store, and the run can only
  come back through a new claim, which loads it from the stored state.
- A lease whose renewal could not reach the store for a whole lease period counts as
  lost too (another worker may own the run by now), so a worker cut off from its
  database stops executing instead of running on.
"""

from __future__ import annotations

import logging
import math
import time
from typing import TYPE_CHECKING

from ..errors import RunNotFoundError, StaleRunError, StoreError
from ..stores import RunFinishedError

if TYPE_CHECKING:
    from ._durable_run import DurableRun
    from ._parts import EngineCore

logger = logging.getLogger("workflows.engine")


class Leases:
    """Bookkeeping and renewal of this engine's leases (worker mode only)."""

    def __init__(self, engine: EngineCore) -> None:
        self._engine = engine
        self._until: dict[str, float] = {}
        #: Monotonic time of the last renewal round that reached the store.
        self.last_renewed: float | None = None
        #: Leases found lost (taken over, released, or unreachable too long).
        self.lost = 0
        #: The last error a renewal round met, cleared by the next clean round.
        self.last_error: str | None = None
        self._round_failed = False

    @property
    def held(self) -> int:
        """How many leases this engine believes it holds."""
        return len(self._until)

    def acquired(self, run_id: str, claimed_at: float) -> None:
        """Record a successful claim sent at monotonic time ``claimed_at``."""
        self._until[run_id] = claimed_at + self._engine.lease_seconds

    def forget(self, run_id: str) -> None:
        """The run left memory: its lease is no longer tracked."""
        self._until.pop(run_id, None)

    def overdue(self, run_id: str) -> bool:
        """True when the lease on ``run_id`` may have expired since it was last renewed."""
        return time.monotonic() >= self._until.get(run_id, math.inf)

    async def renew_all(self) -> None:
        """Extend every lease held, in one store statement (``renew_leases``); the runs
        it did not renew are renewed one by one, which names why, and dropped."""
        self._round_failed = False
        engine = self._engine
        owner = engine.owner
        held = [durable for durable in engine.loaded.values() if durable.created]
        if owner is None or len(held) < 2:
            for durable in held:
                await self.renew(durable)
        else:
            sent = time.monotonic()
            try:
                lost = set(
                    await engine.store.renew_leases(
                        [d.run_id for d in held], owner, engine.lease_seconds
                    )
                )
            except StoreError as exc:
                for durable in held:
                    self._unreachable(durable, exc)
            else:
                for durable in held:
                    if durable.run_id in lost:
                        await self.renew(durable)  # refused again, with the reason
                    elif engine.loaded.get(durable.run_id) is durable:
                        self._until[durable.run_id] = sent + engine.lease_seconds
        if not self._round_failed:
            self.last_error = None
            self.last_renewed = time.monotonic()

    async def renew(self, durable: DurableRun) -> bool:
        """Extend the lease on ``durable``'s run; False (and the run dropped) if lost."""
        engine = self._engine
        run_id = durable.run_id
        owner = engine.owner
        if owner is None or not durable.created:
            return True  # not stored yet: the writer claims it with the first commit
        sent = time.monotonic()
        try:
            await engine.store.renew_lease(run_id, owner, engine.lease_seconds)
        except RunFinishedError:
            if engine.loaded.get(run_id) is durable:
                # Finished by another worker after taking the run over.
                self._lose(durable, "the run was finished by another worker")
            return False  # otherwise our own final commit won the race: nothing to do
        except (StaleRunError, RunNotFoundError) as exc:
            if engine.loaded.get(run_id) is durable:
                self._lose(durable, str(exc))
            return False
        except StoreError as exc:
            self._unreachable(durable, exc)
            return False
        if engine.loaded.get(run_id) is durable:
            self._until[run_id] = sent + engine.lease_seconds
        return True

    def _unreachable(self, durable: DurableRun, exc: StoreError) -> None:
        """A renewal of ``durable``'s lease could not reach the store: after a whole
        lease period without one, another worker may own the run, so it counts as lost."""
        self._round_failed = True
        self.last_error = str(exc)
        if self.overdue(durable.run_id) and self._engine.loaded.get(durable.run_id) is durable:
            self._lose(durable, f"could not renew it for a whole lease period: {exc}")

    def _lose(self, durable: DurableRun, why: str) -> None:
        self.lost += 1
        logger.warning("run %s: lease lost, no longer executing it here: %s", durable.run_id, why)
        self._engine.release(durable, give_back=False)
