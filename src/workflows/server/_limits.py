"""Bounds on request input, and the JSON reader that enforces them.

A body is read chunk by chunk and refused (413) as soon as it passes
``max_body_bytes``; nothing beyond the limit is buffered. Its JSON is then checked in
three passes that never build a value the limits refuse: a scan of the text's
structure with strings cut out (nesting depth, item count), the parse itself with
hooks on every number literal (length, finiteness), and, only when the text holds a
``\\uD800``-style escape, a walk over the parsed strings for lone surrogates (which no
store can encode). Every refusal is an :class:`~workflows.server._errors.ApiError`
naming the limit and the offending value.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import AsyncIterable
from dataclasses import dataclass
from typing import Any

from ._errors import ApiError

__all__ = ["MAX_INT", "MAX_SAFE_DEPTH", "InputLimits", "parse_json", "read_limited"]

MAX_INT = 2**63 - 1
"""The largest integer a query value or ``Last-Event-ID`` may hold (a signed 64-bit
integer, what every store's columns hold)."""

MAX_SAFE_DEPTH = 80
"""The deepest ``max_depth`` allowed: a run's snapshot nests a value a few levels below
the body's root, and the default ``JsonSerializer`` refuses data nested more than 100
levels, so a deeper limit would let a body in that the run could never store."""


@dataclass(frozen=True)
class InputLimits:
    """What one HTTP request may send; checked before anything reaches the store.

    Args:
        max_body_bytes: largest request body, in bytes (413 beyond it, read no further).
        max_depth: deepest nesting of JSON arrays/objects in a body, counting the body
            itself as level 1 (at most :data:`MAX_SAFE_DEPTH`).
        max_items: most array elements plus object members in one body, all levels
            together.
        max_number_length: longest number literal, in characters (``-``, digits, ``.``
            and exponent included); longer ones are refused, not rounded.

    Raises:
        ValueError: a limit that is not a positive integer, or a ``max_depth`` above
            :data:`MAX_SAFE_DEPTH`.

    Example::

        create_app("sqlite:///workflows.db", flows, limits=InputLimits(max_body_bytes=64_000))
    """

    max_body_bytes: int = 1024 * 1024
    max_depth: int = 64
    max_items: int = 100_000
    max_number_length: int = 100

    def __post_init__(self) -> None:
        for name in ("max_body_bytes", "max_depth", "max_items", "max_number_length"):
            value = getattr(self, name)
            if type(value) is not int or value < 1:
                raise ValueError(f"InputLimits.{name} must be a positive integer, got {value!r}")
        if self.max_depth > MAX_SAFE_DEPTH:
            raise ValueError(
                f"InputLimits.max_depth must be at most {MAX_SAFE_DEPTH} (a run's snapshot "
                f"nests input a few levels deeper, up to the serializer's 100), "
                f"got {self.max_depth}"
            )


async def read_limited(
    chunks: AsyncIterable[bytes], declared_length: str | None, limit: int
) -> bytes:
    """The whole body of at most ``limit`` bytes, read chunk by chunk.

    Args:
        chunks: the body as it arrives (``request.stream()``).
        declared_length: the ``Content-Length`` header, if any (refused early when over).
        limit: the largest body accepted.

    Raises:
        ApiError: 413 (with ``Connection: close``, so the server stops reading the rest)
            once the body is known to be larger than ``limit``.
    """
    if declared_length is not None:
        text = declared_length.strip()
        if text.isascii() and text.isdigit() and (len(text) > 19 or int(text) > limit):
            raise _too_large(f"the body is {text} bytes, more than the limit of {limit} bytes")
    body = bytearray()
    async for chunk in chunks:
        body += chunk
        if len(body) > limit:
            raise _too_large(f"the body is larger than the limit of {limit} bytes")
    return bytes(body)


def _too_large(message: str) -> ApiError:
    return ApiError("body_too_large", message)


# A JSON string literal (escapes included); removing these leaves the structure only.
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_EMPTY_CONTAINER = re.compile(r"\[\s*\]|\{\s*\}")
_BRACKET = re.compile(r"[\[\]{}]")
# An escape that may encode half of a surrogate pair (possibly a lone one).
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


class _Refused(Exception):
    """Raised from inside the parser's hooks (a number refused); becomes a 422."""


def parse_json(raw: bytes, limits: InputLimits) -> Any:
    """Parse a request body as JSON within ``limits``.

    Raises:
        ApiError: 400 for a body that is not UTF-8 JSON; 422 for JSON the limits or the
            contract refuse (too deep, too many items, a number literal too long or not
            finite, ``NaN``/``Infinity``, a lone surrogate).
    """
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ApiError(
            "malformed_json", f"the body is not UTF-8: {exc.reason} at byte {exc.start}"
        ) from None
    _check_structure(text, limits)
    try:
        value = json.loads(
            text,
            parse_float=lambda literal: _float(literal, limits),
            parse_int=lambda literal: _int(literal, limits),
            parse_constant=_constant,
        )
    except _Refused as exc:
        raise ApiError("json_bad_number", str(exc)) from None
    except (ValueError, RecursionError) as exc:
        raise ApiError("malformed_json", f"malformed JSON body: {str(exc)[:200]}") from None
    if _SURROGATE_ESCAPE.search(text):
        _check_strings(value)
    return value


def _check_structure(text: str, limits: InputLimits) -> None:
    skeleton = _STRING.sub("0", text)  # a string is one value, whatever it holds
    openers = skeleton.count("[") + skeleton.count("{")
    if not openers:
        return
    # In valid JSON every comma separates two items of one container, so the items are
    # the commas plus one per non-empty container.
    empty = len(_EMPTY_CONTAINER.findall(skeleton))
    items = skeleton.count(",") + openers - empty
    if items > limits.max_items:
        raise ApiError(
            "json_too_many_items",
            f"the JSON body has {items} items, more than the limit of {limits.max_items}",
        )
    if openers <= limits.max_depth:
        return
    depth = 0
    for match in _BRACKET.finditer(skeleton):
        if match.group() in "[{":
            depth += 1
            if depth > limits.max_depth:
                raise ApiError(
                    "json_too_deep",
                    f"the JSON body is nested deeper than the limit of {limits.max_depth} levels",
                )
        else:
            depth -= 1


def _number_length(literal: str, limits: InputLimits) -> None:
    if len(literal) > limits.max_number_length:
        raise _Refused(
            f"a number literal of {len(literal)} characters is longer than the limit of "
            f"{limits.max_number_length} ({literal[:20]}...)"
        )


def _int(literal: str, limits: InputLimits) -> int:
    _number_length(literal, limits)
    return int(literal)


def _float(literal: str, limits: InputLimits) -> float:
    _number_length(literal, limits)
    value = float(literal)
    if not math.isfinite(value):
        raise _Refused(f"the number {literal} is out of range: JSON numbers must be finite")
    return value


def _constant(name: str) -> Any:
    raise _Refused(f"{name} is not a JSON number: numbers must be finite")


def _check_strings(value: Any) -> None:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            strings = (item,)
        elif isinstance(item, dict):
            strings = tuple(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
            continue
        else:
            continue
        for text in strings:
            found = _LONE_SURROGATE.search(text)
            if found is not None:
                raise ApiError(
                    "json_bad_string",
                    f"a string holds a lone surrogate (\\u{ord(found.group()):04x}), "
                    "which is not valid Unicode",
                )
