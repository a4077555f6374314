"""The webhook sender: the request audit log, delivered to each endpoint, in order.

The store's request audit log is the outbox: every change of a request (created,
claimed, answered, overdue, ...) is an entry with a global, increasing id, written in the
same transaction as the change. Each endpoint has a durable cursor in the store, the id
of the last entry it is done with. One task per app (owned by
:class:`WebhookDispatcher`, started and stopped by the app's lifespan) runs one loop per
endpoint: read the entries after the cursor, POST each one the endpoint wants, signed,
and move the cursor past it once it was delivered (a 2xx answer) or given up (after
``max_attempts``). A failed attempt is retried after a doubling wait; the endpoint waits
with it, so its messages arrive in order. Every attempt is recorded in the store.

Delivery is at least once: a message POSTed when the server stops, before its attempt
was recorded, is sent again after a restart (with the same ``Workflows-Delivery``).

A loop sleeps until this server changes the inbox (the engine's signal) or, at the
latest, ``poll_interval`` seconds, to see changes made by other processes on the store.
A new endpoint (no cursor yet) starts where the log ends when the app starts: it gets
what happens from then on, not the history.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Sequence
from typing import Any

import httpx

from ..engine import Engine
from ..errors import InputRequestNotFoundError
from ..stores import AuditEntry, DeliveryAttempt
from ..webhooks import (
    DELIVERY_HEADER,
    EVENT_HEADER,
    SIGNATURE_HEADER,
    Webhook,
    event_type,
    sign,
)
from ._views import Views, plain

logger = logging.getLogger("workflows.server.webhooks")

__all__ = ["WebhookDispatcher"]

BATCH = 100
"""Audit entries read from the store at a time."""
_WAKE_HEARTBEAT = 3600.0
"""The engine's inbox signal is only used to wake the loops; its idle beats are not."""


class WebhookDispatcher:
    """Delivers the request audit log to the app's webhook endpoints.

    Args:
        engine: the app's engine (open while :meth:`start`-ed); its store holds the log,
            the cursors and the attempts.
        views: builds the request view put into each message.
        webhooks: the endpoints (their names must differ).

    Raises:
        ValueError: two endpoints have the same name.
    """

    def __init__(
        self,
        engine: Engine,
        views: Views,
        webhooks: Sequence[Webhook],
    ) -> None:
        names = [hook.endpoint for hook in webhooks]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(
                f"webhook endpoints must have different names: {duplicates} are used twice"
            )
        self._engine = engine
        self._views = views
        self._webhooks = tuple(webhooks)
        self._wakes = [asyncio.Event() for _ in self._webhooks]
        self._task: asyncio.Task[None] | None = None

    @property
    def webhooks(self) -> tuple[Webhook, ...]:
        """The endpoints, in the order given."""
        return self._webhooks

    async def start(self) -> None:
        """Start delivering (nothing to do without endpoints).

        A new endpoint's cursor is stored before this returns: every change made once
        the app has started reaches it.

        Raises:
            StoreError: the store could not be read.
        """
        if self._task is None and self._webhooks:
            cursors = [await self._start_cursor(hook) for hook in self._webhooks]
            self._task = asyncio.get_running_loop().create_task(
                self._run(cursors), name="workflows-webhooks"
            )

    async def stop(self) -> None:
        """Stop delivering; an attempt in flight is dropped and sent again next time."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    def wake(self) -> None:
        """Look at the log now (the store changed)."""
        for wake in self._wakes:
            wake.set()

    # -- the loops -------------------------------------------------------------------------
    async def _run(self, cursors: list[int]) -> None:
        loop = asyncio.get_running_loop()
        headers = {"User-Agent": "durable-workflows-webhooks"}
        async with httpx.AsyncClient(headers=headers) as client:
            tasks = [loop.create_task(self._watch(), name="workflows-webhooks-wake")]
            for hook, wake, cursor in zip(self._webhooks, self._wakes, cursors, strict=True):
                endpoint = self._endpoint(client, hook, wake, cursor)
                tasks.append(loop.create_task(endpoint, name=f"workflows-webhook {hook.endpoint}"))
            try:
                await asyncio.gather(*tasks)
            finally:  # owned here: none outlives the client, whatever ended the others
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)

    async def _watch(self) -> None:
        try:
            async for changed in self._engine.inbox_changes(heartbeat=_WAKE_HEARTBEAT):
                if changed:
                    self.wake()
        except Exception:  # a bug: the loops still poll
            logger.exception("webhooks: no longer woken by this server's changes")

    async def _endpoint(
        self, client: httpx.AsyncClient, hook: Webhook, wake: asyncio.Event, start: int
    ) -> None:
        cursor: int | None = start
        while True:
            wake.clear()  # a change from now on wakes the wait below
            try:
                if cursor is None:
                    cursor = await self._start_cursor(hook)
                cursor = await self._drain(client, hook, cursor)
            except Exception as exc:  # the store is away, or a bug: try again later
                logger.warning(
                    "webhook %s: cannot deliver now (%s); trying again in %g s",
                    hook.endpoint,
                    exc,
                    hook.poll_interval,
                    exc_info=not isinstance(exc, OSError),
                )
                cursor = None  # re-read from the store: it holds where we are
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(wake.wait(), hook.poll_interval)

    async def _start_cursor(self, hook: Webhook) -> int:
        store = self._engine.store
        cursor = await store.webhook_cursor(hook.endpoint)
        if cursor is not None:
            return cursor
        end = 0
        while entries := await store.audit_after(end, limit=1000):
            end = entries[-1].id
        await store.advance_webhook_cursor(hook.endpoint, end)
        logger.info("webhook %s: new endpoint, starting after audit entry %d", hook.endpoint, end)
        return end

    async def _drain(self, client: httpx.AsyncClient, hook: Webhook, cursor: int) -> int:
        """Deliver every entry after ``cursor``; the new cursor."""
        store = self._engine.store
        while entries := await store.audit_after(cursor, limit=BATCH):
            skipped = False
            for entry in entries:
                if hook.wants(event_type(entry.action), entry.workflow):
                    await self._deliver(client, hook, entry)
                    await store.advance_webhook_cursor(hook.endpoint, entry.id)
                    skipped = False
                else:
                    skipped = True
                cursor = entry.id
            if skipped:  # entries not sent are passed with one write per batch
                await store.advance_webhook_cursor(hook.endpoint, cursor)
        return cursor

    async def _deliver(self, client: httpx.AsyncClient, hook: Webhook, entry: AuditEntry) -> None:
        """Send ``entry`` until delivered or given up; each attempt is recorded."""
        store = self._engine.store
        previous = await store.list_deliveries(endpoint=hook.endpoint, audit_id=entry.id, limit=1)
        attempt = previous[0].attempt if previous else 0
        if previous and (previous[0].delivered or attempt >= hook.max_attempts):
            return  # done before a restart, which came before the cursor moved
        body = await self._body(entry)
        while True:
            attempt += 1
            status, error = await self._post(client, hook, entry, body)
            delivered = status is not None and 200 <= status < 300
            await store.record_delivery(
                DeliveryAttempt(
                    endpoint=hook.endpoint,
                    audit_id=entry.id,
                    request_id=entry.request_id,
                    attempt=attempt,
                    at=time.time(),
                    status_code=status,
                    error=error,
                    delivered=delivered,
                )
            )
            if delivered:
                return
            if attempt >= hook.max_attempts:
                logger.error(
                    "webhook %s: gave up on audit entry %d (%s of request %s) after %d "
                    "attempts; last: %s",
                    hook.endpoint,
                    entry.id,
                    entry.action,
                    entry.request_id,
                    attempt,
                    error or f"HTTP {status}",
                )
                return
            await asyncio.sleep(hook.retry_delay(attempt))

    async def _post(
        self, client: httpx.AsyncClient, hook: Webhook, entry: AuditEntry, body: bytes
    ) -> tuple[int | None, str | None]:
        """One attempt: ``(status code, None)`` or ``(None, what went wrong)``."""
        headers = {
            "Content-Type": "application/json",
            EVENT_HEADER: event_type(entry.action),
            DELIVERY_HEADER: f"{hook.endpoint}:{entry.id}",
            SIGNATURE_HEADER: sign(hook.secret, body, time.time()),
        }
        try:
            # Streamed and closed unread: a receiver's answer body is of no use here.
            async with client.stream(
                "POST", hook.url, content=body, headers=headers, timeout=hook.timeout
            ) as response:
                status = response.status_code
        except httpx.HTTPError as exc:
            return None, f"{type(exc).__name__}: {exc}".rstrip(": ")
        return status, None if 200 <= status < 300 else f"HTTP {status}"

    async def _body(self, entry: AuditEntry) -> bytes:
        """The JSON message of ``entry`` (the request as it is now)."""
        try:
            request: dict[str, Any] = self._views.request(
                await self._engine.store.get_request(entry.request_id)
            ).model_dump(mode="json")
        except InputRequestNotFoundError:  # deleted with its run since
            request = {
                "request_id": entry.request_id,
                "run_id": entry.run_id,
                "workflow": entry.workflow,
            }
        message = {
            "id": entry.id,
            "type": event_type(entry.action),
            "at": entry.at,
            "request": request,
            "actor": entry.actor,
            "detail": plain(entry.detail),
        }
        return json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode()
