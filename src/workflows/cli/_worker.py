"""``workflows worker``: execute runs from a shared store, beside other workers."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import uuid

import click

from ..engine import Engine
from ._health import start_health_endpoint
from ._loading import check_store_location, check_store_url, load_many
from ._settings import history_option

__all__ = ["worker_command"]


def _default_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


async def _work(engine: Engine, health_port: int | None, health_host: str) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def _signalled() -> None:
        if stop.is_set():  # a second Ctrl-C: leave at once (leases expire by themselves)
            os._exit(130)
        stop.set()

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, _signalled)
    async with engine:
        probe = None
        if health_port is not None:
            probe = await start_health_endpoint(engine, health_host, health_port)
            bound = probe.sockets[0].getsockname()
            click.echo(
                f"worker {engine.owner} health on http://{bound[0]}:{bound[1]}/health", err=True
            )
        click.echo(
            f"worker {engine.owner} executing {', '.join(sorted(engine.workflows))} "
            f"(concurrency {engine.concurrency or 'unbounded'}, lease {engine.lease_seconds:g} s)",
            err=True,
        )
        failed = loop.create_task(engine.wait_failed())
        stopping = loop.create_task(stop.wait())
        await asyncio.wait({failed, stopping}, return_when=asyncio.FIRST_COMPLETED)
        for task in (failed, stopping):
            task.cancel()
        if probe is not None:
            probe.close()
        click.echo(f"worker {engine.owner} stopping: giving its runs back", err=True)
    if engine.failure is not None:
        click.echo(f"worker {engine.owner} failed: {engine.failure}", err=True)
        return 1
    click.echo(f"worker {engine.owner} stopped; its runs are free for other workers", err=True)
    return 0


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
@click.option(
    "--health-port",
    type=click.IntRange(0, 65535),
    default=None,
    help="Serve GET /health (the engine's health as JSON) on this port for liveness "
    "probes (0: any free port, printed at start).",
)
@click.option(
    "--health-host", default="127.0.0.1", show_default=True, help="Address of --health-port."
)
@history_option
def worker_command(
    targets: tuple[str, ...],
    store: str,
    concurrency: int,
    lease_seconds: float,
    poll_interval: float,
    owner: str | None,
    health_port: int | None,
    health_host: str,
    history: str,
) -> None:
    """Execute runs of MODULE:ATTR workflows from a store shared with other workers.

    Each run is executed by one worker at a time under a lease; a worker that dies
    loses its runs when the lease expires and another worker continues them from
    their last commit. Stop with Ctrl-C or SIGTERM: it stops taking runs, writes what
    it has, gives its runs back and exits within about 10 s whatever it holds (a second
    Ctrl-C exits at once). It exits 1 if its engine fails (a background task crashed),
    so a supervisor restarts it.

    \b
    Example:
        workflows worker app:approval --store postgresql://db/app --concurrency 50
    """
    workflows = load_many(targets)
    check_store_location(store, must_exist=False)
    engine = Engine(
        store,
        workflows,
        owner=owner or _default_owner(),
        lease_seconds=lease_seconds,
        concurrency=concurrency,
        poll_interval=poll_interval,
        history=history,
    )
    code = asyncio.run(_work(engine, health_port, health_host))
    if code:
        raise SystemExit(code)
