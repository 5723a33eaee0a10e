"""The test suite's wall time (issue 23): serial against the README's parallel command.

Runs ``python -m pytest -n 0`` (one test at a time) and ``python -m pytest`` (the
README's command: ``-n auto``, as pyproject's addopts say) one after the other in this
checkout, and prints both times, the ratio, and the pass/fail/skip counts of each, which
must agree (every test still runs). The goal: the parallel run takes at most half the time.

    python bench/bench_tests.py [-- extra pytest arguments]
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(extra: list[str]) -> tuple[float, str]:
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", *extra],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.monotonic() - started
    summary = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else "(no output)"
    return elapsed, re.sub(r" in [\d.]+s.*$", "", summary)


def main() -> int:
    extra = sys.argv[1:]
    serial, serial_summary = run(["-n", "0", *extra])
    parallel, parallel_summary = run(extra)
    print(f"serial (-n 0):          {serial:7.1f} s  {serial_summary}")
    print(f"README's command (-n):  {parallel:7.1f} s  {parallel_summary}")
    print(f"ratio parallel/serial:  {parallel / serial:7.2f}  (goal: 0.50 or less)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
