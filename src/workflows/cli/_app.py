"""The ``workflows`` command group, and turning failures into one line and an exit status."""

from __future__ import annotations

import click
from pydantic import ValidationError

from ..client import UnauthorizedError
from ..errors import WorkflowError
from ._draw import draw_command
from ._health import health_command
from ._history import edit_command, fork_command, history_command
from ._inbox import inbox_command, respond_command, runs_command
from ._inspect import cancel_command, events_command, show_command
from ._messages import one_line, validation_summary
from ._run import run_command
from ._serve import serve_command
from ._tasks import assign_command, claim_command, unclaim_command
from ._users import users_command
from ._worker import worker_command

__all__ = ["cli", "run_cli"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="durable-workflows", prog_name="workflows")
def cli() -> None:
    """Serve, run, inspect and answer durable workflows.

    Runs live in a store (default sqlite:///workflows.db in the current directory);
    'runs', 'inbox', 'show', 'events', 'history', 'respond', 'claim', 'unclaim', 'assign',
    'cancel', 'fork' and 'edit' read it directly with --store, or ask a running server with
    --url.

    Exit status: 0 success, 1 runtime error (a failed run, a refused answer, an
    unreachable server), 2 usage error, 130 interrupted.
    """


for _command in (
    serve_command,
    worker_command,
    run_command,
    runs_command,
    inbox_command,
    show_command,
    events_command,
    history_command,
    respond_command,
    claim_command,
    unclaim_command,
    assign_command,
    cancel_command,
    fork_command,
    edit_command,
    draw_command,
    health_command,
    users_command,
):
    cli.add_command(_command)


def _fail(message: str) -> None:
    click.echo(f"error: {one_line(message)}", err=True)


def run_cli(argv: list[str]) -> int:
    """Run the command line; return the exit status instead of exiting."""
    try:
        outcome = cli.main(args=argv, prog_name="workflows", standalone_mode=False)
    except click.UsageError as exc:
        hint = f" (see '{exc.ctx.command_path} --help')" if exc.ctx is not None else ""
        _fail(exc.format_message() + hint)
        return 2
    except click.Abort:
        _fail("aborted")
        return 1
    except click.ClickException as exc:
        _fail(exc.format_message())
        return exc.exit_code
    except UnauthorizedError as exc:
        _fail(
            f"unauthorized: {exc.message}; give the server's token with --token or "
            "the WORKFLOWS_TOKEN environment variable"
        )
        return 1
    except WorkflowError as exc:
        _fail(str(exc))
        return 1
    except ValidationError as exc:
        _fail(validation_summary(exc))
        return 1
    except KeyboardInterrupt:
        _fail("interrupted")
        return 130
    return outcome if isinstance(outcome, int) else 0
