"""Asking a person at the terminal for the fields of a response, from its JSON schema."""

from __future__ import annotations

import json
from typing import Any

import click

from ._loading import resolve_property

__all__ = ["answer_example", "ask_response"]

_UNSET = object()


class _JsonType(click.ParamType):
    name = "json"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if not isinstance(value, str):
            return value
        try:
            return json.loads(value)
        except ValueError:
            self.fail(f"{value!r} is not valid JSON", param, ctx)


class _OptionalType(click.ParamType):
    """Empty input means "leave the field out"; anything else converts as ``inner``."""

    name = "optional"

    def __init__(self, inner: click.ParamType) -> None:
        self.inner = inner

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if value == "" or value is _UNSET:
            return _UNSET
        return self.inner.convert(value, param, ctx)


def _param_type(prop: dict[str, Any]) -> click.ParamType:
    enum = prop.get("enum")
    if isinstance(enum, list) and enum and all(isinstance(v, str) for v in enum):
        return click.Choice(enum)
    kind = prop.get("type")
    types: dict[str, click.ParamType] = {
        "string": click.STRING,
        "integer": click.INT,
        "number": click.FLOAT,
        "boolean": click.BOOL,
    }
    return types.get(kind if isinstance(kind, str) else "", _JsonType())


def _ask_field(name: str, prop: dict[str, Any], required: bool) -> Any:
    label = str(prop.get("title") or name)
    if prop.get("description"):
        label += f" ({prop['description']})"
    if prop.get("type") == "boolean":
        label += " [y/n]"
    default = prop.get("default", _UNSET)
    param_type = _param_type(prop)
    if default is not _UNSET:
        return click.prompt(label, default=default, type=param_type, show_default=True)
    if not required:
        return click.prompt(
            f"{label} [optional]", default="", show_default=False, type=_OptionalType(param_type)
        )
    return click.prompt(label, type=param_type)


def ask_response(prompt_text: str, schema: dict[str, Any]) -> dict[str, Any]:
    """Show ``prompt_text`` and ask for the response fields ``schema`` describes.

    A schema without properties (a plain ``HumanResponseEvent``) asks one value, sent
    as ``{"response": value}``. Otherwise each property is asked in order, typed by the
    schema (string, integer, number, boolean, enum; anything else as JSON); optional
    fields may be left empty.

    Raises:
        click.Abort: the input ended (end of file) or the person pressed Ctrl-C.
    """
    click.echo(click.style(prompt_text, bold=True))
    properties = schema.get("properties")
    if not isinstance(properties, dict) or not properties:
        return {"response": click.prompt("response", type=click.STRING)}
    required = set(schema.get("required") or [])
    fields: dict[str, Any] = {}
    for name, raw in properties.items():
        prop = resolve_property(raw if isinstance(raw, dict) else {}, schema)
        value = _ask_field(name, prop, name in required)
        if value is not _UNSET:
            fields[name] = value
    return fields


def _example_value(prop: dict[str, Any]) -> Any:
    enum = prop.get("enum")
    if isinstance(enum, list) and enum:
        return enum[0]
    kind = prop.get("type")
    if "default" in prop and kind != "string":
        return prop["default"]
    examples: dict[str, Any] = {
        "boolean": True,
        "integer": 1,
        "number": 1.0,
        "string": "...",
        "array": [],
        "object": {},
    }
    return examples.get(kind if isinstance(kind, str) else "")


def answer_example(schema: dict[str, Any]) -> str:
    """The VALUE part of a ``workflows respond`` command fitting ``schema``: ``TEXT`` for
    a plain response, else ``--json '{...}'`` with an example of each field."""
    properties = schema.get("properties")
    if not isinstance(properties, dict) or not properties or set(properties) == {"response"}:
        return "TEXT"
    example = {
        name: _example_value(resolve_property(raw if isinstance(raw, dict) else {}, schema))
        for name, raw in properties.items()
    }
    return f"--json '{json.dumps(example, ensure_ascii=False)}'"
