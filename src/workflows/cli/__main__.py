"""``python -m workflows.cli``: the same as the ``workflows`` command."""

from __future__ import annotations

from . import main

main()
