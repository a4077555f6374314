"""How the CLI shows runs, requests, events and results.

Tables and details go to stdout, aligned; when stdout is a terminal (and ``NO_COLOR`` is
not set) statuses are coloured and long cells are cut to the terminal's width. When it
is not (a pipe, a file), the output is plain text. ``--json`` prints JSON instead.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import click
from pydantic import BaseModel

from ..client import AuditEntryInfo, InputRequestInfo, RunInfo
from ..events import Event, InputRequiredEvent, StopEvent

__all__ = [
    "EventLine",
    "RunDetails",
    "ago",
    "candidates",
    "color_enabled",
    "echo_json",
    "format_duration",
    "format_value",
    "run_outcome",
    "show_details",
    "show_event",
    "show_event_line",
    "show_requests",
    "show_result",
    "show_runs",
]

STATUS_COLORS = {
    "completed": "green",
    "answered": "green",
    "failed": "red",
    "quarantined": "red",
    "cancelled": "yellow",
    "timed_out": "yellow",
    "expired": "yellow",
    "waiting": "magenta",
    "pending": "magenta",
    "running": "cyan",
}
"""The colour of each run or request status in tables (when stdout is a terminal)."""


def color_enabled() -> bool:
    """Whether stdout gets colours: a terminal, and neither ``NO_COLOR`` nor ``TERM=dumb``."""
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR") or os.environ.get("CLICOLOR_FORCE"):
        return True
    return sys.stdout.isatty() and os.environ.get("TERM") != "dumb"


def _screen_width() -> int | None:
    """The terminal's width when stdout is one, else None (never cut piped output)."""
    if not sys.stdout.isatty():
        return None
    return shutil.get_terminal_size((120, 24)).columns


def _when(stamp: float | None) -> str:
    if stamp is None:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(stamp))


def format_duration(seconds: float | None) -> str:
    """``0.42s``, ``12s``, ``5m03s``, ``2h05m``, ``3d04h``; ``-`` for None."""
    if seconds is None:
        return "-"
    seconds = max(seconds, 0.0)
    if seconds < 10:
        return f"{seconds:.2f}s" if seconds < 1 else f"{seconds:.1f}s"
    whole = int(seconds)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    if whole < 86400:
        return f"{whole // 3600}h{whole % 3600 // 60:02d}m"
    return f"{whole // 86400}d{whole % 86400 // 3600:02d}h"


def ago(stamp: float | None, now: float | None = None) -> str:
    """How long ago ``stamp`` was, coarsely (``12s``, ``5m``, ``3h``, ``2d``)."""
    if stamp is None:
        return "-"
    seconds = max((time.time() if now is None else now) - stamp, 0.0)
    for size, unit in ((86400, "d"), (3600, "h"), (60, "m")):
        if seconds >= size:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds)}s"


def _plain(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    return value


def format_value(value: Any) -> str:
    """A result or field for people: strings as they are, the rest as JSON if possible."""
    if isinstance(value, str):
        return value
    try:
        return json.dumps(_plain(value), ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return repr(value)


def echo_json(value: Any) -> None:
    """Print ``value`` as indented JSON on stdout."""
    click.echo(json.dumps(value, indent=2, ensure_ascii=False, default=str))


def _short(text: str, width: int) -> str:
    text = " ".join(text.split())
    if width < 2 or len(text) <= width:
        return text
    return text[: width - 1] + "…"


def _styled(text: str, status: str, color: bool) -> str:
    fg = STATUS_COLORS.get(status.strip())
    return click.style(text, fg=fg) if color and fg else text


def _table(
    header: Sequence[str],
    rows: Sequence[Sequence[str]],
    status_column: int | None = None,
) -> None:
    """Print aligned columns; the last one is cut to the terminal's width (if any)."""
    color = color_enabled()
    width = _screen_width()
    count = len(header)
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(count - 1)]
    room = None
    if width is not None:
        room = max(width - sum(widths) - 2 * (count - 1), 20)
    for index, row in enumerate([header, *rows]):
        cells = [cell.ljust(w) for cell, w in zip(row, widths, strict=False)]
        last = row[-1] if room is None else _short(row[-1], room)
        if color and index == 0:
            line = click.style("  ".join([*cells, last]).rstrip(), bold=True)
        else:
            if color and status_column is not None and status_column < count - 1:
                cells[status_column] = _styled(cells[status_column], row[status_column], True)
            line = "  ".join([*cells, last]).rstrip()
        click.echo(line, color=color)


def run_outcome(run: RunInfo) -> str:
    """What a run came to, for one cell: its result, its error, or ``-``."""
    if run.status == "completed":
        return format_value(run.result)
    if run.error:
        kind = str(run.error.get("type", "Error"))
        message = str(run.error.get("message", ""))
        return f"{kind}: {message}" if message else kind
    return "-"


def _run_duration(run: RunInfo) -> float | None:
    return run.updated_at - run.created_at if run.is_finished else None


def show_runs(runs: list[RunInfo], as_json: bool) -> None:
    """Print runs as a table (or JSON): status, age, duration and result."""
    if as_json:
        echo_json([asdict(run) for run in runs])
        return
    if not runs:
        click.echo("no runs", err=True)
        return
    now = time.time()
    rows = [
        (
            r.run_id,
            r.workflow,
            r.status,
            ago(r.created_at, now),
            format_duration(_run_duration(r)),
            _short(run_outcome(r), 200),
        )
        for r in runs
    ]
    _table(("RUN ID", "WORKFLOW", "STATUS", "AGE", "DURATION", "RESULT"), rows, status_column=2)


def _request_json(request: InputRequestInfo) -> dict[str, Any]:
    item = asdict(request)
    item["prompt"] = {"type": request.prompt_type, "data": request.prompt_data}
    item["prompt_text"] = request.prompt_text
    return item


def show_requests(requests: list[InputRequestInfo], as_json: bool, status: str = "pending") -> None:
    """Print input requests as a table (or JSON)."""
    if as_json:
        echo_json([_request_json(request) for request in requests])
        return
    if not requests:
        click.echo(
            "no pending input requests" if status == "pending" else "no input requests", err=True
        )
        return
    now = time.time()
    if not any(_is_task(r) for r in requests):
        rows = [
            (r.request_id, r.workflow, r.status, ago(r.created_at, now), _short(r.prompt_text, 200))
            for r in requests
        ]
        _table(("REQUEST ID", "WORKFLOW", "STATUS", "AGE", "PROMPT"), rows, status_column=2)
        return
    task_rows = [
        (
            r.request_id,
            r.workflow,
            r.status,
            ago(r.created_at, now),
            _holder(r),
            str(r.priority),
            _due(r, now),
            _short(r.prompt_text, 200),
        )
        for r in requests
    ]
    header = ("REQUEST ID", "WORKFLOW", "STATUS", "AGE", "ASSIGNEE", "PRI", "DUE", "PROMPT")
    _table(header, task_rows, status_column=2)


def _is_task(request: InputRequestInfo) -> bool:
    """Whether the request carries any task field (then the inbox shows their columns)."""
    return bool(
        request.assignee
        or request.candidate_users
        or request.candidate_groups
        or request.priority
        or request.due is not None
        or request.follow_up is not None
    )


def candidates(request: InputRequestInfo) -> str:
    """Who may claim a request: its candidate users, then its groups as ``@group``."""
    names = [*request.candidate_users, *(f"@{g}" for g in request.candidate_groups)]
    return ", ".join(names)


def _holder(request: InputRequestInfo) -> str:
    """The assignee, else who may claim it (``@group``), else ``-``."""
    if request.assignee:
        return request.assignee
    offered = candidates(request)
    return f"({offered})" if offered else "-"


def _due(request: InputRequestInfo, now: float) -> str:
    """``in 3h``, ``2d late``, or ``-``."""
    due = request.due
    if due is None:
        return "-"
    if due > now:
        return f"in {ago(now, due)}"
    late = f"{ago(due, now)} late"
    return late if request.status == "pending" else _when(due)


@dataclass(frozen=True)
class RunDetails:
    """Everything ``workflows show`` prints about a run.

    Attributes:
        run: The run (with its start input, when recorded).
        requests: Its input requests, every status, oldest first (each with when it
            was answered and who answered it).
        events: How many events its stream holds (None when unknown).
        audits: Each request's history (by request id), oldest first.
    """

    run: RunInfo
    requests: list[InputRequestInfo]
    events: int | None
    audits: dict[str, list[AuditEntryInfo]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The details as plain JSON (``show --json``)."""
        run = asdict(self.run)
        run["duration"] = _run_duration(self.run)
        requests = []
        for request in self.requests:
            item = _request_json(request)
            item["audit"] = [asdict(entry) for entry in self.audits.get(request.request_id, [])]
            requests.append(item)
        return {"run": run, "requests": requests, "events": self.events}


def show_details(details: RunDetails, as_json: bool) -> None:
    """Print one run: status, workflow, times, result or error, and its requests."""
    if as_json:
        echo_json(details.to_json())
        return
    color = color_enabled()
    run = details.run
    now = time.time()

    def line(label: str, value: str) -> None:
        click.echo(f"{label:<10}{value}", color=color)

    line("run", run.run_id)
    line("workflow", run.workflow)
    line("status", _styled(run.status, run.status, color))
    line("created", f"{_when(run.created_at)} ({ago(run.created_at, now)} ago)")
    if run.is_finished:
        line("finished", _when(run.updated_at))
        line("duration", format_duration(run.updated_at - run.created_at))
    else:
        line("updated", f"{_when(run.updated_at)} ({ago(run.updated_at, now)} ago)")
        line("running", f"for {format_duration(now - run.created_at)}")
    _show_input(run.input)
    if run.status == "completed":
        line("result", format_value(run.result))
    elif run.error:
        line("error", run_outcome(run))
    if details.events is not None:
        line("events", f"{details.events} (workflows events {run.run_id})")
    if not details.requests:
        line("requests", "none")
        return
    click.echo("requests:")
    for request in details.requests:
        status = _styled(request.status, request.status, color)
        click.echo(f"  {request.request_id}  {status}", color=color)
        click.echo(f"    prompt    {_short(request.prompt_text, 200)}")
        click.echo(f"    asked     {_when(request.created_at)}")
        answered = request.answered_at
        if answered is not None:
            waited = format_duration(answered - request.created_at)
            verb = "answered" if request.status == "answered" else request.status
            click.echo(f"    {verb:<10}{_when(answered)} (after {waited})")
            if request.status == "answered":
                click.echo(f"    by        {request.answered_by or '(not named)'}")
        elif request.status == "pending":
            click.echo(f"    waiting   for {format_duration(now - request.created_at)}")
        if request.deadline is not None:
            click.echo(f"    deadline  {_when(request.deadline)}")
        _show_task(request, now)
        if request.response is not None:
            click.echo(f"    response  {format_value(request.response)}")
        _show_audit(details.audits.get(request.request_id, []))


def _show_task(request: InputRequestInfo, now: float) -> None:
    """The task fields of a request that are set: who holds it, who may, its priority,
    when it is due (and whether it is late) and when to follow it up."""
    if request.assignee:
        click.echo(f"    assignee  {request.assignee}")
    offered = candidates(request)
    if offered:
        click.echo(f"    may claim {offered}")
    if request.priority:
        click.echo(f"    priority  {request.priority}")
    if request.due is not None:
        late = ""
        if request.overdue_at is not None or (request.status == "pending" and request.due <= now):
            late = " (overdue)"
        click.echo(f"    due       {_when(request.due)}{late}")
    if request.follow_up is not None:
        click.echo(f"    follow-up {_when(request.follow_up)}")


def _show_audit(entries: list[AuditEntryInfo]) -> None:
    """A request's history, one line an entry: ``2025-01-02 10:00:00  claimed by ada``."""
    if not entries:
        return
    click.echo("    history")
    for entry in entries:
        click.echo(f"      {_when(entry.at)}  {entry.describe()}")


def _show_input(start: dict[str, Any] | None) -> None:
    """The start input: its event type and one line per field (or "not recorded")."""
    if start is None:
        click.echo(f"{'input':<10}not recorded (the run was stored before runs kept it)")
        return
    data = start.get("data")
    fields = data if isinstance(data, dict) else {}
    click.echo(
        f"{'input':<10}{start.get('type') or 'StartEvent'}" + ("" if fields else " (no fields)")
    )
    width = max((len(str(name)) for name in fields), default=0)
    for name, value in fields.items():
        click.echo(f"  {name!s:<{width}}  {_short(format_value(value), 200)}")


@dataclass(frozen=True)
class EventLine:
    """One stream event as ``workflows events`` prints it."""

    seq: int
    type: str
    data: dict[str, Any]
    created_at: float | None = None
    type_key: str = ""

    def to_json(self) -> dict[str, Any]:
        """The event as one JSON object (``events --json`` prints one per line)."""
        return asdict(self)

    def detail(self) -> str:
        """The event's fields for people: a prompt's text, a result, else ``k=v``."""
        if isinstance(self.data.get("prefix"), str) and self.data["prefix"]:
            return str(self.data["prefix"])
        if self.type == "StopEvent" and set(self.data) <= {"result"}:
            return format_value(self.data.get("result"))
        return ", ".join(f"{k}={format_value(v)}" for k, v in self.data.items())


def show_event_line(event: EventLine, as_json: bool) -> None:
    """Print one stream event on stdout (a line of text, or of JSON)."""
    if as_json:
        click.echo(json.dumps(event.to_json(), ensure_ascii=False, default=str))
        return
    color = color_enabled()
    stamp = time.strftime("%H:%M:%S", time.localtime(event.created_at)) if event.created_at else ""
    name = click.style(event.type, bold=True) if color else event.type
    width = _screen_width()
    detail = event.detail()
    if width is not None:
        detail = _short(detail, max(width - len(event.type) - 20, 20))
    parts = [f"[{event.seq}]", stamp, name, detail]
    click.echo(" ".join(part for part in parts if part), color=color)


def show_event(seq: int, event: Event) -> None:
    """One progress line on stderr for a streamed event."""
    name = getattr(event, "event_type", None) or type(event).__name__
    if isinstance(event, InputRequiredEvent) and isinstance(event.get("prefix"), str):
        detail = event["prefix"]
    elif type(event) is StopEvent:
        detail = format_value(event.result)
    else:
        detail = ", ".join(f"{k}={format_value(v)}" for k, v in event.items())
    mark = click.style("●", fg="green") if isinstance(event, StopEvent) else "·"
    click.echo(f"{mark} [{seq}] {name} {_short(detail, 100)}".rstrip(), err=True)


def show_result(result: Any) -> None:
    """Print a run's result on stdout."""
    click.echo(format_value(result))
