"""``workflows.stores`` (the one public module of the package) declares a matching ``__all__``."""

from __future__ import annotations

import importlib
import inspect

import pytest

import workflows.stores
from workflows.stores import RunStore


def test_all_matches_the_public_classes_and_functions() -> None:
    name = "workflows.stores"
    module = importlib.import_module(name)
    exported = set(module.__all__)
    assert len(exported) == len(module.__all__)
    assert all(hasattr(module, item) for item in exported)
    public = {
        key
        for key, value in vars(module).items()
        if not key.startswith("_")
        and (inspect.isclass(value) or inspect.isfunction(value))
        and (value.__module__ == name or value.__module__.startswith("workflows.stores._"))
    }
    assert public <= exported


def test_the_package_exports_the_stores_and_records() -> None:
    expected = {
        "RunStore",
        "MemoryStore",
        "SqliteStore",
        "PostgresStore",
        "RunRecord",
        "StreamEntry",
        "InputRequest",
        "InboundEvent",
        "Commit",
        "open_store",
        "store_from_url",
    }
    assert expected <= set(workflows.stores.__all__)


@pytest.mark.parametrize("name", ["MemoryStore", "SqliteStore", "PostgresStore"])
def test_every_store_class_implements_the_protocol(name: str) -> None:
    if name == "PostgresStore":
        pytest.importorskip("asyncpg")
    cls = getattr(workflows.stores, name)
    missing = [m for m in dir(RunStore) if not m.startswith("_") and not hasattr(cls, m)]
    assert missing == []
    for member in ("create_run", "commit", "answer_request", "open", "close"):
        assert getattr(cls, member).__doc__
