"""What every part of a retry policy shares: durations and a readable repr."""

from __future__ import annotations

import inspect
from datetime import timedelta
from typing import Any, TypeAlias

__all__ = ["Component", "time_unit_type", "to_seconds"]

time_unit_type: TypeAlias = int | float | timedelta
"""A duration: seconds as a number, or a ``timedelta``."""


def to_seconds(value: time_unit_type) -> float:
    """``value`` in seconds, as a float (``float()`` errors for anything else)."""
    if isinstance(value, timedelta):
        return value.total_seconds()
    return float(value)


def _shown(value: object) -> str:
    if isinstance(value, type):
        return value.__qualname__
    if isinstance(value, tuple):
        inner = ", ".join(_shown(item) for item in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    return repr(value)


_ABSENT = object()


class Component:
    """Base of retry conditions, wait strategies and stop conditions.

    Its repr reads like the call that built the part (``wait_fixed(5.0)``): it shows each
    ``__init__`` parameter stored under the same attribute name, skipping defaults.
    """

    def __repr__(self) -> str:
        args: list[str] = []
        params = inspect.signature(type(self).__init__).parameters
        for param in list(params.values())[1:]:
            value: Any = getattr(self, param.name, _ABSENT)
            if value is _ABSENT:
                continue
            if param.kind is inspect.Parameter.VAR_POSITIONAL:
                args.extend(_shown(item) for item in value)
            elif param.default is inspect.Parameter.empty:
                args.append(_shown(value))
            elif value is not param.default and value != param.default:
                args.append(f"{param.name}={_shown(value)}")
        return f"{type(self).__name__}({', '.join(args)})"
