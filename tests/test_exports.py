"""Each public module declares ``__all__`` and it matches what the module exports.

"Exports" means the public classes and functions that belong to the package: defined
in the module itself or in one of the package's private (``_underscored``) modules and
re-exported. Names imported from elsewhere (``typing``, ``pydantic``, ...) do not count.
"""

from __future__ import annotations

import importlib
import inspect
from types import ModuleType

import pytest

PUBLIC_MODULES: dict[str, set[str]] = {
    "workflows": {"Context", "Workflow", "step", "catch_error"},
    "workflows.events": {
        "Event",
        "StartEvent",
        "StopEvent",
        "InputRequiredEvent",
        "HumanResponseEvent",
        "RequestOverdueEvent",
        "WorkflowTimedOutEvent",
        "WorkflowCancelledEvent",
        "WorkflowFailedEvent",
        "StepFailedEvent",
        "UnhandledEvent",
    },
    "workflows.context": {"Context"},
    "workflows.handler": {"WorkflowHandler"},
    "workflows.errors": {
        "WorkflowError",
        "WorkflowValidationError",
        "WorkflowTimeoutError",
        "WorkflowRuntimeError",
        "WorkflowCancelledByUser",
        "WorkflowStepDoesNotExistError",
        "WorkflowConfigurationError",
        "ContextSerdeError",
        "ContextStateError",
    },
    "workflows.decorators": {"step", "catch_error"},
    "workflows.retry_policy": {
        "retry_policy",
        "ConstantDelayRetryPolicy",
        "ExponentialBackoffRetryPolicy",
        "retry_if_exception_type",
        "retry_if_exception_message",
        "wait_fixed",
        "stop_after_attempt",
    },
    "workflows.resource": {"Resource"},
    "workflows.testing": {"WorkflowTestRunner"},
    "workflows.stores": {"RunStore", "MemoryStore", "SqliteStore", "open_store"},
    "workflows.engine": {"Engine", "RunHandle"},
    "workflows.server": {"create_app", "serve"},
    "workflows.client": {"WorkflowClient"},
    "workflows.tasks": {"TaskFields", "check_name"},
    "workflows.webhooks": {"Webhook", "sign", "verify_signature", "webhooks_from_toml"},
}


def _is_private_module(name: str) -> bool:
    return any(part.startswith("_") for part in name.split("."))


def _package_exports(module: ModuleType) -> set[str]:
    """Public classes/functions defined here or re-exported from a private module."""
    found = set()
    for name, obj in vars(module).items():
        if name.startswith("_") or isinstance(obj, ModuleType):
            continue
        if not (inspect.isclass(obj) or inspect.isfunction(obj)):
            continue
        origin = getattr(obj, "__module__", "") or ""
        if origin == module.__name__ or (
            origin.startswith("workflows.") and _is_private_module(origin)
        ):
            found.add(name)
    return found


@pytest.mark.parametrize("module_name", sorted(PUBLIC_MODULES))
def test_module_declares_all_without_duplicates(module_name: str) -> None:
    module = importlib.import_module(module_name)
    assert hasattr(module, "__all__"), f"{module_name} has no __all__"
    names = list(module.__all__)
    assert all(isinstance(n, str) for n in names)
    assert len(names) == len(set(names)), f"duplicates in {module_name}.__all__"


@pytest.mark.parametrize("module_name", sorted(PUBLIC_MODULES))
def test_every_name_in_all_exists(module_name: str) -> None:
    module = importlib.import_module(module_name)
    missing = [n for n in getattr(module, "__all__", []) if not hasattr(module, n)]
    assert missing == [], f"{module_name}.__all__ lists missing names {missing}"


@pytest.mark.parametrize("module_name", sorted(PUBLIC_MODULES))
def test_all_lists_every_public_export(module_name: str) -> None:
    module = importlib.import_module(module_name)
    unlisted = _package_exports(module) - set(getattr(module, "__all__", []))
    assert unlisted == set(), f"{module_name} exports {sorted(unlisted)} not in __all__"


@pytest.mark.parametrize("module_name", sorted(PUBLIC_MODULES))
def test_all_contains_the_names_the_spec_requires(module_name: str) -> None:
    module = importlib.import_module(module_name)
    absent = PUBLIC_MODULES[module_name] - set(getattr(module, "__all__", []))
    assert absent == set(), f"{module_name}.__all__ lacks {sorted(absent)}"


def test_every_error_derives_from_the_one_root() -> None:
    errors = importlib.import_module("workflows.errors")
    root = errors.WorkflowError
    for name in errors.__all__:
        obj = getattr(errors, name)
        if inspect.isclass(obj) and issubclass(obj, BaseException):
            assert issubclass(obj, root), f"{name} does not subclass WorkflowError"
