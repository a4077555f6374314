"""Changing a stored snapshot from outside the run: its state (a JSON merge patch or a
replacement, validated by restoring the snapshot as a resume would) and, for a run
continued later than the snapshot was taken, the deadlines of its waits."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..context.context import Context
from ..context.serializers import BaseSerializer
from ..errors import ContextSerdeError, WorkflowValidationError
from ..runtime.host import registry_for, snapshot_from_dict, snapshot_to_dict
from ..workflow import Workflow

__all__ = ["UNSET", "edited_snapshot", "merge_patch", "with_deadlines_moved"]

UNSET: Any = object()
"""``patch`` / ``replace`` not given (``None`` is a value: a patch of ``null``)."""


def merge_patch(target: Any, patch: Any) -> Any:
    """``target`` changed by the JSON merge patch ``patch`` (RFC 7386): objects merge
    key by key, ``null`` removes a key, anything else replaces. Neither is changed."""
    if not isinstance(patch, dict):
        return patch
    merged = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = merge_patch(merged.get(key), value)
    return merged


def _fields_of(encoded: Any) -> tuple[dict[str, Any], Callable[[dict[str, Any]], Any]]:
    """The JSON object of a stored state's fields (a model's ``data``, or the entries of
    an untyped state) and how to put changed fields back.

    Raises:
        WorkflowValidationError: the stored state is no such object (a custom state
            type or serializer): only a replacement by an object can change it.
    """
    if isinstance(encoded, dict) and "$model" in encoded and isinstance(encoded.get("data"), dict):
        return encoded["data"], lambda fields: {**encoded, "data": fields}
    if isinstance(encoded, dict) and not any(str(key).startswith("$") for key in encoded):
        return encoded, lambda fields: fields
    raise WorkflowValidationError(
        "the run's state is not stored as a JSON object of fields (a custom state type or "
        "serializer): it can be replaced by a state object, not patched"
    )


def edited_snapshot(
    snapshot: dict[str, Any],
    workflow: Workflow,
    workflow_name: str,
    serializer: BaseSerializer,
    *,
    patch: Any = UNSET,
    replace: Any = UNSET,
) -> dict[str, Any]:
    """``snapshot`` (a whole one) with its state changed, restored and written again, so
    that it is exactly what a run with that state would commit.

    ``patch`` is a JSON merge patch of the state's fields (an untyped state's keys, a
    typed state's model fields, as JSON); ``replace`` the whole state: a dict of its
    fields, or a state object (the ``Context[Model]`` model, a ``DictState``).

    Raises:
        WorkflowValidationError: neither or both given, a patch that is not an object,
            or a state that does not fit the workflow's state type (typed states are
            validated by their model).
    """
    if (patch is UNSET) == (replace is UNSET):
        raise WorkflowValidationError("give exactly one of patch= and replace=")
    encoded = snapshot.get("state")
    if patch is not UNSET:
        if not isinstance(patch, dict):
            raise WorkflowValidationError(
                f"a state patch must be a JSON object, got {type(patch).__name__}"
            )
        fields, rebuild = _fields_of(encoded)
        new_state = rebuild(merge_patch(fields, patch))
    elif isinstance(replace, dict):
        new_state = _fields_of(encoded)[1](dict(replace))
    else:
        try:
            new_state = serializer.encode(replace, registry_for(workflow, serializer))
        except ContextSerdeError as exc:
            raise WorkflowValidationError(f"the new state cannot be stored: {exc}") from None
    candidate = {**snapshot, "state": new_state}
    try:
        ctx: Context[Any] = snapshot_from_dict(
            Context, workflow, candidate, serializer, workflow_name
        )
        return snapshot_to_dict(ctx, serializer, workflow_name)
    except ContextSerdeError as exc:
        raise WorkflowValidationError(f"the new state does not fit: {exc}") from None


def with_deadlines_moved(snapshot: dict[str, Any], by: float) -> dict[str, Any]:
    """``snapshot`` with the deadline of every wait moved ``by`` seconds (a run continued
    ``by`` seconds after the snapshot was taken keeps the time its waits had left)."""
    waiters = snapshot.get("waiters") or []
    if not any(waiter.get("deadline") is not None for waiter in waiters):
        return snapshot
    moved = [
        {**waiter, "deadline": waiter["deadline"] + by}
        if waiter.get("deadline") is not None
        else waiter
        for waiter in waiters
    ]
    return {**snapshot, "waiters": moved}
