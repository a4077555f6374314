"""One exception tree, drawn once in ``workflows.errors``, and one table of HTTP codes."""

from __future__ import annotations

import importlib
import inspect
import re
from pathlib import Path

import pytest

import workflows.errors
from workflows.error_codes import (
    ERROR_CODES,
    ErrorCode,
    code_for,
    error_body,
    error_from_code,
    lookup,
)
from workflows.errors import (
    ClientError,
    IdempotencyConflictError,
    InputRequestAlreadyAnsweredError,
    RunFinishedError,
    StoreError,
    UnauthorizedError,
    WorkflowError,
    WorkflowRuntimeError,
    WorkflowValidationError,
)

ROOT = Path(__file__).resolve().parents[1]

MODULES = ("workflows.errors", "workflows.stores", "workflows.client", "workflows.error_codes")


def _exception_classes(module_name: str) -> dict[str, type[BaseException]]:
    module = importlib.import_module(module_name)
    found = {}
    for name in module.__all__:
        obj = getattr(module, name)
        if inspect.isclass(obj) and issubclass(obj, BaseException):
            found[name] = obj
    return found


@pytest.mark.parametrize("module_name", MODULES)
def test_every_exported_exception_is_under_the_root(module_name: str) -> None:
    for name, cls in _exception_classes(module_name).items():
        assert issubclass(cls, WorkflowError), f"{module_name}.{name} is outside the tree"


def test_store_and_client_errors_are_the_classes_of_the_tree() -> None:
    """The stores and the client re-export the tree's classes, not copies of them."""
    for module_name in ("workflows.stores", "workflows.stores._errors", "workflows.client"):
        module = importlib.import_module(module_name)
        for name, cls in _exception_classes(module_name).items():
            assert getattr(workflows.errors, name) is cls, f"{module_name}.{name}"
        assert module.__all__


def _drawn_tree() -> list[tuple[str, str]]:
    """``(parent, child)`` pairs of the tree drawn in ``workflows.errors``' docstring."""
    doc = workflows.errors.__doc__ or ""
    pairs: list[tuple[str, str]] = []
    stack: list[str] = []
    for line in doc.splitlines():
        if line.strip() == "WorkflowError":
            stack = ["WorkflowError"]
            continue
        drawn = re.match(r"^    ((?:│   |    )*)(?:├── |└── )(\w+)", line)
        if not stack or drawn is None:
            continue
        depth = len(drawn.group(1)) // 4 + 1
        del stack[depth:]
        pairs.append((stack[-1], drawn.group(2)))
        stack.append(drawn.group(2))
    return pairs


def test_the_drawn_tree_is_the_real_one() -> None:
    pairs = _drawn_tree()
    drawn = {child for _, child in pairs} | {"WorkflowError"}
    for parent, child in pairs:
        assert issubclass(getattr(workflows.errors, child), getattr(workflows.errors, parent)), (
            f"{child} is drawn under {parent}"
        )
    assert drawn == set(_exception_classes("workflows.errors")), "the drawing misses a class"


def test_a_finished_run_is_a_runtime_error_as_with_the_local_handler() -> None:
    assert issubclass(RunFinishedError, StoreError)
    assert issubclass(RunFinishedError, WorkflowRuntimeError)
    assert issubclass(IdempotencyConflictError, InputRequestAlreadyAnsweredError)


# -- the table of codes ---------------------------------------------------------------------------
def test_codes_are_unique_snake_case_with_error_statuses() -> None:
    codes = [row.code for row in ERROR_CODES]
    assert len(codes) == len(set(codes))
    for row in ERROR_CODES:
        assert re.fullmatch(r"[a-z]+(_[a-z]+)*", row.code), row.code
        assert 400 <= row.status < 600, row
        assert issubclass(row.error, WorkflowError), row
        assert row.meaning and lookup(row.code) is row
    assert [row.status for row in ERROR_CODES] == sorted(row.status for row in ERROR_CODES)


@pytest.mark.parametrize("row", ERROR_CODES, ids=lambda row: row.code)
def test_each_code_becomes_its_class_with_the_servers_message(row: ErrorCode) -> None:
    code, status, error = row.code, row.status, row.error
    exc = error_from_code(code, f"why {code}", status, key="k-1")
    assert type(exc) is error
    if isinstance(exc, ClientError):
        assert (exc.code, exc.status_code, exc.message) == (code, status, f"why {code}")
    else:
        assert str(exc) == f"why {code}"
    for attribute in ("run_id", "request_id"):
        if hasattr(exc, attribute):
            assert getattr(exc, attribute) == "k-1"


def test_a_raised_error_is_rendered_with_the_code_of_its_class() -> None:
    for row in ERROR_CODES:
        if row.error is WorkflowValidationError or issubclass(row.error, ClientError):
            continue  # named by the routes, never rendered from a raised exception
        first = next(r for r in ERROR_CODES if r.error is row.error)
        assert code_for(error_from_code(row.code, "m", row.status, "k")) is first
    assert code_for(WorkflowValidationError("a workflow defined wrongly")) is None
    assert code_for(StoreError("a store failure the table does not name")) is None
    assert code_for(RunFinishedError("r", "completed")) is lookup("run_finished")
    assert code_for(IdempotencyConflictError("q")) is lookup("idempotency_conflict")


def test_an_unknown_code_is_a_client_error_keeping_it() -> None:
    exc = error_from_code("rate_limited", "slow down", 429)
    assert type(exc) is ClientError
    assert (exc.code, exc.status_code, exc.message) == ("rate_limited", 429, "slow down")
    assert isinstance(error_from_code("unauthorized", "", 401), UnauthorizedError)
    with pytest.raises(KeyError):
        error_body("rate_limited", "a server never writes a code outside the table")


def test_the_api_doc_lists_every_code_with_its_status() -> None:
    text = (ROOT / "docs" / "server-api.md").read_text(encoding="utf-8")
    section = text.split("### Error codes", 1)[1].split("\n### ", 1)[0]
    listed = re.findall(r"^\| `(\w+)` \| (\d{3}) \|", section, flags=re.MULTILINE)
    assert listed == [(row.code, str(row.status)) for row in ERROR_CODES]
