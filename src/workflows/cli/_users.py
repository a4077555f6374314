"""``workflows users hash-token``: what a users file stores for a token."""

from __future__ import annotations

import sys

import click

from ._loading import RuntimeFailure

__all__ = ["users_command"]


@click.group("users")
def users_command() -> None:
    """Help with the server's users file (see 'workflows serve --users')."""


@users_command.command("hash-token")
def hash_token_command() -> None:
    """Print the SHA-256 hash of a token read from standard input (asked for, unseen,
    at a terminal), for a user's token_sha256 in the users file.

    \b
    Example:
        printf '%s' "$ADA_TOKEN" | workflows users hash-token
    """
    if sys.stdin.isatty():
        token = click.prompt("Token", hide_input=True, err=True)
    else:
        token = sys.stdin.readline()
        if sys.stdin.read(1):
            raise click.UsageError("standard input holds more than one line: give one token")
    token = token.strip()
    if not token:
        raise click.UsageError("no token on standard input")
    try:
        from ..server import hash_token
    except ImportError as exc:
        raise RuntimeFailure(
            f"the server is not available ({exc}): pip install 'durable-workflows[server]'"
        ) from None
    click.echo(hash_token(token))
