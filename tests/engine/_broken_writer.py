"""Workflows for a worker process whose commit writer crashes on its first write.

Imported by ``workflows worker`` in ``test_stop.py``: it breaks this process's writer
the way a bug would (an exception that is not a store error), to check that the worker
then exits non-zero and gives its runs back instead of renewing leases it cannot serve.
"""

from __future__ import annotations

import sys
from pathlib import Path

from workflows.engine._writer import CommitWriter

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _fleet_workflow import WORKFLOWS  # noqa: E402


async def _crash(self: CommitWriter, *args: object) -> None:
    raise RuntimeError("injected writer bug")


CommitWriter._write_batch = _crash  # type: ignore[method-assign,assignment]

__all__ = ["WORKFLOWS"]
