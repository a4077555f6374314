"""The ``workflows`` command line: serve, run, inspect and answer workflows.

::

    workflows serve app.py:WORKFLOWS --store sqlite:///workflows.db --port 8000
    workflows run app.py:WORKFLOWS.expense --arg employee=ada --arg amount=420
    workflows runs / inbox / show RUN_ID / events RUN_ID --follow / cancel RUN_ID
    workflows respond REQUEST_ID --json '{"approved": true}'
    workflows draw app.py:WORKFLOWS --html graph.html

Needs the ``server`` extra (``pip install 'durable-workflows[server]'``); without it
:func:`main` prints a one-line install hint and exits with status 1. See ``docs/cli.md``.
"""

from __future__ import annotations

import sys

__all__ = ["main"]

_INSTALL_HINT = (
    "error: the workflows CLI needs the 'server' extra ({missing} is not installed): "
    "pip install 'durable-workflows[server]'"
)

try:
    import click  # noqa: F401
    import httpx  # noqa: F401
except ImportError as _exc:
    _MISSING: str | None = _exc.name or "a dependency"
else:
    _MISSING = None


def main(argv: list[str] | None = None) -> None:
    """Run the command line with ``argv`` (default: ``sys.argv[1:]``) and exit.

    Exit status: 0 on success, 1 for runtime errors, 2 for usage errors (bad
    ``module:attr``, bad ``--arg``, malformed JSON, a missing store, unknown options),
    130 when interrupted (see ``docs/cli.md``).
    """
    if _MISSING is not None:
        sys.stderr.write(_INSTALL_HINT.format(missing=_MISSING) + "\n")
        sys.exit(1)
    from ._app import run_cli

    sys.exit(run_cli(sys.argv[1:] if argv is None else argv))
