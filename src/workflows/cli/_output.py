"""How the CLI shows runs, requests, events and results."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

import click
from pydantic import BaseModel

from ..client import InputRequestInfo, RunInfo
from ..events import Event, InputRequiredEvent, StopEvent

__all__ = ["echo_json", "format_value", "show_event", "show_requests", "show_result", "show_runs"]


def _when(stamp: float | None) -> str:
    if stamp is None:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(stamp))


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


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header) - 1)]
    for row in [header, *rows]:
        cells = [str(c).ljust(w) for c, w in zip(row, widths, strict=False)]
        click.echo("  ".join([*cells, str(row[-1])]).rstrip())


def show_runs(runs: list[RunInfo], as_json: bool) -> None:
    """Print runs as a table (or JSON)."""
    if as_json:
        echo_json([asdict(run) for run in runs])
        return
    if not runs:
        click.echo("no runs", err=True)
        return
    rows = [(r.run_id, r.workflow, r.status, _when(r.updated_at)) for r in runs]
    _table(("RUN ID", "WORKFLOW", "STATUS", "UPDATED"), rows)


def show_requests(requests: list[InputRequestInfo], as_json: bool) -> None:
    """Print input requests as a table (or JSON)."""
    if as_json:
        items = []
        for request in requests:
            item = asdict(request)
            item["prompt"] = {"type": request.prompt_type, "data": request.prompt_data}
            item["prompt_text"] = request.prompt_text
            items.append(item)
        echo_json(items)
        return
    if not requests:
        click.echo("no pending input requests", err=True)
        return
    rows = [
        (r.request_id, r.workflow, r.status, _when(r.created_at), _short(r.prompt_text, 60))
        for r in requests
    ]
    _table(("REQUEST ID", "WORKFLOW", "STATUS", "CREATED", "PROMPT"), rows)


def _short(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


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
