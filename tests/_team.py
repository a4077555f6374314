"""A team for the human-task tests of the client, the CLI and the pages: four users in a
users file, and a workflow whose prompt is routed to whoever its start input names.

- ada and carol are in ``finance``, bob in ``legal``, root in ``admins`` (an admin).
- ``routed`` asks one question, offered to the start input's ``groups`` / ``users``
  (or assigned to its ``assignee``), at its ``priority``, due ``due_in`` seconds after
  it is asked (``follow_up_in`` likewise).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workflows import Workflow, step
from workflows.events import HumanResponseEvent, InputRequiredEvent, StartEvent, StopEvent

if TYPE_CHECKING:
    from _live_server import LiveServer

__all__ = [
    "GROUPS",
    "TOKENS",
    "WORKFLOWS",
    "Routed",
    "task_fields",
    "team_server",
    "team_workflows",
    "write_users",
]

TOKENS = {"ada": "tok-ada", "bob": "tok-bob", "carol": "tok-carol", "root": "tok-root"}
"""Each user's bearer token."""

GROUPS = {"ada": ["finance"], "bob": ["legal"], "carol": ["finance"], "root": ["admins"]}
"""Each user's groups."""


def write_users(directory: Path) -> Path:
    """Write the team's users file into ``directory``; return its path."""
    lines = ['admin_group = "admins"', ""]
    for user, token in TOKENS.items():
        digest = hashlib.sha256(token.encode()).hexdigest()
        groups = ", ".join(f'"{g}"' for g in GROUPS[user])
        lines += [f"[users.{user}]", f'token_sha256 = "{digest}"', f"groups = [{groups}]", ""]
    path = directory / "users.toml"
    path.write_text("\n".join(lines))
    return path


def task_fields(start: StartEvent) -> dict[str, Any]:
    """The task fields the start input asks for (only those given)."""
    fields: dict[str, Any] = {}
    for name in ("assignee", "priority"):
        if start.get(name, None) is not None:
            fields[name] = start.get(name)
    if start.get("groups", None):
        fields["candidate_groups"] = list(start.get("groups"))
    if start.get("users", None):
        fields["candidate_users"] = list(start.get("users"))
    for name in ("due", "follow_up"):
        seconds = start.get(f"{name}_in", None)
        if seconds is not None:
            fields[name] = timedelta(seconds=float(seconds))
    return fields


class Routed(Workflow):
    """Asks ``title`` of whoever the start input routes it to; returns the answer."""

    @step
    async def ask(self, ev: StartEvent) -> InputRequiredEvent:
        return InputRequiredEvent(prefix=str(ev.get("title", "Decide")), **task_fields(ev))

    @step
    async def done(self, ev: HumanResponseEvent) -> StopEvent:
        return StopEvent(result=ev.response)


def team_workflows() -> dict[str, Workflow]:
    """Fresh instances of the workflows a team server serves."""
    return {"routed": Routed(timeout=None)}


WORKFLOWS = team_workflows()
"""The workflows a team server serves (``workflows serve _team.py:WORKFLOWS``)."""


@contextmanager
def team_server(store_url: str, directory: Path) -> Iterator[LiveServer]:
    """A live server of the team's workflows on ``store_url`` with the team's users file
    (written into ``directory``); stopped after the block."""
    # Imported here: the CLI tests copy this module where the test helpers are not.
    from _live_server import live_servers

    with live_servers(team_workflows) as start:
        yield start(store_url, users=write_users(directory))
