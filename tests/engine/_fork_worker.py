"""Worker for the kill -9 fork test: forks one checkpoint of a run again and again.

    python _fork_worker.py STORE_URL RUN_ID SEQ

Prints ``open`` once its engine is open, then the id of every fork ``engine.fork``
returned (so the parent knows which forks were reported made), until it is killed.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: _review_flow

from _review_flow import Review  # noqa: E402
from workflows.engine import Engine  # noqa: E402


async def main(url: str, run_id: str, seq: int) -> None:
    async with Engine(url, {"review": Review()}, execute=False) as engine:
        print("open", flush=True)
        while True:
            print(await engine.fork(run_id, seq), flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
