"""Reading a step's signature into a :class:`StepSpec` (plain data the runtime uses)."""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, Union, get_args, get_origin

from .decorators import StepConfig
from .errors import WorkflowValidationError
from .events import Event, StepFailedEvent
from .resource import Resource
from .retry_policy import RetryPolicy

_NoneType = type(None)


@dataclass(frozen=True)
class StepSpec:
    """Everything the runtime needs to know about one step."""

    name: str
    func: Callable[..., Any]
    is_method: bool
    is_async: bool
    accepted: tuple[type[Event], ...]
    emits: tuple[type[Event], ...]
    event_param: str
    context_param: str | None
    state_type: type[Any] | None
    resources: dict[str, Resource[Any]] = field(default_factory=dict)
    num_workers: int = 1
    retry_policy: RetryPolicy | None = None
    catch_for_steps: tuple[str, ...] | None = None
    max_recoveries: int = 1

    def accepts(self, event: Event) -> bool:
        """True if this step runs for ``event``."""
        return isinstance(event, self.accepted)


def _event_types(annotation: Any) -> tuple[type[Event], ...] | None:
    """The Event classes named by an annotation (a class or a union), else ``None``."""
    if isinstance(annotation, type) and issubclass(annotation, Event):
        return (annotation,)
    origin = get_origin(annotation)
    if origin is Union or origin is types.UnionType:
        found: list[type[Event]] = []
        for arg in get_args(annotation):
            if arg is _NoneType:
                continue
            sub = _event_types(arg)
            if sub is None:
                return None
            found.extend(sub)
        return tuple(found)
    return None


def _return_types(annotation: Any, where: str) -> tuple[type[Event], ...]:
    if annotation is None or annotation is _NoneType:
        return ()
    found = _event_types(annotation)
    if found is None:
        raise WorkflowValidationError(
            f"{where}: return annotation {annotation!r} must be an Event subclass, "
            "a union of them, or None"
        )
    return found


def _context_state_type(annotation: Any) -> tuple[bool, type[Any] | None]:
    from .context import Context

    if annotation is Context:
        return True, None
    origin = get_origin(annotation)
    if isinstance(origin, type) and issubclass(origin, Context):
        args = get_args(annotation)
        return True, args[0] if args else None
    if isinstance(annotation, type) and issubclass(annotation, Context):
        return True, None
    return False, None


def _resource_of(annotation: Any) -> Resource[Any] | None:
    if get_origin(annotation) is Annotated:
        for meta in annotation.__metadata__:
            if isinstance(meta, Resource):
                return meta
    return None


def build_step_spec(
    name: str,
    func: Callable[..., Any],
    config: StepConfig,
    *,
    is_method: bool,
    extra_namespaces: tuple[typing.Mapping[str, Any], ...] = (),
) -> StepSpec:
    """Read ``func``'s signature into a :class:`StepSpec`.

    Raises:
        WorkflowValidationError: naming the step and the problem.
    """
    where = f"step {name!r}"
    raw = inspect.unwrap(func)
    if not (inspect.iscoroutinefunction(raw) or inspect.isfunction(raw) or inspect.ismethod(raw)):
        raise WorkflowValidationError(f"{where}: must be a function, got {func!r}")
    localns: dict[str, Any] = {}
    for namespace in reversed((*extra_namespaces, *config.namespaces)):
        localns.update(namespace)
    try:
        hints = typing.get_type_hints(
            raw, globalns=raw.__globals__, localns=localns, include_extras=True
        )
    except NameError as exc:
        raise WorkflowValidationError(f"{where}: cannot resolve an annotation: {exc}") from None
    except Exception as exc:
        raise WorkflowValidationError(f"{where}: cannot read annotations: {exc}") from None

    params = list(inspect.signature(raw).parameters.values())
    if is_method:
        if not params:
            raise WorkflowValidationError(f"{where}: a step method must take self")
        params = params[1:]

    event_param: str | None = None
    accepted: tuple[type[Event], ...] = ()
    context_param: str | None = None
    state_type: type[Any] | None = None
    resources: dict[str, Resource[Any]] = {}
    for param in params:
        if param.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
            raise WorkflowValidationError(
                f"{where}: *args/**kwargs parameters are not supported ({param.name!r})"
            )
        if param.name not in hints:
            raise WorkflowValidationError(
                f"{where}: parameter {param.name!r} has no type annotation"
            )
        annotation = hints[param.name]
        resource = _resource_of(annotation)
        if resource is not None:
            resources[param.name] = resource
            continue
        is_context, ctx_state = _context_state_type(annotation)
        if is_context:
            if context_param is not None:
                raise WorkflowValidationError(f"{where}: more than one Context parameter")
            context_param, state_type = param.name, ctx_state
            continue
        found = _event_types(annotation)
        if found is None:
            raise WorkflowValidationError(
                f"{where}: parameter {param.name!r} is annotated {annotation!r}, which is "
                "neither an Event type, a Context nor an Annotated Resource"
            )
        if event_param is not None:
            raise WorkflowValidationError(
                f"{where}: more than one event parameter ({event_param!r} and {param.name!r})"
            )
        event_param, accepted = param.name, found
    if event_param is None:
        raise WorkflowValidationError(
            f"{where}: must take one parameter annotated with an Event type"
        )
    if "return" not in hints:
        raise WorkflowValidationError(
            f"{where}: missing return annotation (list the events it emits, or None)"
        )
    emits = _return_types(hints["return"], where)
    if config.is_error_handler and not any(issubclass(StepFailedEvent, t) for t in accepted):
        raise WorkflowValidationError(f"{where}: a @catch_error step must accept StepFailedEvent")
    return StepSpec(
        name=name,
        func=func,
        is_method=is_method,
        is_async=inspect.iscoroutinefunction(raw),
        accepted=accepted,
        emits=emits,
        event_param=event_param,
        context_param=context_param,
        state_type=state_type,
        resources=resources,
        num_workers=config.num_workers,
        retry_policy=config.retry_policy,
        catch_for_steps=config.catch_for_steps,
        max_recoveries=config.max_recoveries,
    )
