"""Outbound webhooks: the endpoint configuration, and signing for senders and receivers.

A server started with ``create_app(..., webhooks=[Webhook(...)])`` POSTs one JSON
message per change of a human task (a request created, claimed, answered, overdue, ...)
to each endpoint, in order, at least once (see ``docs/webhooks.md``). Each message is
signed the way common webhook senders do it: the header ::

    Workflows-Signature: t=1700000000,v1=<hex HMAC-SHA256(secret, "1700000000.<body>")>

names the time of signing and the signature of that time joined to the raw body, so
a receiver can check both who sent it and that it is fresh (not replayed later)::

    from workflows.webhooks import verify_signature

    if not verify_signature(secret, request.headers["Workflows-Signature"], body):
        return Response(status_code=400)

This module needs nothing but the standard library: receivers import it without the
server's dependencies.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

__all__ = [
    "DELIVERY_HEADER",
    "EVENTS",
    "EVENT_HEADER",
    "SIGNATURE_HEADER",
    "Webhook",
    "event_type",
    "sign",
    "verify_signature",
    "webhooks_from_toml",
]

SIGNATURE_HEADER = "Workflows-Signature"
"""The header carrying ``t=<unix seconds>,v1=<hex HMAC-SHA256>``."""
EVENT_HEADER = "Workflows-Event"
"""The header carrying the message's event type (``request.answered``, ...)."""
DELIVERY_HEADER = "Workflows-Delivery"
"""The header carrying ``<endpoint name>:<audit id>``: the same for every attempt of one
message, so a receiver can drop repeats (delivery is at least once)."""

EVENTS: frozenset[str] = frozenset(
    {
        "request.created",
        "request.claimed",
        "request.unclaimed",
        "request.assigned",
        "request.answered",
        "request.overdue",
        "request.expired",
        "request.cancelled",
    }
)
"""Every event type a webhook may receive: ``request.`` and the request audit action."""


def event_type(action: str) -> str:
    """The webhook event type of a request audit action (``answered`` ->
    ``request.answered``)."""
    return f"request.{action}"


# -- signing ---------------------------------------------------------------------------------
def _digest(secret: str, body: bytes, timestamp: int) -> str:
    message = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def _as_bytes(body: bytes | str) -> bytes:
    return body.encode() if isinstance(body, str) else body


def sign(secret: str, body: bytes | str, timestamp: float) -> str:
    """The ``Workflows-Signature`` header value of ``body`` signed at ``timestamp``.

    Args:
        secret: the endpoint's shared secret.
        body: the exact bytes sent (a ``str`` is taken as UTF-8).
        timestamp: POSIX seconds of signing (truncated to whole seconds).

    Returns:
        ``"t=<timestamp>,v1=<hex HMAC-SHA256(secret, f"{timestamp}.{body}")>"``.

    Example::

        >>> sign("whsec", b'{"id": 1}', 1700000000)[:13]
        't=1700000000,'
    """
    t = int(timestamp)
    return f"t={t},v1={_digest(secret, _as_bytes(body), t)}"


def _parse_header(header: str) -> tuple[int, list[str]] | None:
    timestamp: int | None = None
    signatures: list[str] = []
    for item in header.split(","):
        key, sep, value = item.strip().partition("=")
        if not sep:
            return None
        if key == "t":
            if not value.isascii() or not value.isdigit() or timestamp is not None:
                return None
            timestamp = int(value)
        elif key == "v1":
            signatures.append(value)
        # other schemes (a future v2) are skipped, as receivers of such headers do
    if timestamp is None or not signatures:
        return None
    return timestamp, signatures


def verify_signature(
    secret: str,
    header: str | None,
    body: bytes | str,
    *,
    tolerance: float | None = 300,
    now: float | None = None,
) -> bool:
    """Whether ``header`` (a ``Workflows-Signature`` value) signs ``body`` with ``secret``.

    Compares in constant time; any ``v1`` entry of the header may match (a sender
    rotating its secret may sign with both).

    Args:
        secret: the endpoint's shared secret.
        header: the header's value as received (``None`` or malformed: ``False``).
        body: the raw request body, exactly as received (not re-serialised JSON).
        tolerance: seconds the signing time may differ from ``now`` (replay window);
            ``None`` skips the check.
        now: the current POSIX time (default: the clock).

    Returns:
        ``True`` when a signature matches and the time is within the tolerance.
    """
    if not header:
        return False
    parsed = _parse_header(header)
    if parsed is None:
        return False
    timestamp, signatures = parsed
    if tolerance is not None:
        current = time.time() if now is None else now
        if abs(current - timestamp) > tolerance:
            return False
    expected = _digest(secret, _as_bytes(body), timestamp)
    # Every candidate is compared (no early exit) so the time taken does not tell which.
    matched = False
    for signature in signatures:
        matched |= hmac.compare_digest(expected, signature)
    return matched


# -- configuration ---------------------------------------------------------------------------
def _names(value: Iterable[str] | None, what: str) -> frozenset[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        raise ValueError(f"webhook {what} must be a collection of names, not the string {value!r}")
    names = frozenset(value)
    for name in names:
        if not isinstance(name, str) or not name:
            raise ValueError(f"webhook {what} must be non-empty strings, got {name!r}")
    return names


def _check_positive(value: float, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"webhook {what} must be a positive number, got {value!r}")


@dataclass(frozen=True)
class Webhook:
    """One endpoint that receives request changes.

    Args:
        url: where messages are POSTed (``http`` or ``https``).
        secret: shared secret the messages are signed with (see :func:`sign`).
        events: the event types sent (default: all of :data:`EVENTS`).
        workflows: only requests of these workflows (default ``None``: all).
        name: the endpoint's key: its delivery position in the store and the prefix of
            ``Workflows-Delivery``. Defaults to ``url``; give one to change the URL of
            an endpoint without it starting over.
        retry_base: seconds before the first retry of a failed message; doubles with
            each attempt.
        retry_max: the longest wait between two attempts.
        max_attempts: attempts of one message before it is recorded as failed and the
            endpoint moves on to the next.
        timeout: seconds one attempt may take (connect, send and answer).
        poll_interval: seconds between two looks at the store for changes made by other
            processes (changes made by this server wake the sender at once).

    Raises:
        ValueError: an option is invalid (the message names it).

    Example::

        Webhook("https://hooks.example.com/tasks", secret=os.environ["HOOK_SECRET"],
                events={"request.created", "request.overdue"}, workflows={"expense"})
    """

    url: str
    secret: str = field(repr=False)
    events: frozenset[str] = EVENTS
    workflows: frozenset[str] | None = None
    name: str | None = None
    retry_base: float = 1.0
    retry_max: float = 300.0
    max_attempts: int = 12
    timeout: float = 10.0
    poll_interval: float = 2.0

    def __post_init__(self) -> None:
        parts = urlsplit(self.url) if isinstance(self.url, str) else None
        if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"webhook url must be an http(s) URL, got {self.url!r}")
        if not isinstance(self.secret, str) or not self.secret:
            raise ValueError(f"webhook {self.url}: the secret must be a non-empty string")
        events = _names(self.events, "events") or frozenset()
        unknown = sorted(events - EVENTS)
        if unknown:
            raise ValueError(
                f"webhook {self.url}: unknown events {unknown}; known: {sorted(EVENTS)}"
            )
        if not events:
            raise ValueError(f"webhook {self.url}: events is empty (nothing would be sent)")
        name = self.url if self.name is None else self.name
        if (
            not isinstance(name, str)
            or not 1 <= len(name) <= 2000
            or not (name.isascii() and name.isprintable())
        ):
            raise ValueError(f"webhook name must be 1..2000 printable ASCII characters: {name!r}")
        for what in ("retry_base", "retry_max", "timeout", "poll_interval"):
            _check_positive(getattr(self, what), what)
        if isinstance(self.max_attempts, bool) or not isinstance(self.max_attempts, int):
            raise ValueError(f"webhook max_attempts must be an int, got {self.max_attempts!r}")
        if self.max_attempts < 1:
            raise ValueError(f"webhook max_attempts must be >= 1, got {self.max_attempts}")
        object.__setattr__(self, "events", events)
        object.__setattr__(self, "workflows", _names(self.workflows, "workflows"))
        object.__setattr__(self, "name", name)

    @property
    def endpoint(self) -> str:
        """The endpoint's key (``name``, which defaults to the URL)."""
        return self.name or self.url

    def wants(self, event: str, workflow: str) -> bool:
        """Whether a message of type ``event`` about a request of ``workflow`` is sent."""
        return event in self.events and (self.workflows is None or workflow in self.workflows)

    def retry_delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1 for the first):
        ``retry_base`` doubled per attempt, at most ``retry_max``."""
        exponent = min(max(attempt - 1, 0), 62)  # past that the cap has long applied
        return float(min(self.retry_max, self.retry_base * 2**exponent))


_TOML_KEYS = frozenset(
    {
        "url",
        "secret",
        "secret_env",
        "events",
        "workflows",
        "name",
        "retry_base",
        "retry_max",
        "max_attempts",
        "timeout",
        "poll_interval",
    }
)


def _from_table(table: Mapping[str, Any], environ: Mapping[str, str]) -> Webhook:
    unknown = sorted(set(table) - _TOML_KEYS)
    if unknown:
        raise ValueError(f"unknown keys {unknown}; known: {sorted(_TOML_KEYS)}")
    if "url" not in table:
        raise ValueError("url is missing")
    options = {key: value for key, value in table.items() if key != "secret_env"}
    if ("secret" in table) == ("secret_env" in table):
        raise ValueError("give exactly one of secret and secret_env")
    if "secret_env" in table:
        variable = table["secret_env"]
        if not isinstance(variable, str) or not environ.get(variable):
            raise ValueError(f"secret_env: the environment variable {variable!r} is not set")
        options["secret"] = environ[variable]
    for key in ("events", "workflows"):
        if key in options and not isinstance(options[key], list):
            raise ValueError(f"{key} must be a list of strings, got {options[key]!r}")
    return Webhook(**options)


def webhooks_from_toml(
    data: Mapping[str, Any], *, environ: Mapping[str, str] | None = None
) -> list[Webhook]:
    """The endpoints of the ``[[webhooks]]`` tables of a parsed TOML document.

    ::

        [[webhooks]]
        url = "https://hooks.example.com/tasks"
        secret_env = "TASK_HOOK_SECRET"    # or: secret = "..."
        events = ["request.created", "request.overdue"]   # optional, default all
        workflows = ["expense"]                            # optional, default all
        name = "tasks"                                     # optional, default the url

    The delivery options of :class:`Webhook` (``retry_base``, ``max_attempts``, ...)
    may be given too.

    Args:
        data: the whole document (as ``tomllib.load`` returns it); without a
            ``webhooks`` key there are no endpoints.
        environ: where ``secret_env`` names are looked up (default ``os.environ``).

    Returns:
        The endpoints, in the order of the tables.

    Raises:
        ValueError: a table is invalid, names an unset variable, or two endpoints share
            a name (the message names the table, as ``webhooks[1]``).
    """
    tables = data.get("webhooks", [])
    if not isinstance(tables, list):
        raise ValueError("webhooks must be an array of tables ([[webhooks]])")
    env = os.environ if environ is None else environ
    hooks: list[Webhook] = []
    seen: set[str] = set()
    for index, table in enumerate(tables):
        try:
            if not isinstance(table, Mapping):
                raise ValueError("must be a table")
            hook = _from_table(table, env)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"webhooks[{index}]: {exc}") from None
        if hook.endpoint in seen:
            raise ValueError(
                f"webhooks[{index}]: a second endpoint named {hook.endpoint!r} "
                "(give each a different name)"
            )
        seen.add(hook.endpoint)
        hooks.append(hook)
    return hooks
