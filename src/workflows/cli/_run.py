"""``workflows run``: one run in this process, on the durable engine."""

from __future__ import annotations

import asyncio
from typing import Any

import click

from ..engine import Engine
from ..errors import WorkflowValidationError
from ..workflow import Workflow
from ._follow import finish, follow, interactive_answerer, show_waiting
from ._loading import RuntimeFailure, check_store_url, load_workflows, parse_args

__all__ = ["run_command"]


async def _run(
    store: str, name: str, wf: Workflow, fields: dict[str, Any], answer_prompts: bool
) -> None:
    async with Engine(store, {name: wf}, idle_release_after=None) as engine:
        try:
            handle = await engine.start(name, **fields)
        except WorkflowValidationError as exc:
            raise click.BadParameter(str(exc), param_hint="'--arg'") from None
        click.echo(f"started run {handle.run_id} of {name}", err=True)
        answer = interactive_answerer if answer_prompts else None
        try:
            pending = await follow(engine, handle, answer=answer)
        except click.Abort:
            raise RuntimeFailure(
                f"aborted; run {handle.run_id} stays in the store, waiting "
                "(answer it with 'workflows respond')"
            ) from None
        if pending:
            show_waiting(handle.run_id, pending)
            return
        await finish(handle)


@click.command("run")
@click.argument("target", metavar="MODULE:ATTR")
@click.option(
    "--arg",
    "args",
    multiple=True,
    metavar="KEY=VALUE",
    help="A start event field (repeatable); VALUE is JSON if it parses, else a string.",
)
@click.option(
    "--store",
    default="sqlite:///workflows.db",
    show_default=True,
    envvar="WORKFLOWS_STORE",
    callback=check_store_url,
    help="Store URL (memory://, sqlite:///path.db, postgresql://...). [env: WORKFLOWS_STORE]",
)
@click.option(
    "--no-input",
    is_flag=True,
    help="Do not ask at the terminal: stop when the run waits for input, leaving it in "
    "the store for 'workflows respond'.",
)
def run_command(target: str, args: tuple[str, ...], store: str, no_input: bool) -> None:
    """Run a workflow here and now, on the durable engine.

    Streams the run's events to stderr, asks at the terminal when the run needs input
    (one question per response field), and prints the result on stdout.

    \b
    Example:
        workflows run app:approval --arg employee=ada --arg amount=420
    """
    fields = parse_args(args)
    workflows = load_workflows(target)
    if len(workflows) != 1:
        names = ", ".join(sorted(workflows))
        raise click.UsageError(f"{target} names several workflows ({names}); name one")
    ((name, wf),) = workflows.items()
    asyncio.run(_run(store, name, wf, fields, not no_input))
