"""Event classes a workflow's code refers to, beyond its step signatures.

A snapshot may only name classes from an allowlist (decoding never imports by a name
taken from the data). Step signatures give most of it; an event used only in
``ctx.wait_for_event(Answer, waiter_event=Ask(...))`` or only written to the stream
does not appear there. Such classes are found here from the code itself: the names each
step function's bytecode loads (``Answer``, ``events.Answer``), the classes in its
closure, and the event classes defined in the modules of the workflow and its steps.
Every class found is one the workflow's own code holds, so allowing it is safe.
"""

from __future__ import annotations

import inspect
import sys
import types
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from .events import Event

__all__ = ["referenced_event_types"]


def referenced_event_types(
    functions: Iterable[Callable[..., Any]], owners: Iterable[type[Any]] = ()
) -> set[type[Event]]:
    """Event subclasses referred to by ``functions`` or defined beside them or ``owners``."""
    found: set[type[Event]] = set()
    modules: set[str] = {owner.__module__ for owner in owners}
    for function in functions:
        function = inspect.unwrap(function)
        code = getattr(function, "__code__", None)
        if code is None:
            continue
        modules.add(getattr(function, "__module__", "") or "")
        namespace: dict[str, Any] = getattr(function, "__globals__", {})
        for cell in getattr(function, "__closure__", None) or ():
            found.update(_events_in(_cell_value(cell)))
        names = {name for inner in _code_objects(code) for name in inner.co_names}
        for name in names:
            value = namespace.get(name)
            found.update(_events_in(value))
            if isinstance(value, types.ModuleType):  # events.Answer: the attribute name
                for attribute in names:  # is among the loaded names too
                    found.update(_events_in(getattr(value, attribute, None)))
    for module_name in modules:
        module = sys.modules.get(module_name)
        for value in vars(module).values() if module is not None else ():
            if _is_event_class(value) and value.__module__ == module_name:
                found.add(value)
    return found


def _code_objects(code: types.CodeType) -> Iterator[types.CodeType]:
    yield code
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _code_objects(const)


def _cell_value(cell: Any) -> Any:
    try:
        return cell.cell_contents
    except ValueError:  # an empty cell
        return None


def _events_in(value: Any) -> Iterator[type[Event]]:
    if _is_event_class(value):
        yield value


def _is_event_class(value: Any) -> bool:
    return isinstance(value, type) and issubclass(value, Event)
