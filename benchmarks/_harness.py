"""Measurement helpers shared by the benchmark workloads.

This module does not import ``workflows``: it only knows how to parse the common
command line, time and trace memory, check results and print the one JSON line each
workload reports. Every workload script calls :func:`main` with its sizes and body.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import gc
import json
import math
import sys
import tracemalloc
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any, TypeVar

SIZES = ("tiny", "small", "full")
"""Size presets every workload defines: smoke test, quick comparison, issue-4 figures."""

P = TypeVar("P")
T = TypeVar("T")


class BenchmarkFailure(Exception):
    """The workload gave a wrong result or lost an event: the measurement is void."""


def check(condition: bool, message: str) -> None:
    """Raise :class:`BenchmarkFailure` with ``message`` unless ``condition`` holds."""
    if not condition:
        raise BenchmarkFailure(message)


def implementation() -> str:
    """Name and version of the distribution that provides the ``workflows`` package."""
    candidates = metadata.packages_distributions().get("workflows", [])
    for dist in [*candidates, "durable-workflows", "llama-index-workflows"]:
        try:
            return f"{dist} {metadata.version(dist)}"
        except metadata.PackageNotFoundError:
            continue
    return "unknown"


@dataclass
class Report:
    """What one workload measured; printed as a single JSON line on stdout.

    ``metrics`` maps a metric key (``name`` or ``name@qualifier``) to a number.
    ``dnf`` maps a metric key that could not be measured within its time budget to
    the reason, e.g. ``"did not finish within 30 s"``.
    """

    workload: str
    size: str
    params: dict[str, Any]
    implementation: str = field(default_factory=implementation)
    python: str = field(default_factory=lambda: sys.version.split()[0])
    metrics: dict[str, float] = field(default_factory=dict)
    dnf: dict[str, str] = field(default_factory=dict)

    def emit(self) -> None:
        """Print the report as one JSON line."""
        print(json.dumps(dataclasses.asdict(self)), flush=True)


def main(
    name: str,
    sizes: Mapping[str, P],
    body: Callable[[P, Report], Awaitable[None]],
) -> None:
    """Parse ``--size``, run ``body`` in a fresh event loop and print its report.

    Exits with status 1 and a message on stderr when the body raises
    :class:`BenchmarkFailure`; any other exception propagates (traceback, status 1).
    """
    parser = argparse.ArgumentParser(description=f"benchmark workload: {name}")
    parser.add_argument("--size", choices=SIZES, default="small")
    args = parser.parse_args()
    params = sizes[args.size]
    report = Report(workload=name, size=args.size, params=dataclasses.asdict(params))
    try:
        asyncio.run(body(params, report))
    except BenchmarkFailure as exc:
        print(f"{name}: FAILED: {exc}", file=sys.stderr, flush=True)
        sys.exit(1)
    report.emit()


async def result_of(handler: Awaitable[T]) -> T:
    """Await a workflow handler; wraps it in a coroutine for ``asyncio`` task helpers."""
    return await handler


class MemoryProbe:
    """Bytes traced by ``tracemalloc`` relative to the moment the probe was opened."""

    def __init__(self) -> None:
        self.baseline = tracemalloc.get_traced_memory()[0]

    def current(self) -> int:
        """Live traced bytes above the baseline, after a full garbage collection."""
        gc.collect()
        return tracemalloc.get_traced_memory()[0] - self.baseline

    def peak(self) -> int:
        """Highest traced bytes above the baseline since the probe was opened."""
        return tracemalloc.get_traced_memory()[1] - self.baseline


@contextmanager
def traced_memory() -> Iterator[MemoryProbe]:
    """Trace allocations for the duration of the block (slow: time nothing inside it)."""
    gc.collect()
    tracemalloc.start()
    tracemalloc.reset_peak()
    try:
        yield MemoryProbe()
    finally:
        tracemalloc.stop()


def percentile(values: Sequence[float], pct: float) -> float:
    """The ``pct``-th percentile of ``values`` with linear interpolation."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("percentile of an empty sequence")
    rank = (len(ordered) - 1) * pct / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def growth_exponent(points: Sequence[tuple[float, float]]) -> float:
    """Least-squares slope of log(time) against log(size): time ∝ size^slope."""
    if len(points) < 2:
        raise ValueError("need at least two (size, seconds) points")
    xs = [math.log(size) for size, _ in points]
    ys = [math.log(seconds) for _, seconds in points]
    mean_x = sum(xs) / len(xs)
    mean_y = sum(ys) / len(ys)
    num = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys))
    den = sum((x - mean_x) ** 2 for x in xs)
    return num / den
