"""A small JSON-schema checker for input-request responses (no ``jsonschema`` dependency).

Supported keywords: ``type`` (a name or a list of names: object, string, number,
integer, boolean, array, null), ``properties``, ``required``, ``additionalProperties``
(``false`` or a schema), ``items``, ``enum``, ``const``, ``anyOf`` / ``oneOf`` (checked as
"any of"), ``allOf``, local ``$ref`` (``#/$defs/...``, ``#/definitions/...``), ``minimum``,
``maximum``, ``minLength``, ``maxLength``, ``minItems``, ``maxItems``. Other keywords
(``title``, ``default``, ``format``, ...) are ignored, so pydantic-generated schemas work.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["SchemaViolation", "check_response"]

_MAX_DEPTH = 64


class SchemaViolation(ValueError):
    """A value does not satisfy a schema; the message names the offending field."""


def check_response(value: Any, schema: Mapping[str, Any]) -> None:
    """Check ``value`` against ``schema``.

    Raises:
        SchemaViolation: with a message such as ``field 'address.city': expected
            string, got integer``.
    """
    _check(value, schema, schema, "", 0)


def _describe(path: str) -> str:
    return f"field {path!r}" if path else "the response"


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (list, tuple)):
        return "array"
    if isinstance(value, Mapping):
        return "object"
    return type(value).__name__


def _is_type(value: Any, name: str) -> bool:
    if name == "object":
        return isinstance(value, Mapping)
    if name == "array":
        return isinstance(value, (list, tuple))
    if name == "string":
        return isinstance(value, str)
    if name == "boolean":
        return isinstance(value, bool)
    if name == "null":
        return value is None
    if isinstance(value, bool):
        return False
    if name == "integer":
        return isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    if name == "number":
        return isinstance(value, (int, float))
    return True  # an unknown type name constrains nothing


def _resolve(ref: str, root: Mapping[str, Any], path: str) -> Mapping[str, Any]:
    node: Any = root
    if not ref.startswith("#"):
        raise SchemaViolation(f"{_describe(path)}: unsupported schema reference {ref!r}")
    for part in ref[1:].split("/"):
        if not part:
            continue
        part = part.replace("~1", "/").replace("~0", "~")
        if not isinstance(node, Mapping) or part not in node:
            raise SchemaViolation(f"{_describe(path)}: unresolvable schema reference {ref!r}")
        node = node[part]
    if not isinstance(node, Mapping):
        raise SchemaViolation(f"{_describe(path)}: unresolvable schema reference {ref!r}")
    return node


def _join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def _check(
    value: Any, schema: Mapping[str, Any], root: Mapping[str, Any], path: str, depth: int
) -> None:
    if depth > _MAX_DEPTH:
        raise SchemaViolation(f"{_describe(path)}: schema nesting is too deep")
    if not isinstance(schema, Mapping):
        return  # boolean schemas and junk: ``true`` accepts anything
    if "$ref" in schema:
        _check(value, _resolve(str(schema["$ref"]), root, path), root, path, depth + 1)
    _check_combinators(value, schema, root, path, depth)
    _check_type(value, schema, path)
    if "enum" in schema and value not in schema["enum"]:
        raise SchemaViolation(
            f"{_describe(path)}: must be one of {list(schema['enum'])!r}, got {value!r}"
        )
    if "const" in schema and value != schema["const"]:
        raise SchemaViolation(f"{_describe(path)}: must be {schema['const']!r}, got {value!r}")
    _check_bounds(value, schema, path)
    if isinstance(value, Mapping):
        _check_object(value, schema, root, path, depth)
    elif isinstance(value, (list, tuple)):
        items = schema.get("items")
        if isinstance(items, Mapping):
            for index, item in enumerate(value):
                _check(item, items, root, _join(path, index), depth + 1)


def _check_combinators(
    value: Any, schema: Mapping[str, Any], root: Mapping[str, Any], path: str, depth: int
) -> None:
    for sub in schema.get("allOf", ()):
        _check(value, sub, root, path, depth + 1)
    for keyword in ("anyOf", "oneOf"):
        options = schema.get(keyword)
        if not options:
            continue
        reasons: list[str] = []
        for sub in options:
            try:
                _check(value, sub, root, path, depth + 1)
            except SchemaViolation as exc:
                reasons.append(str(exc))
            else:
                break
        else:
            if len(reasons) == 1:
                raise SchemaViolation(reasons[0])
            raise SchemaViolation(
                f"{_describe(path)}: matches none of the allowed forms ({'; '.join(reasons)})"
            )


def _check_type(value: Any, schema: Mapping[str, Any], path: str) -> None:
    expected = schema.get("type")
    if expected is None:
        return
    names = [expected] if isinstance(expected, str) else list(expected)
    if not any(_is_type(value, str(name)) for name in names):
        wanted = " or ".join(str(name) for name in names)
        raise SchemaViolation(f"{_describe(path)}: expected {wanted}, got {_type_name(value)}")


def _check_bounds(value: Any, schema: Mapping[str, Any], path: str) -> None:
    where = _describe(path)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            raise SchemaViolation(f"{where}: must be >= {schema['minimum']}, got {value!r}")
        if "maximum" in schema and value > schema["maximum"]:
            raise SchemaViolation(f"{where}: must be <= {schema['maximum']}, got {value!r}")
    elif isinstance(value, str):
        if "minLength" in schema and len(value) < schema["minLength"]:
            raise SchemaViolation(f"{where}: must have at least {schema['minLength']} characters")
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            raise SchemaViolation(f"{where}: must have at most {schema['maxLength']} characters")
    elif isinstance(value, (list, tuple)):
        if "minItems" in schema and len(value) < schema["minItems"]:
            raise SchemaViolation(f"{where}: must have at least {schema['minItems']} items")
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            raise SchemaViolation(f"{where}: must have at most {schema['maxItems']} items")


def _check_object(
    value: Mapping[str, Any],
    schema: Mapping[str, Any],
    root: Mapping[str, Any],
    path: str,
    depth: int,
) -> None:
    for name in schema.get("required", ()):
        if name not in value:
            raise SchemaViolation(f"{_describe(_join(path, name))} is required")
    properties = schema.get("properties") or {}
    extra = schema.get("additionalProperties", True)
    for key, item in value.items():
        sub = properties.get(key)
        if sub is not None:
            _check(item, sub, root, _join(path, key), depth + 1)
        elif extra is False:
            raise SchemaViolation(f"{_describe(_join(path, key))} is not allowed")
        elif isinstance(extra, Mapping):
            _check(item, extra, root, _join(path, key), depth + 1)
