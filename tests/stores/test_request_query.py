"""The cursors of ``RunStore.query_requests``: opaque, tied to their order, checked."""

from __future__ import annotations

import pytest

from workflows.stores._request_query import compare, decode_cursor, encode_cursor


@pytest.mark.parametrize(
    ("sort", "key"),
    [
        ("created", [1700000000.123456, "req-1"]),
        ("priority", [-5, 3.5, "é/ü"]),
        ("due", [None, 2.0, "x"]),
        ("due", [12, 2.0, "x"]),
    ],
)
def test_a_cursor_round_trips_its_key(sort: str, key: list[object]) -> None:
    cursor = encode_cursor(sort, key)
    assert cursor.isascii() and "=" not in cursor
    assert decode_cursor(sort, cursor) == key


@pytest.mark.parametrize(
    "key",
    [[1.0], [1.0, 2], ["1.0", "x"], [True, "x"], [float("1e308") * 10, "x"]],
)
def test_a_cursor_with_a_malformed_key_is_refused(key: list[object]) -> None:
    try:
        cursor = encode_cursor("created", key)
    except ValueError:
        return  # not even encodable (infinity)
    with pytest.raises(ValueError, match="malformed cursor"):
        decode_cursor("created", cursor)


def test_requests_without_due_come_last() -> None:
    assert compare("due", [None, 5.0, "a"], [1e9, 1.0, "a"]) > 0
    assert compare("due", [1.0, 1.0, "a"], [1.0, 2.0, "a"]) > 0  # newer first
    assert compare("due", [1.0, 1.0, "b"], [1.0, 1.0, "a"]) < 0  # request_id descending
    assert compare("priority", [3, 0.0, "a"], [1, 9.0, "z"]) < 0
