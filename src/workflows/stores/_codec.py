"""JSON encoding shared by the stores: compact text, and a clear error for bad values."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from workflows.errors import StoreError

__all__ = ["decode", "decode_opt", "digest", "encode", "encode_opt"]

_encoder = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)
_decoder = json.JSONDecoder()


def encode(value: Any, what: str) -> str:
    """Encode ``value`` as compact JSON text.

    Raises:
        StoreError: naming ``what`` when the value is not JSON-safe.
    """
    try:
        return _encoder.encode(value)
    except (TypeError, ValueError) as exc:
        raise StoreError(f"{what} is not JSON-safe: {exc}") from exc


def encode_opt(value: Any, what: str) -> str | None:
    """Like :func:`encode`, but ``None`` stays ``None`` (SQL ``NULL``)."""
    return None if value is None else encode(value, what)


def decode(text: str) -> Any:
    """Decode JSON text written by :func:`encode`."""
    return _decoder.decode(text)


def decode_opt(text: str | None) -> Any:
    """Like :func:`decode`, but ``None`` stays ``None``."""
    return None if text is None else _decoder.decode(text)


def digest(text: str) -> str:
    """A short content digest of JSON text (used to intern response schemas)."""
    return hashlib.blake2b(text.encode(), digest_size=12).hexdigest()
