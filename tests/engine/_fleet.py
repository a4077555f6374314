"""Worker processes for the multi-worker tests: start, freeze, stop and read them."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from _wait import until
from workflows.engine import Engine

HERE = Path(__file__).resolve().parent
WORKFLOW_FILE = f"{HERE / '_fleet_workflow.py'}:WORKFLOWS"
LEASE = 1.5
POLL = 0.2


class Worker:
    """One ``workflows worker`` process."""

    def __init__(
        self,
        url: str,
        owner: str,
        log: Path,
        target: str = WORKFLOW_FILE,
        health_port: int | None = None,
        lease: float = LEASE,
    ) -> None:
        self.owner = owner
        self.log = log
        self._out = log.open("w")
        health = [] if health_port is None else ["--health-port", str(health_port)]
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "workflows.cli",
                "worker",
                target,
                "--store",
                url,
                "--owner",
                owner,
                "--lease",
                str(lease),
                "--poll",
                str(POLL),
                "--concurrency",
                "1000",
                *health,
            ],
            stdout=self._out,
            stderr=subprocess.STDOUT,
        )

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)
            self.process.kill()
        self.process.wait(timeout=30)
        self._out.close()

    def output(self) -> str:
        self._out.flush()
        return self.log.read_text()

    async def health_port(self, seconds: float = 30.0) -> int:
        """The port the worker's health endpoint listens on (read from its output)."""

        def printed() -> int | None:
            for line in self.output().splitlines():
                if "health on http://" in line:
                    return int(line.rsplit(":", 1)[1].split("/")[0])
            return None

        port: int = await until(
            printed, f"worker {self.owner} to print its health address", seconds
        )
        return port


@contextmanager
def fleet(
    url: str,
    tmp_path: Path,
    *owners: str,
    target: str = WORKFLOW_FILE,
    health_port: int | None = None,
    lease: float = LEASE,
) -> Iterator[dict[str, Worker]]:
    workers = {
        owner: Worker(url, owner, tmp_path / f"{owner}.log", target, health_port, lease)
        for owner in owners
    }
    try:
        yield workers
    except BaseException:
        # What the workers said explains most failures: print it (pytest shows it).
        for worker in workers.values():
            print(f"---- output of worker {worker.owner} ----\n{worker.output()[-20_000:]}")
        raise
    finally:
        for worker in workers.values():
            worker.kill()


def workflows() -> dict[str, object]:
    sys.path.insert(0, str(HERE))
    try:
        from _fleet_workflow import WORKFLOWS
    finally:
        sys.path.remove(str(HERE))
    return dict(WORKFLOWS)


async def owned_by(api: Engine, owner: str) -> list[str]:
    return [r.run_id for r in await api.runs(limit=100_000) if r.owner == owner]


async def owner_is(api: Engine, run_id: str, owner: str) -> bool:
    record = await api.store.get_run(run_id)
    return record.owner == owner and record.status == "running"


async def says(worker: Worker, *texts: str) -> bool:
    output = worker.output()
    return any(text in output for text in texts)
