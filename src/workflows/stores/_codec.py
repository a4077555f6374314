"""JSON encoding shared by the stores: compact text, and a clear error for bad values.

:func:`decode` reads back text this module just wrote; :func:`decode_column` reads a
stored column, which may have been damaged since (a truncated write, a hand edit, a bug
of another program), and names the run and the column when it cannot.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from workflows.errors import CorruptRecordError, StoreError

__all__ = ["decode", "decode_column", "decode_opt", "digest", "encode", "encode_opt"]

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


def decode_column(
    text: Any,
    run_id: str,
    column: str,
    *,
    key: str | None = None,
    nullable: bool = False,
    any_json: bool = False,
) -> Any:
    """Decode the stored JSON ``text`` of ``column``: a JSON object, or with
    ``any_json`` any JSON value; with ``nullable``, SQL ``NULL`` (``None``) too.

    Raises:
        CorruptRecordError: naming ``run_id``, ``column`` and ``key`` (which row of the
            run, if not its own), when the text is not valid JSON, is nested too deeply
            to decode, is not text, or is not a JSON object where one is expected.
    """
    if text is None and nullable:
        return None
    if type(text) is not str:
        cause = f"stored as {type(text).__name__}, not as JSON text"
    else:
        try:
            value = _decoder.decode(text)
        except ValueError as exc:  # json.JSONDecodeError
            cause = f"not valid JSON: {exc}"
        except RecursionError:
            cause = "nested too deeply to decode"
        else:
            if any_json or type(value) is dict or (value is None and nullable):
                return value
            cause = f"expected a JSON object, got {_json_type(value)}"
    raise CorruptRecordError(run_id, column, cause, key=key)


def _json_type(value: Any) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if value is None:
        return "null"
    return "a number"


def digest(text: str) -> str:
    """A short content digest of JSON text (used to intern response schemas)."""
    return hashlib.blake2b(text.encode(), digest_size=12).hexdigest()
