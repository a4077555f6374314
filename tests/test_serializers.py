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


class Outer:
    class Line(BaseModel):
        n: int

    class Item(BaseModel):
        n: int


class Other:
    class Item(BaseModel):
        n: int

    class Order(BaseModel):
        n: int


def test_a_nested_class_resolves_under_the_module_name_key_the_reference_writes() -> None:
    registry = TypeRegistry([Outer.Line])
    # The reference writes `module.__name__`; this package writes `module.__qualname__`.
    assert registry.resolve(f"{__name__}.Line") is Outer.Line
    assert registry.resolve(f"{__name__}.Outer.Line") is Outer.Line
    assert registry.key_for(Outer.Line) == f"{__name__}.Outer.Line"
    # ...and written by the reference from a script, read where the module is imported.
    assert registry.resolve("__main__.Line") is Outer.Line


def test_a_class_defined_in_a_function_resolves_under_its_module_name_key() -> None:
    class Local(BaseModel):
        n: int

    assert Local.__qualname__.endswith("<locals>.Local")
    assert TypeRegistry([Local]).resolve(f"{__name__}.Local") is Local


def test_a_module_name_key_two_nested_classes_answer_to_is_refused() -> None:
    registry = TypeRegistry([Outer.Item, Other.Item])
    with pytest.raises(ContextSerdeError, match="ambiguous") as info:
        registry.resolve(f"{__name__}.Item")
    assert f"{__name__}.Outer.Item" in str(info.value)
    assert f"{__name__}.Other.Item" in str(info.value)
    assert registry.resolve(f"{__name__}.Other.Item") is Other.Item


def test_a_top_level_class_keeps_its_key_over_a_nested_namesake() -> None:
    assert TypeRegistry([Other.Order, Order]).resolve(f"{__name__}.Order") is Order
    with pytest.raises(ContextSerdeError, match="unknown type"):
        TypeRegistry([Outer.Item]).resolve("elsewhere.Item")


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
