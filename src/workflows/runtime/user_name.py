"""Who answers: the name a client gives in the ``X-Workflows-User`` header.

The name is what the answering client says (the CLI's ``--as``, the inbox page's
"answering as" field, or a trusted reverse proxy that sets the header); it is recorded
with each answer for the run's audit trail. It is not an identity the server checks:
the server's bearer token says only that the caller may use the API.

On the wire the header carries the name's UTF-8 bytes (HTTP header values are bytes);
a server reads it back as UTF-8, or as Latin-1 when the bytes are not UTF-8.

Shared by the server, the client and the CLI: for the layers of this package, not for
users; may change between minor versions.
"""

from __future__ import annotations

from typing import Final

__all__ = ["MAX_USER_NAME", "USER_HEADER", "check_user_name", "read_header", "user_headers"]

USER_HEADER: Final[str] = "X-Workflows-User"
"""The request header that names who answers."""

MAX_USER_NAME: Final[int] = 200
"""The most characters a name may have."""


def check_user_name(name: str) -> str:
    """Return ``name`` without surrounding spaces if it can name who answers.

    Raises:
        ValueError: empty, longer than :data:`MAX_USER_NAME` characters, or holding a
            control or other non-printable character (the message says which).
    """
    stripped = name.strip()
    if not stripped:
        raise ValueError("the name of who answers is empty")
    if len(stripped) > MAX_USER_NAME:
        raise ValueError(
            f"the name of who answers has {len(stripped)} characters; at most "
            f"{MAX_USER_NAME} are allowed"
        )
    for char in stripped:
        if not char.isprintable():
            raise ValueError(
                f"the name of who answers holds the non-printable character "
                f"U+{ord(char):04X}; only printable characters are allowed"
            )
    return stripped


def user_headers(name: str | None) -> dict[str, str | bytes]:
    """The request headers that send ``name`` (none for ``None``), as UTF-8 bytes.

    Raises:
        ValueError: as :func:`check_user_name`.
    """
    if name is None:
        return {}
    return {USER_HEADER: check_user_name(name).encode("utf-8")}


def read_header(raw: str) -> str:
    """The name sent in a header value as decoded by the HTTP server (Latin-1), checked.

    Raises:
        ValueError: as :func:`check_user_name`.
    """
    data = raw.encode("latin-1", errors="replace")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = raw
    return check_user_name(text)
