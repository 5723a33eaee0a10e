"""The server section's helpers: Detect (from an address or domain) and provider presets.

Attributes down, messages up: each widget owns its controls and, for Detect,
its worker; the form screen learns the outcome from a message and decides what
goes into which field.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Button, Input, Label, Select, Static

from tui_mailsetup.tui.widgets.field import mark_focus

if TYPE_CHECKING:
    from tui_mailsetup.engine.detect import Candidate
    from tui_mailsetup.presets import Preset
    from tui_mailsetup.settings import MailSettings


def first_line(text: str, limit: int = 70) -> str:
    """The first line of a long message, cut to fit one row."""
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= limit else line[: limit - 1] + "…"


class DetectRow(Vertical):
    """ "Detect from" an address or domain: looks up the server, says so in one line.

    ``nameservers`` (set by the screen) is the resolver to use. Posts
    :class:`DetectRow.Detected` with the best candidate; a failure stays here, in
    one line, with every detail in :attr:`details` (f1 shows them).
    """

    class Detected(Message):
        def __init__(self, query: str, candidate: Candidate) -> None:
            super().__init__()
            self.query = query
            self.candidate = candidate

    def __init__(self, address: str, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._address = address
        self.nameservers: list[str] = []
        self.settings: MailSettings | None = None
        """For the [detect] settings (ISPDB, autoconfig URLs, probing, deadline); set by the screen."""
        self.details = ""
        """What a failed lookup said in full."""

    def compose(self) -> ComposeResult:
        with Horizontal():
            yield Label("Detect from", classes="field-label")
            yield Input(
                self._address,
                placeholder="your email address or domain",
                compact=True,
                id="detect-query",
            )
            yield Button("Detect", compact=True, id="btn-detect")
        yield Static("", id="detect-status", classes="-empty")

    def on_descendant_focus(self) -> None:
        mark_focus(self.query_one(".field-label"), self.query_one("#detect-query"))

    def on_descendant_blur(self) -> None:
        mark_focus(self.query_one(".field-label"), self.query_one("#detect-query"))

    def _status(self, text: Text) -> None:
        status = self.query_one("#detect-status", Static)
        status.update(text)
        status.set_class(not text.plain, "-empty")

    @on(Input.Submitted, "#detect-query")
    @on(Button.Pressed, "#btn-detect")
    def _requested(self, event: Message) -> None:
        event.stop()
        query = self.query_one("#detect-query", Input).value.strip()
        if not query:
            self._status(Text("Type your email address or its domain first.", style="yellow"))
            return
        self.detect(query)

    @work(exclusive=True, exit_on_error=False, group="detect", name="detect")
    async def detect(self, query: str) -> None:
        """Autodetect host, port and encryption with the engine (presets, autoconfig, the
        ISPDB, SRV, MX, guesses), each candidate verified by a probe."""
        from tui_mailsetup.engine.detect import DetectOptions, detect
        from tui_mailsetup.engine.dns import make_resolver
        from tui_mailsetup.engine.probe import Verdict

        options = DetectOptions.from_settings(self.settings) if self.settings else None

        self._status(Text(f"Looking up {query} …", style="dim"))
        self.details = ""
        try:
            detection = await detect(
                query, resolver=make_resolver(self.nameservers), options=options
            )
        except ValueError as exc:
            self._status(Text(f"✘ {first_line(str(exc))}", style="bold red"))
            return
        except Exception as exc:
            # A resolver can fail in many words: one line here, all of them on f1.
            self.details = str(exc)
            self._status(
                Text(f"✘ Lookup failed: {first_line(str(exc))}  (f1: details)", style="bold red")
            )
            return
        best = detection.best
        if best is None:
            self.details = "\n".join(detection.problems)
            line = f"✘ {first_line(detection.cause())}"
            if detection.problems:
                line += f": {len(detection.problems)} problem(s)  (f1: details)"
            self._status(Text(line, style="bold red"))
            return
        status = Text("✔ ", style="bold green")
        status.append(f"{best.host}:{best.port} {best.encryption.value}, from {best.source}")
        if best.verified:
            status.append(", verified")
        elif best.probe.verdict is not Verdict.NOT_PROBED:
            status.append(f", not verified: {first_line(best.probe.detail)}")
        if detection.ispdb_sent:
            status.append(f"\nAsked Thunderbird's ISPDB about {', '.join(detection.ispdb_sent)}.")
        if best.notes:
            status.append(f"\n{best.notes}", style="dim")
        self._status(status)
        self.post_message(self.Detected(query, best))


class PresetRow(Vertical):
    """A provider preset: choosing one shows its notes and posts :class:`PresetRow.Chosen`."""

    class Chosen(Message):
        def __init__(self, preset: Preset) -> None:
            super().__init__()
            self.preset = preset

    def __init__(
        self, presets: Sequence[Preset], *, id: str | None = None, classes: str | None = None
    ) -> None:
        super().__init__(id=id, classes=classes)
        self.presets = tuple(presets)

    def compose(self) -> ComposeResult:
        options = [(preset.name, preset.id) for preset in self.presets]
        with Horizontal():
            yield Label("Preset", classes="field-label")
            yield Select(options, prompt="Provider preset…", compact=True, id="preset")
        yield Static("", id="preset-notes", classes="-empty")

    def on_descendant_focus(self) -> None:
        mark_focus(self.query_one(".field-label"), self.query_one("#preset"))

    def on_descendant_blur(self) -> None:
        mark_focus(self.query_one(".field-label"), self.query_one("#preset"))

    @on(Select.Changed, "#preset")
    def _changed(self, event: Select.Changed) -> None:
        event.stop()
        preset = next((p for p in self.presets if p.id == event.value), None)
        if preset is None:
            return
        notes = preset.notes + (
            f"\nUsername: {preset.username_hint}" if preset.username_hint else ""
        )
        shown = self.query_one("#preset-notes", Static)
        shown.update(Text(notes.strip()))
        shown.set_class(not notes.strip(), "-empty")
        self.post_message(self.Chosen(preset))
