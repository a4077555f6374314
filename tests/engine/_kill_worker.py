"""Worker for test_kill9: starts runs on a store and keeps running until killed.

    python _kill_worker.py STORE_URL N

Recovers what earlier (killed) workers left, starts N runs of the counting workflow,
then answers every pending input request with "yes", forever. The parent SIGKILLs it at
a random moment.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _kill_workflow import WORKFLOWS  # noqa: E402

from workflows.engine import Engine  # noqa: E402


async def main(url: str, count: int) -> None:
    async with Engine(url, WORKFLOWS, idle_release_after=0, timer_interval=0.05) as engine:
        print("open", flush=True)
        for i in range(count):
            await engine.start("counting", n=i)
        print("started", flush=True)
        while True:  # answer whatever is pending, as another client would
            for request in await engine.inbox(limit=1000):
                try:
                    await engine.respond(request.request_id, "yes", idempotency_key="worker")
                except Exception:  # answered meanwhile by someone else: fine
                    pass
            await asyncio.sleep(0.005)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
