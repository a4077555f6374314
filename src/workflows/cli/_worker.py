"""``workflows worker``: execute runs from a shared store, beside other workers."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import uuid

import click

from ..engine import Engine
from ._loading import check_store_url, load_many

__all__ = ["worker_command"]


def _default_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


async def _work(engine: Engine) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with engine:
        click.echo(
            f"worker {engine.owner} executing {', '.join(sorted(engine.workflows))} "
            f"(concurrency {engine.concurrency or 'unbounded'}, lease {engine.lease_seconds:g} s)",
            err=True,
        )
        await stop.wait()
    click.echo(f"worker {engine.owner} stopped; its runs are free for other workers", err=True)


@click.command("worker")
@click.argument("targets", nargs=-1, required=True, metavar="MODULE:ATTR...")
@click.option(
    "--store",
    required=True,
    envvar="WORKFLOWS_STORE",
    callback=check_store_url,
    help="Store URL shared by the workers (postgresql://...). [env: WORKFLOWS_STORE]",
)
@click.option(
    "--concurrency",
    type=click.IntRange(1, 100_000),
    default=100,
    show_default=True,
    help="Most runs this worker executes at once.",
)
@click.option(
    "--lease",
    "lease_seconds",
    type=click.FloatRange(1.0, 3600.0),
    default=15.0,
    show_default=True,
    help="Seconds a run stays owned without a heartbeat (renewed every third).",
)
@click.option(
    "--poll",
    "poll_interval",
    type=click.FloatRange(0.05, 600.0),
    default=2.0,
    show_default=True,
    help="Seconds between looks for runs whose wake-up was missed or whose owner died.",
)
@click.option("--owner", default=None, help="Worker id (default: host:pid:random).")
def worker_command(
    targets: tuple[str, ...],
    store: str,
    concurrency: int,
    lease_seconds: float,
    poll_interval: float,
    owner: str | None,
) -> None:
    """Execute runs of MODULE:ATTR workflows from a store shared with other workers.

    Each run is executed by one worker at a time under a lease; a worker that dies
    loses its runs when the lease expires and another worker continues them from
    their last commit. Stop with Ctrl-C or SIGTERM (its runs are released at once).

    \b
    Example:
        workflows worker app:approval --store postgresql://db/app --concurrency 50
    """
    workflows = load_many(targets)
    engine = Engine(
        store,
        workflows,
        owner=owner or _default_owner(),
        lease_seconds=lease_seconds,
        concurrency=concurrency,
        poll_interval=poll_interval,
    )
    asyncio.run(_work(engine))
