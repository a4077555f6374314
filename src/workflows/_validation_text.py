"""pydantic validation errors as one line: ``field: why; field: why``, no URLs, no input."""

from __future__ import annotations

import re
from typing import Any

from pydantic import ValidationError

__all__ = ["validation_summary"]

_VALUE_ERROR = re.compile(r"^(Value|Assertion) error, ")


def _loc(parts: Any) -> str:
    return ".".join(str(p) for p in parts) if parts else ""


def _why(message: str) -> str:
    return _VALUE_ERROR.sub("", message.strip())


def validation_summary(exc: ValidationError, limit: int | None = None, where: str = "") -> str:
    """``field: why; field: why`` for a pydantic ``ValidationError`` (the first ``limit``
    errors, all by default); ``where`` names an error that has no field of its own."""
    items = []
    for error in exc.errors(include_url=False)[:limit]:
        field = _loc(error.get("loc")) or where
        why = _why(str(error.get("msg", "invalid")))
        items.append(f"{field}: {why}" if field else why)
    return "; ".join(items) or "invalid"
