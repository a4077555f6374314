"""The ``@step`` and ``@catch_error`` decorators.

``@step`` marks a method of a :class:`~workflows.Workflow` subclass (or, with
``workflow=Cls``, a free function) as a step. Its parameters are read from annotations
when the workflow class is created; see :mod:`workflows` for the rules.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import FrameType
from typing import TYPE_CHECKING, Any, Generic, Literal, Protocol, TypeVar, get_args, overload

from pydantic import BaseModel
from typing_extensions import ParamSpec

from .errors import WorkflowValidationError
from .retry_policy import RetryPolicy

if TYPE_CHECKING:
    from .collect import Collect
    from .resource import ResourceDefinition
    from .workflow import Workflow

__all__ = [
    "CatchErrorHandler",
    "StepConfig",
    "StepFunction",
    "catch_error",
    "make_step_function",
    "step",
]

F = TypeVar("F", bound=Callable[..., Any])
P = ParamSpec("P")
R = TypeVar("R")
R_co = TypeVar("R_co", covariant=True)

WorkflowGraphCheck = Literal["reachability", "terminal_event", "dead_end"]
"""Names of the graph checks ``Workflow(skip_graph_checks=...)`` may turn off."""
StepGraphCheck = Literal["reachability", "dead_end"]
"""Names of the graph checks ``@step(skip_graph_checks=...)`` may turn off."""
GRAPH_CHECKS: tuple[str, ...] = get_args(WorkflowGraphCheck)
_STEP_GRAPH_CHECKS: tuple[str, ...] = get_args(StepGraphCheck)
StepRole = Literal["step", "catch_error"]


@dataclass
class StepConfig:
    """What a step's signature and decorator say, as ``func._step_config`` exposes it.

    Filled in when the step's workflow class is created (annotations may name classes
    defined after the decorator ran); tools that inspect steps read it from there.
    """

    accepted_events: list[Any]
    event_name: str
    return_types: list[Any]
    context_parameter: str | None
    num_workers: int
    retry_policy: RetryPolicy | None
    resources: list[ResourceDefinition]
    context_state_type: type[BaseModel] | None = None
    skip_graph_checks: list[StepGraphCheck] = field(default_factory=list)
    collect_params: list[tuple[str, Any]] | None = None
    is_fan_out: bool = False
    bare_return_types: tuple[Any, ...] = ()
    collection_param: tuple[str, tuple[Any, ...]] | None = None
    collection_policy: Collect | None = None
    role: StepRole = "step"
    catch_error_for_steps: list[str] | None = None
    catch_error_max_recoveries: int = 1
    accept_event_subclasses: bool = False


@dataclass(frozen=True)
class CatchErrorHandler:
    """A ``@catch_error`` handler: its step, the steps it covers (None: all), its budget."""

    step_name: str
    for_steps: list[str] | None
    max_recoveries: int


class StepFunction(Protocol, Generic[P, R_co]):
    """A function decorated with ``@step``: callable as before, plus ``_step_config``."""

    _step_config: StepConfig

    __name__: str
    __qualname__: str

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R_co:
        """Call the undecorated function."""
        ...


@dataclass
class _StepOptions:
    """Options given to ``@step`` / ``@catch_error``, stored on the decorated function."""

    num_workers: int = 4
    retry_policy: RetryPolicy | None = None
    catch_for_steps: tuple[str, ...] | None = None
    """Set for ``@catch_error`` handlers: the covered steps, or ``()`` for all steps."""
    max_recoveries: int = 1
    namespaces: tuple[Mapping[str, Any], ...] = field(default_factory=tuple, repr=False)
    """Namespaces seen where the step was defined, to resolve postponed annotations."""
    accept_event_subclasses: bool = False
    skip_graph_checks: tuple[str, ...] = ()

    @property
    def is_error_handler(self) -> bool:
        """True for a ``@catch_error`` step."""
        return self.catch_for_steps is not None


_CONFIG_ATTR = "__workflow_step_config__"


def _get_step_config(func: Any) -> _StepOptions | None:
    """Return the options of a decorated function, or ``None``."""
    return getattr(func, _CONFIG_ATTR, None)


def _caller_namespaces(depth: int) -> tuple[Mapping[str, Any], ...]:
    # The class body being executed and the scope enclosing it: annotations written with
    # `from __future__ import annotations` may name classes local to either.
    namespaces: list[Mapping[str, Any]] = []
    frame: FrameType | None
    try:
        frame = sys._getframe(depth + 1)
    except ValueError:  # pragma: no cover - no such frame
        return ()
    for _ in range(2):
        if frame is None:
            break
        namespaces.append(frame.f_locals)
        frame = frame.f_back
    return tuple(namespaces)


def _require_method(func: Any) -> None:
    """Refuse a free function decorated without ``workflow=``: it would never run."""
    parts = getattr(func, "__qualname__", "").split(".")
    if len(parts) < 2 or parts[-2] == "<locals>":
        name = getattr(func, "__name__", repr(func))
        raise WorkflowValidationError(
            f"step {name!r} is a free function: use @step(workflow=MyWorkflow) to attach it "
            "to a workflow, or define it as a method of a Workflow subclass"
        )


def _mark(func: F, config: _StepOptions, workflow: type[Workflow] | None) -> F:
    if not callable(func):
        raise WorkflowValidationError(f"@step can only decorate a function, got {func!r}")
    setattr(func, _CONFIG_ATTR, config)
    if workflow is not None:
        workflow._add_free_step(func)
    return func


@overload
def step(func: F, /) -> F: ...


@overload
def step(
    *,
    workflow: type[Workflow] | None = None,
    num_workers: int = 4,
    retry_policy: RetryPolicy | None = None,
    skip_graph_checks: list[StepGraphCheck] | None = None,
    accept_event_subclasses: bool = False,
) -> Callable[[F], F]: ...


def step(
    func: F | None = None,
    /,
    *,
    workflow: type[Workflow] | None = None,
    num_workers: int = 4,
    retry_policy: RetryPolicy | None = None,
    skip_graph_checks: list[StepGraphCheck] | None = None,
    accept_event_subclasses: bool = False,
) -> F | Callable[[F], F]:
    """Mark a function as a workflow step.

    Args:
        workflow: for a free function, the workflow class it belongs to.
        num_workers: how many invocations of this step may run at once in one run.
        retry_policy: how to retry a failing invocation (see :mod:`workflows.retry_policy`).
        skip_graph_checks: graph checks not to apply to this step (``"reachability"``
            allows a step no event reaches on purpose).
        accept_event_subclasses: also run for subclasses of the accepted event types
            (by default a step runs only for events of exactly the annotated types).

    Raises:
        WorkflowValidationError: for a bad option, or (when the workflow class is created)
            a signature the runtime cannot use.
    """
    options = _step_options(
        num_workers, retry_policy, skip_graph_checks, accept_event_subclasses, namespaces=()
    )
    if func is not None:
        _require_method(func)
        options.namespaces = _caller_namespaces(1)
        return _mark(func, options, None)

    options.namespaces = _caller_namespaces(1)

    def decorator(f: F) -> F:
        if workflow is None:
            _require_method(f)
        return _mark(f, options, workflow)

    return decorator


def make_step_function(
    func: Callable[P, R],
    num_workers: int = 4,
    retry_policy: RetryPolicy | None = None,
    localns: dict[str, Any] | None = None,
    skip_graph_checks: list[StepGraphCheck] | None = None,
    accept_event_subclasses: bool = False,
) -> StepFunction[P, R]:
    """Mark ``func`` as a step and fill in its ``_step_config`` now.

    Unlike ``@step`` this reads the signature at once (names in annotations must
    resolve, with ``localns`` for local ones) and attaches the function to no workflow.

    Raises:
        WorkflowValidationError: for a bad option or a signature a step cannot have.
    """
    from ._step_spec import build_step_spec, reference_step_config, takes_self

    options = _step_options(
        num_workers,
        retry_policy,
        skip_graph_checks,
        accept_event_subclasses,
        namespaces=(localns,) if localns else (),
    )
    setattr(func, _CONFIG_ATTR, options)
    spec = build_step_spec(func.__name__, func, options, is_method=takes_self(func))
    marked: Any = func
    marked._step_config = reference_step_config(spec)
    return marked


def _step_options(
    num_workers: Any,
    retry_policy: Any,
    skip_graph_checks: list[StepGraphCheck] | None,
    accept_event_subclasses: bool,
    *,
    namespaces: tuple[Mapping[str, Any], ...],
) -> _StepOptions:
    if not isinstance(num_workers, int) or isinstance(num_workers, bool) or num_workers < 1:
        raise WorkflowValidationError(
            f"num_workers must be an integer greater than 0, got {num_workers!r}"
        )
    if retry_policy is not None and not callable(getattr(retry_policy, "next", None)):
        raise WorkflowValidationError(
            "retry_policy must have a next(elapsed_time, attempts, error) method, "
            f"got {retry_policy!r}"
        )
    checks = tuple(skip_graph_checks or ())
    unknown = sorted(set(checks) - set(_STEP_GRAPH_CHECKS))
    if unknown:
        raise WorkflowValidationError(
            f"Unknown step graph check names: {', '.join(unknown)}. "
            f"Valid names are: {', '.join(_STEP_GRAPH_CHECKS)}"
        )
    return _StepOptions(
        num_workers=num_workers,
        retry_policy=retry_policy,
        namespaces=namespaces,
        accept_event_subclasses=bool(accept_event_subclasses),
        skip_graph_checks=checks,
    )


@overload
def catch_error(func: F, /) -> F: ...


@overload
def catch_error(
    *, for_steps: list[str] | None = None, max_recoveries: int = 1
) -> Callable[[F], F]: ...


def catch_error(
    func: F | None = None,
    /,
    *,
    for_steps: list[str] | None = None,
    max_recoveries: int = 1,
) -> F | Callable[[F], F]:
    """Mark a step as the error handler for other steps.

    The step must accept :class:`~workflows.events.StepFailedEvent`. It runs when a covered
    step has exhausted its retries and may return any event (a fallback, a StopEvent...);
    the run goes on. A handler scoped with ``for_steps`` wins over a wildcard one. Past
    ``max_recoveries`` recoveries along one chain of events the run fails.

    Args:
        for_steps: names of the steps covered; ``None`` covers every step.
        max_recoveries: how many times one lineage of events may be recovered.
    """
    if not isinstance(max_recoveries, int) or max_recoveries < 1:
        raise WorkflowValidationError(
            f"max_recoveries must be a positive integer, got {max_recoveries!r}"
        )
    covered = tuple(for_steps) if for_steps is not None else ()
    namespaces = _caller_namespaces(1)

    def decorator(f: F) -> F:
        config = _StepOptions(
            num_workers=1,
            catch_for_steps=covered,
            max_recoveries=max_recoveries,
            namespaces=namespaces,
        )
        return _mark(f, config, None)

    if func is not None:
        return decorator(func)
    return decorator
