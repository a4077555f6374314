"""What a resource is to the manager: the :class:`ResourceDescriptor` protocol, and the
descriptor built from a factory function (what ``Resource(factory)`` returns).

A factory may itself take resources: each of its parameters annotated
``Annotated[T, <descriptor>]`` is a dependency, resolved through the same manager before
the factory is called.
"""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any, Generic, Protocol, TypeVar, runtime_checkable

if TYPE_CHECKING:
    from ._resource_manager import ResourceManager

T = TypeVar("T")

Dependency = tuple[str, "ResourceDescriptor", Any]
"""One dependency of a descriptor: (parameter name, its descriptor, the annotated type)."""


@runtime_checkable
class ResourceDescriptor(Protocol):
    """How the :class:`~workflows.resource.ResourceManager` sees any resource.

    ``Resource(factory)`` and ``ResourceConfig(...)`` return descriptors; any object with
    these members placed in ``Annotated[T, descriptor]`` on a step parameter is one too.
    """

    @property
    def name(self) -> str:
        """Key under which the value is cached, and the label in cycle errors."""
        ...

    @property
    def cache(self) -> bool:
        """True to build the value once per manager, False to build it per step call."""
        ...

    async def resolve(self, manager: ResourceManager) -> Any:
        """Build the value; dependencies are fetched with ``await manager.get(dep)``."""
        ...

    def set_type_annotation(self, type_annotation: Any) -> None:
        """Receive ``T`` from the ``Annotated[T, ...]`` the descriptor was found in."""
        ...

    def set_localns(self, localns: dict[str, Any] | None) -> None:
        """Receive the namespace used to resolve postponed annotations of a factory."""
        ...

    def get_dependencies(self) -> list[tuple[str, ResourceDescriptor, type | None]]:
        """The resources this one needs, as (parameter, descriptor, annotated type)."""
        ...


class _Resource(Generic[T]):
    """A resource built by calling ``factory`` (sync or async); see ``Resource()``."""

    def __init__(self, factory: Callable[..., Any], cache: bool) -> None:
        if not callable(factory):
            raise TypeError(f"Resource factory must be callable, got {factory!r}")
        self.factory = factory
        self.cache = cache
        self.name: str = getattr(factory, "__qualname__", type(factory).__name__)
        self._localns: dict[str, Any] | None = None
        self._dependencies: list[Dependency] | None = None

    def __repr__(self) -> str:
        return f"Resource({self.name}, cache={self.cache})"

    async def resolve(self, manager: ResourceManager) -> T:
        """Fetch the factory's dependencies from ``manager``, then call the factory."""
        kwargs: dict[str, Any] = {}
        for param, dependency, annotation in self.get_dependencies():
            dependency.set_type_annotation(annotation)
            dependency.set_localns(self._localns)
            kwargs[param] = await manager.get(dependency)
        value = self.factory(**kwargs)
        # A plain callable may hand back a coroutine (a lambda or partial over an async
        # function); the resource is what it produces, never the coroutine itself.
        if inspect.iscoroutine(value):
            value = await value
        return typing.cast(T, value)

    def set_type_annotation(self, type_annotation: Any) -> None:
        """Ignored: a factory decides the type of what it builds."""
        return None

    def set_localns(self, localns: dict[str, Any] | None) -> None:
        """Remember the namespace used to resolve the factory's postponed annotations."""
        if localns is not self._localns:
            self._localns = localns
            self._dependencies = None

    def get_dependencies(self) -> list[tuple[str, ResourceDescriptor, type | None]]:
        """The factory's parameters annotated ``Annotated[T, <descriptor>]``, in order.

        Annotations that cannot be resolved yet are skipped (and looked at again on the
        next call), so such a parameter is left to its default.
        """
        if self._dependencies is not None:
            return list(self._dependencies)
        hints, complete = _factory_hints(self.factory, self._localns)
        found: list[Dependency] = []
        for param in _parameters(self.factory):
            annotation = hints.get(param.name, param.annotation)
            descriptor = descriptor_in(annotation)
            if descriptor is not None:
                dependency_type = typing.get_args(annotation)[0]
                descriptor.set_type_annotation(dependency_type)
                descriptor.set_localns(self._localns)
                found.append((param.name, descriptor, dependency_type))
        if complete:
            self._dependencies = found
        return list(found)


def descriptor_in(annotation: Any) -> ResourceDescriptor | None:
    """The first resource descriptor in an ``Annotated[T, ...]`` annotation, else None."""
    if typing.get_origin(annotation) is not Annotated:
        return None
    for meta in typing.get_args(annotation)[1:]:
        if isinstance(meta, ResourceDescriptor):
            return meta
    return None


def _parameters(factory: Callable[..., Any]) -> list[inspect.Parameter]:
    try:
        return list(inspect.signature(factory).parameters.values())
    except (TypeError, ValueError):  # builtins without a signature take no resources
        return []


def _factory_hints(
    factory: Callable[..., Any], localns: dict[str, Any] | None
) -> tuple[dict[str, Any], bool]:
    """The factory's resolved annotations, and whether all of them could be resolved."""
    targets: list[Any] = []
    if isinstance(factory, functools.partial):
        targets.append(factory.func)
    elif inspect.isclass(factory):
        # A class is called through __init__, whose parameters are what it receives; a
        # pydantic model or dataclass declares them as class annotations instead.
        targets.extend([getattr(factory, "__init__", None), factory])
    elif inspect.isroutine(factory):
        targets.append(factory)
    else:
        targets.append(type(factory).__call__)
    hints: dict[str, Any] = {}
    complete = True
    for target in targets:
        namespace = localns
        if namespace:
            # Names of the factory's own module win over the step's enclosing scope.
            own = getattr(inspect.unwrap(target), "__globals__", {})
            namespace = {k: v for k, v in namespace.items() if k not in own}
        try:
            hints.update(typing.get_type_hints(target, localns=namespace, include_extras=True))
        except NameError:
            complete = False
        except Exception:  # not introspectable: treat as taking no resources
            continue
    return hints, complete
