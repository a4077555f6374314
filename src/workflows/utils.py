"""Reading step signatures, and finding a workflow's steps.

These are the helpers tools built on LlamaIndex Workflows import from
``workflows.utils``; the runtime itself reads signatures once per workflow class (see
:mod:`workflows.decorators`).
"""

from __future__ import annotations

import inspect
import types
from collections.abc import Callable
from typing import Any, Optional, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict

from .collect import All, Collect, Take
from .decorators import StepFunction, _StepOptions
from .errors import WorkflowValidationError
from .events import Event
from .resource import ResourceDefinition, ResourceDescriptor

__all__ = [
    "BUSY_WAIT_DELAY",
    "All",
    "Collect",
    "Event",
    "ResourceDefinition",
    "ResourceDescriptor",
    "StepSignatureSpec",
    "Take",
    "get_steps_from_class",
    "get_steps_from_instance",
    "inspect_signature",
    "is_free_function",
    "validate_step_signature",
]

BUSY_WAIT_DELAY = 0.01
"""Seconds between polls, for code that polls (the runtime here wakes on events)."""


class StepSignatureSpec(BaseModel):
    """What a step function's signature declares."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    accepted_events: dict[str, list[Any]]
    """``{event parameter name: [accepted event types]}``."""
    return_types: list[Any]
    context_parameter: str | None
    context_state_type: Any | None
    resources: list[Any]
    collection_param: tuple[str, tuple[Any, ...]] | None = None
    collection_policy: Any | None = None
    is_fan_out: bool = False
    bare_return_types: list[Any] = []


def inspect_signature(
    fn: Callable[..., Any], localns: dict[str, Any] | None = None
) -> StepSignatureSpec:
    """Read ``fn``'s signature as a step's (a first parameter named ``self`` is skipped).

    Raises:
        WorkflowValidationError: an annotation cannot be resolved, or the signature
            cannot be a step's.
    """
    from ._step_spec import build_step_spec, reference_step_config, takes_self

    options = _StepOptions(namespaces=(localns,) if localns else ())
    spec = build_step_spec(fn.__name__, fn, options, is_method=takes_self(fn))
    config = reference_step_config(spec)
    return StepSignatureSpec(
        accepted_events={spec.event_param: list(spec.accepted)},
        return_types=config.return_types,
        context_parameter=spec.context_param,
        context_state_type=spec.state_type,
        resources=config.resources,
        collection_param=config.collection_param,
        collection_policy=config.collection_policy,
        is_fan_out=config.is_fan_out,
        bare_return_types=list(config.bare_return_types),
    )


def validate_step_signature(spec: StepSignatureSpec) -> None:
    """Check a signature read by :func:`inspect_signature`.

    Raises:
        WorkflowValidationError: no event parameter, or no return annotation.
    """
    if not spec.accepted_events:
        raise WorkflowValidationError(
            "Step signature must have at least one parameter annotated as type Event"
        )
    if not spec.return_types:
        raise WorkflowValidationError(
            "Return types of workflows step functions must be annotated with their type."
        )


def get_steps_from_class(_class: object) -> dict[str, StepFunction[..., Any]]:
    """The functions of a class that are steps (they carry ``_step_config``), by name."""
    found: dict[str, StepFunction[..., Any]] = {}
    for name, member in inspect.getmembers(_class, predicate=inspect.isfunction):
        if hasattr(member, "_step_config"):
            found[name] = member
    return found


def get_steps_from_instance(workflow: object) -> dict[str, StepFunction[..., Any]]:
    """The bound methods of an instance that are steps, by name."""
    found: dict[str, StepFunction[..., Any]] = {}
    for name, member in inspect.getmembers(workflow, predicate=inspect.ismethod):
        if hasattr(member, "_step_config"):
            found[name] = member  # type: ignore[assignment]
    return found


def is_free_function(qualname: str) -> bool:
    """Whether ``qualname`` (a ``__qualname__``) names a function outside any class.

    Raises:
        ValueError: ``qualname`` is empty.
    """
    if not qualname:
        raise ValueError("The qualified name cannot be empty")
    parts = qualname.split(".")
    if len(parts) == 1:
        return True
    if "<locals>" not in parts:
        return False
    return parts[-2] == "<locals>"


def _get_param_types(param: inspect.Parameter, type_hints: dict[str, Any]) -> list[Any]:
    """The types a parameter is annotated with (a union's members, ``None`` left out)."""
    annotation = type_hints.get(param.name, param.annotation)
    if annotation is inspect.Parameter.empty:
        return [Any]
    if get_origin(annotation) in (Union, Optional, types.UnionType):
        return [t for t in get_args(annotation) if t is not type(None)]
    return [annotation]


def _get_return_types(func: Callable[..., Any], localns: dict[str, Any] | None = None) -> list[Any]:
    """The types a function's return annotation names (``[NoneType]`` for ``-> None``)."""
    import typing

    hints = typing.get_type_hints(func, localns=localns, include_extras=True)
    if "return" not in hints:
        return []
    found: list[Any] = []
    for member in _flatten(hints["return"]):
        if get_origin(member) is list and get_args(member):
            found.extend(_flatten(get_args(member)[0]))
        else:
            found.append(member)
    kept = [t for t in found if t is not type(None)]
    return kept or [type(None)]


def _flatten(annotation: Any) -> list[Any]:
    if get_origin(annotation) in (Union, types.UnionType):
        out: list[Any] = []
        for arg in get_args(annotation):
            out.extend(_flatten(arg))
        return out
    return [annotation]
