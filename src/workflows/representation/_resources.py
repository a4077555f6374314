"""Resource nodes: what the graph shows of the resources a step takes.

Read defensively: ``workflows.resource`` is growing (factory resources with
dependencies, resources read from JSON config files), so a descriptor is recognised by
what it has, not by its class: a callable ``factory`` (or ``_factory``) makes a
resource node, a string ``config_file`` makes a resource-config node, and a
``get_dependencies()`` method, when present, adds edges to the resources it needs.
"""

from __future__ import annotations

import hashlib
import inspect
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from .types import WorkflowResourceConfigNode, WorkflowResourceNode


def _type_name(annotation: Any) -> str | None:
    """A readable name for a type annotation (``None`` stays ``None``)."""
    if annotation is None:
        return None
    name = getattr(annotation, "__name__", None)
    return name if isinstance(name, str) else str(annotation)


def _factory_of(descriptor: Any) -> Callable[..., Any] | None:
    """The callable that builds a factory resource, if ``descriptor`` is one."""
    for attr in ("factory", "_factory"):
        found = getattr(descriptor, attr, None)
        if callable(found):
            return found
    return None


def _config_file(descriptor: Any) -> str | None:
    """The JSON file of a config resource, or ``None`` for other resources."""
    try:
        found = getattr(descriptor, "config_file", None)
    except OSError:  # ResourceConfig checks that its file exists when asked for it
        found = getattr(descriptor, "_given_file", None)
    return found if isinstance(found, str) else None


def _is_config(descriptor: Any) -> bool:
    """True for a resource read from a JSON configuration file."""
    return _config_file(descriptor) is not None


def _identity(descriptor: Any) -> tuple[Any, ...]:
    """Key under which two descriptors share one node (same factory, same config)."""
    config_file = _config_file(descriptor)
    if config_file is not None:
        return ("config", config_file, getattr(descriptor, "path_selector", None))
    factory = _factory_of(descriptor)
    if factory is not None:
        return ("factory", id(factory))
    return ("object", id(descriptor))


def _dependencies(descriptor: Any) -> list[tuple[str, Any, Any]]:
    """``(parameter name, descriptor, annotated type)`` for each resource it depends on."""
    get = getattr(descriptor, "get_dependencies", None)
    if not callable(get):
        return []
    return [(str(name), dep, annotation) for name, dep, annotation in get()]


def _hash12(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _resource_node(descriptor: Any, annotation: Any) -> WorkflowResourceNode:
    """The node of a factory resource; its id depends on the factory's name and file."""
    factory = _factory_of(descriptor)
    getter = getattr(descriptor, "name", None)
    if not isinstance(getter, str):
        getter = getattr(factory, "__qualname__", None) or type(descriptor).__name__
    source_file: str | None = None
    source_line: int | None = None
    description: str | None = None
    if factory is not None:
        try:
            source_file = inspect.getfile(factory)
            source_line = inspect.getsourcelines(factory)[1]
        except (TypeError, OSError):
            pass
        description = inspect.getdoc(factory)
    node_id = "resource_" + _hash12(f"{getter}:{source_file or 'unknown'}")
    type_name = _type_name(annotation)
    return WorkflowResourceNode(
        id=node_id,
        label=type_name or getter or node_id,
        type_name=type_name,
        getter_name=getter,
        source_file=source_file,
        source_line=source_line,
        description=description,
    )


def _config_node(descriptor: Any, annotation: Any) -> WorkflowResourceConfigNode:
    """The node of a config resource; its id depends on the file and the selector."""
    config_file = _config_file(descriptor) or ""
    selector = getattr(descriptor, "path_selector", None)
    type_name = _type_name(annotation)
    schema = (
        annotation.model_json_schema()
        if isinstance(annotation, type) and issubclass(annotation, BaseModel)
        else None
    )
    label = getattr(descriptor, "label", None)
    return WorkflowResourceConfigNode(
        id="resource_config_" + _hash12(f"{config_file}:{selector or ''}"),
        label=label if isinstance(label, str) and label else (type_name or config_file),
        type_name=type_name,
        config_file=config_file,
        path_selector=selector,
        config_schema=schema,
        config_value=_read_config(config_file, selector),
        description=getattr(descriptor, "description", None),
    )


def _read_config(config_file: str, selector: str | None) -> dict[str, Any] | None:
    """The JSON object in ``config_file`` at the dotted ``selector``, or ``None``."""
    try:
        value: Any = json.loads(Path(config_file).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    for key in selector.split(".") if selector else ():
        value = value.get(key) if isinstance(value, dict) else None
    return value if isinstance(value, dict) else None
