"""Several ``workflows worker`` processes on one PostgreSQL (this project only).

Every measurement uses a fresh PostgreSQL schema (``$WORKFLOWS_BENCH_POSTGRES_URL``,
default ``postgresql://127.0.0.1:5432/test``), real worker subprocesses running
``python -m workflows.cli worker benchmarks/_workers_workflow.py:WORKFLOWS`` and, in
this process, an API-only ``Engine(execute=False)`` that starts runs and answers them
the way a web app would.

- ``throughput``: with 1, 2 and 4 workers, N runs of a 10-step chain are started at
  once; runs/s and committed steps/s until every result is back (each one checked).
  Also the CPU the workers, this process and the rest of the machine (PostgreSQL)
  used, which explains the scaling on a small machine.
- ``takeover``: a victim worker claims M runs whose step hangs in it; two survivors
  are running; the victim is killed with SIGKILL; time from the kill until all M runs
  completed on the survivors (lease and poll interval given in the metric names).
- ``latency``: a worker holds a run suspended in ``ctx.wait_for_event`` (in memory);
  this process answers with ``engine.respond(...)`` and waits for the run's next
  commit (the next ``InputRequiredEvent`` on ``RunHandle.stream_events``): the
  answer-to-resume latency across processes, p50/p99.

The report's ``notes`` explain the figures. Usage:

    python benchmarks/bench_workers.py [--size tiny|small|full]
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import _harness
from _harness import Report, check, percentile

from workflows.engine import Engine
from workflows.events import InputRequiredEvent

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _workers_workflow import WORKFLOWS  # noqa: E402

POSTGRES = os.environ.get("WORKFLOWS_BENCH_POSTGRES_URL", "postgresql://127.0.0.1:5432/test")
TARGET = f"{HERE / '_workers_workflow.py'}:WORKFLOWS"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
THROUGHPUT_LEASE_S = 15.0
"""Lease of the throughput workers: the CLI default."""


@dataclass
class Sizes:
    workers: list[int]
    chain_runs: int
    warmup_runs: int
    concurrency: int
    held_runs: int
    lease_s: float
    poll_s: float
    latency_rounds: int
    latency_warmup: int
    default_takeover: bool
    """Also measure takeover with the CLI defaults (lease 15 s, poll 2 s)."""


SIZES = {
    "tiny": Sizes(
        workers=[1, 2],
        chain_runs=40,
        warmup_runs=5,
        concurrency=100,
        held_runs=10,
        lease_s=2.0,
        poll_s=0.25,
        latency_rounds=20,
        latency_warmup=3,
        default_takeover=False,
    ),
    "small": Sizes(
        workers=[1, 2, 4],
        chain_runs=300,
        warmup_runs=20,
        concurrency=100,
        held_runs=50,
        lease_s=3.0,
        poll_s=0.5,
        latency_rounds=100,
        latency_warmup=10,
        default_takeover=False,
    ),
    "full": Sizes(
        workers=[1, 2, 4],
        chain_runs=1500,
        warmup_runs=50,
        concurrency=100,
        held_runs=200,
        lease_s=3.0,
        poll_s=0.5,
        latency_rounds=300,
        latency_warmup=20,
        default_takeover=True,
    ),
}


@dataclass
class WorkersReport(Report):
    """The common report plus plain-language notes on what the figures mean."""

    notes: list[str] = field(default_factory=list)


# -- processes and schemas -------------------------------------------------------------


class Worker:
    """One ``workflows worker`` subprocess, its output in a log file."""

    def __init__(
        self,
        url: str,
        owner: str,
        logdir: Path,
        *,
        lease_s: float,
        poll_s: float,
        concurrency: int,
        env: dict[str, str] | None = None,
    ) -> None:
        self.owner = owner
        self.log = logdir / f"{owner}.log"
        self._out = self.log.open("w")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "workflows.cli",
                "worker",
                TARGET,
                "--store",
                url,
                "--owner",
                owner,
                "--lease",
                str(lease_s),
                "--poll",
                str(poll_s),
                "--concurrency",
                str(concurrency),
            ],
            stdout=self._out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def output(self) -> str:
        if not self._out.closed:
            self._out.flush()
        return self.log.read_text()

    async def ready(self, seconds: float = 60.0) -> None:
        """Wait until the worker says it is executing (its store is open, it listens)."""
        deadline = time.monotonic() + seconds
        while f"worker {self.owner} executing" not in self.output():
            check(self.process.poll() is None, f"worker {self.owner} died:\n{self.output()}")
            check(time.monotonic() < deadline, f"worker {self.owner} never got ready")
            await asyncio.sleep(0.02)

    def cpu_seconds(self) -> float:
        """User + system CPU time of the (running) process so far."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS

    def stop(self) -> None:
        """SIGTERM (a graceful stop releases its leases), SIGKILL if it hangs."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=15)
        self._out.close()

    def problems(self) -> list[str]:
        """Lines of its log that report an error or a traceback."""
        return [
            line
            for line in self.output().splitlines()
            if "Traceback" in line or "ERROR" in line or "commit failed" in line
        ]


class Fleet:
    """Worker subprocesses that are all stopped at the end of a ``with`` block."""

    def __init__(self, url: str, logdir: Path, sizes: Sizes) -> None:
        self.url = url
        self.logdir = logdir
        self.sizes = sizes
        self.workers: dict[str, Worker] = {}

    def add(self, owner: str, **options: object) -> Worker:
        settings: dict[str, object] = {
            "lease_s": self.sizes.lease_s,
            "poll_s": self.sizes.poll_s,
            "concurrency": self.sizes.concurrency,
        }
        settings.update(options)
        worker = Worker(self.url, owner, self.logdir, **settings)  # type: ignore[arg-type]
        self.workers[owner] = worker
        return worker

    def __enter__(self) -> Fleet:
        return self

    def __exit__(self, *exc_info: object) -> None:
        for worker in self.workers.values():
            worker.stop()


async def _fresh_schema() -> str:
    import asyncpg  # type: ignore[import-untyped]  # noqa: PLC0415

    try:
        conn = await asyncpg.connect(POSTGRES, timeout=5)
    except Exception as exc:
        raise _harness.BenchmarkFailure(f"PostgreSQL not reachable at {POSTGRES}: {exc}") from exc
    schema = f"bench_workers_{uuid.uuid4().hex[:10]}"
    await conn.execute(f"CREATE SCHEMA {schema}")
    await conn.close()
    sep = "&" if "?" in POSTGRES else "?"
    return f"{POSTGRES}{sep}schema={schema}"


async def _drop_schema(url: str) -> None:
    import asyncpg  # noqa: PLC0415

    schema = url.rsplit("schema=", 1)[1]
    conn = await asyncpg.connect(POSTGRES)
    await conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    await conn.close()


def _machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far, all cores summed."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    total = sum(values[:8])  # user .. steal (guest time is already in user)
    return (total - idle) / CLOCK_TICKS, total / CLOCK_TICKS


def _check_logs(fleet: Fleet, what: str, allow_refused_commits: bool = False) -> None:
    for worker in fleet.workers.values():
        problems = worker.problems()
        if allow_refused_commits:
            problems = [p for p in problems if "commit failed" not in p]
        check(not problems, f"{what}: worker {worker.owner} logged:\n" + "\n".join(problems[:20]))


# -- throughput ---------------------------------------------------------------------------


async def _throughput(k: int, sizes: Sizes, logdir: Path, report: Report) -> dict[str, float]:
    url = await _fresh_schema()
    label = f"workers={k}"
    try:
        async with Engine(url, WORKFLOWS, execute=False, poll_interval=sizes.poll_s) as api:
            with Fleet(url, logdir / label, sizes) as fleet:
                (logdir / label).mkdir(exist_ok=True)
                for i in range(k):
                    fleet.add(f"w{i + 1}", lease_s=THROUGHPUT_LEASE_S)
                for worker in fleet.workers.values():
                    await worker.ready()
                # Warm-up: connections, prepared statements, imports in every worker.
                warm = await asyncio.gather(
                    *(api.start("chain", base=-1000 - i) for i in range(sizes.warmup_runs))
                )
                await asyncio.wait_for(asyncio.gather(*(h.result() for h in warm)), 120)

                n = sizes.chain_runs
                cpu_workers_0 = sum(w.cpu_seconds() for w in fleet.workers.values())
                cpu_self_0 = time.process_time()
                busy_0, total_0 = _machine_cpu()
                started = time.perf_counter()
                handles = await asyncio.gather(*(api.start("chain", base=i) for i in range(n)))
                all_started = time.perf_counter() - started
                results = await asyncio.wait_for(
                    asyncio.gather(*(h.result() for h in handles)), 60 + n
                )
                elapsed = time.perf_counter() - started
                busy_1, total_1 = _machine_cpu()
                cpu_self = time.process_time() - cpu_self_0
                cpu_workers = sum(w.cpu_seconds() for w in fleet.workers.values()) - cpu_workers_0

                pids = {str(w.pid): w.owner for w in fleet.workers.values()}
                spread: Counter[str] = Counter()
                for i, result in enumerate(results):
                    value, _, pid = str(result).partition("@")
                    check(value == str(i + 10), f"run {i}: result {result!r}, expected {i + 10}")
                    check(pid in pids, f"run {i} finished in an unknown process {pid}")
                    spread[pids[pid]] += 1
                records = await api.runs(status="completed", limit=n + sizes.warmup_runs + 1)
                check(len(records) == n + sizes.warmup_runs, f"{len(records)} runs completed")
                # A run's version counts its commits, plus one for the claim that took
                # it up (created at version 0 by this process, claimed once).
                measured = {h.run_id for h in handles}
                commits = sum(r.version - 1 for r in records if r.run_id in measured)
            # A refused commit (its lease ran out under load and another worker took
            # the run over) is not a wrong result (every result was checked above) but
            # is counted: it means re-executed steps.
            refused = sum(
                line.count("commit failed") for w in fleet.workers.values() for line in w.problems()
            )
            _check_logs(fleet, label, allow_refused_commits=True)
    finally:
        await _drop_schema(url)
    cores_busy = (busy_1 - busy_0) / elapsed
    metrics = {
        f"runs_per_s@{label}": n / elapsed,
        f"step_commits_per_s@{label}": n * 10 / elapsed,
        f"store_commits_per_s@{label}": commits / elapsed,
        f"store_commits_per_run@{label}": commits / n,
        f"start_all_s@{label}": all_started,
        f"machine_cores_busy@{label}": cores_busy,
        f"machine_cores_total@{label}": (total_1 - total_0) / elapsed,
        f"worker_cpu_ms_per_run@{label}": cpu_workers / n * 1000,
        f"api_process_cpu_ms_per_run@{label}": cpu_self / n * 1000,
        f"other_cpu_ms_per_run@{label}": (busy_1 - busy_0 - cpu_workers - cpu_self) / n * 1000,
        f"busiest_worker_share@{label}": max(spread.values()) / n,
        f"refused_commits@{label}": refused,
    }
    report.metrics.update(metrics)
    return metrics


# -- takeover -----------------------------------------------------------------------------


async def _takeover(
    sizes: Sizes, lease_s: float, poll_s: float, logdir: Path, report: Report
) -> None:
    url = await _fresh_schema()
    label = f"lease={lease_s:g}s,poll={poll_s:g}s"
    (logdir / "takeover").mkdir(exist_ok=True)
    m = sizes.held_runs
    try:
        async with Engine(url, WORKFLOWS, execute=False, poll_interval=poll_s) as api:
            with Fleet(url, logdir / "takeover", sizes) as fleet:
                options = {"lease_s": lease_s, "poll_s": poll_s, "concurrency": m + 10}
                victim = fleet.add("victim", env={"BENCH_HOLD_SECONDS": "3600"}, **options)
                await victim.ready()
                handles = [await api.start("held", i=i) for i in range(m)]
                deadline = time.monotonic() + 60
                while True:  # every run claimed by the victim, its step in flight
                    owned = [r for r in await api.runs(limit=m + 1) if r.owner == "victim"]
                    if len(owned) == m:
                        break
                    check(time.monotonic() < deadline, f"victim claimed {len(owned)} of {m}")
                    await asyncio.sleep(0.05)
                survivors = [fleet.add(f"survivor{i}", **options) for i in (1, 2)]
                for worker in survivors:
                    await worker.ready()
                # Let the victim's heartbeat go on for a while: the kill lands at an
                # arbitrary point of its renewal cycle, as a real crash would.
                await asyncio.sleep(lease_s * 0.5)
                victim.process.kill()
                killed = time.monotonic()
                firsts: list[float] = []

                async def finish(handle):  # type: ignore[no-untyped-def]
                    result = await handle.result()
                    firsts.append(time.monotonic() - killed)
                    return result

                results = await asyncio.wait_for(
                    asyncio.gather(*(finish(h) for h in handles)), lease_s * 4 + poll_s + 60
                )
                takeover = time.monotonic() - killed
                pids = {str(w.pid): w.owner for w in survivors}
                spread: Counter[str] = Counter()
                for i, result in enumerate(results):
                    value, _, pid = str(result).partition("@")
                    check(value == str(i), f"held run {i}: result {result!r}")
                    check(pid in pids, f"held run {i} finished in {pid}, not on a survivor")
                    spread[pids[pid]] += 1
            _check_logs(fleet, "takeover")
    finally:
        await _drop_schema(url)
    report.metrics[f"takeover_all_done_s@{label}"] = takeover
    report.metrics[f"takeover_first_done_s@{label}"] = min(firsts)
    report.metrics[f"takeover_bound_lease_plus_poll_s@{label}"] = lease_s + poll_s
    report.metrics[f"takeover_busiest_survivor_share@{label}"] = max(spread.values()) / m


# -- answer-to-resume latency -------------------------------------------------------------


async def _latency(sizes: Sizes, logdir: Path, report: Report) -> None:
    url = await _fresh_schema()
    (logdir / "latency").mkdir(exist_ok=True)
    rounds = sizes.latency_warmup + sizes.latency_rounds
    total_ms: list[float] = []
    respond_ms: list[float] = []
    try:
        async with Engine(url, WORKFLOWS, execute=False, poll_interval=sizes.poll_s) as api:
            with Fleet(url, logdir / "latency", sizes) as fleet:
                for owner in ("w1", "w2"):
                    fleet.add(owner)
                for worker in fleet.workers.values():
                    await worker.ready()
                handle = await api.start("pingpong", rounds=rounds)
                prompts: asyncio.Queue[tuple[float, str]] = asyncio.Queue()

                async def read_stream() -> None:
                    async for event in handle.stream_events():
                        if isinstance(event, InputRequiredEvent):
                            prompts.put_nowait((time.perf_counter(), event.prefix))

                reader = asyncio.create_task(read_stream())
                try:
                    _, prefix = await asyncio.wait_for(prompts.get(), 30)
                    check(prefix == "q0", f"first prompt {prefix!r}")
                    holder = (await handle.record()).owner
                    for i in range(rounds):
                        if i == rounds - 1:
                            # The same worker held the run all along: never released
                            # (idle release), never moved to the other worker.
                            owner = (await handle.record()).owner
                            check(owner == holder, f"run moved from {holder} to {owner}")
                        pending = await api.inbox(run_id=handle.run_id)
                        check(len(pending) == 1, f"round {i}: {len(pending)} pending requests")
                        before = time.perf_counter()
                        check(await api.respond(pending[0].request_id, f"a{i}"), "answer taken")
                        responded = time.perf_counter()
                        if i + 1 < rounds:
                            seen, prefix = await asyncio.wait_for(prompts.get(), 30)
                            check(prefix == f"q{i + 1}", f"round {i}: next prompt {prefix!r}")
                        else:
                            result = await asyncio.wait_for(handle.result(), 30)
                            seen = time.perf_counter()
                            check(result == ",".join(f"a{j}" for j in range(rounds)), "result")
                        if i >= sizes.latency_warmup:
                            total_ms.append((seen - before) * 1000)
                            respond_ms.append((responded - before) * 1000)
                finally:
                    reader.cancel()
                    await asyncio.gather(reader, return_exceptions=True)
            _check_logs(fleet, "latency")
    finally:
        await _drop_schema(url)
    report.metrics["answer_to_resume_p50_ms"] = percentile(total_ms, 50)
    report.metrics["answer_to_resume_p99_ms"] = percentile(total_ms, 99)
    report.metrics["answer_to_resume_max_ms"] = max(total_ms)
    report.metrics["respond_call_p50_ms"] = percentile(respond_ms, 50)
    report.metrics["respond_call_p99_ms"] = percentile(respond_ms, 99)


# -- the workload ---------------------------------------------------------------------------


def _notes(sizes: Sizes, through: dict[int, dict[str, float]], report: Report) -> list[str]:
    cores = os.cpu_count() or 1
    notes = [f"machine: {cores} CPU cores; PostgreSQL runs on the same machine"]
    base = through.get(1, {}).get("runs_per_s@workers=1")
    for k, metrics in through.items():
        label = f"workers={k}"
        rate = metrics[f"runs_per_s@{label}"]
        notes.append(
            f"{k} worker(s): {rate:.0f} runs/s"
            + (f" ({rate / base:.2f}x of 1 worker)" if base else "")
            + f"; machine busy {metrics[f'machine_cores_busy@{label}']:.2f} of {cores} cores; "
            f"CPU per run: workers {metrics[f'worker_cpu_ms_per_run@{label}']:.1f} ms, "
            f"this process {metrics[f'api_process_cpu_ms_per_run@{label}']:.1f} ms, "
            f"PostgreSQL and the rest {metrics[f'other_cpu_ms_per_run@{label}']:.1f} ms"
        )
    if base and len(through) > 1:
        notes.append(
            "Scaling on this machine: runs/s does not grow with workers, because one "
            "worker already keeps the 2 cores nearly busy (its own process, this API "
            "process and the PostgreSQL backends share them; see 'machine busy'). A "
            "worker is one Python process, at most one core; more workers only help "
            "while there are idle cores. Past that they add CPU per run: every "
            "'work' wake-up (NOTIFY) reaches every worker and all but one of them try "
            "to claim the run in vain (an UPDATE and a SELECT each), and every commit's "
            "wake-up is parsed by every listener, so the CPU per run (workers + "
            "PostgreSQL) grows with the number of workers. runs/s <= busy cores / CPU "
            "seconds per run. With the database on its own machine and one core per "
            "worker, throughput grows with the number of workers until PostgreSQL "
            "saturates; each worker also writes its commits one at a time (one commit "
            "writer per process), so more workers means more commits in flight."
        )
    commits = [m.get(f"store_commits_per_run@workers={k}") for k, m in through.items()]
    if commits and commits[0] is not None:
        notes.append(
            f"commits: {commits[0]:.2f} store commits per 10-step run (after the API's "
            "create): the engine folds every step boundary a run reaches while its "
            "previous commit is being written into the next commit, and these steps "
            "take microseconds, so a chain is mostly written once; step_commits_per_s "
            "counts step boundaries made durable (10 per run), store_commits_per_s the "
            "transactions"
        )
    return notes


def _count_settle_races(report: Report) -> None:
    """Count (instead of printing) a known engine race: two concurrent
    ``Engine._settle_from_store`` calls for one run both set its result future."""
    loop = asyncio.get_running_loop()
    report.metrics["settle_race_errors"] = 0

    def handler(loop: asyncio.AbstractEventLoop, context: dict) -> None:  # type: ignore[type-arg]
        exc = context.get("exception")
        task = context.get("future")
        name = getattr(getattr(task, "get_coro", lambda: None)(), "__qualname__", "")
        if isinstance(exc, asyncio.InvalidStateError) and name.endswith("_settle_from_store"):
            report.metrics["settle_race_errors"] += 1
            return
        loop.default_exception_handler(context)

    loop.set_exception_handler(handler)


async def body(sizes: Sizes, report: Report) -> None:
    import tempfile  # noqa: PLC0415

    _count_settle_races(report)

    with tempfile.TemporaryDirectory(prefix="bench-workers-") as tmp:
        logdir = Path(tmp)
        through = {k: await _throughput(k, sizes, logdir, report) for k in sizes.workers}
        await _takeover(sizes, sizes.lease_s, sizes.poll_s, logdir, report)
        if sizes.default_takeover:
            await _takeover(sizes, 15.0, 2.0, logdir, report)
        await _latency(sizes, logdir, report)
    assert isinstance(report, WorkersReport)
    report.notes.extend(_notes(sizes, through, report))
    report.notes.append(
        "takeover: the victim renews its leases every lease/3, so its leases run out "
        "between 2/3 and 1 lease after the kill; a survivor finds the runs at its next "
        "poll; expected all done after <= lease + poll (+ re-executing the step)"
    )
    report.notes.append(
        "latency: answer POSTed via engine.respond() in this process -> NOTIFY -> the "
        "worker holding the run (another process) reads the answer, resumes the step, "
        "commits the next prompt -> NOTIFY -> RunHandle.stream_events here yields it"
    )
    for line in report.notes:
        print(f"bench_workers: {line}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    _harness.Report = WorkersReport  # type: ignore[misc]  # main() builds this report type
    _harness.main("workers", SIZES, body)
