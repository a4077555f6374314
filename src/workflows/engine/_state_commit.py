"""What a durable commit writes of a run's state: only the top-level keys that changed.

The stores keep a run's state one row per top-level key (``StateChanges``); the
snapshot a commit writes leaves those entries out and names where they go. A state
whose entries are not an object's keys (a custom state type, a model written through a
codec, a ``DictState`` with a key that is not a plain string) or a serializer other
than the JSON one is written whole in the snapshot, as before.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from ..context.context import Context
from ..context.serializers import BaseSerializer
from ..context.state_store import DictState
from ..errors import ContextSerdeError
from ..runtime.host import (
    encodes_entries_as_json,
    registry_for,
    snapshot_to_dict,
    state_changes,
    state_value,
)
from ..stores import STATE_ROWS_KEY, StateChanges

__all__ = ["merge_state_changes", "snapshot_for_commit"]


def snapshot_for_commit(
    ctx: Context[Any], serializer: BaseSerializer, workflow_name: str, *, rows_stored: bool
) -> tuple[dict[str, Any], StateChanges | None]:
    """The snapshot a commit of ``ctx`` writes and the changes to its run's state rows.

    ``rows_stored``: the store holds this run's state rows as this process last wrote
    them (False for a run just created or loaded: then every key is written, after
    removing whatever rows the store has). The context's change log is not cleared
    here: call ``state_changes(ctx).taken()`` once the commit is queued.

    Raises:
        ContextSerdeError: the snapshot or a changed entry cannot be encoded.
    """
    state = state_value(ctx)
    log = state_changes(ctx)
    if encodes_entries_as_json(serializer):
        types = registry_for(ctx.workflow, serializer)
        layout = serializer.state_layout(state, types)
        if layout is not None:
            template, path = layout
            whole = log.whole or not rows_stored
            keys = _keys_of(state) if whole else list(log.touched_keys)
            try:
                entries = serializer.encode_entries(state, keys, types)
            except ContextSerdeError as exc:
                raise ContextSerdeError(f"state: {exc}") from None
            if entries is not None:
                snapshot = snapshot_to_dict(ctx, serializer, workflow_name, encoded_state=template)
                snapshot[STATE_ROWS_KEY] = ["state", *path]
                if whole:
                    return snapshot, StateChanges(reset=True, values=entries)
                deleted = {key: None for key in log.removed}
                deleted.update((key, None) for key in keys if key not in entries)
                return snapshot, StateChanges(deleted=tuple(deleted), values=entries)
    snapshot = snapshot_to_dict(ctx, serializer, workflow_name)
    return snapshot, (StateChanges(reset=True) if rows_stored else None)


def merge_state_changes(
    earlier: StateChanges | None, later: StateChanges | None
) -> StateChanges | None:
    """The state changes of two commits of one run folded into one (``later`` wins)."""
    if earlier is None or later is None or later.reset:
        return later if later is not None else earlier
    values = dict(earlier.values)
    deleted = dict.fromkeys(earlier.deleted)
    for key in later.deleted:
        values.pop(key, None)
        deleted[key] = None
    values.update(later.values)
    return StateChanges(earlier.reset, tuple(deleted), values)


def _keys_of(state: Any) -> list[str]:
    """Every top-level key of a state with entries."""
    if isinstance(state, DictState):
        return list(state.to_dict())
    assert isinstance(state, BaseModel)
    return [*type(state).model_fields, *(state.__pydantic_extra__ or {})]
