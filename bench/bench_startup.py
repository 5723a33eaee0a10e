"""Start-up speed (issue 15): one run prints the issue's table, as paired ratios.

- ``send-test`` (STARTTLS + AUTH against the local sandbox) over a bare
  aiosmtplib script doing the same send (bench_send.py's pair). Goal: 1.5 or less.
- ``--help``, ``show`` and ``check --offline``: absolute, and as a ratio to
  ``python -c pass``. Goal: 0.15 s or less each. Under the table, the floor: what
  the mandated stack alone costs (the interpreter, pydantic, pydantic-settings as
  settings.py loads it, the model's build), i.e. how much of a headless command's
  time is ours at all.
- The TUI's first frame over a bare Textual "hello" app. Both are started the
  same way: a fresh ``python`` process on a pseudo-terminal of 80x24, timed
  until the screen's text (markers: the wizard's step line, driver row and
  buttons; the home screen's tab and summary lines; "Hello") has been written
  to the terminal, then killed. Goal: 1.5 or less. The TUI draws that frame
  before it loads the configuration: "values in" is the time until the loaded
  values are painted too (signalled on an extra pipe; no goal, printed to show
  what the first frame leaves for later).

Every comparison is paired: the two processes run back to back, in alternating
order, and the ratio printed is the median of the per-pair ratios (robust
against a machine whose load changes during the run). Absolute times are
medians too, and depend on the machine and its load; the ratios are what to
compare between runs. Only 127.0.0.1 is contacted.

    python bench/bench_startup.py [--runs 9] [--only headless,send,tui]

Children run with the current directory and PYTHONPATH of this process, so
running it from another checkout (with its PYTHONPATH) measures that checkout.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import math
import os
import pty
import re
import select
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_send import child_env, paired_send, timed, write_config

HELLO = """
from textual.app import App, ComposeResult
from textual.widgets import Footer, Header, Static

class Hello(App[None]):
    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("Hello")
        yield Footer()

Hello().run()
"""

MAILSETUP = """
import os, sys
from tui_mailsetup.tui.app import MailSetupApp

class Timed(MailSetupApp):
    def after_load(self) -> None:
        # The configuration loaded and its values filled in; two refreshes later, painted.
        if sys.argv[3] == "values":
            self.call_after_refresh(lambda: self.call_after_refresh(self.signal))

    def signal(self) -> None:
        os.write(int(sys.argv[1]), b"x")

Timed(sys.argv[2]).run()
"""

_ESCAPE = re.compile(rb"\x1b(\[[0-9;?<>=$]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[()][A-Z0-9]|.)")
"""Terminal escape sequences (CSI, OSC, charset), removed before looking for the markers."""

HELLO_MARKERS = (b"Hello",)
WIZARD_MARKERS = (b"1 Driver", b"Send with", b"Next")
"""Step 1 of the wizard: the steps line, the driver's row, the buttons."""
HOME_MARKERS = (b"Home", b"Send with", b"Last test")
"""The home screen: its tab and the summary's lines (the values come with the load)."""


def time_to_screen(
    code: str,
    *extra: str,
    env: dict[str, str] | None = None,
    markers: tuple[bytes, ...] = (),
) -> float:
    """Seconds from spawning ``python -c code`` on a pty of 80x24 until every one of
    ``markers`` has reached the terminal (no markers: until the child writes to the extra
    pipe). The child is killed then; NaN if that did not happen within 30 s.

    The markers are what a person reads on the screen, so a frame counts once it is out,
    whatever the app's internals (two ``call_after_refresh`` after mount, which this used,
    fired before the home screen's text was written in about one run in three).
    """
    read_end, write_end = os.pipe()
    master, slave = pty.openpty()
    os.set_blocking(master, False)
    env = {**(env or os.environ), "TERM": "xterm-256color", "COLUMNS": "80", "LINES": "24"}
    env.pop("NO_COLOR", None)
    output = bytearray()
    start = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-c", code, str(write_end), *extra],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        pass_fds=(write_end,),
        env=env,
        close_fds=True,
    )
    os.close(slave)
    os.close(write_end)
    elapsed = float("nan")
    try:
        while time.perf_counter() < start + 30:
            ready, _, _ = select.select([read_end, master], [], [], 0.5)
            if master in ready:
                with contextlib.suppress(OSError):
                    output += os.read(master, 65536)  # also keeps the terminal drained
                if markers:
                    text = _ESCAPE.sub(b"", bytes(output))
                    if all(marker in text for marker in markers):
                        elapsed = time.perf_counter() - start
                        break
            if read_end in ready and not markers:
                if os.read(read_end, 1):
                    elapsed = time.perf_counter() - start
                break
    finally:
        process.kill()
        process.wait(timeout=30)
        os.close(read_end)
        os.close(master)
    return elapsed


def paired(
    first: Callable[[], float], second: Callable[[], float], runs: int
) -> tuple[list[float], list[float]]:
    """Times of ``first`` and ``second`` run back to back ``runs`` times, order alternating."""
    first(), second()  # warm the caches (bytecode, file system) once for each
    a: list[float] = []
    b: list[float] = []
    for index in range(runs):
        if index % 2:
            b.append(second())
            a.append(first())
        else:
            a.append(first())
            b.append(second())
    return a, b


def ratio(ours: list[float], base: list[float]) -> float:
    pairs = [o / b for o, b in zip(ours, base, strict=True) if not (math.isnan(o) or math.isnan(b))]
    return statistics.median(pairs) if pairs else float("nan")


def median(times: list[float]) -> float:
    painted = [t for t in times if not math.isnan(t)]
    return statistics.median(painted) if painted else float("nan")


Row = tuple[str, float, str, float, float, str, bool]
"""what, ours (s), baseline, baseline (s), ratio, goal, met"""

NOTES: list[str] = []
"""Lines printed under the table."""

FLOOR = {
    "python + pydantic (BaseModel, SecretStr, Field, AfterValidator)": (
        "from pydantic import BaseModel, SecretStr, Field, AfterValidator"
    ),
    # settings.py imports pydantic_settings (without asyncio) and builds MailSettings:
    # nothing of the command line, the files, validation or output.
    "+ pydantic_settings as we load it + the model build": "import tui_mailsetup.settings",
}


def bench_headless(runs: int, workdir: Path) -> list[Row]:
    config = write_config(
        workdir, {"host": "smtp.example.com", "port": 587, "username": "bench@example.test"}
    )
    env = child_env(workdir)
    base = [sys.executable, "-c", "pass"]
    ours = [sys.executable, "-m", "tui_mailsetup", "--config", str(config)]
    rows: list[Row] = []
    for command in (["--help"], ["show"], ["check", "--offline"]):
        mine, bare = paired(
            functools.partial(lambda argv: timed(argv, env)[0], [*ours, *command]),
            lambda: timed(base, env)[0],
            runs,
        )
        median = statistics.median(mine)
        rows.append(
            (
                " ".join(command),
                median,
                "python -c pass",
                statistics.median(bare),
                ratio(mine, bare),
                "<= 0.15 s",
                median <= 0.15,
            )
        )
    NOTES.append(f"floor of the headless commands (medians of {runs}, paired with python -c pass):")
    for label, code in FLOOR.items():
        mine, bare = paired(
            functools.partial(lambda argv: timed(argv, env)[0], [sys.executable, "-c", code]),
            lambda: timed(base, env)[0],
            runs,
        )
        NOTES.append(
            f"  {label:<66} {statistics.median(mine):.3f} s, {ratio(mine, bare):4.2f} x "
            f"python -c pass ({statistics.median(bare):.3f} s)"
        )
    return rows


def bench_send(runs: int, workdir: Path) -> list[Row]:
    mine, bare, _ = paired_send(runs, workdir)
    r = ratio(mine, bare)
    return [
        (
            "send-test",
            statistics.median(mine),
            "bare aiosmtplib script",
            statistics.median(bare),
            r,
            "ratio <= 1.5",
            r <= 1.5,
        )
    ]


def bench_tui(runs: int, workdir: Path) -> list[Row]:
    first_run = workdir / "none" / "config.toml"  # no file: the first-run wizard
    returning = workdir / "tui.toml"  # a file: the settings screen
    returning.write_text('[smtp]\nhost = "smtp.example.com"\n', encoding="utf-8")
    # Bytecode cached as an installed package has it (bench_send.child_env), for both apps.
    env = child_env(workdir)
    hello = functools.partial(time_to_screen, HELLO, env=env, markers=HELLO_MARKERS)
    rows: list[Row] = []
    screens = (("first run", first_run, WIZARD_MARKERS), ("returning", returning, HOME_MARKERS))
    modes = [("first", "first frame", "ratio <= 1.5"), ("values", "values in", "")]
    probe = "from tui_mailsetup.tui.app import MailSetupApp as A; print(hasattr(A, 'after_load'))"
    if (
        subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True).stdout
        != "True\n"
    ):
        modes = modes[:1]  # a version that loads before its first frame: nothing comes later
    for mode, what, goal in modes:
        for name, config, markers in screens:
            # "values": the pipe, written once the loaded values are painted.
            ours = functools.partial(
                time_to_screen,
                MAILSETUP,
                str(config),
                mode,
                env=env,
                markers=markers if mode == "first" else (),
            )
            mine, bare = paired(ours, hello, runs)
            r = ratio(mine, bare)
            painted = sum(not math.isnan(t) for t in mine)
            rows.append(
                (
                    f"TUI {what}, {name}" + ("" if painted == runs else f" ({painted}/{runs})"),
                    median(mine),
                    "bare Textual app",
                    median(bare),
                    r,
                    goal or "(info)",
                    r <= 1.5 if goal else True,
                )
            )
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--only", default="headless,send,tui", help="comma-separated parts to run")
    args = parser.parse_args()
    parts: dict[str, Callable[[int, Path], list[Row]]] = {
        "send": bench_send,
        "headless": bench_headless,
        "tui": bench_tui,
    }
    wanted = [part for part in parts if part in args.only.split(",")]
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as directory:
        workdir = Path(directory)
        os.chmod(workdir, 0o700)
        for part in wanted:
            rows += parts[part](args.runs, workdir)
    print(
        f"medians of {args.runs} paired runs, order alternating; ratio = median of the pair ratios"
    )
    print(f"| {'what':<26} | tui-mailsetup | {'baseline':<30} | ratio | goal         | met |")
    print(f"| {'-' * 26} | ------------- | {'-' * 30} | ----- | ------------ | --- |")
    for what, ours, base_name, base, r, goal, met in rows:
        baseline = f"{base_name} {base:.3f} s"
        verdict = "-" if goal == "(info)" else "yes" if met else "NO"
        print(
            f"| {what:<26} | {ours:>11.3f} s | {baseline:<30} | {r:5.2f} | {goal:<12} | "
            f"{verdict:<3} |"
        )
    for line in NOTES:
        print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
