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
import sys
from collections.abc import Callable
from typing import Any, ClassVar

from pydantic import ValidationError

from ._graph import WorkflowGraph
from ._runtime import Run, RunListener
from ._step_spec import StepSpec, build_step_spec
from .context.context import Context, new_run_id
from .decorators import _get_step_config
from .errors import WorkflowRuntimeError, WorkflowValidationError
from .events import StartEvent
from .handler import WorkflowHandler
from .resource import ResourceManager

__all__ = ["Workflow"]


class Workflow:
    """Base class of workflows.

    Args:
        timeout: seconds the run may take; ``None`` for no limit. Time during which the
            run only waits for outside input (nothing runnable, a prompt or waiter
            outstanding) does not count: a person may take their time to answer.
        verbose: log each step invocation at INFO level on the ``workflows`` logger.
        disable_validation: skip the graph checks done on the first ``run()``.
        workflow_name: the name used in snapshots, stores and servers (default:
            ``module.QualName`` of the class; a script run directly is ``__main__``).
        resource_manager: share cached resources between workflow instances.
    """

    _step_specs: ClassVar[dict[str, StepSpec]] = {}
    _free_steps: ClassVar[dict[str, Callable[..., Any]]] = {}
    _graph_cache: ClassVar[WorkflowGraph | None] = None

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
        cls._free_steps[name] = func
        cls._step_specs = {**cls._step_specs, name: spec}
        cls._graph_cache = None

    def __init__(
        self,
        timeout: float | None = 45.0,
        verbose: bool = False,
        disable_validation: bool = False,
        workflow_name: str | None = None,
        resource_manager: ResourceManager | None = None,
    ) -> None:
        if timeout is not None and (not isinstance(timeout, (int, float)) or timeout <= 0):
            raise WorkflowValidationError(
                f"timeout must be a positive number or None, got {timeout!r}"
            )
        self.timeout = timeout
        self.verbose = verbose
        self.disable_validation = disable_validation
        self._workflow_name = workflow_name
        self._resource_manager = resource_manager or ResourceManager()
        self._validated = False

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

    def validate(self) -> bool:
        """Check the event graph.

        Raises:
            WorkflowValidationError: listing each problem with the step and event it concerns.
        """
        self._graph().validate()
        self._validated = True
        return True

    def draw_mermaid(self) -> str:
        """The step/event graph as Mermaid ``flowchart`` text."""
        return self._graph().mermaid()

    # -- running -----------------------------------------------------------------------
    def run(
        self,
        ctx: Context[Any] | None = None,
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
        return self._launch(ctx, start_event, kwargs, None)

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
        if not self.disable_validation and not self._validated:
            self.validate()
        if ctx is None:
            ctx = Context(self)
        elif ctx._workflow is not self:
            if type(ctx._workflow) is not type(self):
                raise WorkflowRuntimeError("the context belongs to another workflow")
            ctx._workflow = self
        if ctx.is_running:
            raise WorkflowRuntimeError("the context is already running a workflow")
        state = ctx._state
        resume = state.started and state.stop_event is None
        if resume:
            if start_event is not None or kwargs:
                raise WorkflowRuntimeError(
                    "the context holds an unfinished run: run(ctx=...) resumes it and takes "
                    "no start event or keyword arguments"
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
        run.start(event)
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
                f"cannot build {start_class.__name__} from run() arguments: {exc}"
            ) from exc


def _enclosing_namespace() -> tuple[dict[str, Any], ...]:
    """Locals of the scope running the ``class`` statement (for postponed annotations)."""
    frame = sys._getframe(2)
    while frame is not None and frame.f_code.co_name in ("__init_subclass__", "__new__"):
        frame = frame.f_back  # type: ignore[assignment]
    if frame is None:
        return ()
    return (dict(frame.f_locals),)
