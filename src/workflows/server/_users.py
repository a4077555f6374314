"""The users file: bearer tokens (stored as SHA-256 hashes) mapped to users and groups.

::

    admin_group = "admins"          # optional, default "admins"

    [users.ada]
    token_sha256 = "<hex sha256 of ada's token>"
    groups = ["finance", "admins"]

    [users.bob]
    token_sha256 = ["<new token's hash>", "<old token's hash>"]   # while rotating

``workflows users hash-token`` prints the hash of a token. The file is re-read when its
modification time, size or inode changes (checked at most once a second, when a request
comes); a file that no longer reads keeps the last good configuration in force and logs
the problem once. ``[[webhooks]]`` tables configure webhooks (see ``docs/webhooks.md``).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import WorkflowConfigurationError
from ..webhooks import Webhook, webhooks_from_toml
from ._identity import DEFAULT_ADMIN_GROUP, Identity, check_name

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

logger = logging.getLogger("workflows.server")

__all__ = ["USERS_ENV", "UsersConfig", "UsersFile", "hash_token", "parse_users"]

USERS_ENV = "WORKFLOWS_USERS"
"""Environment variable read for the users file when none is given."""

CHECK_INTERVAL = 1.0
"""Seconds between two checks whether the users file changed."""

_TOP_KEYS = frozenset({"admin_group", "users", "webhooks"})
_USER_KEYS = frozenset({"token_sha256", "groups"})


def hash_token(token: str) -> str:
    """The hex SHA-256 of ``token`` (UTF-8): what a users file stores for it.

    Example::

        >>> hash_token("s3cret")[:16]
        '1ec1c26b50d5d3c5'
    """
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class UsersConfig:
    """What a users file says: who each token's hash belongs to.

    Attributes:
        admin_group: members of this group are admins.
        tokens: ``(sha256 digest, identity)`` pairs, one per token.
        webhooks: the endpoints of its ``[[webhooks]]`` tables (read at start-up only:
            a change of them takes a restart).
    """

    admin_group: str
    tokens: tuple[tuple[bytes, Identity], ...]
    webhooks: tuple[Webhook, ...] = ()

    def identify(self, token: str) -> Identity | None:
        """The identity ``token`` belongs to, else ``None``. Every stored hash is
        compared, in constant time each, whichever matches."""
        digest = hashlib.sha256(token.encode("utf-8", "surrogateescape")).digest()
        found: Identity | None = None
        for stored, identity in self.tokens:
            if hmac.compare_digest(stored, digest):
                found = identity
        return found

    @property
    def users(self) -> frozenset[str]:
        """The names of the configured users."""
        return frozenset(identity.user for _, identity in self.tokens)


def _digest(value: Any, where: str) -> bytes:
    if not isinstance(value, str) or len(value) != 64:
        raise ValueError(f"{where} must be the 64 hex digits of a SHA-256 hash")
    try:
        return bytes.fromhex(value)
    except ValueError:
        raise ValueError(f"{where} must be the 64 hex digits of a SHA-256 hash") from None


def _user(name: str, entry: Any, admin_group: str) -> list[tuple[bytes, Identity]]:
    check_name(name, "a user name")
    where = f"users.{name}"
    if not isinstance(entry, dict):
        raise ValueError(f"{where} must be a table ([{where}])")
    unknown = sorted(set(entry) - _USER_KEYS)
    if unknown:
        raise ValueError(f"{where} has unknown keys: {', '.join(unknown)}")
    hashes = entry.get("token_sha256")
    if hashes is None:
        raise ValueError(f"{where} has no token_sha256")
    if isinstance(hashes, str):
        hashes = [hashes]
    if not isinstance(hashes, list) or not hashes:
        raise ValueError(f"{where}.token_sha256 must be a hash or a list of hashes")
    groups = entry.get("groups", [])
    if not isinstance(groups, list) or not all(isinstance(g, str) for g in groups):
        raise ValueError(f"{where}.groups must be a list of group names")
    for group in groups:
        check_name(group, f"a group of {where}")
    identity = Identity(name, frozenset(groups), admin_group in groups)
    return [(_digest(h, f"{where}.token_sha256"), identity) for h in hashes]


def parse_users(text: str) -> UsersConfig:
    """Read a users file's TOML text.

    Raises:
        ValueError: the text is not TOML, or not a users file (unknown keys, a bad
            name, a hash that is not 64 hex digits, one token hash given twice); the
            message says where.
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"not valid TOML: {exc}") from None
    unknown = sorted(set(data) - _TOP_KEYS)
    if unknown:
        raise ValueError(f"unknown top-level keys: {', '.join(unknown)}")
    admin_group = data.get("admin_group", DEFAULT_ADMIN_GROUP)
    if not isinstance(admin_group, str):
        raise ValueError("admin_group must be a group name")
    check_name(admin_group, "admin_group")
    users = data.get("users", {})
    if not isinstance(users, Mapping):
        raise ValueError("users must be a table of users ([users.NAME])")
    tokens: list[tuple[bytes, Identity]] = []
    owners: dict[bytes, str] = {}
    for name, entry in users.items():
        for digest, identity in _user(name, entry, admin_group):
            if digest in owners:
                raise ValueError(
                    f"one token hash is given twice (users.{owners[digest]} and users.{name})"
                )
            owners[digest] = name
            tokens.append((digest, identity))
    return UsersConfig(admin_group, tuple(tokens), tuple(webhooks_from_toml(data)))


def _signature(path: Path) -> tuple[int, int, int]:
    stat = path.stat()
    return (stat.st_mtime_ns, stat.st_size, stat.st_ino)


class UsersFile:
    """A users file kept current: re-read when it changed, at most once a second.

    Args:
        path: the file.
        check_interval: seconds between two looks at the file's modification time,
            size and inode.
        clock: the monotonic clock those seconds are read from.

    Raises:
        WorkflowConfigurationError: the file cannot be read or is not a valid users
            file (at start-up a broken file stops the server; later ones are logged and
            the last good configuration stays in force).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        check_interval: float = CHECK_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = Path(path)
        self._interval = check_interval
        self._clock = clock
        try:
            signature = _signature(self.path)
            self._config = parse_users(self.path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise WorkflowConfigurationError(
                f"users file {str(self.path)!r}: {_reason(exc)}"
            ) from None
        self._signature: tuple[int, int, int] | None = signature
        self._checked = clock()

    @property
    def config(self) -> UsersConfig:
        """The configuration in force, after re-reading the file if it changed (looked
        at no more than once per ``check_interval``)."""
        now = self._clock()
        if now - self._checked >= self._interval:
            self._checked = now
            self._reload()
        return self._config

    def identify(self, token: str) -> Identity | None:
        """The identity of ``token`` in the configuration in force, else ``None``."""
        return self.config.identify(token)

    def _reload(self) -> None:
        # A broken or missing file is reported once, not at every check.
        try:
            signature = _signature(self.path)
        except OSError as exc:
            if self._signature is not None:
                self._signature = None
                self._report(exc)
            return
        if signature == self._signature:
            return
        self._signature = signature
        try:
            config = parse_users(self.path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            self._report(exc)
            return
        self._config = config
        logger.info("users file %r reloaded: %d users", str(self.path), len(config.users))

    def _report(self, exc: BaseException) -> None:
        logger.error(
            "users file %r not reloaded, the last good one stays in force: %s",
            str(self.path),
            _reason(exc),
        )


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError):
        return exc.strerror or str(exc)
    return str(exc)
