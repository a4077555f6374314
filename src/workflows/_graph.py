"""The event graph of a workflow class: routing, validation and drawing (no I/O)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._collection import Binding, compute_bindings
from ._step_spec import StepSpec
from .context.state_store import DictState
from .errors import WorkflowValidationError
from .events import (
    Event,
    HumanResponseEvent,
    InputRequiredEvent,
    StartEvent,
    StopEvent,
)


class WorkflowGraph:
    """Facts derived from a workflow's steps, computed once per workflow class."""

    def __init__(self, workflow_name: str, specs: Mapping[str, StepSpec]) -> None:
        self.workflow_name = workflow_name
        self.specs = dict(specs)
        self._routes: dict[type[Event], tuple[str, ...]] = {}
        self._collectors: dict[type[Event], tuple[str, ...]] = {}
        self._joins: dict[type[Event], tuple[str, ...]] = {}
        self.start_event_class = self._find_start_event_class()
        self.state_type = self._find_state_type()
        self.error_handlers = {n: s for n, s in self.specs.items() if s.catch_for_steps is not None}
        self.collecting = any(s.collect is not None for s in self.specs.values())
        """True if some step takes ``list[E]`` (routing then also looks for collectors)."""
        self.joining = any(s.join is not None for s in self.specs.values())
        """True if some step takes several event parameters (a join)."""
        self.gathering = self.collecting or self.joining
        """True if routing must look beyond :meth:`routes` (collectors or joins)."""
        self.bindings: dict[str, tuple[Binding, ...]] = (
            compute_bindings(self.specs) if any(s.fan_out for s in self.specs.values()) else {}
        )
        """Fan-out step name -> the collectors gathering its streams."""

    # -- routing -----------------------------------------------------------------------
    def routes(self, event_type: type[Event]) -> tuple[str, ...]:
        """Names of the steps that run once per event of ``event_type`` (cached).

        Collectors (steps taking ``list[E]``) and joins (several event parameters) are
        not among them: see :meth:`collectors` and :meth:`joins`.
        """
        found = self._routes.get(event_type)
        if found is None:
            found = tuple(
                name
                for name, spec in self.specs.items()
                if spec.catch_for_steps is None
                and spec.collect is None
                and spec.join is None
                and spec.accepts_type(event_type)
            )
            self._routes[event_type] = found
        return found

    def joins(self, event_type: type[Event]) -> tuple[str, ...]:
        """Names of the join steps with a slot for events of ``event_type`` (cached)."""
        found = self._joins.get(event_type)
        if found is None:
            found = tuple(
                name
                for name, spec in self.specs.items()
                if spec.join is not None and spec.accepts_type(event_type)
            )
            self._joins[event_type] = found
        return found

    def collectors(self, event_type: type[Event]) -> tuple[str, ...]:
        """Names of the steps gathering events of ``event_type`` in a ``list[E]`` (cached)."""
        found = self._collectors.get(event_type)
        if found is None:
            found = tuple(
                name
                for name, spec in self.specs.items()
                if spec.collect is not None and spec.accepts_type(event_type)
            )
            self._collectors[event_type] = found
        return found

    def error_handler_for(self, step_name: str) -> StepSpec | None:
        """The ``@catch_error`` step covering ``step_name``: scoped first, then wildcard."""
        wildcard: StepSpec | None = None
        for spec in self.error_handlers.values():
            if spec.name == step_name:
                continue
            assert spec.catch_for_steps is not None
            if step_name in spec.catch_for_steps:
                return spec
            if not spec.catch_for_steps and wildcard is None:
                wildcard = spec
        return wildcard

    # -- facts -------------------------------------------------------------------------
    def _find_start_event_class(self) -> type[StartEvent]:
        found = {
            t for spec in self.specs.values() for t in spec.accepted if issubclass(t, StartEvent)
        }
        if len(found) > 1:
            names = ", ".join(sorted(t.__name__ for t in found))
            raise WorkflowValidationError(
                f"workflow {self.workflow_name!r}: steps accept different start events ({names})"
            )
        return found.pop() if found else StartEvent

    def _find_state_type(self) -> type[Any]:
        found = {spec.state_type for spec in self.specs.values() if spec.state_type is not None}
        if len(found) > 1:
            names = ", ".join(sorted(getattr(t, "__name__", str(t)) for t in found))
            raise WorkflowValidationError(
                f"workflow {self.workflow_name!r}: steps declare different state types ({names})"
            )
        return found.pop() if found else DictState

    @property
    def emitted_types(self) -> set[type[Event]]:
        """Every event type some step declares it emits."""
        return {t for spec in self.specs.values() for t in spec.emits}

    @property
    def event_types(self) -> set[type[Event]]:
        """Every event type named in a step signature."""
        types = self.emitted_types
        for spec in self.specs.values():
            types.update(spec.accepted)
        return types

    @property
    def stop_event_classes(self) -> set[type[StopEvent]]:
        """StopEvent types some step may return."""
        return {t for t in self.emitted_types if issubclass(t, StopEvent)}

    @property
    def stop_event_class(self) -> type[StopEvent]:
        """The one StopEvent type the steps return (``StopEvent`` if several or none)."""
        found = self.stop_event_classes
        return found.pop() if len(found) == 1 else StopEvent

    @property
    def uses_human_input(self) -> bool:
        """True if a step emits ``InputRequiredEvent`` or accepts ``HumanResponseEvent``."""
        return any(issubclass(t, InputRequiredEvent) for t in self.emitted_types) or any(
            issubclass(t, HumanResponseEvent) for s in self.specs.values() for t in s.accepted
        )

    # -- drawing -----------------------------------------------------------------------
    def mermaid(self) -> str:
        """The step/event graph as Mermaid ``flowchart`` text."""
        lines = ["flowchart TD"]
        events: dict[str, type[Event]] = {}
        edges: list[str] = []
        for name, spec in self.specs.items():
            step_id = f"step_{_mermaid_id(name)}"
            lines.append(f'    {step_id}["{name}"]:::step')
            for accepted in spec.accepted:
                events[accepted.__name__] = accepted
                edges.append(f"    event_{_mermaid_id(accepted.__name__)} --> {step_id}")
            for emitted in spec.emits:
                events[emitted.__name__] = emitted
                edges.append(f"    {step_id} --> event_{_mermaid_id(emitted.__name__)}")
        for event_name, event_type in sorted(events.items()):
            shape = (
                "([" + event_name + "])"
                if issubclass(event_type, (StartEvent, StopEvent))
                else ('[/"' + event_name + '"/]')
            )
            lines.append(f"    event_{_mermaid_id(event_name)}{shape}:::event")
        lines.extend(dict.fromkeys(edges))
        lines.append("    classDef step fill:#e3f2fd,stroke:#1565c0;")
        lines.append("    classDef event fill:#fff8e1,stroke:#f9a825;")
        return "\n".join(lines) + "\n"


def _mermaid_id(name: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in name)
