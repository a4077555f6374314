"""Deltas between checkpoints: applying a delta to the old value gives the new one
exactly (as JSON), and the common growth of a state is a small delta."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workflows.engine._json_delta import apply_delta, delta

_leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 3),
    st.floats(-2, 2, allow_nan=False).map(lambda x: round(x, 1)),
    st.text(max_size=3),
)
_json = st.recursive(
    _leaves,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=2), inner, max_size=4)
    ),
    max_leaves=20,
)


def _text(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


@settings(max_examples=300, deadline=None)
@given(old=_json, new=_json)
def test_applying_the_delta_gives_the_new_value_exactly(old: Any, new: Any) -> None:
    kept = copy.deepcopy(old)
    ops = delta(old, new)
    assert _text(old) == _text(kept)  # delta() changes nothing
    assert _text(apply_delta(copy.deepcopy(old), json.loads(json.dumps(ops)))) == _text(new)


@settings(max_examples=200, deadline=None)
@given(old=_json, extra=st.lists(_json, min_size=1, max_size=3), key=st.text(max_size=2))
def test_a_list_that_grows_is_one_append(old: Any, extra: list[Any], key: str) -> None:
    before = {key: [old], "other": 1}
    after = {key: [old, *extra], "other": 1}
    assert delta(before, after) == [["+", [key], extra]]


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (1, 1.0),
        (1, True),
        ([1, 2], [True, 2]),
        ({"a": [0]}, {"a": [False]}),
        ({"x": 1}, {"x": 1.0}),
    ],
)
def test_values_python_finds_equal_are_told_apart(old: Any, new: Any) -> None:
    ops = delta(old, new)
    assert ops
    assert _text(apply_delta(copy.deepcopy(old), ops)) == _text(new)


def test_equal_values_need_no_operation() -> None:
    value = {"a": [1, {"b": "c"}], "d": None}
    assert delta(value, copy.deepcopy(value)) == []


def test_a_damaged_delta_is_refused() -> None:
    with pytest.raises(ValueError, match="does not fit"):
        apply_delta({"a": 1}, [["+", ["a"], [2]]])
    with pytest.raises(ValueError, match="unknown operation"):
        apply_delta({"a": 1}, [["?", ["a"]]])
