"""Qualified names of values and classes.

``get_qualified_name(value)`` names a value's class as ``module.ClassName``.
``import_module_from_qualified_name(name)`` imports ``module.attribute`` on request.
Snapshot decoding never calls the latter: it resolves names only from the allowlist of
the workflow's own types (see :mod:`workflows.context.serializers`).
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__all__ = ["get_qualified_name", "import_module_from_qualified_name"]


def get_qualified_name(value: Any) -> str:
    """``module.ClassName`` of ``value``'s class.

    Raises:
        AttributeError: ``value`` has no ``__module__``.
    """
    try:
        return f"{value.__module__}.{value.__class__.__name__}"
    except AttributeError as exc:
        raise AttributeError(f"Object {value} does not have required attributes: {exc}") from exc


def import_module_from_qualified_name(qualified_name: str) -> Any:
    """Import ``module.attribute`` and return the attribute.

    Only for names your own code chooses; never pass a name read from untrusted data.

    Raises:
        ValueError: ``qualified_name`` has no dot.
        ImportError: the module cannot be imported.
        AttributeError: the module has no such attribute.
    """
    if not qualified_name or "." not in qualified_name:
        raise ValueError("Qualified name must be in format 'module.attribute'")
    module_name, attribute = qualified_name.rsplit(".", 1)
    try:
        module = import_module(module_name)
    except ImportError as exc:
        raise ImportError(f"Failed to import module {module_name}: {exc}") from exc
    try:
        return getattr(module, attribute)
    except AttributeError as exc:
        raise AttributeError(
            f"Attribute {attribute} not found in module {module_name}: {exc}"
        ) from exc
