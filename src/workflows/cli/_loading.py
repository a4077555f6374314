"""Turning command-line text into workflows, start arguments, responses and stores."""

from __future__ import annotations

import importlib
import importlib.util
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click

from ..errors import WorkflowError
from ..stores import store_from_url
from ..workflow import Workflow

__all__ = [
    "RuntimeFailure",
    "check_store_url",
    "load_many",
    "load_workflows",
    "parse_args",
    "parse_value",
]


class RuntimeFailure(click.ClickException):
    """A failure while doing what was asked (exit status 1)."""

    exit_code = 1


def _import(module_name: str) -> Any:
    if module_name.endswith(".py") or "/" in module_name or "\\" in module_name:
        path = Path(module_name)
        if not path.is_file():
            raise click.UsageError(f"no such file: {module_name}")
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
            raise click.UsageError(f"cannot import module {module_name!r}: {exc}") from None
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


def load_workflows(target: str) -> dict[str, Workflow]:
    """Load ``module:attr`` (or ``path/to/file.py:attr``) as workflows by name.

    ``attr`` (dotted for nested attributes) may name a Workflow instance, a Workflow
    class (instantiated with its defaults), or a dict / list of them. Workflows not in
    a dict are named by their ``workflow_name``.

    Raises:
        click.UsageError: malformed target, missing module or attribute, wrong type.
        RuntimeFailure: importing the module raised.
    """
    module_name, sep, attr = target.rpartition(":")
    if not sep or not module_name or not attr:
        raise click.UsageError(f"expected MODULE:ATTR, got {target!r}")
    value: Any = _load_module(module_name)
    for part in attr.split("."):
        if isinstance(value, Mapping) and part in value:
            value = value[part]  # app:WORKFLOWS.approval picks one entry of a dict
            continue
        try:
            value = getattr(value, part)
        except AttributeError:
            raise click.UsageError(f"module {module_name!r} has no attribute {attr!r}") from None
    if isinstance(value, Mapping):
        found = {str(k): _as_workflow(v, f"{target}[{k!r}]") for k, v in value.items()}
    elif isinstance(value, (list, tuple)):
        items = [_as_workflow(v, f"{target}[{i}]") for i, v in enumerate(value)]
        found = {wf.workflow_name: wf for wf in items}
    else:
        wf = _as_workflow(value, target)
        found = {wf.workflow_name: wf}
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


def parse_args(pairs: tuple[str, ...]) -> dict[str, Any]:
    """``("k=v", ...)`` as a dict; values are JSON if they parse, else strings.

    Raises:
        click.BadParameter: an item without ``=`` or with an empty key.
    """
    fields: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"expected KEY=VALUE, got {pair!r}", param_hint="'--arg'")
        fields[key.strip()] = parse_value(value)
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
