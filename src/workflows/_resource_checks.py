"""The resource part of ``Workflow.validate()``: load every config, optionally build every
resource, and report each failure with the step and parameter it concerns."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from ._resource_config import _ResourceConfig
from .errors import WorkflowValidationError

if TYPE_CHECKING:
    from ._resource_descriptor import ResourceDescriptor
    from ._resource_manager import ResourceManager
    from .workflow import Workflow

_R = TypeVar("_R")

StepResources = Mapping[str, Mapping[str, "ResourceDescriptor"]]
"""Step name -> (parameter name -> descriptor)."""


def validate_step_resources(
    workflow: Workflow, *, configs: bool = True, resources: bool = False
) -> None:
    """Check the resources of ``workflow``'s steps, as ``Workflow.validate()`` does.

    Args:
        workflow: the workflow whose steps (and resource manager) to check.
        configs: load every ``ResourceConfig`` (also those factories depend on) and
            validate it into its model. Nothing is cached.
        resources: build every step resource through the workflow's resource manager,
            which keeps the cached ones for the runs to come. Factories run in a fresh
            event loop (in a helper thread when called from a running loop).

    Raises:
        WorkflowValidationError: ``"Resource config validation failed:"`` or
            ``"Resource validation failed:"`` followed by one ``"  - In step 's',
            parameter 'p': <error>"`` line per problem.
    """
    steps: StepResources = {name: spec.resources for name, spec in workflow._get_steps().items()}
    if configs:
        _raise_if("Resource config validation failed:", config_errors(steps))
    if resources:
        manager = workflow._resource_manager
        _raise_if("Resource validation failed:", _run(resolution_errors(steps, manager)))


def config_errors(steps: StepResources) -> list[str]:
    """One message per ``ResourceConfig`` that does not load, each named once."""

    pending = [
        _Where(descriptor, step, param, (descriptor.name,))
        for step, params in steps.items()
        for param, descriptor in params.items()
    ]
    errors: list[str] = []
    seen: set[str] = set()
    while pending:
        where = pending.pop()
        if where.resource.name in seen:
            continue
        seen.add(where.resource.name)
        for _param, dependency, annotation in where.resource.get_dependencies():
            dependency.set_type_annotation(annotation)
            pending.append(
                _Where(dependency, where.step, where.param, (*where.chain, dependency.name))
            )
        if isinstance(where.resource, _ResourceConfig):
            try:
                where.resource.call()
            except Exception as exc:
                errors.append(f"In {where.describe()}: {exc}")
    return errors


async def resolution_errors(steps: StepResources, manager: ResourceManager) -> list[str]:
    """One message per step resource that ``manager`` fails to build."""
    errors: list[str] = []
    for step, params in steps.items():
        for param, descriptor in params.items():
            try:
                await manager.get(descriptor)
            except Exception as exc:
                errors.append(f"In step '{step}', parameter '{param}': {exc}")
    return errors


@dataclass(frozen=True)
class _Where:
    """A resource to check, and the step parameter through which it was reached."""

    resource: ResourceDescriptor
    step: str
    param: str
    chain: tuple[str, ...]

    def describe(self) -> str:
        where = f"step '{self.step}', parameter '{self.param}'"
        if len(self.chain) > 1:
            where += f" ({' -> '.join(self.chain)})"
        return where


def _raise_if(title: str, errors: list[str]) -> None:
    if errors:
        raise WorkflowValidationError("\n".join([title, *(f"  - {e}" for e in errors)]))


def _run(coro: Coroutine[Any, Any, _R]) -> _R:
    """Run ``coro`` to completion from synchronous code, inside a running loop or not."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="workflows-validate") as pool:
        return pool.submit(asyncio.run, coro).result()
