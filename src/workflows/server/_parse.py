"""Reading request input: JSON bodies and query values, with 400/422 on bad input."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from pydantic import BaseModel
from starlette.requests import Request

from ._errors import ApiError

__all__ = [
    "json_body",
    "model_body",
    "query_bool",
    "query_choice",
    "query_float",
    "query_int",
    "query_str",
]

M = TypeVar("M", bound=BaseModel)

MAX_BODY = 1_000_000


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


async def json_body(request: Request, *, optional: bool = False) -> Any:
    """The parsed JSON body (``None`` for an empty optional body).

    Raises:
        ApiError: 400 for a body that is not JSON, too large or missing.
    """
    raw = await request.body()
    if len(raw) > MAX_BODY:
        raise ApiError(400, f"body larger than {MAX_BODY} bytes")
    if not raw.strip():
        if optional:
            return None
        raise ApiError(400, "a JSON body is required")
    try:
        return json.loads(raw, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        raise ApiError(400, f"malformed JSON body: {str(exc)[:200]}") from None


async def model_body(request: Request, model: type[M], *, optional: bool = False) -> M:
    """The JSON body validated as ``model`` (422 when it does not fit)."""
    data = await json_body(request, optional=optional)
    return model.model_validate({} if data is None else data)


def _value(request: Request, name: str) -> str | None:
    values = request.query_params.getlist(name)
    if len(values) > 1:
        raise ApiError(400, f"query parameter {name!r} given more than once")
    return values[0] if values else None


def query_int(request: Request, name: str, default: int, low: int, high: int | None) -> int:
    """An integer query value in ``[low, high]``."""
    raw = _value(request, name)
    if raw is None:
        return default
    try:
        value = int(raw.strip()) if len(raw) <= 30 else None
    except ValueError:
        value = None
    if value is None or value < low or (high is not None and value > high):
        bound = f"{low}..{high}" if high is not None else f">= {low}"
        raise ApiError(400, f"query parameter {name!r} must be an integer {bound}")
    return value


def query_float(request: Request, name: str, default: float, low: float, high: float) -> float:
    """A number query value in ``[low, high]``."""
    raw = _value(request, name)
    if raw is None:
        return default
    try:
        value = float(raw) if len(raw) <= 30 else None
    except ValueError:
        value = None
    if value is None or not (low <= value <= high):  # also rejects nan
        raise ApiError(400, f"query parameter {name!r} must be a number {low}..{high}")
    return value


def query_bool(request: Request, name: str, default: bool = False) -> bool:
    """A boolean query value (``true``/``false``, ``1``/``0``)."""
    raw = _value(request, name)
    if raw is None:
        return default
    lowered = raw.lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    raise ApiError(400, f"query parameter {name!r} must be true or false")


def query_choice(
    request: Request, name: str, choices: frozenset[str] | set[str], default: str | None = None
) -> str | None:
    """A query value from a fixed set."""
    raw = _value(request, name)
    if raw is None:
        return default
    if raw not in choices:
        raise ApiError(400, f"query parameter {name!r} must be one of {', '.join(sorted(choices))}")
    return raw


def query_str(request: Request, name: str) -> str | None:
    """A free-text query value (a filter), at most 512 characters."""
    raw = _value(request, name)
    if raw is not None and len(raw) > 512:
        raise ApiError(400, f"query parameter {name!r} is too long")
    return raw
