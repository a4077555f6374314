"""``Workflow``: a class whose ``@step`` methods exchange events.

::

    class Greet(Workflow):
        @step
        async def greet(self, ev: StartEvent) -> StopEvent:
            return StopEvent(result=f"hello {ev.name}")

    result = await Greet(timeout=10).run(name="Ada")
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import sys
from collections import deque
from collections.abc import Callable
from typing import Any, ClassVar

from pydantic import ValidationError

from ._graph import WorkflowGraph
from ._runtime import Run, RunListener
from ._step_spec import StepSpec, build_step_spec, reference_step_config
from ._validation_text import validation_summary
from .context.context import Context, new_run_id
from .context.serializers import BaseSerializer
from .decorators import GRAPH_CHECKS, StepFunction, WorkflowGraphCheck, _get_step_config
from .errors import WorkflowRuntimeError, WorkflowValidationError
from .events import Event, StartEvent, StopEvent
from .handler import WorkflowHandler
from .representation.validate import (
    _check_catch_error_handlers,
    _ensure_boundary_event_classes,
    _validate_workflow,
)
from .resource import ResourceManager, validate_step_resources

__all__ = ["Workflow", "WorkflowMeta"]

_logger = logging.getLogger("workflows")


class WorkflowMeta(type):
    """The metaclass of :class:`Workflow`.

    Combine it with another metaclass to make a workflow that is also, say, a pydantic
    model: ``class Meta(WorkflowMeta, ModelMetaclass)``. Each class gets its own registry
    of free-function steps (``_step_functions``), filled by :meth:`Workflow.add_step`.
    """

    def __init__(cls, name: str, bases: tuple[type, ...], dct: dict[str, Any]) -> None:
        super().__init__(name, bases, dct)
        cls._step_functions: dict[str, Callable[..., Any]] = {}


class Workflow(metaclass=WorkflowMeta):
    """Base class of workflows.

    Args:
        timeout: seconds the run may take; ``None`` for no limit. Time during which the
            run only waits for outside input (nothing runnable, a prompt or waiter
            outstanding) does not count: a person may take their time to answer.
        verbose: log each step invocation at INFO level on the ``workflows`` logger.
        disable_validation: skip the graph checks done on the first ``run()``. The
            workflow still needs one StartEvent and one StopEvent class, and
            ``@catch_error`` handlers that route failures unambiguously.
        workflow_name: the name used in snapshots, stores and servers (default:
            ``module.QualName`` of the class; a script run directly is ``__main__``).
        resource_manager: share cached resources between workflow instances.
        skip_graph_checks: graph checks not to run (``"reachability"``,
            ``"terminal_event"``, ``"dead_end"``), as ``@step(skip_graph_checks=...)``
            does for one step.

    Raises:
        WorkflowConfigurationError: (when constructed) no step accepts a StartEvent or
            none returns a StopEvent, or the steps name several classes of either.
    """

    _step_specs: ClassVar[dict[str, StepSpec]] = {}
    _free_steps: ClassVar[dict[str, Callable[..., Any]]] = {}
    _graph_cache: ClassVar[WorkflowGraph | None] = None
    _boundary_checked: ClassVar[dict[str, StepSpec] | None] = None
    """The ``_step_specs`` whose start and stop event classes were last found sound."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._free_steps = {}
        cls._graph_cache = None
        enclosing = _enclosing_namespace()
        specs: dict[str, StepSpec] = {}
        for klass in reversed(cls.__mro__):
            if klass is object:
                continue
            if issubclass(klass, Workflow) and klass is not cls:
                specs.update(klass._step_specs)
                continue
            for name, attr in vars(klass).items():
                config = _get_step_config(attr)
                if config is None:
                    continue
                specs[name] = build_step_spec(
                    name,
                    attr,
                    config,
                    is_method=True,
                    extra_namespaces=(dict(vars(cls)), *enclosing),
                )
        for klass in cls.__mro__:
            if issubclass(klass, Workflow) and klass is not cls:
                for name, func in klass._free_steps.items():
                    specs.setdefault(name, cls._spec_for_free_step(name, func))
        cls._step_specs = specs
        for spec in specs.values():
            _expose_step_config(spec)

    @classmethod
    def _spec_for_free_step(cls, name: str, func: Callable[..., Any]) -> StepSpec:
        config = _get_step_config(func)
        assert config is not None
        return build_step_spec(name, func, config, is_method=False)

    @classmethod
    def _add_free_step(cls, func: Callable[..., Any]) -> None:
        name = getattr(func, "__name__", None)
        if not isinstance(name, str):
            raise WorkflowValidationError(f"cannot use {func!r} as a step: it has no name")
        if name in cls._step_specs:
            raise WorkflowValidationError(
                f"workflow {cls.__qualname__!r} already has a step named {name!r}"
            )
        spec = cls._spec_for_free_step(name, func)
        _expose_step_config(spec)
        cls._free_steps[name] = func
        cls._step_functions[name] = func
        cls._step_specs = {**cls._step_specs, name: spec}
        cls._graph_cache = None

    def __init__(
        self,
        timeout: float | None = 45.0,
        disable_validation: bool = False,
        verbose: bool = False,
        resource_manager: ResourceManager | None = None,
        num_concurrent_runs: int | None = None,
        runtime: Any | None = None,
        workflow_name: str | None = None,
        skip_graph_checks: set[WorkflowGraphCheck] | None = None,
        serializer: BaseSerializer | None = None,
    ) -> None:
        # Only underscore attributes are set here: a subclass that is also a pydantic
        # model (llama-index-core's agents are) refuses public attributes it does not
        # declare as fields.
        if timeout is not None and (
            isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0
        ):
            raise WorkflowValidationError(
                f"timeout must be a positive number or None, got {timeout!r}"
            )
        if num_concurrent_runs is not None and (
            isinstance(num_concurrent_runs, bool)
            or not isinstance(num_concurrent_runs, int)
            or num_concurrent_runs <= 0
        ):
            raise WorkflowValidationError(
                "num_concurrent_runs must be an integer greater than 0 or None"
            )
        unknown = set(skip_graph_checks or ()) - set(GRAPH_CHECKS)
        if unknown:
            raise WorkflowValidationError(
                f"Unknown graph check names: {', '.join(sorted(unknown))}. "
                f"Valid names are: {', '.join(sorted(GRAPH_CHECKS))}"
            )
        specs = type(self)._step_specs
        if type(self).__dict__.get("_boundary_checked") is not specs:
            _ensure_boundary_event_classes(specs, type(self).__name__)
            type(self)._boundary_checked = specs
        self._timeout = timeout
        self._verbose = verbose
        self._disable_validation = disable_validation
        self._num_concurrent_runs = num_concurrent_runs
        self._runtime = runtime
        self._skip_graph_checks: set[WorkflowGraphCheck] = set(skip_graph_checks or ())
        self._serializer = serializer
        self._workflow_name = workflow_name
        self._resource_manager = resource_manager or ResourceManager()
        self._checked_graph: WorkflowGraph | None = None
        self._active_runs = 0

    @property
    def timeout(self) -> float | None:
        """Seconds a run may take (``None``: no limit); waiting for input does not count."""
        return self._timeout

    @property
    def verbose(self) -> bool:
        """Whether each step invocation is logged at INFO level."""
        return self._verbose

    @property
    def disable_validation(self) -> bool:
        """Whether the graph checks on the first ``run()`` are skipped."""
        return self._disable_validation

    @property
    def num_concurrent_runs(self) -> int | None:
        """The most runs of this instance that may be active at once (``None``: no limit)."""
        return self._num_concurrent_runs

    @property
    def serializer(self) -> BaseSerializer | None:
        """The serializer given to the constructor, or ``None`` for the default."""
        return self._serializer

    @property
    def runtime(self) -> Any:
        """The runtime given to the constructor (kept for compatibility; runs are local)."""
        return self._runtime

    # -- introspection -----------------------------------------------------------------
    @property
    def workflow_name(self) -> str:
        """The workflow's name (``workflow_name=`` or the class's qualified name)."""
        return self._workflow_name or f"{type(self).__module__}.{type(self).__qualname__}"

    @classmethod
    def _graph(cls) -> WorkflowGraph:
        graph = cls.__dict__.get("_graph_cache")
        if graph is None:
            graph = WorkflowGraph(cls.__qualname__, cls._step_specs)
            cls._graph_cache = graph
        return graph

    def _step_callables(self) -> dict[str, Callable[..., Any]]:
        """Each step's callable (bound to this instance for methods), built once."""
        found: dict[str, Callable[..., Any]] | None = self.__dict__.get("_callables")
        if found is None or len(found) != len(self._graph().specs):
            found = {
                name: getattr(self, name) if spec.is_method else spec.func
                for name, spec in self._graph().specs.items()
            }
            self.__dict__["_callables"] = found
        return found

    def _get_steps(self) -> dict[str, StepSpec]:
        """The workflow's steps by name."""
        return dict(self._graph().specs)

    @property
    def steps(self) -> dict[str, StepSpec]:
        """The workflow's steps by name (read-only view of their signatures)."""
        return self._get_steps()

    @property
    def start_event_class(self) -> type[StartEvent]:
        """The StartEvent (sub)class the workflow's first step accepts."""
        return self._graph().start_event_class

    @property
    def stop_event_class(self) -> type[StopEvent]:
        """The StopEvent (sub)class the workflow's steps return."""
        return self._graph().stop_event_class

    @property
    def events(self) -> list[type[Event]]:
        """Every event type named in a step signature (accepted or returned)."""
        return sorted(self._graph().event_types, key=lambda t: (t.__module__, t.__qualname__))

    @classmethod
    def add_step(cls, func: StepFunction) -> None:
        """Attach a ``@step``-decorated free function to this workflow class.

        Raises:
            WorkflowValidationError: ``func`` is not decorated with ``@step``, or the
                workflow already has a step of that name.
        """
        if _get_step_config(func) is None:
            name = getattr(func, "__name__", repr(func))
            raise WorkflowValidationError(f"Step function {name} is missing the `@step` decorator.")
        cls._add_free_step(func)

    def validate(
        self,
        *,
        validate_resource_configs: bool = True,
        validate_resources: bool = False,
    ) -> bool:
        """Check the event graph (and, optionally, the steps' resources).

        The checks are those of llama-index-workflows 2.26.1, raising the same errors
        in the same order: one StartEvent and one StopEvent class; no step accepts a
        StopEvent; every accepted event is produced and every produced event accepted
        (events crossing the workflow's boundary excepted); the ``@catch_error``
        handlers; then the graph checks ``reachability``, ``terminal_event`` and
        ``dead_end``, which ``skip_graph_checks`` (here or on a step) can turn off. It
        runs them even when the workflow was built with ``disable_validation=True``.

        Args:
            validate_resource_configs: also check that each ``ResourceConfig`` file exists
                and holds valid data for its model.
            validate_resources: also build every resource once (factories may need
                environment variables or connections, hence off by default).

        Returns:
            True if the workflow asks for human input (emits ``InputRequiredEvent`` or
            accepts ``HumanResponseEvent``), else False.

        Raises:
            WorkflowConfigurationError: no, or several, StartEvent or StopEvent classes.
            WorkflowValidationError: the first other rule broken (every graph check that
                fails is listed), or a resource that cannot be built.
        """
        graph = self._graph()
        result = _validate_workflow(
            graph.specs,
            type(self).__name__,
            self._skip_graph_checks,
        )
        validate_step_resources(
            self, configs=validate_resource_configs, resources=validate_resources
        )
        self._checked_graph = graph
        return result.uses_hitl

    def draw_mermaid(self) -> str:
        """The step/event graph as Mermaid ``flowchart`` text."""
        return self._graph().mermaid()

    # -- running -----------------------------------------------------------------------
    def run(
        self,
        ctx: Context | None = None,
        start_event: StartEvent | None = None,
        **kwargs: Any,
    ) -> WorkflowHandler:
        """Start a run on the running event loop and return its handler at once.

        With a ``ctx`` restored by ``Context.from_dict`` from an unfinished run, the run
        continues (no new StartEvent). With a ``ctx`` that was used before, the new run
        keeps its state store.

        Raises:
            WorkflowValidationError: the graph is invalid, or ``kwargs`` do not fit the
                workflow's StartEvent.
            WorkflowRuntimeError: ``ctx`` is already running or belongs to another workflow.
        """
        run_id = kwargs.pop("run_id", None)
        if run_id is not None and not isinstance(run_id, str):
            raise WorkflowRuntimeError(f"run_id must be a string, got {type(run_id).__name__}")
        return self._launch(ctx, start_event, kwargs, None, run_id)

    def _launch(
        self,
        ctx: Context[Any] | None,
        start_event: StartEvent | None,
        kwargs: dict[str, Any],
        listener: RunListener | None,
        run_id: str | None = None,
    ) -> WorkflowHandler:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            raise WorkflowRuntimeError(
                "Workflow.run() must be called from a running event loop (use asyncio.run)"
            ) from None
        graph = self._graph()
        if self._checked_graph is not graph:
            if self._disable_validation:
                _check_catch_error_handlers(graph.specs)
                self._checked_graph = graph
            else:
                self.validate()
        if ctx is None:
            ctx = Context(self)
        elif ctx._workflow is not self:
            if type(ctx._workflow) is not type(self):
                raise WorkflowRuntimeError("the context belongs to another workflow")
            ctx._workflow = self
        if ctx._has_active_run:
            raise WorkflowRuntimeError("the context is already running a workflow")
        state = ctx._state
        resume = state.started and state.stop_event is None
        if resume:
            if start_event is not None or kwargs:
                _logger.warning(
                    "run(ctx=...) resumes the unfinished run held by the context; the start "
                    "event and keyword arguments given are ignored"
                )
            event: StartEvent | None = None
        else:
            event = self._make_start_event(start_event, kwargs)
            state.reset_for_new_run(run_id or new_run_id())
        handler = WorkflowHandler(ctx)
        run = Run(self, ctx, handler)
        handler._attach(run)
        ctx._run = run
        run.listener = listener
        limit = self._num_concurrent_runs
        if limit is None:
            run.start(event)
        else:
            _start_within_limit(self, limit, run, handler, event)
        return handler

    def _make_start_event(
        self, start_event: StartEvent | None, kwargs: dict[str, Any]
    ) -> StartEvent:
        start_class = self._graph().start_event_class
        if start_event is not None:
            if kwargs:
                raise WorkflowRuntimeError(
                    "give either start_event= or keyword arguments, not both"
                )
            if not isinstance(start_event, StartEvent):
                raise WorkflowValidationError(
                    f"start_event must be a StartEvent, got {type(start_event).__name__}"
                )
            return start_event
        try:
            return start_class(**kwargs)
        except ValidationError as exc:
            raise WorkflowValidationError(
                f"cannot build {start_class.__name__} from run() arguments: "
                f"{validation_summary(exc)}"
            ) from exc


def _expose_step_config(spec: StepSpec) -> None:
    """Set ``func._step_config`` (the public view tools read) on a step's function."""
    config = reference_step_config(spec)
    target: Any = spec.func
    try:
        target._step_config = config
        inspect.unwrap(target)._step_config = config
    except (AttributeError, TypeError):  # a callable that takes no attributes
        pass


class _RunSlots:
    """Admits at most ``limit`` active runs of one workflow instance; the rest queue."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.active = 0
        self.queued: deque[Callable[[], None]] = deque()

    def admit(self, handler: WorkflowHandler, start: Callable[[], None]) -> None:
        def _begin() -> None:
            if handler.done():  # cancelled while queued
                self._next()
                return
            self.active += 1
            handler.add_done_callback(lambda _: self._finished())
            start()

        if self.active < self.limit:
            _begin()
        else:
            self.queued.append(_begin)

    def _finished(self) -> None:
        self.active -= 1
        self._next()

    def _next(self) -> None:
        if self.queued and self.active < self.limit:
            self.queued.popleft()()


def _start_within_limit(
    wf: Workflow, limit: int, run: Run, handler: WorkflowHandler, event: StartEvent | None
) -> None:
    """Start ``run`` once fewer than ``limit`` runs of ``wf`` are active."""
    slots: _RunSlots | None = wf.__dict__.get("_run_slots")
    if slots is None:
        slots = _RunSlots(limit)
        wf.__dict__["_run_slots"] = slots
    slots.admit(handler, lambda: run.start(event))


def _enclosing_namespace() -> tuple[dict[str, Any], ...]:
    """Locals of the scope running the ``class`` statement (for postponed annotations)."""
    frame = sys._getframe(2)
    while frame is not None and frame.f_code.co_name in ("__init_subclass__", "__new__"):
        frame = frame.f_back  # type: ignore[assignment]
    if frame is None:
        return ()
    return (dict(frame.f_locals),)
