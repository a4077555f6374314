"""A compact delta between two JSON values, and applying it: how consecutive
checkpoints of a run are stored when a whole copy would cost much more.

A delta is a list of operations, each ``[op, path, ...]`` with ``path`` a list of object
keys and array indexes from the root:

- ``["=", path, value]``: set the value at ``path`` (``[]``: replace the root);
- ``["-", path]``: remove the object key at ``path``;
- ``["+", path, items]``: append ``items`` to the array at ``path``;
- ``["<", path, n]``: cut the array at ``path`` to its first ``n`` items.

Arrays are compared position by position, so the common growth of a run's state (a
list that gets items appended, such as a conversation) is one ``+`` of the new items.
Values are compared exactly as JSON: ``1``, ``1.0`` and ``true`` differ, although
Python finds them equal.
"""

from __future__ import annotations

import marshal
from typing import Any

__all__ = ["apply_delta", "delta"]

_Path = list[Any]


def delta(old: Any, new: Any) -> list[list[Any]]:
    """The operations that turn the JSON value ``old`` into ``new`` (``[]`` if equal).

    Neither value is changed; the operations share sub-values of ``new``.
    """
    ops: list[list[Any]] = []
    _diff(old, new, [], ops)
    return ops


def apply_delta(value: Any, ops: list[list[Any]]) -> Any:
    """``value`` changed by ``ops`` (made by :func:`delta`); returns the new root.

    ``value`` is changed in place: give a copy you own (a freshly decoded body).

    Raises:
        ValueError: an operation that does not fit ``value`` (a damaged delta).
    """
    for op in ops:
        try:
            kind, path = op[0], op[1]
            if not path:
                if kind == "=":
                    value = op[2]
                elif kind == "+":
                    value.extend(op[2])
                elif kind == "<":
                    del value[op[2] :]
                else:
                    raise ValueError(f"operation {kind!r} on the root")
                continue
            parent = value
            for step in path[:-1]:
                parent = parent[step]
            last = path[-1]
            if kind == "=":
                if isinstance(parent, list) and last == len(parent):
                    parent.append(op[2])
                else:
                    parent[last] = op[2]
            elif kind == "-":
                del parent[last]
            elif kind == "+":
                parent[last].extend(op[2])
            elif kind == "<":
                del parent[last][op[2] :]
            else:
                raise ValueError(f"unknown operation {kind!r}")
        except (LookupError, TypeError, AttributeError) as exc:
            raise ValueError(f"operation {op[:2]!r} does not fit: {exc!r}") from None
    return value


def _same(a: Any, b: Any) -> bool:
    """Exact JSON equality (``==`` first: it rejects most differences in C; marshal then
    tells ``1`` from ``1.0`` and ``true`` inside equal containers)."""
    if a is b:
        return True
    kind = type(a)
    if kind is not type(b) or a != b:
        return False
    if kind is dict or kind is list:
        return marshal.dumps(a, 2) == marshal.dumps(b, 2)
    return True


def _diff(old: Any, new: Any, path: _Path, ops: list[list[Any]]) -> None:
    if _same(old, new):
        return
    kind = type(new)
    if kind is dict and type(old) is dict:
        for key, value in old.items():
            if key not in new:
                ops.append(["-", [*path, key]])
            else:
                _diff(value, new[key], [*path, key], ops)
        for key, value in new.items():
            if key not in old:
                ops.append(["=", [*path, key], value])
        return
    if kind is list and type(old) is list:
        shared = min(len(old), len(new))
        if len(new) >= len(old) and _same(old, new[:shared]):
            ops.append(["+", path, new[shared:]])
            return
        changed: list[list[Any]] = []
        for index in range(shared):
            _diff(old[index], new[index], [*path, index], changed)
            if len(changed) > shared // 2 + 1:
                ops.append(["=", path, new])  # mostly different: the whole array is smaller
                return
        ops.extend(changed)
        if len(new) > shared:
            ops.append(["+", path, new[shared:]])
        elif len(old) > shared:
            ops.append(["<", path, shared])
        return
    ops.append(["=", path, new])
