"""``workflows.client`` and ``workflows.cli`` declare exactly what they export."""

from __future__ import annotations

import inspect

import workflows.cli
import workflows.client
from workflows.errors import WorkflowError


def test_client_all_matches_exports() -> None:
    """The client's own names, plus the errors it raises (defined in the one tree of
    ``workflows.errors``)."""
    exported = {
        name
        for name, obj in vars(workflows.client).items()
        if not name.startswith("_")
        and (inspect.isclass(obj) or inspect.isfunction(obj))
        and (
            obj.__module__.startswith("workflows.client")
            or (obj.__module__ == "workflows.errors" and issubclass(obj, WorkflowError))
        )
    }
    assert exported == set(workflows.client.__all__)


def test_cli_exports_main() -> None:
    assert workflows.cli.__all__ == ["main"]


def test_client_errors_share_the_root() -> None:
    for name in workflows.client.__all__:
        obj = getattr(workflows.client, name)
        if inspect.isclass(obj) and issubclass(obj, BaseException):
            assert issubclass(obj, WorkflowError), name
