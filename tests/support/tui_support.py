"""Helpers for the TUI tests: configurations on disk, sandbox runs, recorded event streams."""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import replace
from email.message import EmailMessage
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual.app import App
from textual.geometry import Region
from textual.pilot import Pilot
from textual.widget import Widget
from textual.widgets import Input

from tui_mailsetup.config_file import write_values
from tui_mailsetup.engine.events import (
    Direction,
    Event,
    Outcome,
    Stage,
    StageFinished,
    StageStarted,
    TlsDetails,
    TranscriptLine,
)
from tui_mailsetup.sandbox import Sandbox
from tui_mailsetup.secrets import store_secret
from tui_mailsetup.settings import MailSettings

if TYPE_CHECKING:
    from tui_mailsetup.tui.screens.form import FormScreen

SENDER = {"sender.name": "Acme Licensing", "sender.address": "licensing@acme.example"}


def write_config(path: Path, values: dict[str, Any], password: str | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    write_values(path, values)
    if password is not None:
        store_secret(path, "smtp.password", password)
    return path


def sandbox_config(box: Sandbox, path: Path, *, password: str | None = None, **extra: Any) -> Path:
    values: dict[str, Any] = {f"smtp.{k}": v for k, v in box.smtp_settings().items()}
    values["smtp.ehlo_name"] = "client.example"
    values.update(SENDER)
    values.update(extra)
    return write_config(path, values, box.password if password is None else password)


def server_config(directory: Path) -> Path:
    """A saved SMTP configuration (host, port, sender) in ``directory/cfg/config.toml``."""
    values = {"smtp.host": "mail.example.test", "smtp.port": 587, **SENDER}
    return write_config(directory / "cfg" / "config.toml", values)


def form_screen(app: App[Any]) -> FormScreen:
    """The app's screen, which must be the wizard or the settings screen."""
    from tui_mailsetup.tui.screens.form import FormScreen

    screen = app.screen
    assert isinstance(screen, FormScreen)
    return screen


async def wait_for(pilot: Pilot[Any], condition: Callable[[], bool], limit: float = 15.0) -> None:
    """Let the app run until ``condition()`` holds (no timing assertion: the limit is a hang guard)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while not condition():
        if loop.time() > deadline:
            raise AssertionError("condition not reached")
        await pilot.pause(0.02)


PILOT_PRESS = Pilot.press
"""Textual's own ``press``: it returns once the app looks idle, which on a busy machine can
be while the TUI still holds the keys back (sections or the configuration still loading)."""


async def press_delivered(pilot: Pilot[Any], *keys: str) -> None:
    """``Pilot.press`` that returns once the app has handled every key (tests/conftest.py
    puts it in place): a test then reads what a person sees after typing them."""
    await PILOT_PRESS(pilot, *keys)
    router = getattr(pilot.app, "keys", None)
    if router is not None and hasattr(router, "pending"):
        await wait_for(pilot, lambda: not router.pending and not router.delivering)


async def settled(pilot: Pilot[Any]) -> None:
    """Wait until the configuration is loaded (after the first frame), the values are filled
    in, every section is built and every key typed meanwhile has landed: what a person sees
    a moment after the start."""
    from tui_mailsetup.tui.app import MailSetupApp
    from tui_mailsetup.tui.screens.form import FormScreen

    app = pilot.app
    assert isinstance(app, MailSetupApp)
    await app.wait_for_config()

    def built() -> bool:
        screen = app.screen
        # Every key typed meanwhile delivered too: a test acting before the last one lands
        # (show_section, say) would interleave with the person's keys.
        typed = not app.keys.pending and not app.keys.delivering
        return typed and (not isinstance(screen, FormScreen) or screen.built_all)

    await wait_for(pilot, built)
    await pilot.pause()


async def open_section(pilot: Pilot[Any], section: str) -> None:
    """Show a section (sections are built the first time they are shown) and wait for it."""
    from tui_mailsetup.tui.screens.form import FormScreen

    screen = pilot.app.screen
    assert isinstance(screen, FormScreen)
    screen.show_section(section)
    await screen.section_ready(section)
    await pilot.pause()


def file_text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def file_exists(path: Path) -> bool:
    return path.exists()


def rendered_text(widget: Widget) -> str:
    """What a widget draws, as plain text (every line of it, scrolled into view or not)."""
    width, height = widget.size
    return "\n".join(strip.text for strip in widget.render_lines(Region(0, 0, width, height)))


def no_blink(pilot: Pilot[Any]) -> None:
    for widget in pilot.app.screen.query(Input).results(Input):
        widget.cursor_blink = False


# ---------------------------------------------------------------------- scripted drivers


class ScriptedDriver:
    """Replays a list of events; ``hang`` waits forever after them (to test cancelling)."""

    name = "scripted"

    def __init__(
        self,
        events: Sequence[Event],
        *,
        hang: bool = False,
        pause_every: int = 0,
        wait_before_last: float = 0.0,
    ) -> None:
        self.events = list(events)
        self.hang = hang
        self.pause_every = pause_every
        self.wait_before_last = wait_before_last
        """Seconds before the last event (a server slow to answer QUIT: the transcript is
        drawn before the verdict comes)."""
        self.cancelled = False

    async def _run(self) -> AsyncIterator[Event]:
        try:
            for number, event in enumerate(self.events, start=1):
                if number == len(self.events) and self.wait_before_last:
                    await asyncio.sleep(self.wait_before_last)
                yield event
                if self.pause_every and number % self.pause_every == 0:
                    await asyncio.sleep(0)
            if self.hang:
                await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled = True
            raise

    def send(
        self, message: EmailMessage, recipients: list[str], *, stop_after: Stage | None = None
    ) -> AsyncIterator[Event]:
        return self._run()


def scripted_factory(
    driver: ScriptedDriver,
) -> Callable[[MailSettings, str | None], ScriptedDriver]:
    def factory(settings: MailSettings, secret: str | None) -> ScriptedDriver:
        return driver

    return factory


def flood(lines: int) -> list[Event]:
    events: list[Event] = [StageStarted(Stage.DATA)]
    events += [
        TranscriptLine(Direction.SENT, f"line {n} of the flood", encrypted=True)
        for n in range(lines)
    ]
    events.append(StageFinished(Stage.DATA, True, 0.5))
    events.append(Outcome(True, Stage.DATA, 0.5))
    return events


# ---------------------------------------------------------------------- deterministic recordings

_MASKS: list[tuple[re.Pattern[str], str]] = [
    (
        re.compile(r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:?\d\d)?"),
        "2030-01-01 00:00:00",
    ),
    (re.compile(r"(Date: ).*"), r"\1Tue, 01 Jan 2030 00:00:00 +0000"),
    (re.compile(r"<[0-9a-f]{16,}[^>]*>"), "<0123456789abcdef.tui-mailsetup@acme.example>"),
    (re.compile(r"([0-9A-F]{2}:){31}[0-9A-F]{2}"), ":".join(["AB"] * 32)),
    (re.compile(r"(boundary=)\S+"), r"\1MASKED"),
    (re.compile(r"(Testing CA #)[\w-]+"), r"\1MASKED"),
    (re.compile(r"tui-mailsetup([ /])\d+\.\d+\.\d+\S*"), r"tui-mailsetup\1X.Y.Z"),
]


def mask(text: str, port: int) -> str:
    text = text.replace(f":{port}", ":2525").replace(str(port), "2525")
    for pattern, replacement in _MASKS:
        text = pattern.sub(replacement, text)
    return text


def normalise(events: Sequence[Event], port: int) -> list[Event]:
    """Real events from a sandbox send, with times, ports, dates and ids made fixed."""
    fixed: list[Event] = []
    for event in events:
        if isinstance(event, StageStarted):
            fixed.append(replace(event, at=0.0))
        elif isinstance(event, StageFinished):
            fixed.append(replace(event, elapsed=0.012, detail=mask(event.detail, port)))
        elif isinstance(event, TranscriptLine):
            fixed.append(replace(event, text=mask(event.text, port), at=0.0))
        elif isinstance(event, TlsDetails):
            fixed.append(
                replace(
                    event,
                    not_before="2030-01-01T00:00:00Z",
                    not_after="2031-01-01T00:00:00Z",
                    fingerprint_sha256=":".join(["AB"] * 32),
                    subject=mask(event.subject, port),
                    issuer=mask(event.issuer, port),
                    chain=tuple(mask(subject, port) for subject in event.chain),
                )
            )
        elif isinstance(event, Outcome):
            diagnosis = event.diagnosis
            if diagnosis is not None:
                diagnosis = replace(
                    diagnosis,
                    evidence=mask(diagnosis.evidence, port),
                    explanation=mask(diagnosis.explanation, port),
                    cause=mask(diagnosis.cause, port),
                )
            fixed.append(
                replace(
                    event,
                    elapsed=0.25,
                    diagnosis=diagnosis,
                    message_id="<0123456789abcdef.tui-mailsetup@acme.example>"
                    if event.message_id
                    else "",
                )
            )
        else:
            fixed.append(event)
    return fixed


async def record_send(box: Sandbox, settings: MailSettings, password: str | None) -> list[Event]:
    """Send one test message through the real engine and keep every event."""
    from tui_mailsetup.drivers.smtp import SmtpDriver
    from tui_mailsetup.message import build_test_message

    recipients = [settings.sender.address]
    message = build_test_message(settings, recipients)
    return [event async for event in SmtpDriver(settings, password).send(message, recipients)]


# ---------------------------------------------------------------------- key bursts


def burst(app: App[Any], keys: Sequence[str]) -> None:
    """Post keys the way a terminal delivers a burst: all at once, no waiting between them.

    ``Pilot.press`` waits for the app after every key, which hides races; this does not.
    """
    import unicodedata

    from textual import events
    from textual.keys import _character_to_key, _get_unicode_name_from_key

    for key in keys:
        if len(key) == 1:
            event = events.Key(_character_to_key(key) if not key.isalnum() else key, key)
        else:
            # A named key with a character (space, plus …) carries it, as Pilot.press does.
            try:
                character: str | None = unicodedata.lookup(_get_unicode_name_from_key(key))
            except KeyError:
                character = None
            event = events.Key(key, character)
        app.post_message(event)


# ---------------------------------------------------------------------- a real terminal


class Tmux:
    """The TUI in a real terminal: tmux on its own socket (``-L``), killed at the end."""

    def __init__(self, name: str, home: Path, *, width: int = 80, height: int = 24) -> None:
        self.socket = f"tui-mailsetup-{name}-{os.getpid()}"
        self.width, self.height = width, height
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("MAILSETUP_", "TMUX"))}
        self.env.update({"HOME": str(home), "TERM": "xterm-256color"})
        self.exit_file = home / f"{name}-exit-status"

    def run(self, *args: str) -> str:
        import subprocess

        return subprocess.run(
            ["tmux", "-L", self.socket, *args], capture_output=True, text=True, env=self.env
        ).stdout

    def start(
        self,
        *argv: str,
        env: dict[str, str] | None = None,
        stderr: Path | None = None,
        after: str = "",
    ) -> None:
        """Run the program in the terminal; ``stderr``: a file for what it prints there;
        ``after``: a shell command run in the terminal once it has ended."""
        import shlex
        import subprocess
        import sys

        command = " ".join(shlex.quote(a) for a in (sys.executable, "-m", "tui_mailsetup", *argv))
        if stderr is not None:
            command += f" 2>{shlex.quote(str(stderr))}"
        prefix = " ".join(f"{k}={shlex.quote(v)}" for k, v in (env or {}).items())
        script = f"{prefix} {command}; status=$?; {after or ':'}; "
        script += f"echo $status > {shlex.quote(str(self.exit_file))}"
        size = ["-x", str(self.width), "-y", str(self.height)]
        subprocess.run(
            ["tmux", "-L", self.socket, "new-session", "-d", *size, "sh", "-c", script],
            check=True,
            env=self.env,
        )

    def screen(self, *, colours: bool = False) -> str:
        return self.run("capture-pane", "-p", *(["-e"] if colours else []))

    def keys(self, *keys: str) -> None:
        """One ``send-keys``: tmux writes them to the terminal as one burst."""
        self.run("send-keys", *keys)

    def wait_for(self, condition: Callable[[], bool], limit: float = 60.0) -> None:
        import time

        deadline = time.monotonic() + limit
        while not condition():
            if time.monotonic() > deadline:
                status = self.exit_file.read_text() if self.exit_file.exists() else "running"
                raise AssertionError(f"not reached (exit status: {status})\n{self.screen()}")
            time.sleep(0.05)

    def wait_settled(self, quiet: float = 0.4, limit: float = 60.0) -> None:
        """Wait until the screen has changed since the last call and then stays the same for
        ``quiet`` seconds: the app has handled the key sent (a hang guard, not a timing test;
        a key that changes nothing waits ``limit`` at most for a change that never comes)."""
        import time

        before = getattr(self, "_settled_screen", None)
        start = time.monotonic()
        deadline = start + limit
        screen = self.screen()
        # A change first (at most a few seconds: some keys change nothing on the screen) …
        while screen == before and time.monotonic() - start < 3:
            time.sleep(0.05)
            screen = self.screen()
        # … then the same screen for ``quiet`` seconds.
        stable_since = time.monotonic()
        while time.monotonic() - stable_since < quiet and time.monotonic() < deadline:
            time.sleep(0.05)
            now = self.screen()
            if now != screen:
                screen, stable_since = now, time.monotonic()
        self._settled_screen = screen

    def close(self) -> None:
        self.run("kill-server")
