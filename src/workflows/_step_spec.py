"""Reading a step's signature into a :class:`StepSpec` (plain data the runtime uses)."""

from __future__ import annotations

import collections.abc
import inspect
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, Union, get_args, get_origin

from .collect import All, Collect, Take
from .decorators import StepConfig, _StepOptions
from .errors import WorkflowValidationError
from .events import Event, StepFailedEvent
from .resource import ResourceDefinition, ResourceDescriptor
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
    resources: dict[str, ResourceDescriptor] = field(default_factory=dict)
    resource_types: dict[str, Any] = field(default_factory=dict)
    """The ``T`` of each resource parameter's ``Annotated[T, descriptor]``."""
    num_workers: int = 1
    retry_policy: RetryPolicy | None = None
    catch_for_steps: tuple[str, ...] | None = None
    max_recoveries: int = 1
    accept_subclasses: bool = False
    """Route subclasses of the accepted types here too (default: exact types only)."""
    skip_graph_checks: tuple[str, ...] = ()
    fan_out: bool = False
    """The return annotation names ``list[E]``: a returned list opens a collection stream."""
    bare_emits: tuple[type[Event], ...] = ()
    """For a fan-out step, the types it may also return alone (``-> list[A] | B``: ``B``)."""
    collect: Collect | None = None
    """Set for a fan-in step (event parameter ``list[E]``): when it fires."""
    join: tuple[tuple[str, type[Event]], ...] | None = None
    """Set for a join step (several event parameters): ``(parameter, type)`` per slot, in
    declaration order. It fires once one event per slot has arrived (:mod:`._join`)."""

    def accepts(self, event: Event) -> bool:
        """True if this step runs for ``event``."""
        if self.accept_subclasses:
            return isinstance(event, self.accepted)
        return type(event) in self.accepted

    def accepts_type(self, event_type: type[Event]) -> bool:
        """True if this step runs for events of exactly ``event_type``."""
        if self.accept_subclasses:
            return issubclass(event_type, self.accepted)
        return event_type in self.accepted


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


_ASYNC_ITERATORS = (
    collections.abc.AsyncIterator,
    collections.abc.AsyncIterable,
    collections.abc.AsyncGenerator,
)


_NO_ASYNC_ITERATORS = (
    "a step cannot stream its results (async generator, AsyncIterator[E], "
    "AsyncIterable[E], AsyncGenerator[E, None]); return list[E] to fan out, or send "
    "events one by one with ctx.send_event"
)


@dataclass
class _Returns:
    emits: list[type[Event]] = field(default_factory=list)
    bare: list[type[Event]] = field(default_factory=list)
    fan_out: bool = False

    def visit(self, hint: Any, in_list: bool) -> bool:
        """Add the event types of ``hint``; False if it names something else."""
        if hint is None or hint is _NoneType:
            return True
        origin = get_origin(hint)
        if origin is Union or origin is types.UnionType:
            return all(self.visit(arg, in_list) for arg in get_args(hint))
        if origin is list:
            args = get_args(hint)
            self.fan_out = True
            return len(args) == 1 and self.visit(args[0], True)
        if isinstance(hint, type) and issubclass(hint, Event):
            if hint not in self.emits:
                self.emits.append(hint)
            if not in_list and hint not in self.bare:
                self.bare.append(hint)
            return True
        return False


def _return_types(annotation: Any, where: str) -> _Returns:
    """What a return annotation says a step emits (``list[E]`` members included)."""
    if get_origin(annotation) in _ASYNC_ITERATORS:
        raise WorkflowValidationError(f"{where}: {_NO_ASYNC_ITERATORS}")
    found = _Returns()
    if not found.visit(annotation, False):
        raise WorkflowValidationError(
            f"{where}: return annotation {annotation!r} must be an Event subclass, "
            "a union of them, list[...] of them (fan-out), or None"
        )
    return found


def _list_element_types(annotation: Any) -> tuple[type[Event], ...] | None:
    """The ``E`` of a ``list[E]`` (or ``list[E] | None``) parameter, else ``None``.

    ``E`` may be a union (``list[A | B]``); ``None`` members are left out.
    """
    origin = get_origin(annotation)
    if origin is Union or origin is types.UnionType:
        members = [a for a in get_args(annotation) if a is not _NoneType]
        if len(members) != 1:
            return None
        annotation = members[0]
    if get_origin(annotation) is not list:
        return None
    args = get_args(annotation)
    if len(args) != 1:
        return None
    found = _event_types(args[0])
    return tuple(dict.fromkeys(found)) if found else None


def _collect_marker(annotation: Any) -> tuple[Any, Collect | None]:
    """Split ``Annotated[list[E], Collect(...)]`` into ``list[E]`` and the marker."""
    if get_origin(annotation) is Annotated:
        args = get_args(annotation)
        for meta in args[1:]:
            if isinstance(meta, Collect):
                return args[0], meta
    return annotation, None


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


def _resource_of(annotation: Any) -> ResourceDescriptor | None:
    """The first resource descriptor in ``Annotated[T, ...]`` metadata, else None."""
    if get_origin(annotation) is Annotated:
        for meta in get_args(annotation)[1:]:
            if isinstance(meta, ResourceDescriptor):
                return meta
    return None


def build_step_spec(
    name: str,
    func: Callable[..., Any],
    config: _StepOptions,
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

    if inspect.isasyncgenfunction(raw):
        raise WorkflowValidationError(f"{where}: {_NO_ASYNC_ITERATORS}")
    event_param: str | None = None
    accepted: tuple[type[Event], ...] = ()
    collect: Collect | None = None
    slots: list[tuple[str, tuple[type[Event], ...]]] = []
    context_param: str | None = None
    state_type: type[Any] | None = None
    resources: dict[str, ResourceDescriptor] = {}
    resource_types: dict[str, Any] = {}
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
            resource_types[param.name] = get_args(annotation)[0]
            resource.set_type_annotation(resource_types[param.name])
            resource.set_localns(localns)
            resources[param.name] = resource
            continue
        is_context, ctx_state = _context_state_type(annotation)
        if is_context:
            if context_param is not None:
                raise WorkflowValidationError(f"{where}: more than one Context parameter")
            context_param, state_type = param.name, ctx_state
            continue
        annotation, marker = _collect_marker(annotation)
        elements = _list_element_types(annotation)
        if elements is not None:
            marker = marker or Collect()
            if not isinstance(marker.cardinality, (All, Take)):
                raise WorkflowValidationError(
                    f"{where}: parameter {param.name!r}: Collect() takes All() or Take(n), "
                    f"got {marker.cardinality!r}"
                )
            if event_param is not None:
                _two_event_params(where, event_param, param.name, collect is not None)
            event_param, accepted, collect = param.name, elements, marker
            continue
        if marker is not None:
            raise WorkflowValidationError(
                f"{where}: parameter {param.name!r} carries a Collect marker, which applies "
                "only to a list[E] parameter of Event types"
            )
        found = _event_types(annotation)
        if found is None:
            raise WorkflowValidationError(
                f"{where}: parameter {param.name!r} is annotated {annotation!r}, which is "
                "neither an Event type, a list[E] of them, a Context nor an Annotated Resource"
            )
        if collect is not None:
            _two_event_params(where, event_param or "", param.name, False)
        slots.append((param.name, found))
        if event_param is None:
            event_param, accepted = param.name, found
    if event_param is None:
        raise WorkflowValidationError(
            f"{where}: must take one parameter annotated with an Event type"
        )
    join = _join_slots(where, slots) if len(slots) > 1 else None
    if join is not None:
        accepted = tuple(dict.fromkeys(t for _, t in join))
    if "return" not in hints:
        raise WorkflowValidationError(
            f"{where}: missing return annotation (list the events it emits, or None)"
        )
    returns = _return_types(hints["return"], where)
    if config.is_error_handler and (
        collect is not None
        or join is not None
        or not any(issubclass(StepFailedEvent, t) for t in accepted)
    ):
        raise WorkflowValidationError(f"{where}: a @catch_error step must accept StepFailedEvent")
    return StepSpec(
        name=name,
        func=func,
        is_method=is_method,
        is_async=inspect.iscoroutinefunction(raw),
        accepted=accepted,
        emits=tuple(returns.emits),
        event_param=event_param,
        context_param=context_param,
        state_type=state_type,
        resources=resources,
        resource_types=resource_types,
        num_workers=config.num_workers,
        retry_policy=config.retry_policy,
        catch_for_steps=config.catch_for_steps,
        max_recoveries=config.max_recoveries,
        accept_subclasses=config.accept_event_subclasses,
        skip_graph_checks=config.skip_graph_checks,
        fan_out=returns.fan_out,
        bare_emits=tuple(returns.bare) if returns.fan_out else (),
        collect=collect,
        join=join,
    )


def _join_slots(
    where: str, slots: list[tuple[str, tuple[type[Event], ...]]]
) -> tuple[tuple[str, type[Event]], ...]:
    """The slots of a join step: one Event type per parameter (``None`` aside)."""
    for name, types_ in slots:
        if len(types_) != 1:
            names = " | ".join(t.__name__ for t in types_)
            raise WorkflowValidationError(
                f"{where}: parameter {name!r} is annotated {names}, but a step with several "
                "event parameters (a join) takes exactly one event type per parameter"
            )
    return tuple((name, types_[0]) for name, types_ in slots)


def _two_event_params(where: str, first: str, second: str, both_lists: bool) -> None:
    """Raise the error for a ``list[E]`` parameter next to another event parameter."""
    names = f"({first!r} and {second!r})"
    if both_lists:
        problem = f"more than one list[E] parameter {names}; a step gathers one stream"
    else:
        problem = (
            f"a list[E] parameter cannot be combined with another event parameter {names}; "
            "a step either gathers one stream or joins single events"
        )
    raise WorkflowValidationError(f"{where}: {problem}")


def reference_step_config(spec: StepSpec) -> StepConfig:
    """The public ``StepConfig`` view of ``spec`` (what ``func._step_config`` holds)."""
    is_handler = spec.catch_for_steps is not None
    join = spec.join
    return StepConfig(
        accepted_events=[t for _, t in join] if join else list(spec.accepted),
        event_name=spec.event_param,
        return_types=list(spec.emits) if spec.emits else [type(None)],
        context_parameter=spec.context_param,
        num_workers=spec.num_workers,
        retry_policy=spec.retry_policy,
        resources=_resource_definitions(spec),
        context_state_type=spec.state_type,
        skip_graph_checks=list(spec.skip_graph_checks or ()),  # type: ignore[arg-type]
        role="catch_error" if is_handler else "step",
        catch_error_for_steps=(list(spec.catch_for_steps or ()) or None) if is_handler else None,
        catch_error_max_recoveries=spec.max_recoveries,
        accept_event_subclasses=spec.accept_subclasses,
        is_fan_out=spec.fan_out,
        bare_return_types=spec.bare_emits if spec.fan_out else spec.emits,
        collection_param=(spec.event_param, spec.accepted) if spec.collect else None,
        collection_policy=spec.collect,
        collect_params=list(join) if join else None,
    )


def _resource_definitions(spec: StepSpec) -> list[ResourceDefinition]:
    return [
        ResourceDefinition(name=name, resource=value, type_annotation=spec.resource_types.get(name))
        for name, value in spec.resources.items()
    ]


def takes_self(func: Callable[..., Any]) -> bool:
    """Whether ``func``'s first parameter is ``self`` (a step method read off its class)."""
    params = list(inspect.signature(func).parameters)
    return bool(params) and params[0] == "self"
