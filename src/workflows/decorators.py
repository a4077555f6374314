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
from typing import TYPE_CHECKING, Any, TypeVar, overload

from .errors import WorkflowValidationError
from .retry_policy import RetryPolicy

if TYPE_CHECKING:
    from .workflow import Workflow

__all__ = ["StepConfig", "catch_error", "step"]

F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class StepConfig:
    """Options given to ``@step`` / ``@catch_error``, stored on the decorated function."""

    num_workers: int = 1
    retry_policy: RetryPolicy | None = None
    catch_for_steps: tuple[str, ...] | None = None
    """Set for ``@catch_error`` handlers: the covered steps, or ``()`` for all steps."""
    max_recoveries: int = 1
    namespaces: tuple[Mapping[str, Any], ...] = field(default_factory=tuple, repr=False)
    """Namespaces seen where the step was defined, to resolve postponed annotations."""

    @property
    def is_error_handler(self) -> bool:
        """True for a ``@catch_error`` step."""
        return self.catch_for_steps is not None


_CONFIG_ATTR = "__workflow_step_config__"


def _get_step_config(func: Any) -> StepConfig | None:
    """Return the :class:`StepConfig` of a decorated function, or ``None``."""
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


def _mark(func: F, config: StepConfig, workflow: type[Workflow] | None) -> F:
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
    num_workers: int = 1,
    retry_policy: RetryPolicy | None = None,
) -> Callable[[F], F]: ...


def step(
    func: F | None = None,
    /,
    *,
    workflow: type[Workflow] | None = None,
    num_workers: int = 1,
    retry_policy: RetryPolicy | None = None,
) -> F | Callable[[F], F]:
    """Mark a function as a workflow step.

    Args:
        workflow: for a free function, the workflow class it belongs to.
        num_workers: how many invocations of this step may run at once in one run.
        retry_policy: how to retry a failing invocation (see :mod:`workflows.retry_policy`).

    Raises:
        WorkflowValidationError: for a bad option, or (when the workflow class is created)
            a signature the runtime cannot use.
    """
    if not isinstance(num_workers, int) or isinstance(num_workers, bool) or num_workers < 1:
        raise WorkflowValidationError(
            f"num_workers must be a positive integer, got {num_workers!r}"
        )
    if retry_policy is not None and not callable(getattr(retry_policy, "next", None)):
        raise WorkflowValidationError(
            "retry_policy must have a next(elapsed_time, attempts, error) method, "
            f"got {retry_policy!r}"
        )
    if func is not None:
        _require_method(func)
        config = StepConfig(namespaces=_caller_namespaces(1))
        return _mark(func, config, None)

    namespaces = _caller_namespaces(1)

    def decorator(f: F) -> F:
        if workflow is None:
            _require_method(f)
        config = StepConfig(
            num_workers=num_workers, retry_policy=retry_policy, namespaces=namespaces
        )
        return _mark(f, config, workflow)

    return decorator


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
        config = StepConfig(
            catch_for_steps=covered, max_recoveries=max_recoveries, namespaces=namespaces
        )
        return _mark(f, config, None)

    if func is not None:
        return decorator(func)
    return decorator
