"""Run every benchmark workload against one or more interpreters; print a markdown table.

Each workload (``bench_<name>.py``) runs in its own subprocess and prints one JSON
line. Interpreters are interleaved and their order alternates from one repetition to
the next, so slow drift of a shared machine hits both sides alike. The table shows the
median over repetitions per interpreter and, with two or more interpreters, how the
first compares with each other one.

    python benchmarks/run.py --python /work/main/.venv/bin/python \\
        --python /opt/refvenv/bin/python --size small --repeat 3 --out table.md

Exit status 1 when any workload failed (wrong result, crash, timeout), else 0.
Only the standard library is used here, so any Python 3.10+ can drive the run.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import shlex
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
WORKLOADS = (
    "chain",
    "fanout",
    "concurrent",
    "hitl",
    "wait_many",
    "snapshot",
    "history",
    "paused",
)
SIZES = ("tiny", "small", "full")
DEFAULT_TIMEOUT_S = {"tiny": 120.0, "small": 600.0, "full": 1800.0}
PROBE = (
    "import sys; sys.path.insert(0, sys.argv[1]); import _harness; print(_harness.implementation())"
)


@dataclass(frozen=True)
class Metric:
    """How to show one metric: label, unit, and which direction is better.

    ``higher_is_better`` is None for figures that describe the run rather than rate
    the implementation (no ratio is shown for them).
    """

    label: str
    unit: str
    higher_is_better: bool | None


METRICS: dict[tuple[str, str], Metric] = {
    ("chain", "us_per_hop"): Metric("10-step chain, sequential runs: per step hop", "µs", False),
    ("chain", "asyncio_floor_us_per_hop"): Metric(
        "plain asyncio queue hand-off, no engine (floor)", "µs", None
    ),
    ("fanout", "ev_per_s"): Metric("fan-out to a num_workers=8 step, N={q}", "ev/s", True),
    ("fanout", "growth_exponent"): Metric("fan-out: time ∝ N^x", "x", None),
    ("fanout", "growth_fit_max_n"): Metric("fan-out: largest N in that fit", "N", None),
    ("concurrent", "runs_per_s"): Metric("concurrent 3-step runs: throughput", "runs/s", True),
    ("concurrent", "kib_per_run"): Metric("concurrent 3-step runs: peak memory", "KiB/run", False),
    ("hitl", "p50_us"): Metric("HITL round trip (answer → next prompt): p50", "µs", False),
    ("hitl", "p99_us"): Metric("HITL round trip (answer → next prompt): p99", "µs", False),
    ("hitl", "retained_bytes_per_round"): Metric("HITL: memory retained", "B/round", False),
    ("wait_many", "first_us"): Metric("sequential wait_for_event: first waits", "µs/wait", False),
    ("wait_many", "last_us"): Metric("sequential wait_for_event: last waits", "µs/wait", False),
    ("wait_many", "last_over_first"): Metric(
        "sequential wait_for_event: last / first cost", "×", False
    ),
    ("snapshot", "to_dict_ms"): Metric("snapshot, many state keys: to_dict", "ms", False),
    ("snapshot", "restore_resume_ms"): Metric(
        "snapshot, many state keys: from_dict + resume to end", "ms", False
    ),
    ("snapshot", "snapshot_kib"): Metric("snapshot, many state keys: JSON size", "KiB", False),
    ("history", "to_dict_ms"): Metric("to_dict after {q} round trips", "ms", False),
    ("history", "snapshot_kib"): Metric("snapshot JSON size after {q} round trips", "KiB", False),
    ("paused", "kib_per_paused_run"): Metric("paused runs: memory each", "KiB/run", False),
    ("paused", "pause_all_s"): Metric("paused runs: time until all paused", "s", False),
    ("paused", "answer_all_s"): Metric("paused runs: time to answer all", "s", False),
    ("paused", "asyncio_floor_kib_per_run"): Metric(
        "plain asyncio: a task waiting in a generator per run, no engine (floor)", "KiB/run", None
    ),
}

TARGETS: dict[tuple[str, str], tuple[str, float]] = {
    ("chain", "us_per_hop"): ("<=", 25),
    ("fanout", "ev_per_s@N=10000"): (">=", 50_000),
    ("fanout", "growth_exponent"): ("<=", 1.1),
    ("concurrent", "runs_per_s"): (">=", 5_000),
    ("concurrent", "kib_per_run"): ("<=", 10),
    ("hitl", "p50_us"): ("<=", 60),
    ("hitl", "p99_us"): ("<=", 150),
    ("hitl", "retained_bytes_per_round"): ("<=", 64),
    ("wait_many", "last_over_first"): ("<=", 1.3),
    ("snapshot", "to_dict_ms"): ("<=", 2),
    ("snapshot", "restore_resume_ms"): ("<=", 5),
    ("history", "to_dict_ms"): ("<=", 1),
    ("paused", "kib_per_paused_run"): ("<=", 8),
    ("paused", "pause_all_s"): ("<=", 1),
    ("paused", "answer_all_s"): ("<=", 1),
}
"""Issue 4 targets for the project, keyed by (workload, metric key or its base name, which
then covers every qualifier); they apply to ``--size full`` on a quiet machine."""


@dataclass
class Interpreter:
    """One ``--python`` and the ``workflows`` implementation installed in it."""

    path: str
    label: str


@dataclass
class Outcome:
    """Everything one interpreter produced for one workload over the repetitions."""

    reports: list[dict] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


Results = dict[tuple[str, str], Outcome]
"""Keyed by (workload, interpreter path)."""


def probe(path: str) -> str:
    """Ask an interpreter which ``workflows`` distribution it has installed."""
    done = subprocess.run(
        [path, "-c", PROBE, str(BENCH_DIR)], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        sys.exit(f"cannot run {path}: {done.stderr.strip()}")
    return done.stdout.strip()


def interpreters(paths: list[str]) -> list[Interpreter]:
    """Label each interpreter; repeat labels get the interpreter path appended."""
    labels = [probe(p) for p in paths]
    return [
        Interpreter(path, label if labels.count(label) == 1 else f"{label} ({path})")
        for path, label in zip(paths, labels)
    ]


def run_workload(python: str, name: str, size: str, timeout_s: float) -> tuple[dict | None, str]:
    """Run one workload subprocess; return its report, or None and why it failed."""
    command = [python, str(BENCH_DIR / f"bench_{name}.py"), "--size", size]
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout_s, check=False
        )
    except subprocess.TimeoutExpired:
        return None, f"killed after {timeout_s:g} s (timeout)"
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        tail = "\n".join(done.stderr.strip().splitlines()[-15:])
        return None, f"exit status {done.returncode}\n{tail}"
    return json.loads(lines[-1]), ""


def run_all(
    pythons: list[Interpreter], workloads: list[str], size: str, repeat: int, timeout_s: float
) -> Results:
    """Run every workload ``repeat`` times per interpreter, alternating their order."""
    results: Results = {(w, p.path): Outcome() for w in workloads for p in pythons}
    for rep in range(repeat):
        order = pythons if rep % 2 == 0 else pythons[::-1]
        for workload in workloads:
            for python in order:
                start = time.perf_counter()
                report, failure = run_workload(python.path, workload, size, timeout_s)
                outcome = results[(workload, python.path)]
                status = "ok" if report is not None else "FAILED"
                print(
                    f"[{rep + 1}/{repeat}] {workload:<10} {python.label:<32} "
                    f"{time.perf_counter() - start:6.1f} s  {status}",
                    file=sys.stderr,
                    flush=True,
                )
                if report is None:
                    outcome.failures.append(failure)
                else:
                    outcome.reports.append(report)
    return results


def split_key(key: str) -> tuple[str, str]:
    """``"ev_per_s@N=1000"`` -> ``("ev_per_s", "N=1000")``; no qualifier -> ``""``."""
    base, _, qualifier = key.partition("@")
    return base, qualifier


def median_value(outcome: Outcome, key: str, metric: Metric) -> float | str | None:
    """Median over repetitions; a did-not-finish counts as the worst possible value.

    Returns the number, the DNF reason when the median lands on a DNF, or None when no
    repetition produced the key.
    """
    worst = float("-inf") if metric.higher_is_better else float("inf")
    values: list[float] = []
    reasons: list[str] = []
    for report in outcome.reports:
        if key in report["metrics"]:
            values.append(float(report["metrics"][key]))
        elif key in report["dnf"]:
            values.append(worst)
            reasons.append(report["dnf"][key])
    if not values:
        return None
    middle = statistics.median(values)
    if math.isinf(middle):
        return f"DNF: {reasons[0]}"
    return middle


def fmt(value: float) -> str:
    """Three significant figures or so, with thousands separators for big numbers."""
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    if value >= 1:
        return f"{value:.2f}"
    return f"{value:.3g}"


def cell(value: float | str | None, outcome: Outcome) -> str:
    """A table cell: number, DNF reason, FAIL or a dash."""
    if isinstance(value, str):
        return value
    if value is not None:
        return fmt(value)
    return "FAIL" if outcome.failures and not outcome.reports else "—"


def ratio(first: float | str | None, other: float | str | None, metric: Metric) -> str:
    """How much better the first interpreter is than ``other`` on this metric."""
    if metric.higher_is_better is None:
        return ""
    if isinstance(first, str) and isinstance(other, float):
        return "DNF vs finished"
    if isinstance(other, str) and isinstance(first, float):
        return "finished vs DNF"
    if not isinstance(first, float) or not isinstance(other, float) or first <= 0 or other <= 0:
        return ""
    factor = first / other if metric.higher_is_better else other / first
    word = "better" if factor >= 1 else "worse"
    factor = max(factor, 1 / factor)
    return f"{'> 1,000' if factor > 1000 else fmt(factor)}× {word}"


def target_cell(workload: str, key: str, value: float | str | None, size: str) -> str:
    """The issue-4 target; at ``--size full`` also whether the first interpreter meets it."""
    target = TARGETS.get((workload, key)) or TARGETS.get((workload, split_key(key)[0]))
    if target is None:
        return ""
    op, bound = target
    text = f"{'≤' if op == '<=' else '≥'} {fmt(bound)}"
    if size != "full" or not isinstance(value, float):
        return text
    met = value <= bound if op == "<=" else value >= bound
    return f"{text} {'✓' if met else '✗'}"


def metric_keys(results: Results, workload: str, pythons: list[Interpreter]) -> list[str]:
    """Metric keys a workload reported, in ``METRICS`` order, qualifiers numerically."""
    keys = {
        key
        for python in pythons
        for report in results[(workload, python.path)].reports
        for key in [*report["metrics"], *report["dnf"]]
    }
    order = [base for (w, base) in METRICS if w == workload]

    def position(key: str) -> tuple[int, str, float]:
        base, qualifier = split_key(key)
        rank = order.index(base) if base in order else len(order)
        name, _, number = qualifier.partition("=")
        try:
            return rank, name, float(number)
        except ValueError:
            return rank, qualifier, 0.0

    return sorted(keys, key=position)


def qualifier_text(qualifier: str) -> str:
    """``"N=100000"`` -> ``"100,000"``: the value of a qualifier, for row labels."""
    value = qualifier.partition("=")[2]
    return f"{int(value):,}" if value.isdigit() else value


def params_text(results: Results, workload: str, pythons: list[Interpreter]) -> str:
    """The workload's size parameters, from the first report that has them."""
    for python in pythons:
        for report in results[(workload, python.path)].reports:
            return ", ".join(f"{k}={v}" for k, v in report["params"].items())
    return ""


def table(results: Results, pythons: list[Interpreter], workloads: list[str], size: str) -> str:
    """The side-by-side markdown table of medians, ratios and targets."""
    first, others = pythons[0], pythons[1:]
    header = ["workload", "sizes", "metric", "unit", *(p.label for p in pythons)]
    header += [f"{first.label}: vs {o.label}" for o in others]
    header.append("target (issue 4, --size full)")
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for workload in workloads:
        keys = metric_keys(results, workload, pythons)
        sizes = params_text(results, workload, pythons)
        if not keys:
            cells = [cell(None, results[(workload, p.path)]) for p in pythons]
            lines.append(
                "| " + " | ".join([workload, "", "—", "", *cells]) + " |" * (len(others) + 2)
            )
            continue
        for index, key in enumerate(keys):
            base, qualifier = split_key(key)
            metric = METRICS.get((workload, base), Metric(base, "", None))
            values = [median_value(results[(workload, p.path)], key, metric) for p in pythons]
            label = metric.label.replace("{q}", qualifier_text(qualifier))
            row = [workload if index == 0 else "", sizes if index == 0 else "", label, metric.unit]
            row += [cell(v, results[(workload, p.path)]) for v, p in zip(values, pythons)]
            row += [ratio(values[0], v, metric) for v in values[1:]]
            row.append(target_cell(workload, key, values[0], size))
            lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def preamble(pythons: list[Interpreter], size: str, repeat: int) -> str:
    """Where and how the figures were taken."""
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        f"- date: {now}",
        f"- machine: {platform.platform()}, {os.cpu_count()} CPUs, {_cpu_model()}",
        f"- size: `{size}`, repetitions: {repeat} (median shown; interpreter order "
        "alternates each repetition)",
        f"- command: `{shlex.join(['python', *sys.argv])}`",
    ]
    lines += [f"- `{p.path}`: {p.label}" for p in pythons]
    return "\n".join(lines)


def _cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo, or the platform's processor string."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def failures_text(results: Results, pythons: list[Interpreter]) -> str:
    """One paragraph per workload and interpreter that failed at least once."""
    labels = {p.path: p.label for p in pythons}
    parts = []
    for (workload, path), outcome in results.items():
        if outcome.failures:
            runs = f"{len(outcome.failures)} of {len(outcome.failures) + len(outcome.reports)}"
            parts.append(
                f"### {workload} on {labels[path]} failed ({runs} runs)\n"
                f"```\n{outcome.failures[0]}\n```"
            )
    return "\n\n".join(parts)


def parse_args() -> argparse.Namespace:
    """The command line, with ``workloads`` and a default ``repeat`` filled in."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--python",
        action="append",
        dest="pythons",
        metavar="PATH",
        help="interpreter to benchmark (repeat to compare; the first is the subject)",
    )
    parser.add_argument("--size", choices=SIZES, default="small")
    parser.add_argument(
        "--repeat", type=int, help="repetitions per interpreter (default 1 for tiny, else 3)"
    )
    parser.add_argument(
        "--only",
        action="append",
        metavar="NAME",
        help=f"run only these workloads (repeatable or comma-separated): {', '.join(WORKLOADS)}",
    )
    parser.add_argument("--timeout", type=float, help="seconds allowed per workload subprocess")
    parser.add_argument("--out", type=Path, help="also write the markdown report to this file")
    parser.add_argument("--json", type=Path, help="write every raw JSON report to this file")
    args = parser.parse_args()
    args.pythons = args.pythons or [sys.executable]
    if args.repeat is None:
        args.repeat = 1 if args.size == "tiny" else 3
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    selected = [n.strip() for item in args.only or [] for n in item.split(",") if n.strip()]
    unknown = sorted(set(selected) - set(WORKLOADS))
    if unknown:
        parser.error(f"unknown workload(s): {', '.join(unknown)}; known: {', '.join(WORKLOADS)}")
    args.workloads = [w for w in WORKLOADS if w in selected] if selected else list(WORKLOADS)
    return args


def main() -> int:
    """Run the benchmarks, print (and optionally write) the report; 1 if any failed."""
    args = parse_args()
    pythons = interpreters(args.pythons)
    timeout_s = args.timeout or DEFAULT_TIMEOUT_S[args.size]
    results = run_all(pythons, args.workloads, args.size, args.repeat, timeout_s)
    report = preamble(pythons, args.size, args.repeat) + "\n\n"
    report += table(results, pythons, args.workloads, args.size) + "\n"
    failed = failures_text(results, pythons)
    if failed:
        report += "\n## Failures\n\n" + failed + "\n"
    print(report)
    if args.out:
        args.out.write_text(report, encoding="utf-8")
    if args.json:
        raw = [
            {"workload": w, "python": p, "reports": o.reports, "failures": o.failures}
            for (w, p), o in results.items()
        ]
        args.json.write_text(json.dumps(raw, indent=1), encoding="utf-8")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
