"""The open/closed state guard shared by the store implementations."""

from __future__ import annotations

import enum
from types import TracebackType

from typing_extensions import Self

from workflows.errors import StoreError

__all__ = ["StoreLifecycle"]


class _State(enum.Enum):
    UNOPENED = "unopened"
    OPEN = "open"
    CLOSED = "closed"


class StoreLifecycle:
    """Base class giving a store ``open()``/``close()``, ``async with`` and misuse errors.

    Subclasses implement ``_open()`` and ``_close()`` and call ``self._check_open()`` at
    the top of every operation.
    """

    _state: _State = _State.UNOPENED

    async def open(self) -> None:
        """Connect to the store and bring its schema up to date.

        Raises:
            StoreError: if the store is already open, or was closed (stores are not
                reopened: make a new one).
            StoreConnectionError: if the store cannot be reached.
            StoreSchemaError: if the store holds a newer schema than this library knows.
        """
        if self._state is _State.OPEN:
            raise StoreError(f"{self._label()} is already open")
        if self._state is _State.CLOSED:
            raise StoreError(f"{self._label()} is closed; create a new store to reopen it")
        await self._open()
        self._state = _State.OPEN

    async def close(self) -> None:
        """Release connections and threads. Closing twice is allowed."""
        if self._state is _State.OPEN:
            self._state = _State.CLOSED
            await self._close()
        self._state = _State.CLOSED

    @property
    def is_open(self) -> bool:
        """Whether the store is open for use."""
        return self._state is _State.OPEN

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def _check_open(self) -> None:
        if self._state is not _State.OPEN:
            if self._state is _State.CLOSED:
                raise StoreError(f"{self._label()} is closed")
            raise StoreError(
                f"{self._label()} is not open: use 'async with store:' or 'await store.open()'"
            )

    def _label(self) -> str:
        return "store"

    async def _open(self) -> None:
        raise NotImplementedError

    async def _close(self) -> None:
        raise NotImplementedError
