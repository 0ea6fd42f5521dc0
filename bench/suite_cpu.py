"""Where the test suite's CPU goes: each test's CPU time on the whole machine.

Pytest's wall time on a fresh clone follows the machine's CPU time: the two test processes
keep both cores busy from start to end. So the question "which tests make the suite slow"
is "which tests cost the machine the most CPU", counted in every process a test makes work
(the test process and its in-process application, the worker that trains, a server process,
chromium, schemathesis). This runs pytest in one process (`-n 0`), so that the machine's
busy time during a test (from /proc/stat) is that test's, and prints:

- the speed of one core now (a fixed Python loop: the same code took 1.1 to 2.3 s on this
  machine within one day, so compare figures only with the loop's beside them);
- the tests that cost the most, with the part spent in the test process itself;
- the same summed by module.

Run: .venv/bin/python bench/suite_cpu.py [--top N] [pytest arguments, e.g. tests/test_jobs.py]
(the whole suite takes about nine minutes in one process).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent


def machine_busy_seconds() -> float:
    """CPU seconds every core has spent busy since boot (user, nice, system, irq, softirq,
    steal), from /proc/stat."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    return (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def loop_seconds() -> float:
    """One core's speed now: CPU seconds for a fixed Python loop."""
    start, s = time.process_time(), 0
    for i in range(10_000_000):
        s += i * i
    return time.process_time() - start


class CpuPerTest:
    """A pytest plugin: each test's machine CPU, wall time and own-process CPU, setup and
    teardown included (a module's fixtures count to the test that starts or ends them)."""

    def __init__(self) -> None:
        self.rows: list[tuple[float, float, float, str]] = []

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_protocol(self, item: pytest.Item, nextitem: Any) -> Iterator[None]:
        busy, wall, own = machine_busy_seconds(), time.monotonic(), time.process_time()
        try:
            return (yield)
        finally:
            self.rows.append((machine_busy_seconds() - busy, time.monotonic() - wall,
                              time.process_time() - own, item.nodeid))


def report(rows: list[tuple[float, float, float, str]], top: int) -> None:
    busy = sum(r[0] for r in rows)
    print(f"\n{len(rows)} tests: {busy:.1f} s of machine CPU, {sum(r[1] for r in rows):.1f} s "
          f"of wall time, {sum(r[2] for r in rows):.1f} s of it in the test process")
    print(f"\nthe {top} tests that cost the most (machine CPU, wall, test process):")
    for cpu, wall, own, name in sorted(rows, reverse=True)[:top]:
        print(f"{cpu:7.1f} {wall:7.1f} {own:7.1f}  {name}")
    modules: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0])
    for cpu, _, own, name in rows:
        m = modules[name.split("::", 1)[0]]
        m[0], m[1], m[2] = m[0] + cpu, m[1] + own, m[2] + 1
    print("\nby module (machine CPU, test process, tests, share of the machine CPU):")
    for name, (cpu, own, n) in sorted(modules.items(), key=lambda kv: -kv[1][0]):
        print(f"{cpu:7.1f} {own:7.1f} {int(n):4d} {100 * cpu / busy:5.1f} %  {name}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--top", type=int, default=30)
    args, pytest_args = parser.parse_known_args()
    os.chdir(ROOT)
    print(f"one core: the fixed loop took {loop_seconds():.3f} s")
    plugin = CpuPerTest()
    code = pytest.main(["-q", "-n", "0", "-p", "no:cacheprovider", *pytest_args],
                       plugins=[plugin])
    report(plugin.rows, args.top)
    print(f"one core: the fixed loop took {loop_seconds():.3f} s")
    return int(code)


if __name__ == "__main__":
    sys.exit(main())
