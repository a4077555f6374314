"""Resources: objects a step receives by annotation instead of building them itself.

::

    def make_client() -> HttpClient:
        return HttpClient()

    class Fetch(Workflow):
        @step
        async def fetch(
            self, ev: StartEvent, client: Annotated[HttpClient, Resource(make_client)]
        ) -> StopEvent: ...

With ``cache=True`` (the default) the factory runs once per workflow instance and every
step shares the object; with ``cache=False`` it runs for every step invocation. A factory
may be a plain function or an ``async`` function.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from typing import Any, Generic, TypeVar

__all__ = ["Resource", "ResourceManager"]

T = TypeVar("T")


class Resource(Generic[T]):
    """Marks a step parameter as a resource built by ``factory``.

    Args:
        factory: a callable (sync or async) taking no arguments that returns the resource.
        cache: share one instance across the workflow's steps (default) or build one per
            step invocation.
    """

    def __init__(self, factory: Callable[[], T], cache: bool = True) -> None:
        if not callable(factory):
            raise TypeError(f"Resource factory must be callable, got {factory!r}")
        self.factory = factory
        self.cache = cache
        self.name = getattr(factory, "__qualname__", repr(factory))

    def __repr__(self) -> str:
        return f"Resource({self.name}, cache={self.cache})"


class ResourceManager:
    """Builds resources and keeps the cached ones; one per workflow instance."""

    def __init__(self) -> None:
        self._cache: dict[int, Any] = {}
        self._locks: dict[int, asyncio.Lock] = {}

    async def get(self, resource: Resource[Any]) -> Any:
        """Return the resource's value, building it if needed."""
        if not resource.cache:
            return await _build(resource)
        key = id(resource.factory)
        if key in self._cache:
            return self._cache[key]
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            if key not in self._cache:
                self._cache[key] = await _build(resource)
        return self._cache[key]


async def _build(resource: Resource[Any]) -> Any:
    value = resource.factory()
    if inspect.isawaitable(value):
        value = await value
    return value
