"""``workflows run``: one run in this process on the durable engine, or on a server."""

from __future__ import annotations

import asyncio
from typing import Any

import click
from pydantic import ValidationError

from ..client import WorkflowClient
from ..engine import Engine
from ..errors import WorkflowConfigurationError, WorkflowValidationError
from ..events import StartEvent
from ..workflow import Workflow
from ._follow import finish, follow, follow_remote, interactive_answerer, show_waiting
from ._loading import (
    RuntimeFailure,
    check_store_url,
    did_you_mean,
    load_workflows,
    parse_args,
)
from ._messages import one_line, validation_summary
from ._settings import history_option
from ._where import DEFAULT_STORE, pick

__all__ = ["run_command", "start_event_for"]


def _schema_of(cls: type[StartEvent]) -> dict[str, Any]:
    try:
        return cls.model_json_schema()
    except Exception:  # a field type without a JSON schema: take every value as JSON
        return {}


def start_event_for(wf: Workflow, args: tuple[str, ...]) -> StartEvent:
    """The workflow's start event built from ``--arg`` items, validated before any run
    exists.

    Raises:
        click.BadParameter: an item is malformed, or the fields do not fit the start
            event (each field named with why, on one line).
    """
    cls = wf.start_event_class
    fields = parse_args(args, _schema_of(cls))
    try:
        return cls.model_validate(fields)
    except ValidationError as exc:
        raise click.BadParameter(
            f"{cls.__name__}: {validation_summary(exc)}", param_hint="'--arg'"
        ) from None


def _aborted(run_id: str) -> RuntimeFailure:
    return RuntimeFailure(
        f"aborted; run {run_id} stays waiting (answer it with 'workflows respond')"
    )


async def _run_here(
    store: str, name: str, wf: Workflow, event: StartEvent, answer_prompts: bool, history: str
) -> None:
    async with Engine(store, {name: wf}, idle_release_after=None, history=history) as engine:
        handle = await engine.start(name, start_event=event)
        click.echo(f"started run {handle.run_id} of {name}", err=True)
        answer = interactive_answerer(engine.respond) if answer_prompts else None
        try:
            pending = await follow(engine, handle, answer=answer)
        except click.Abort:
            raise _aborted(handle.run_id) from None
        if pending:
            where = "" if store == DEFAULT_STORE else f"--store {store}"
            show_waiting(handle.run_id, pending, where)
            return
        await finish(handle)


async def _run_on_server(
    url: str,
    token: str | None,
    target: str,
    args: tuple[str, ...],
    answer_prompts: bool,
) -> None:
    known: dict[str, Workflow] = {}
    if ":" in target:
        known = load_workflows(target)
        if len(known) != 1:
            raise click.UsageError(_several(target, known))
        (name,) = known
    else:
        name = target
    async with WorkflowClient(url, token, workflows=known) as client:
        try:
            info = await client.workflow(name)
        except WorkflowConfigurationError:
            names = [w.name for w in await client.workflows()]
            hint = did_you_mean(name, names)
            listed = ", ".join(sorted(names)) or "none"
            raise click.BadParameter(
                f"the server at {url} has no workflow {name!r}{hint}; it runs: {listed}",
                param_hint="WORKFLOW",
            ) from None
        fields = parse_args(args, info.start_schema)
        try:
            handle = await client.start(name, **fields)
        except WorkflowValidationError as exc:
            raise click.BadParameter(one_line(str(exc)), param_hint="'--arg'") from None
        click.echo(f"started run {handle.run_id} of {name} on {url}", err=True)
        answer = interactive_answerer(client.respond) if answer_prompts else None
        try:
            pending = await follow_remote(client, handle, answer=answer)
        except click.Abort:
            raise _aborted(handle.run_id) from None
        if pending:
            show_waiting(handle.run_id, pending, f"--url {url}")
            return
        await finish(handle)


def _several(target: str, workflows: dict[str, Workflow]) -> str:
    names = sorted(workflows)
    module = target.partition(":")[0]
    attr = target.partition(":")[2]
    return (
        f"{target} names several workflows ({', '.join(names)}); name one, "
        f"e.g. {module}:{attr}.{names[0]}"
    )


@click.command("run")
@click.argument("target", metavar="MODULE:ATTR")
@click.option(
    "--arg",
    "args",
    multiple=True,
    metavar="KEY=VALUE",
    help="A start event field (repeatable). A field declared as a string takes VALUE as "
    "it is; otherwise VALUE is JSON if it parses, else text (validated by the start event).",
)
@click.option(
    "--store",
    default=None,
    envvar="WORKFLOWS_STORE",
    callback=check_store_url,
    help=f"Store URL (memory://, sqlite:///path.db, postgresql://...; default {DEFAULT_STORE}). "
    "[env: WORKFLOWS_STORE]",
)
@click.option(
    "--url",
    envvar="WORKFLOWS_URL",
    metavar="http://HOST:PORT",
    help="Start the run on this workflows server instead of here; MODULE:ATTR may then "
    "be the workflow's name on the server. [env: WORKFLOWS_URL]",
)
@click.option(
    "--token",
    envvar="WORKFLOWS_TOKEN",
    help="The server's bearer token (with --url). [env: WORKFLOWS_TOKEN]",
)
@click.option(
    "--no-input",
    is_flag=True,
    help="Do not ask at the terminal: stop when the run waits for input, leaving it "
    "waiting for 'workflows respond'.",
)
@history_option
def run_command(
    target: str,
    args: tuple[str, ...],
    store: str | None,
    url: str | None,
    token: str | None,
    no_input: bool,
    history: str,
) -> None:
    """Run a workflow and follow it: here on the durable engine, or on a server (--url).

    The start event is built from the --arg fields and validated before the run is
    stored. The run's events are shown on stderr; when it needs input the terminal asks
    (one question per response field); the result is printed on stdout.

    \b
    Examples:
        workflows run app.py:WORKFLOWS.expense --arg employee=ada --arg amount=420
        workflows run expense --url http://127.0.0.1:8000 --arg employee=ada --arg amount=420
    """
    where = pick(store, url, token, must_exist=False)
    if where.url is not None:
        asyncio.run(_run_on_server(where.url, token, target, args, not no_input))
        return
    assert where.store is not None
    workflows = load_workflows(target)
    if len(workflows) != 1:
        raise click.UsageError(_several(target, workflows))
    ((name, wf),) = workflows.items()
    event = start_event_for(wf, args)
    asyncio.run(_run_here(where.store, name, wf, event, not no_input, history))
