"""The run's state store: ``ctx.store``.

The state is either a :class:`DictState` (the default: a dictionary that also allows
attribute access) or the pydantic model named by ``Context[Model]`` in a step signature,
built from its defaults. Paths are dot-separated: ``await ctx.store.get("a.b.c")``.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator, Callable, Iterator, MutableMapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, Generic, Protocol, TypeVar, runtime_checkable

from pydantic import BaseModel, ValidationError

from ..errors import ContextStateError

__all__ = ["MODEL_T", "DictState", "InMemoryStateStore", "StateChangeLog", "StateStore"]

StateT = TypeVar("StateT")
MODEL_T = TypeVar("MODEL_T")
"""The type of a state store's state (``DictState`` or a pydantic model)."""

_MISSING: Any = object()


class DictState(MutableMapping[str, Any]):
    """The default state: a dictionary whose keys can also be read as attributes."""

    __slots__ = ("_data",)

    def __init__(self, data: dict[str, Any] | None = None, **kwargs: Any) -> None:
        object.__setattr__(self, "_data", dict(data or {}, **kwargs))

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self._data[key] = value

    def __delitem__(self, key: str) -> None:
        del self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __getattr__(self, name: str) -> Any:
        try:
            return self._data[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name: str, value: Any) -> None:
        self._data[name] = value

    def __delattr__(self, name: str) -> None:
        try:
            del self._data[name]
        except KeyError:
            raise AttributeError(name) from None

    def __repr__(self) -> str:
        return f"DictState({self._data!r})"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, DictState):
            return self._data == other._data
        if isinstance(other, dict):
            return self._data == other
        return NotImplemented

    def __reduce__(self) -> tuple[Any, ...]:
        return (DictState, (self._data,))

    def __deepcopy__(self, memo: dict[int, Any]) -> DictState:
        return DictState(copy.deepcopy(self._data, memo))

    def to_dict(self) -> dict[str, Any]:
        """The state as a plain dictionary (not a copy)."""
        return self._data


def _child(container: Any, key: str) -> Any:
    if isinstance(container, (dict, DictState)):
        return container[key]
    if isinstance(container, BaseModel):
        if key in type(container).model_fields or (
            container.__pydantic_extra__ is not None and key in container.__pydantic_extra__
        ):
            return getattr(container, key)
        raise KeyError(key)
    if isinstance(container, (list, tuple)) and key.lstrip("-").isdigit():
        try:
            return container[int(key)]
        except IndexError:
            raise KeyError(key) from None
    raise KeyError(key)


def _set_child(container: Any, key: str, value: Any, path: str) -> None:
    if isinstance(container, (dict, DictState)):
        container[key] = value
    elif isinstance(container, BaseModel):
        try:
            setattr(container, key, value)
        except (ValidationError, ValueError, AttributeError) as exc:
            raise ContextStateError(f"cannot set state path {path!r}: {exc}") from exc
    elif isinstance(container, list) and key.lstrip("-").isdigit():
        try:
            container[int(key)] = value
        except IndexError:
            raise ContextStateError(f"cannot set state path {path!r}: index out of range") from None
    else:
        raise ContextStateError(
            f"cannot set state path {path!r}: {type(container).__name__} holds no keys"
        )


_SCALARS = (int, float, str, bool, type(None), bytes)


def _draft_of(state: Any) -> Any:
    """A copy to edit: shallow when every value is an immutable scalar (the common
    counters-and-flags state), deep otherwise. Both keep the edit all-or-nothing."""
    if isinstance(state, DictState):
        data = state.to_dict()
        if all(type(v) in _SCALARS for v in data.values()):
            return DictState(data)
    elif (
        isinstance(state, BaseModel)
        and not state.__pydantic_extra__
        and all(type(v) in _SCALARS for v in state.__dict__.values())
    ):
        return state.model_copy()
    return copy.deepcopy(state)


@runtime_checkable
class StateStore(Protocol[MODEL_T]):
    """What ``ctx.store`` offers; implement it to keep a context's state elsewhere.

    Paths are dot-separated (``"a.b.c"``); ``get`` raises ``ValueError`` for a missing
    path unless given a ``default``.
    """

    async def get_state(self) -> MODEL_T:
        """A copy of the whole state."""
        ...

    async def set_state(self, state: MODEL_T) -> None:
        """Replace the whole state."""
        ...

    async def get(self, path: str, default: Any = ...) -> Any:
        """The value at ``path``."""
        ...

    async def set(self, path: str, value: Any) -> None:
        """Set the value at ``path``, creating intermediate dictionaries."""
        ...

    async def clear(self) -> None:
        """Reset the state to a fresh instance of its type."""
        ...

    def edit_state(self) -> AbstractAsyncContextManager[MODEL_T]:
        """Edit the state in place inside ``async with``, atomically."""
        ...


class InMemoryStateStore(Generic[StateT]):
    """The state of one context; every method is safe to call from concurrent steps.

    ``edit_state()`` holds the store's lock for the whole block, so its read-modify-write
    is atomic with respect to every other store call.
    """

    def __init__(self, initial_state: StateT, factory: Any = None) -> None:
        self._state = initial_state
        self._factory = factory if factory is not None else type(initial_state)
        self._lock: asyncio.Lock | None = None
        self._skip_write: Callable[[], bool] | None = None
        """Set by the context: True for a write a restored step already made (replay)."""
        self._changes = StateChangeLog()
        """The top-level keys changed since the last durable commit took them."""

    def _replaying(self) -> bool:
        return self._skip_write is not None and self._skip_write()

    @property
    def _guard(self) -> asyncio.Lock:
        if self._lock is None:
            self._lock = asyncio.Lock()
        return self._lock

    @property
    def state_type(self) -> type[Any]:
        """The class of the state (``DictState`` or the ``Context[Model]`` model)."""
        return type(self._state)

    def _read(self, path: str, default: Any) -> Any:
        if not isinstance(path, str) or not path:
            raise ValueError(f"state path must be a non-empty string, got {path!r}")
        node: Any = self._state
        for segment in path.split("."):
            try:
                node = _child(node, segment)
            except KeyError:
                if default is _MISSING:
                    raise ValueError(f"state path {path!r} not found (at {segment!r})") from None
                return default
        if type(node) not in _SCALARS:
            # Handed out as it is (no copy): the caller may change it in place, so its
            # key is written again at the next commit.
            self._changes.touched(path.partition(".")[0])
        return node

    async def get(self, path: str, default: Any = _MISSING) -> Any:
        """Return the value at the dot path ``path``.

        Raises:
            ValueError: the path does not exist and no ``default`` was given.
        """
        guard = self._guard
        if guard.locked():
            async with guard:
                return self._read(path, default)
        return self._read(path, default)

    def _write(self, path: str, value: Any) -> None:
        if not isinstance(path, str) or not path:
            raise ValueError(f"state path must be a non-empty string, got {path!r}")
        *parents, last = path.split(".")
        node: Any = self._state
        for segment in parents:
            try:
                node = _child(node, segment)
            except KeyError:
                fresh: dict[str, Any] = {}
                _set_child(node, segment, fresh, path)
                node = fresh
        _set_child(node, last, value, path)

    async def set(self, path: str, value: Any) -> None:
        """Set the value at the dot path ``path``, creating missing parents as dicts."""
        if self._replaying():
            return
        async with self._guard:
            self._write(path, value)
            self._changes.touched(path.partition(".")[0])

    async def get_state(self) -> StateT:
        """Return a deep copy of the whole state."""
        async with self._guard:
            return copy.deepcopy(self._state)

    async def set_state(self, state: StateT) -> None:
        """Replace the whole state (it must be of the store's state type)."""
        if isinstance(state, dict) and isinstance(self._state, DictState):
            state = DictState(state)  # type: ignore[assignment]
        if type(state) is not type(self._state):
            raise ContextStateError(
                f"state must be a {type(self._state).__name__}, got {type(state).__name__}"
            )
        if self._replaying():
            return
        async with self._guard:
            self._state = state
            self._changes.replaced()

    async def clear(self) -> None:
        """Reset the state to a fresh default instance."""
        if self._replaying():
            return
        async with self._guard:
            self._state = self._factory()
            self._changes.replaced()

    @asynccontextmanager
    async def edit_state(self) -> AsyncIterator[StateT]:
        """Hold the store exclusively and yield the state to modify in place.

        The changes are kept only if the block completes: an exception inside it leaves
        the state as it was.

        ::

            async with ctx.store.edit_state() as state:
                state.counter += 1
        """
        replaying = self._replaying()
        async with self._guard:
            draft = _draft_of(self._state)
            yield draft
            if not replaying:  # a restored step re-running an edit it already made
                self._changes.compared(self._state, draft)
                self._state = draft

    # -- used by snapshots -------------------------------------------------------------
    def _snapshot_state(self) -> StateT:
        return self._state

    def _restore_state(self, state: StateT) -> None:
        self._state = state
        self._changes.replaced()


class StateChangeLog:
    """Which top-level keys of a state changed since the last durable commit took them.

    Kept by every state store at the cost of one set insertion per write; the durable
    engine reads it at a step boundary to write only the changed keys, then calls
    :meth:`taken`.
    """

    __slots__ = ("removed", "touched_keys", "whole")

    def __init__(self) -> None:
        self.touched_keys: dict[str, None] = {}
        """Keys written (or handed out mutable), in the order first touched."""
        self.removed: set[str] = set()
        """Keys deleted (some may have been written again since: see ``touched_keys``)."""
        self.whole = True
        """The state was replaced (or never taken): every key must be written."""

    def touched(self, key: str) -> None:
        """``key`` may have changed."""
        self.touched_keys[key] = None

    def replaced(self) -> None:
        """The whole state was replaced."""
        self.whole = True
        self.touched_keys.clear()
        self.removed.clear()

    def compared(self, before: Any, after: Any) -> None:
        """Record what an edit changed: ``after`` is an edited copy of ``before``."""
        old, new = _entries(before), _entries(after)
        if old is None or new is None:
            self.replaced()
            return
        if len(old) != len(new) or list(old) != list(new):
            gone = [key for key in old if key not in new]
            kept_order = [key for key in new if key in old]
            if kept_order != [key for key in old if key in new]:
                self.replaced()  # keys moved (deleted and added again): rewrite all
                return
            for key in gone:
                self.removed.add(key)
                self.touched_keys.pop(key, None)
        for key, value in new.items():
            was = old.get(key, _MISSING)
            if was is not value and (was is _MISSING or not _same(was, value)):
                self.touched_keys[key] = None

    def taken(self) -> None:
        """A commit holds every change recorded so far."""
        self.whole = False
        self.touched_keys.clear()
        self.removed.clear()


def _entries(state: Any) -> dict[str, Any] | None:
    """The top-level entries of a state, or None for a state without keys."""
    if isinstance(state, DictState):
        return state.to_dict()
    if isinstance(state, BaseModel):
        extra = state.__pydantic_extra__
        return {**state.__dict__, **extra} if extra else state.__dict__
    return None


def _same(a: Any, b: Any) -> bool:
    try:
        return bool(a == b)
    except Exception:  # a value whose comparison fails or is ambiguous (arrays)
        return False
