"""Users files for the identity tests: tokens, users and groups written as TOML."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

__all__ = ["USERS", "bearer", "write_users"]

USERS: dict[str, tuple[str, list[str]]] = {
    "ada": ("tok-ada", ["finance"]),
    "bob": ("tok-bob", ["legal"]),
    "root": ("tok-root", ["admins"]),
}
"""name -> (token, groups): ada in finance, bob in legal, root an admin."""


def bearer(name: str, users: dict[str, tuple[str, list[str]]] = USERS) -> dict[str, str]:
    """The Authorization header of ``name``'s token."""
    return {"Authorization": f"Bearer {users[name][0]}"}


def write_users(
    path: Path,
    users: dict[str, tuple[str, list[str]]] = USERS,
    *,
    admin_group: str | None = None,
) -> Path:
    """Write a users file of ``users`` (their tokens hashed) to ``path``."""
    lines = [] if admin_group is None else [f"admin_group = {json.dumps(admin_group)}"]
    for name, (token, groups) in users.items():
        digest = hashlib.sha256(token.encode()).hexdigest()
        lines += [
            f"[users.{json.dumps(name)}]",
            f'token_sha256 = "{digest}"',
            f"groups = {json.dumps(groups)}",
        ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
