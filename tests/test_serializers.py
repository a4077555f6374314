"""The allowlist that decodes class names in snapshots."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from workflows.context.serializers import TypeRegistry
from workflows.errors import ContextSerdeError


class Order(BaseModel):
    n: int


def _as_script(cls: type[BaseModel], name: str) -> type[BaseModel]:
    """The same class as a script defines it: module ``__main__``."""
    clone = type(name, (BaseModel,), {"__annotations__": {"n": int}, "__module__": "__main__"})
    clone.__qualname__ = cls.__qualname__
    return clone


def test_a_script_class_resolves_under_its_module_name_and_back() -> None:
    # Written by `python tool.py` (key __main__.Order), read where it is `tool.Order`...
    assert TypeRegistry([Order]).resolve("__main__.Order") is Order
    # ...and written by an importing process, read by the script itself.
    script_order = _as_script(Order, "Order")
    assert TypeRegistry([script_order]).resolve("tool.Order") is script_order


def test_an_ambiguous_script_name_is_refused() -> None:
    other = type("Order", (BaseModel,), {"__annotations__": {"n": int}, "__module__": "elsewhere"})
    with pytest.raises(ContextSerdeError, match="unknown type"):
        TypeRegistry([Order, other]).resolve("__main__.Order")


def test_a_name_outside_the_allowlist_is_refused_even_when_it_looks_like_a_script() -> None:
    with pytest.raises(ContextSerdeError, match="unknown type"):
        TypeRegistry([Order]).resolve("__main__.Popen")


def test_a_stop_event_result_keeps_its_types_through_json() -> None:
    from datetime import datetime, timezone

    from workflows.context.serializers import JsonSerializer, TypeRegistry
    from workflows.events import StopEvent

    when = datetime(2026, 1, 2, tzinfo=timezone.utc)
    serializer = JsonSerializer()
    registry = TypeRegistry()
    back = serializer.decode(
        serializer.encode(StopEvent(result=(1, "a", when)), registry), registry
    )
    assert isinstance(back, StopEvent)
    assert back.result == (1, "a", when)
