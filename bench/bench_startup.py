"""Time from process start to the first frame: tui-mailsetup versus a bare Textual "hello" app.

Both are started the same way: a fresh ``python`` process on a pseudo-terminal
of 80x24, which signals on an extra pipe once its first screen has been
painted (``call_after_refresh`` from the first screen's mount) and exits. The
benchmark prints the median of paired runs and the ratio; goals: 0.6 s or less
for tui-mailsetup, and a ratio of 1.5 or less.

    python bench/bench_startup.py [--runs 7]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import pty
import select
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HELLO = """
import os, sys
from textual.app import App, ComposeResult
from textual.widgets import Footer, Header, Static

class Hello(App[None]):
    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("Hello")
        yield Footer()

    def on_mount(self) -> None:
        # The same two refreshes as for tui-mailsetup below.
        self.call_after_refresh(lambda: self.call_after_refresh(self.signal))

    def signal(self) -> None:
        os.write(int(sys.argv[1]), b"x")
        self.exit()

Hello().run()
"""

MAILSETUP = """
import os, sys
from tui_mailsetup.tui.app import MailSetupApp

class Timed(MailSetupApp):
    def on_mount(self) -> None:
        # Textual also calls MailSetupApp.on_mount (every class's handler runs), which
        # pushes the first screen; two refreshes later it has been painted.
        self.call_after_refresh(lambda: self.call_after_refresh(self.signal))

    def signal(self) -> None:
        os.write(int(sys.argv[1]), b"x")
        self.exit()

Timed(sys.argv[2]).run()
"""


def time_to_first_frame(code: str, *extra: str) -> float:
    """Seconds from spawning ``python -c code`` on a pty to its first-frame signal."""
    read_end, write_end = os.pipe()
    master, slave = pty.openpty()
    os.set_blocking(master, False)
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "80", "LINES": "24"}
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
    deadline = start + 30
    try:
        while time.perf_counter() < deadline:
            ready, _, _ = select.select([read_end, master], [], [], 0.5)
            if master in ready:
                with contextlib.suppress(OSError):
                    os.read(master, 65536)  # keep the terminal drained
            if read_end in ready:
                if os.read(read_end, 1):
                    elapsed = time.perf_counter() - start
                break
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
        os.close(read_end)
        os.close(master)
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        os.chmod(directory, 0o700)
        first_run = Path(directory) / "none" / "config.toml"  # no file: the first-run wizard
        returning = Path(directory) / "config.toml"  # a file: the settings screen
        returning.write_text('[smtp]\nhost = "smtp.example.com"\n', encoding="utf-8")
        cases = {"first run (wizard)": first_run, "returning (settings)": returning}
        # Warm the caches (bytecode, file system) once for each.
        time_to_first_frame(HELLO)
        for config in cases.values():
            time_to_first_frame(MAILSETUP, str(config))
        hello: list[float] = []
        mine: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(args.runs):
            hello.append(time_to_first_frame(HELLO))
            for name, config in cases.items():
                mine[name].append(time_to_first_frame(MAILSETUP, str(config)))
    base = statistics.median(hello)
    print(f"bare Textual hello                  : {base:.3f} s (median of {args.runs})")
    for name, samples in mine.items():
        ratios = [m / b for m, b in zip(samples, hello, strict=True)]
        median, ratio = statistics.median(samples), statistics.median(ratios)
        verdict = (
            f"<= 0.6 s {'met' if median <= 0.6 else 'MISSED'}, "
            f"ratio <= 1.5 {'met' if ratio <= 1.5 else 'MISSED'}"
        )
        print(f"tui-mailsetup, {name:<20} : {median:.3f} s, ratio {ratio:.2f} ({verdict})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
