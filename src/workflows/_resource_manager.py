"""The :class:`ResourceManager`: builds resources on demand and keeps the cached ones.

Three rules decide what a step receives:

- a cached resource (``cache=True``) is built once per manager and shared by every step
  and every workflow instance that uses the manager; concurrent steps asking for it at
  the same time wait for the one build;
- an uncached resource is built again for each step invocation, but within one
  *resolution scope* (all the resources of one step call, and their dependencies) each is
  built once, so two parameters naming the same factory get the same object;
- a dependency cycle (``a`` needs ``b`` needs ``a``) raises ``ValueError`` before any
  factory on the cycle runs.

Which resources a task is resolving, and its scope, live in context variables, so steps
running at the same time never see each other's half-built state.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, MutableSet
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._resource_descriptor import ResourceDescriptor

# The open resolution scope of each manager in this task, by id(manager): the manager
# (kept so the id cannot be reused while the scope lives) and resource name -> value.
_Scopes = dict[int, tuple["ResourceManager", dict[str, Any]]]

_scopes: ContextVar[_Scopes | None] = ContextVar("workflows_resource_scopes", default=None)
# The resources this task is resolving, outermost first, as (manager, name).
_resolving: ContextVar[tuple[tuple[ResourceManager, str], ...]] = ContextVar(
    "workflows_resources_resolving", default=()
)


class _BuildLock:
    """Serialises the build of one cached resource; dropped once nobody holds it."""

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.users = 0


class ResourceManager:
    """Builds the resources steps ask for and keeps the cached ones.

    Every workflow has one (``Workflow(resource_manager=...)`` to share one between
    workflow instances, so they share cached resources). It can also be used directly::

        manager = ResourceManager()
        await manager.set("make_client", fake_client)  # steps now receive the fake
        client = await manager.get(Resource(make_client))

    Attributes:
        resources: the cached values by resource name (what ``get_all()`` returns).
    """

    def __init__(self) -> None:
        self.resources: dict[str, Any] = {}
        self._build_locks: dict[tuple[int, str], _BuildLock] = {}

    @contextmanager
    def resolution_scope(self) -> Iterator[None]:
        """Share uncached values among the ``get`` calls made inside the block.

        Nested scopes of the same manager join the outer one; the values are forgotten
        when the outermost block ends. ``get`` opens a scope of its own when none is open.
        """
        scopes = _scopes.get() or {}
        if id(self) in scopes:
            yield
            return
        token = _scopes.set({**scopes, id(self): (self, {})})
        try:
            yield
        finally:
            _scopes.reset(token)

    async def set(self, name: str, val: Any) -> None:
        """Store ``val`` as the cached value of the resource called ``name``.

        A cached resource of that name (a factory's ``__qualname__``, or a config's file
        name) is then never built by this manager: steps receive ``val``.
        """
        self.resources[name] = val

    async def get(self, resource: ResourceDescriptor) -> Any:
        """Return the value of ``resource``, building it (and its dependencies) if needed.

        Raises:
            ValueError: the resource depends on itself, directly or through others.
            Exception: whatever a factory or config loader raised.
        """
        with self.resolution_scope():
            _, scope = (_scopes.get() or {})[id(self)]
            return await self._get(resource, scope)

    def get_all(self) -> dict[str, Any]:
        """The cached values by resource name (the live mapping, not a copy)."""
        return self.resources

    async def _get(self, resource: ResourceDescriptor, scope: dict[str, Any]) -> Any:
        name = resource.name
        chain = [n for manager, n in _resolving.get() if manager is self]
        if name in chain:
            raise _cycle_error([*chain, name])
        if resource.cache and name in self.resources:
            return self.resources[name]
        if name in scope:
            return scope[name]
        cycle = self._find_cycle(resource, chain, scope, set())
        if cycle is not None:
            raise _cycle_error(cycle)
        if not resource.cache:
            return await self._build(resource, scope)
        key = (id(asyncio.get_running_loop()), name)
        entry = self._build_locks.get(key)
        if entry is None:
            entry = self._build_locks[key] = _BuildLock()
        entry.users += 1
        try:
            async with entry.lock:
                if name in self.resources:
                    value = self.resources[name]
                else:
                    value = await self._build(resource, scope)
                    await self.set(name, value)
        finally:
            entry.users -= 1
            if entry.users == 0:
                del self._build_locks[key]
        scope[name] = value
        return value

    async def _build(self, resource: ResourceDescriptor, scope: dict[str, Any]) -> Any:
        token = _resolving.set((*_resolving.get(), (self, resource.name)))
        try:
            value = await resource.resolve(self)
        finally:
            _resolving.reset(token)
        scope[resource.name] = value
        return value

    def _find_cycle(
        self,
        resource: ResourceDescriptor,
        path: list[str],
        scope: dict[str, Any],
        done: MutableSet[str],  # (``set`` here would name the method)
    ) -> list[str] | None:
        """A dependency cycle reachable from ``resource`` without building anything.

        Checking up front (rather than only while building) means a cycle never leaves
        two steps each waiting for the other's half of it.
        """
        name = resource.name
        if name in path:
            return [*path, name]
        if name in done or name in scope or (resource.cache and name in self.resources):
            return None
        path.append(name)
        for _param, dependency, _annotation in resource.get_dependencies():
            cycle = self._find_cycle(dependency, path, scope, done)
            if cycle is not None:
                return cycle
        path.pop()
        done.add(name)
        return None


def _cycle_error(names: list[str]) -> ValueError:
    return ValueError(f"Circular resource dependency detected: {' -> '.join(names)}")
