"""Checkpoint history: which commits of a run are kept (:class:`Retention`), and how
each kept one is written (:class:`CheckpointChain`: whole, or as a delta).

A kept checkpoint holds the run's whole snapshot as the commit left it, its state
included (a commit itself may write only the state keys that changed). Consecutive
checkpoints are written as deltas against the one before (``_json_delta``) while that
is worth it: a checkpoint is written whole when the run has none in memory to build on
(after a load), when a whole copy costs at most twice the delta, when the deltas since
the last whole one would together cost more than it, or every :data:`MAX_CHAIN`
checkpoints, so reading one back never applies more than that many deltas.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from ..errors import WorkflowConfigurationError
from ..stores import STATE_ROWS_KEY, CheckpointWrite, StateChanges
from ._json_delta import delta

__all__ = [
    "MAX_CHAIN",
    "CheckpointChain",
    "Retention",
    "StateMirror",
    "checkpoint_meta",
    "open_requests",
    "request_suffixes",
]

logger = logging.getLogger("workflows.engine")

MAX_CHAIN = 64
"""Most deltas between two whole checkpoints of a run."""

_MAX_CAUSES = 16
"""Most boundary causes a checkpoint names (a fast run may fold many into one commit)."""

_encoder = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)


@dataclass(frozen=True)
class Retention:
    """Which committed boundaries of a run are kept as checkpoints.

    ``Retention.parse`` reads the forms an :class:`~workflows.engine.Engine` accepts:

    - ``"none"`` (the default): no checkpoint; commits cost what they cost without
      history. Edits (``update_state``) and forks are recorded all the same.
    - ``"all"``: every commit.
    - ``"waits"``: only commits that leave the run waiting for outside input (a person).
    - ``"last N"`` (or ``"last:N"``): every commit, keeping the newest ``N`` (and the
      older ones their deltas start from, which are not listed).

    Attributes:
        keep: ``none``, ``all``, ``waits`` or ``last``.
        count: ``N`` for ``last``, else ``None``.
    """

    keep: Literal["none", "all", "waits", "last"] = "none"
    count: int | None = None

    def __post_init__(self) -> None:
        if self.keep not in ("none", "all", "waits", "last"):
            raise WorkflowConfigurationError(f"unknown history retention {self.keep!r}")
        if (self.keep == "last") != (self.count is not None):
            raise WorkflowConfigurationError("history 'last' needs a count, and only it takes one")
        if self.count is not None and (type(self.count) is not int or self.count < 1):
            raise WorkflowConfigurationError(f"history 'last N' needs N >= 1, got {self.count!r}")

    @classmethod
    def parse(cls, value: Retention | str | None) -> Retention:
        """The retention ``value`` names (``None``: ``none``).

        Raises:
            WorkflowConfigurationError: a value that is none of the forms above.
        """
        if isinstance(value, Retention):
            return value
        if value is None:
            return cls()
        if not isinstance(value, str):
            raise WorkflowConfigurationError(f"history must be a string, got {value!r}")
        text = value.strip().lower()
        if text.startswith("last"):
            number = text[4:].strip().lstrip(":=").strip()
            if not number.isdigit():
                raise WorkflowConfigurationError(
                    f"history {value!r}: expected 'last N' with a number N >= 1"
                )
            return cls("last", int(number))
        if text not in ("none", "all", "waits"):
            raise WorkflowConfigurationError(
                f"unknown history {value!r} (expected none, all, waits or 'last N')"
            )
        return cls(text)  # type: ignore[arg-type]

    @property
    def enabled(self) -> bool:
        """True unless ``none``: the run's boundaries build checkpoints."""
        return self.keep != "none"

    def keeps(self, status: str) -> bool:
        """Whether a commit leaving the run ``status`` is kept."""
        if self.keep == "waits":
            return status == "waiting"
        return self.keep != "none"

    def __str__(self) -> str:
        return f"last {self.count}" if self.keep == "last" else self.keep


class StateMirror:
    """The encoded entries of a run's state as its state rows hold them, kept up to date
    from each boundary's :class:`StateChanges`, so that a checkpoint can hold the whole
    snapshot while the commit writes only the keys that changed."""

    def __init__(self) -> None:
        self.entries: dict[str, Any] = {}

    def whole(self, snapshot: dict[str, Any], changes: StateChanges | None) -> dict[str, Any]:
        """The whole snapshot of a boundary whose commit writes ``snapshot`` and
        ``changes``; records the changes. Shares everything it does not change."""
        entries = self.entries
        if changes is not None:
            if changes.reset:
                entries.clear()
            for key in changes.deleted:
                entries.pop(key, None)
            entries.update(changes.values)
        path = snapshot.get(STATE_ROWS_KEY)
        if path is None:
            return snapshot
        full = {key: value for key, value in snapshot.items() if key != STATE_ROWS_KEY}
        node = full
        for name in path[:-1]:
            node[name] = dict(node[name])
            node = node[name]
        node[path[-1]] = dict(entries)
        return full


class CheckpointChain:
    """Writes one run's kept checkpoints: remembers the last one written (in memory) to
    build the next one's delta on.

    Call :meth:`write` when a commit is built, then :meth:`committed` once it is in the
    store, or :meth:`reset` when it failed (the next one is then written whole).
    """

    def __init__(self) -> None:
        self._base: dict[str, Any] | None = None
        self._length = 0  # deltas since the last whole checkpoint
        self._anchor = 0
        self._full_bytes = 0
        self._chain_bytes = 0
        self._pending: tuple[dict[str, Any], int, bool, int] | None = None

    def write(
        self, seq: int, snapshot: dict[str, Any], meta: dict[str, Any], keep_last: int | None
    ) -> CheckpointWrite | None:
        """The checkpoint ``seq`` holding ``snapshot`` (a whole one), or ``None`` when it
        cannot be encoded (logged; the commit goes on without it)."""
        try:
            body, whole = self._body(snapshot)
        except (TypeError, ValueError, RecursionError) as exc:
            logger.warning("checkpoint %d not kept: %s", seq, exc)
            self.reset()
            return None
        self._pending = (snapshot, seq, whole, len(body))
        anchor = seq if whole else self._anchor
        kind: Literal["full", "delta"] = "full" if whole else "delta"
        return CheckpointWrite(seq, kind, anchor, body, meta, keep_last)

    def _body(self, snapshot: dict[str, Any]) -> tuple[str, bool]:
        base = self._base
        if base is not None and self._length < MAX_CHAIN:
            text = _encoder.encode(delta(base, snapshot))
            size = len(text)
            if 2 * size < self._full_bytes and self._chain_bytes + size <= self._full_bytes:
                return text, False
        return _encoder.encode(snapshot), True

    def committed(self) -> None:
        """The checkpoint last written is in the store: the next one builds on it."""
        if self._pending is None:
            return
        snapshot, seq, whole, size = self._pending
        self._pending = None
        self._base = snapshot
        if whole:
            self._anchor, self._length, self._full_bytes, self._chain_bytes = seq, 0, size, 0
        else:
            self._length += 1
            self._chain_bytes += size

    def reset(self) -> None:
        """Forget the base: the next checkpoint is written whole."""
        self._base = None
        self._pending = None


def checkpoint_meta(
    causes: Sequence[str], requests: list[str] | None, **extra: Any
) -> dict[str, Any]:
    """The ``meta`` of a checkpoint: the boundaries it folds in (the latest
    :data:`_MAX_CAUSES`, with how many there were), the input requests open in it (their
    ids without the run id: see :func:`request_suffixes`), and ``extra`` facts (who
    changed the state and why, where a fork comes from)."""
    meta: dict[str, Any] = {"causes": list(causes[-_MAX_CAUSES:])}
    if len(causes) > _MAX_CAUSES:
        meta["folded"] = len(causes)
    if requests:
        meta["requests"] = requests
    meta.update((key, value) for key, value in extra.items() if value is not None)
    return meta


def request_suffixes(run_id: str, request_ids: Iterable[str]) -> list[str]:
    """Request ids of ``run_id`` as a checkpoint's meta keeps them: without the
    ``"<run id>:"`` every one of them starts with (a fork's are the same)."""
    cut = len(run_id) + 1
    return [request_id[cut:] for request_id in request_ids]


def open_requests(run_id: str, meta: dict[str, Any]) -> list[str]:
    """The ids of the input requests of ``run_id`` open in a checkpoint with ``meta``."""
    kept = meta.get("requests")
    if not isinstance(kept, list):
        return []
    return [f"{run_id}:{suffix}" for suffix in kept if isinstance(suffix, str)]
