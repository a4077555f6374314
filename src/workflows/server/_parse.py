"""Reading request input: JSON bodies, query values, path ids and headers, with
400/404/413/422 on bad input (see ``docs/server-api.md``, *Input limits*)."""

from __future__ import annotations

import re
from typing import Any, TypeVar

from pydantic import BaseModel
from starlette.requests import Request

from ..runtime.user_name import USER_HEADER, read_header
from ._errors import ApiError
from ._identity import identity_of
from ._limits import MAX_INT, parse_json, read_limited
from ._state import state_of

__all__ = [
    "MAX_INT",
    "acting_user",
    "answering_user",
    "json_body",
    "model_body",
    "parse_int",
    "path_id",
    "query_bool",
    "query_choice",
    "query_float",
    "query_int",
    "query_str",
]

M = TypeVar("M", bound=BaseModel)

_INTEGER = re.compile(r"-?[0-9]{1,19}")


async def json_body(request: Request, *, optional: bool = False) -> Any:
    """The parsed JSON body (``None`` for an empty optional body), within the app's
    :class:`~workflows.server.InputLimits`.

    Raises:
        ApiError: 400 for a body that is not JSON or missing; 413 for one larger than
            the limit (read no further); 422 for JSON the limits refuse.
    """
    limits = state_of(request).limits
    raw = await read_limited(
        request.stream(), request.headers.get("content-length"), limits.max_body_bytes
    )
    if not raw.strip():
        if optional:
            return None
        raise ApiError("body_required", "a JSON body is required")
    return parse_json(raw, limits)


def path_id(request: Request, name: str, what: str) -> str:
    """The path parameter ``name`` (a run or request id); 404 when it holds NUL, which
    no id does and some databases cannot even compare."""
    value: str = request.path_params[name]
    if "\x00" in value:
        code = "run_not_found" if name == "run_id" else "request_not_found"
        raise ApiError(code, f"no {what} {value[:200]!r}: ids never contain NUL")
    return value


async def model_body(request: Request, model: type[M], *, optional: bool = False) -> M:
    """The JSON body validated as ``model`` (422 when it does not fit)."""
    data = await json_body(request, optional=optional)
    return model.model_validate({} if data is None else data)


def _value(request: Request, name: str) -> str | None:
    values = request.query_params.getlist(name)
    if len(values) > 1:
        raise ApiError("bad_parameter", f"query parameter {name!r} given more than once")
    return values[0] if values else None


def parse_int(raw: str, what: str, low: int, high: int | None = None) -> int:
    """``raw`` as an integer of ASCII digits in ``[low, min(high, MAX_INT)]``.

    Raises:
        ApiError: 400 naming ``what`` for anything else (other digits, signs, spaces,
            underscores, values out of range).
    """
    top = MAX_INT if high is None else min(high, MAX_INT)
    value = int(raw) if _INTEGER.fullmatch(raw) else None
    if value is None or not (low <= value <= top):
        raise ApiError("bad_parameter", f"{what} must be an integer {low}..{top}, got {raw[:40]!r}")
    return value


def query_int(request: Request, name: str, default: int, low: int, high: int | None) -> int:
    """An integer query value in ``[low, high]`` (``high=None``: up to :data:`MAX_INT`)."""
    raw = _value(request, name)
    if raw is None:
        return default
    return parse_int(raw, f"query parameter {name!r}", low, high)


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
        raise ApiError("bad_parameter", f"query parameter {name!r} must be a number {low}..{high}")
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
    raise ApiError("bad_parameter", f"query parameter {name!r} must be true or false")


def query_choice(
    request: Request, name: str, choices: frozenset[str] | set[str], default: str | None = None
) -> str | None:
    """A query value from a fixed set."""
    raw = _value(request, name)
    if raw is None:
        return default
    if raw not in choices:
        raise ApiError(
            "bad_parameter", f"query parameter {name!r} must be one of {', '.join(sorted(choices))}"
        )
    return raw


def query_str(request: Request, name: str) -> str | None:
    """A free-text query value (a filter), at most 512 characters, without NUL."""
    raw = _value(request, name)
    if raw is not None and len(raw) > 512:
        raise ApiError("bad_parameter", f"query parameter {name!r} is too long")
    if raw is not None and "\x00" in raw:
        raise ApiError("bad_parameter", f"query parameter {name!r} must not contain NUL")
    return raw


def answering_user(request: Request) -> str | None:
    """Who answers, from the ``X-Workflows-User`` header (``None`` without it): the
    name the client gives, recorded with the answer (not an identity the server checks).

    Raises:
        ApiError: 400 for a header given twice, empty, longer than 200 characters, or
            holding a control character.
    """
    values = request.headers.getlist(USER_HEADER)
    if not values:
        return None
    if len(values) > 1:
        raise ApiError("bad_parameter", f"header {USER_HEADER} given more than once")
    try:
        return read_header(values[0])
    except ValueError as exc:
        raise ApiError("bad_parameter", f"header {USER_HEADER}: {exc}") from None


def acting_user(request: Request) -> str | None:
    """Who answers or sends, as recorded with it: the caller when callers are
    authenticated users (an ``X-Workflows-User`` header may only repeat their name),
    else the name the ``X-Workflows-User`` header gives (``None`` without it).

    Raises:
        ApiError: 400 for a malformed header (see :func:`answering_user`); 403 for a
            header naming someone other than the authenticated caller.
    """
    named = answering_user(request)
    if not state_of(request).verified_users:
        return named
    user = identity_of(request).user
    if named is not None and named != user:
        raise ApiError(
            "forbidden",
            f"header {USER_HEADER} names {named[:40]!r}, but the caller is {user[:40]!r}: "
            "answers are recorded under the caller's own name",
        )
    return user
