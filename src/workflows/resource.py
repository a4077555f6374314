"""Resources: objects a step receives by annotation instead of building them itself.

::

    def make_client() -> HttpClient:
        return HttpClient()

    class Fetch(Workflow):
        @step
        async def fetch(
            self, ev: StartEvent, client: Annotated[HttpClient, Resource(make_client)]
        ) -> StopEvent: ...

A factory may be a plain or an ``async`` function, and may itself take resources
(parameters annotated ``Annotated[T, Resource(...)]`` or ``Annotated[Model,
ResourceConfig(...)]``). With ``cache=True`` (the default) the factory runs once per
:class:`ResourceManager` -- one per workflow instance unless instances are given the same
one -- and every step shares the object; with ``cache=False`` it runs for every step
invocation. ``ResourceConfig`` fills a pydantic model from a JSON file.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict

from ._resource_checks import validate_step_resources
from ._resource_config import B, ResourceConfig
from ._resource_descriptor import ResourceDescriptor, _Resource
from ._resource_manager import ResourceManager

__all__ = [
    "B",
    "Resource",
    "ResourceConfig",
    "ResourceDefinition",
    "ResourceDescriptor",
    "ResourceManager",
    "T",
    "validate_step_resources",
]

T = TypeVar("T")


def Resource(factory: Callable[..., T], cache: bool = True) -> _Resource:
    """Declare a step parameter whose value ``factory`` builds.

    Args:
        factory: a function (plain or ``async``) returning the resource. Its parameters
            annotated ``Annotated[T, <resource>]`` receive those resources; others keep
            their defaults.
        cache: build once per resource manager and share the object (default), or build
            anew for each step invocation.

    Returns:
        A descriptor to place in ``Annotated[Type, ...]``; cached values are keyed by the
        factory's ``__qualname__``.

    Raises:
        TypeError: ``factory`` is not callable.

    Example::

        def get_memory() -> Memory:
            return Memory(user="user123")

        class MyWorkflow(Workflow):
            @step
            async def first(
                self, ev: StartEvent, memory: Annotated[Memory, Resource(get_memory)]
            ) -> StopEvent:
                memory.add("hello")
                return StopEvent(result="ok")
    """
    return _Resource(factory, cache)


class ResourceDefinition(BaseModel):
    """A resource a step asks for: one parameter annotated ``Annotated[T, descriptor]``.

    Attributes:
        name: the step parameter's name.
        resource: the descriptor that produces the value.
        type_annotation: the ``T`` of the annotation.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    name: str
    resource: ResourceDescriptor
    type_annotation: Any = None
