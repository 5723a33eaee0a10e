"""Keystroke-to-validation latency while the diagnostics pane streams 100,000 lines.

Runs the real app headless at 80x24 with a driver that streams a flood of
transcript lines as fast as the event loop lets it. While it streams, the
benchmark types into the port field (alternating 465 and 587, so every
keystroke flips the engine's port/encryption finding) and measures the time
from posting the key to the field showing the new finding. It also types into
the recipient field beside the visible pane and measures key-to-echo. Memory:
the transcript widget's line count and the process's peak RSS growth.

    python bench/bench_tui_latency.py [--lines 100000] [--keys 40]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from textual import events
from textual.widgets import Input, RichLog

from tui_mailsetup.config_file import write_values
from tui_mailsetup.engine.events import Direction, Event, Outcome, Stage, TranscriptLine
from tui_mailsetup.tui.app import MailSetupApp
from tui_mailsetup.tui.screens.form import FormScreen
from tui_mailsetup.tui.widgets.diagnostics import DiagnosticsPane


class FloodDriver:
    name = "flood"

    def __init__(self, lines: int, per_second: int) -> None:
        self.lines = lines
        self.per_second = per_second
        self.sent = 0

    async def _run(self) -> AsyncIterator[Event]:
        burst = max(1, self.per_second // 100)
        for number in range(self.lines):
            self.sent = number + 1
            yield TranscriptLine(Direction.RECEIVED, f"250-flood line {number} " + "x" * 60, True)
            if self.sent % burst == 0:
                await asyncio.sleep(0.01)  # a server sending ``per_second`` lines a second
        yield Outcome(True, Stage.DATA, 1.0)

    def send(
        self, message: EmailMessage, recipients: list[str], *, stop_after: Stage | None = None
    ) -> AsyncIterator[Event]:
        return self._run()


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def key_latency(app: MailSetupApp, key: str, done: Any) -> float:
    """Seconds from posting ``key`` to ``done()`` turning true."""
    start = time.perf_counter()
    app.post_message(events.Key(key, key if len(key) == 1 else None))
    while not done():
        if time.perf_counter() - start > 10:
            raise RuntimeError(f"no reaction to {key!r} within 10 s")
        await asyncio.sleep(0)
    return time.perf_counter() - start


async def run(lines: int, keys: int, per_second: int) -> None:
    directory = Path(tempfile.mkdtemp())
    os.chmod(directory, 0o700)
    config = directory / "config.toml"
    write_values(
        config,
        {"smtp.host": "smtp.example.com", "sender.address": "me@example.com", "smtp.port": 587},
    )
    driver = FloodDriver(lines, per_second)
    app = MailSetupApp(config, driver_factory=lambda settings, secret: driver)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        assert isinstance(screen, FormScreen)
        await screen.section_ready("review")
        await screen.section_ready("server")
        pane = screen.query_one(DiagnosticsPane)
        rss_before = rss_mib()

        async def type_port(count: int) -> list[float]:
            screen.show_section("server")
            await pilot.pause()
            row = screen.row("smtp.port")
            assert row is not None
            port = row.editor
            assert isinstance(port, Input)
            port.focus()
            await pilot.pause()
            samples = []
            for _ in range(count):
                port.value = "46"
                port.cursor_position = 2
                await key_latency(
                    app,
                    "end",
                    lambda: row.finding is None and screen.state.get("smtp.port") == "46",
                )
                await asyncio.sleep(0.05)  # a person types at most ~20 keys a second
                # "465" with STARTTLS: the engine's finding must appear ...
                samples.append(await key_latency(app, "5", lambda: row.finding is not None))
                await asyncio.sleep(0.05)
                # ... and go again when the 5 is deleted.
                samples.append(await key_latency(app, "backspace", lambda: row.finding is None))
            return samples

        idle = await type_port(keys // 2)

        await pilot.press("ctrl+t")
        await pilot.pause()
        assert screen.sending
        busy = await type_port(keys)
        lines_at_end_of_typing = driver.sent

        # Key-to-echo in the recipient field, next to the streaming pane.
        screen.show_section("review")
        await pilot.pause()
        recipient = screen.query_one("#recipient", Input)
        recipient.focus()
        echo = []
        for _ in range(keys // 2):
            length = len(recipient.value)
            echo.append(
                await key_latency(app, "a", lambda length=length: len(recipient.value) > length)
            )
            await asyncio.sleep(0.02)
        lines_at_end_of_echo = driver.sent

        waited = time.perf_counter()
        while pane.outcome is None:
            if time.perf_counter() - waited > 120:
                raise RuntimeError(f"stream did not finish: {driver.sent} lines sent")
            await asyncio.sleep(0.05)
        pane.flush()
        log = pane.query_one(RichLog)
        print(
            f"lines streamed          : {pane.lines_received} "
            f"(still streaming during the measures: {lines_at_end_of_echo < lines}, "
            f"{lines_at_end_of_typing} and {lines_at_end_of_echo} lines in)"
        )
        print(f"transcript widget lines : {len(log.lines)} (cap {pane.max_lines})")
        print(f"peak RSS growth         : {rss_mib() - rss_before:.1f} MiB")

    def show(name: str, samples: list[float]) -> None:
        ms = sorted(s * 1000 for s in samples)
        p95 = ms[min(len(ms) - 1, round(0.95 * (len(ms) - 1)))]
        print(
            f"{name:<24}: median {statistics.median(ms):6.1f} ms, p95 {p95:6.1f} ms, max {ms[-1]:6.1f} ms"
        )

    show("validation, idle", idle)
    show("validation, streaming", busy)
    show("echo beside the pane", echo)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--keys", type=int, default=40)
    parser.add_argument("--rate", type=int, default=10_000, help="lines a second the server sends")
    args = parser.parse_args()
    asyncio.run(run(args.lines, args.keys, args.rate))
    return 0


if __name__ == "__main__":
    sys.exit(main())
