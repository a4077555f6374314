"""Engine settings the commands that execute runs take: ``--history``.

The process that executes a run writes its commits, so it is the one that keeps them
as checkpoints: ``serve``, ``worker``, ``run`` and ``respond --app`` take the setting.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from ..engine import Retention
from ..errors import WorkflowConfigurationError

__all__ = ["history_option"]

F = TypeVar("F", bound=Callable[..., Any])


def _check_history(ctx: click.Context, param: click.Parameter, value: str) -> str:
    try:
        Retention.parse(value)
    except WorkflowConfigurationError as exc:
        raise click.BadParameter(str(exc)) from None
    return value


def history_option(func: F) -> F:
    """``--history``: which commits of the runs this process executes are kept."""
    return click.option(
        "--history",
        default="none",
        show_default=True,
        envvar="WORKFLOWS_HISTORY",
        callback=_check_history,
        metavar="SETTING",
        help="Keep runs' commits as checkpoints (for `workflows history` and `fork`): "
        "none, all, waits (where a run waits for a person) or 'last N'. "
        "[env: WORKFLOWS_HISTORY]",
    )(func)
