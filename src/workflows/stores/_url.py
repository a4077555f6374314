"""Parsing of store URLs: ``memory://``, ``sqlite:///path.db``, ``postgresql://...``.

The schemes and each store's query options come from the registry in ``_schemes.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from workflows.errors import StoreConnectionError
from workflows.stores._schemes import SCHEMES, scheme_for_url

__all__ = ["StoreURL", "mask_url", "parse_store_url"]


@dataclass(frozen=True)
class StoreURL:
    """A parsed store URL.

    Attributes:
        kind: ``"memory"``, ``"sqlite"`` or ``"postgres"``.
        target: The SQLite path, or the Postgres DSN without our own options.
        options: Query options meant for the store (e.g. ``schema``, ``synchronous``).
        masked: The URL as given, with any password replaced by ``***`` (for messages).
    """

    kind: str
    target: str
    masked: str
    options: dict[str, str] = field(default_factory=dict)


def mask_url(url: str) -> str:
    """Return ``url`` with the password (if any) replaced by ``***``."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable URL>"
    if parts.password is None:
        return url
    netloc = parts.netloc
    userinfo, _, hostinfo = netloc.rpartition("@")
    user = userinfo.split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{hostinfo}"))


def parse_store_url(url: str) -> StoreURL:
    """Parse a store URL.

    Raises:
        StoreConnectionError: the URL is malformed or names an unknown scheme (the
            message shows the URL with its password masked).
    """
    if not isinstance(url, str):
        raise StoreConnectionError(f"a store URL must be a string, not {type(url).__name__}")
    masked = mask_url(url)
    scheme, sep, _ = url.partition("://")
    if not sep or not scheme:
        raise StoreConnectionError(
            f"malformed store URL {masked!r}: expected memory://, sqlite:///path.db "
            "or postgresql://user@host:port/database"
        )
    entry = scheme_for_url(scheme)
    if entry is None:
        expected = ", ".join(e.name for e in SCHEMES[:-1]) + f" or {SCHEMES[-1].name}"
        raise StoreConnectionError(
            f"unknown store URL scheme {scheme!r} in {masked!r} (expected {expected})"
        )
    kind = entry.kind
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - validates the port
    except ValueError as exc:
        raise StoreConnectionError(f"malformed store URL {masked!r}: {exc}") from None
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    options = {k: v for k, v in query.items() if k in entry.options}
    rest = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in options]
    if kind == "memory":
        if parts.netloc or parts.path not in ("", "/") or rest:
            raise StoreConnectionError(f"malformed store URL {masked!r}: use plain memory://")
        return StoreURL(kind, "", masked, options)
    if kind == "sqlite":
        if parts.netloc:
            raise StoreConnectionError(
                f"malformed store URL {masked!r}: a SQLite URL has no host; use "
                "sqlite:///relative.db or sqlite:////absolute/path.db"
            )
        path = parts.path[1:] if parts.path.startswith("/") else parts.path
        if not path or rest:
            raise StoreConnectionError(
                f"malformed store URL {masked!r}: expected sqlite:///relative.db or "
                "sqlite:////absolute/path.db"
            )
        return StoreURL(kind, path, masked, options)
    if not parts.hostname and not query.get("host"):
        raise StoreConnectionError(f"malformed store URL {masked!r}: no host given")

    dsn = urlunsplit(parts._replace(scheme="postgresql", query=urlencode(rest)))
    return StoreURL(kind, dsn, masked, options)
