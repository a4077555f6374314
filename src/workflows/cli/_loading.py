"""Turning command-line text into workflows, start arguments, responses and stores."""

from __future__ import annotations

import difflib
import importlib
import importlib.util
import json
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import click

from ..errors import WorkflowError
from ..stores import parse_store_url, store_from_url
from ..workflow import Workflow

__all__ = [
    "RuntimeFailure",
    "check_store_location",
    "check_store_url",
    "did_you_mean",
    "load_many",
    "load_workflows",
    "parse_args",
    "parse_json",
    "parse_value",
    "resolve_property",
]


class RuntimeFailure(click.ClickException):
    """A failure while doing what was asked (exit status 1)."""

    exit_code = 1


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest of ``candidates``, or ``""``."""
    close = difflib.get_close_matches(word, sorted(set(candidates)), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _import(module_name: str) -> Any:
    if module_name.endswith(".py") or "/" in module_name or "\\" in module_name:
        path = Path(module_name)
        if not path.is_file():
            siblings = [p.name for p in path.parent.glob("*.py")] if path.parent.is_dir() else []
            hint = did_you_mean(path.name, siblings)
            raise click.UsageError(f"no such file: {module_name}{hint}")
        spec = importlib.util.spec_from_file_location(path.stem, path)
        if spec is None or spec.loader is None:
            raise click.UsageError(f"cannot import {module_name}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[path.stem] = module
        spec.loader.exec_module(module)
        return module
    if "" not in sys.path and str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))
    return importlib.import_module(module_name)


def _load_module(module_name: str) -> Any:
    try:
        return _import(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.split(".")[0].startswith(exc.name.split(".")[0]):
            nearby = [p.stem for p in Path.cwd().glob("*.py")]
            hint = did_you_mean(module_name, nearby)
            raise click.UsageError(f"cannot import module {module_name!r}: {exc}{hint}") from None
        raise RuntimeFailure(f"importing {module_name!r} failed: {exc}") from None
    except click.ClickException:
        raise
    except Exception as exc:
        raise RuntimeFailure(
            f"importing {module_name!r} failed: {type(exc).__name__}: {exc}"
        ) from None


def _as_workflow(value: Any, where: str) -> Workflow:
    if isinstance(value, Workflow):
        return value
    if isinstance(value, type) and issubclass(value, Workflow):
        try:
            return value()
        except WorkflowError as exc:
            raise RuntimeFailure(f"cannot instantiate {where}: {exc}") from None
    raise click.UsageError(f"{where} is a {type(value).__name__}, not a Workflow instance or class")


def _public_names(value: Any) -> list[str]:
    if isinstance(value, Mapping):
        return [str(k) for k in value]
    return [name for name in dir(value) if not name.startswith("_")]


def load_workflows(target: str) -> dict[str, Workflow]:
    """Load ``module:attr`` (or ``path/to/file.py:attr``) as workflows by name.

    ``attr`` (dotted for nested attributes) may name a Workflow instance, a Workflow
    class (instantiated with its defaults), or a dict / list of them. Workflows in a
    dict are named by their key, also when ``attr`` picks one entry
    (``app:WORKFLOWS.expense`` is ``expense``, as ``workflows serve app:WORKFLOWS`` names
    it); the others by their ``workflow_name``.

    Raises:
        click.UsageError: malformed target, missing module or attribute (with the
            closest name), wrong type.
        RuntimeFailure: importing the module raised.
    """
    module_name, sep, attr = target.rpartition(":")
    if not sep or not module_name or not attr:
        raise click.UsageError(f"expected MODULE:ATTR, got {target!r}")
    value: Any = _load_module(module_name)
    key: str | None = None  # the dict key the value was found under, if any
    reached = module_name
    parts = attr.split(".")
    for index, part in enumerate(parts):
        if isinstance(value, Mapping) and part in value:
            value, key = value[part], part  # app:WORKFLOWS.expense: one entry of a dict
        elif not isinstance(value, Mapping) and hasattr(value, part):
            value, key = getattr(value, part), None
        else:
            hint = did_you_mean(part, _public_names(value))
            what = "entry" if isinstance(value, Mapping) else "attribute"
            if reached == module_name:
                raise click.UsageError(f"module {module_name!r} has no {what} {part!r}{hint}")
            raise click.UsageError(f"{reached} has no {what} {part!r}{hint}")
        reached = f"{module_name}:{'.'.join(parts[: index + 1])}"
    if isinstance(value, Mapping):
        found = {str(k): _as_workflow(v, f"{target}[{k!r}]") for k, v in value.items()}
    elif isinstance(value, (list, tuple)):
        items = [_as_workflow(v, f"{target}[{i}]") for i, v in enumerate(value)]
        found = {wf.workflow_name: wf for wf in items}
    else:
        wf = _as_workflow(value, target)
        found = {key if key is not None else wf.workflow_name: wf}
    if not found:
        raise click.UsageError(f"{target} names no workflows")
    return found


def load_many(targets: tuple[str, ...]) -> dict[str, Workflow]:
    """Load several targets; a name given twice is a usage error."""
    merged: dict[str, Workflow] = {}
    for target in targets:
        for name, wf in load_workflows(target).items():
            if name in merged and merged[name] is not wf:
                raise click.UsageError(f"two workflows are named {name!r}")
            merged[name] = wf
    return merged


def parse_value(text: str) -> Any:
    """``text`` as JSON if it parses, else the string itself."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def parse_json(text: str, what: str) -> Any:
    """``text`` as JSON.

    Raises:
        click.BadParameter: it is not valid JSON; the message gives the position.
    """
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise click.BadParameter(
            f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno} "
            f"of {_excerpt(text)}",
            param_hint=what,
        ) from None


def _excerpt(text: str, width: int = 60) -> str:
    flat = " ".join(text.split())
    return repr(flat if len(flat) <= width else flat[: width - 1] + "…")


def resolve_property(prop: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    """A JSON-schema property with a local ``$ref`` followed and ``Optional[X]`` (an
    ``anyOf`` with null) unwrapped."""
    ref = prop.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        target: Any = root
        for part in ref[2:].split("/"):
            target = target.get(part, {}) if isinstance(target, dict) else {}
        prop = {**target, **{k: v for k, v in prop.items() if k != "$ref"}}
    options = prop.get("anyOf")
    if isinstance(options, list):
        real = [o for o in options if isinstance(o, dict) and o.get("type") != "null"]
        if len(real) == 1:
            merged = {**prop, **resolve_property(real[0], root)}
            merged.pop("anyOf", None)
            return merged
    return prop


def parse_args(pairs: tuple[str, ...], schema: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """``("k=v", ...)`` as start-event fields.

    A field ``schema`` (the start event's JSON schema) declares as a string keeps its
    text as it is (``name=007`` stays ``"007"``); any other value is JSON if it parses,
    else the text, which the start event's validation converts or refuses
    (``amount=420`` is the number 420, ``tags='["a"]'`` a list).

    Raises:
        click.BadParameter: an item without ``=`` or with an empty key.
    """
    root = dict(schema or {})
    properties = root.get("properties")
    props: dict[str, Any] = properties if isinstance(properties, dict) else {}
    fields: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise click.BadParameter(f"expected KEY=VALUE, got {pair!r}", param_hint="'--arg'")
        raw = props.get(key)
        prop = resolve_property(raw, root) if isinstance(raw, dict) else {}
        fields[key] = value if prop.get("type") == "string" else parse_value(value)
    return fields


def check_store_url(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """Click callback: reject a malformed store URL as a usage error."""
    if value is None:
        return None
    try:
        store_from_url(value)
    except (WorkflowError, ImportError) as exc:
        raise click.BadParameter(str(exc)) from None
    return value


def _absolute_reading(path: Path) -> str:
    """``did you mean sqlite:////x/y.db?`` when relative ``x/y.db`` looks meant as
    ``/x/y.db``: its first directory is missing here but exists at the root."""
    if path.is_absolute() or len(path.parts) < 2:
        return ""
    first = path.parts[0]
    if Path(first).exists() or not Path("/", first).is_dir():
        return ""
    return f"did you mean sqlite:////{path.as_posix()}?"


def check_store_location(
    url: str, *, must_exist: bool, default: str = "sqlite:///workflows.db"
) -> None:
    """Refuse a SQLite store URL that cannot be what was meant.

    ``must_exist`` (commands that read or answer runs): the database file must exist,
    instead of a fresh empty one being created. Otherwise (commands that create runs):
    its directory must exist. Either way a relative path (``sqlite:///tmp/x.db`` is
    ``tmp/x.db``) whose first directory is missing while it exists at the root gets a
    ``did you mean sqlite:////tmp/x.db?``.

    Raises:
        click.BadParameter: as said above (exit status 2).
    """
    try:
        parsed = parse_store_url(url)
    except WorkflowError as exc:
        raise click.BadParameter(str(exc), param_hint="'--store'") from None
    if parsed.kind != "sqlite" or parsed.target == ":memory:" or parsed.target.startswith("file:"):
        return
    path = Path(parsed.target)
    hint = _absolute_reading(path)
    where = repr(parsed.target)
    if not path.is_absolute():
        where += f" (that is {Path.cwd() / path}{'; ' + hint if hint else ''})"
    elif hint:
        where += f" ({hint})"
    if must_exist and not path.exists():
        if url == default and not hint:
            raise click.BadParameter(
                f"no store here: the default store {default} is the file {Path.cwd() / path}, "
                "which does not exist; give the store the runs are in, or a server's --url",
                param_hint="'--store'",
            )
        raise click.BadParameter(
            f"no SQLite database at {where}; nothing was stored there", param_hint="'--store'"
        )
    if not must_exist and not path.parent.is_dir():
        raise click.BadParameter(
            f"cannot create the SQLite database {where}: its directory does not exist",
            param_hint="'--store'",
        )
    if path.is_dir():
        raise click.BadParameter(
            f"{where} is a directory, not a SQLite database", param_hint="'--store'"
        )
