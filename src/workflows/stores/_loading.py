"""What loading a run reads, in one record: :class:`LoadedRun` (``RunStore.load_many``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from workflows.errors import CorruptRecordError, RunNotFoundError
from workflows.stores._records import InboundEvent, InputRequest, RunRecord

__all__ = ["LoadedRun", "loaded_run"]


@dataclass(frozen=True, slots=True)
class LoadedRun:
    """A run with everything needed to resume it, read together (``load_many``).

    Attributes:
        run: The run as :meth:`~workflows.stores.RunStore.get_run` returns it; marked
            (``corrupt``, as a listing marks it) when its values cannot be decoded.
        inbound: Its unconsumed inbound events, oldest first (as ``list_inbound``);
            empty when one of them cannot be decoded (see ``damage``).
        requests: Every input request of the run, any status, newest first (as
            ``list_requests(run_id=..., status=None)``; damaged ones marked).
        damage: ``None`` for an intact run; else what ``get_run`` (first) or
            ``list_inbound`` would have raised for it.
    """

    run: RunRecord
    inbound: list[InboundEvent]
    requests: list[InputRequest]
    damage: CorruptRecordError | None = None


def loaded_run(
    read_run: Callable[[], RunRecord],
    read_inbound: Callable[[], list[InboundEvent]],
    read_requests: Callable[[], list[InputRequest]],
) -> LoadedRun | None:
    """Build a :class:`LoadedRun` from a store's own single reads (strict ones that
    raise ``CorruptRecordError``), or None when the run does not exist."""
    damage: CorruptRecordError | None = None
    try:
        run = read_run()
    except RunNotFoundError:
        return None
    except CorruptRecordError as exc:
        assert exc.record is not None
        run, damage = exc.record, exc
    try:
        inbound = read_inbound()
    except CorruptRecordError as exc:
        inbound, damage = [], damage or exc
    return LoadedRun(run, inbound, read_requests(), damage)
