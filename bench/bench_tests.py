"""The test suite's wall time (issue 23): serial against the README's parallel command.

Runs ``python -m pytest -n 0`` (one test at a time) and ``python -m pytest`` (the
README's command: ``-n auto``, as pyproject's addopts say) one after the other in this
checkout, and prints both times, the ratio, and the pass/fail/skip counts of each, which
must agree (every test still runs). The goal: the parallel run takes at most half the time.
The machine's load average is printed before and after each run (other work on the machine
slows both, the serial run more per test), and each run's whole output is kept in a
temporary file, named at the end (``--durations=40`` among the extra arguments lists the
slowest tests there).

    python bench/bench_tests.py [extra pytest arguments]
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def run(name: str, extra: list[str]) -> tuple[float, str]:
    print(f"{name}: starting, load average {load()}", flush=True)
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", *extra],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.monotonic() - started
    with tempfile.NamedTemporaryFile(
        "w", prefix=f"bench_tests-{name}-", suffix=".log", delete=False
    ) as log:
        log.write(done.stdout + done.stderr)
    print(f"{name}: {elapsed:.1f} s, load average {load()}, output in {log.name}", flush=True)
    summary = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else "(no output)"
    return elapsed, re.sub(r" in [\d.]+s.*$", "", summary)


def main() -> int:
    extra = sys.argv[1:]
    serial, serial_summary = run("serial", ["-n", "0", *extra])
    parallel, parallel_summary = run("parallel", extra)
    print(f"serial (-n 0):          {serial:7.1f} s  {serial_summary}")
    print(f"README's command (-n):  {parallel:7.1f} s  {parallel_summary}")
    print(f"ratio parallel/serial:  {parallel / serial:7.2f}  (goal: 0.50 or less)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
