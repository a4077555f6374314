"""Liveness for orchestrators: a worker's ``/health`` endpoint and ``workflows health``.

A worker started with ``--health-port`` answers ``GET /health`` with its engine's
:class:`~workflows.engine.EngineHealth` as JSON: ``200`` while it serves (``ok`` or
``degraded``), ``503`` once it failed. ``workflows health URL`` asks a worker or a
server and exits 0 when it serves, 1 when it failed or does not answer, so it can be
an exec probe.
"""

from __future__ import annotations

import asyncio
import json
from contextlib import suppress

import click

from ..engine import Engine

__all__ = ["health_command", "start_health_endpoint"]

_REQUEST_LIMIT = 8192


async def start_health_endpoint(engine: Engine, host: str, port: int) -> asyncio.Server:
    """Serve ``GET /health`` for ``engine`` on ``host:port`` (plain HTTP/1.0, no auth:
    it reveals states and counts, never run data)."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = await asyncio.wait_for(reader.readline(), 5)
            parts = line.decode("latin-1").split()
            if len(line) > _REQUEST_LIMIT or len(parts) < 2 or parts[0] != "GET":
                status, body = 405, {"error": "only GET /health is served here"}
            elif parts[1].split("?")[0] != "/health":
                status, body = 404, {"error": "only GET /health is served here"}
            else:
                health = engine.health()
                status = 503 if health.status == "failed" else 200
                body = health.to_dict()
            data = json.dumps(body).encode()
            reason = {200: "OK", 404: "Not Found", 405: "Method Not Allowed"}.get(
                status, "Service Unavailable"
            )
            writer.write(
                f"HTTP/1.0 {status} {reason}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n".encode()
                + data
            )
            await writer.drain()
        except (OSError, asyncio.TimeoutError, UnicodeError):
            pass  # a probe that went away: nothing to answer
        finally:
            writer.close()
            with suppress(OSError):
                await writer.wait_closed()

    return await asyncio.start_server(handle, host, port)


@click.command("health")
@click.argument("url")
@click.option("--timeout", type=click.FloatRange(0.1, 300.0), default=5.0, show_default=True)
def health_command(url: str, timeout: float) -> None:
    """Check a worker (--health-port) or a server: exit 0 if it serves, 1 if not.

    \b
    Examples:
        workflows health http://127.0.0.1:9101       # a worker's health port
        workflows health http://127.0.0.1:8000       # a server
    """
    import httpx

    target = url.rstrip("/")
    if not target.endswith("/health"):
        target += "/health"
    try:
        response = httpx.get(target, timeout=timeout)
    except httpx.HTTPError as exc:
        raise click.ClickException(f"no answer from {target}: {exc}") from None
    try:
        body = response.json()
    except ValueError:
        body = {"status": "failed", "error": response.text[:200]}
    click.echo(json.dumps(body, indent=2))
    if response.status_code != 200:
        raise click.ClickException(f"{target} answered {response.status_code}: not serving")
