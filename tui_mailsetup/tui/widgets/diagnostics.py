"""The diagnostics pane: the stage ladder, the live SMTP transcript and the verdict.

It renders the engine's events (:mod:`tui_mailsetup.engine.events`) and
nothing else. Every piece of text that came from a server goes on screen as a
``rich.text.Text`` (never parsed as markup), and the transcript widget keeps a
fixed number of lines, so a flood of 100,000 lines costs bounded memory.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import RichLog, Static

from tui_mailsetup.engine.events import (
    Diagnosis,
    Direction,
    Event,
    Outcome,
    ServerCapabilities,
    Stage,
    StageFinished,
    StageStarted,
    TlsDetails,
    TranscriptLine,
)

MAX_SCREEN_LINES = 2000
"""Lines the transcript widget keeps (older ones scroll away)."""
MAX_SAVED_LINES = 20000
"""Lines kept for "save transcript" (a support ticket needs the start and the end)."""
MAX_LINES_PER_FLUSH = 100
"""Under a flood only the newest lines of each refresh are drawn; all are kept for saving."""

PREFIX = {
    (Direction.SENT, False): " -> ",
    (Direction.SENT, True): " ~> ",
    (Direction.RECEIVED, False): "<-  ",
    (Direction.RECEIVED, True): "<~  ",
    (Direction.NOTE, False): " ** ",
    (Direction.NOTE, True): " ** ",
}
STYLE = {
    Direction.SENT: "bold cyan",
    Direction.RECEIVED: "green",
    Direction.NOTE: "italic",
}


def format_duration(seconds: float) -> str:
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    return f"{seconds:.2f} s"


def transcript_line(event: TranscriptLine) -> Text:
    text = Text(PREFIX[(event.direction, event.encrypted)], style="dim" if event.encrypted else "")
    text.append(event.text, style=STYLE[event.direction])
    return text


def tls_lines(tls: TlsDetails) -> list[Text]:
    head = Text(f"── TLS established: {tls.version} {tls.cipher} ──", style="bold")
    rows = [
        ("subject", tls.subject),
        ("issuer", tls.issuer),
        ("names", ", ".join(tls.sans) or "(none)"),
        ("valid", f"{tls.not_before} → {tls.not_after}"),
        ("sha256", tls.fingerprint_sha256),
    ]
    verdict = "verified" if tls.verified else "NOT verified"
    if tls.verify_message:
        verdict += f" ({tls.verify_message})"
    rows.append(("trust", verdict))
    lines = [head]
    for label, value in rows:
        line = Text(f"    {label:<8} ")
        line.append(value, style="" if label != "trust" or tls.verified else "bold red")
        lines.append(line)
    return lines


def capabilities_line(caps: ServerCapabilities) -> Text:
    parts = list(caps.extensions)
    if caps.auth_mechanisms:
        parts = [p for p in parts if not p.startswith("AUTH")]
        parts.append("AUTH " + " ".join(caps.auth_mechanisms))
    where = "inside TLS" if caps.encrypted else "in plain text"
    return Text(f" ** server offers ({where}): " + (", ".join(parts) or "nothing"), style="italic")


def fix_line(outcome: Outcome | None, *, fix_key: str = "F2") -> Text | None:
    """The one line that always shows under a failed verdict: the fix and its key."""
    if outcome is None or outcome.ok or outcome.diagnosis is None:
        return None
    fix = outcome.diagnosis.fix
    text = Text("Fix: ", style="bold")
    if fix is None:
        # Nothing to apply: the advice's own next step, here where it is never scrolled away
        # ("see the advice above" pointed at text cut off at 80x24).
        step = next_step(outcome.diagnosis.explanation)
        text.append(step or "no change to apply from here")
        text.append("  [f4 all the advice]", style="bold")
    else:
        text.append(fix.label)
        if "smtp.fingerprint" in fix.changes:
            # Trust is a decision: F2 shows the certificate and asks.
            text.append(f"  [{fix_key} review the certificate]", style="bold")
        else:
            text.append(f"  [{fix_key} apply · ctrl+t test again]", style="bold")
    return text


IMPERATIVES = frozenset(
    [
        "add",
        "ask",
        "check",
        "choose",
        "confirm",
        "copy",
        "create",
        "enable",
        "install",
        "open",
        "pin",
        "remove",
        "run",
        "set",
        "store",
        "try",
        "turn",
        "type",
        "upgrade",
        "use",
        "wait",
    ]
)
"""The verbs an advice's next step starts with ("Check the username …")."""


def next_step(explanation: str) -> str:
    """The first thing the advice tells the person to do, as one sentence; "" when none.

    The engine's explanations say what happened, then what to do ("… Check the username
    (often the full address) and the password; many providers …"): a clause that starts
    with an imperative verb is that step.
    """
    for clause in re.split(r"(?<=[.;:!?])\s+", explanation):
        clause = clause.strip()
        first = clause.split(" ", 1)[0].lower()
        if first in IMPERATIVES:
            clause = clause.rstrip(".;:!? ")
            return clause[0].upper() + clause[1:] + "."
    return ""


def verdict_text(outcome: Outcome, *, fix_key: str = "F2", with_fix: bool = True) -> Text:
    text = Text()
    if outcome.ok:
        to = ", ".join(outcome.recipients)
        text.append("✔ PASSED", style="bold green")
        text.append(f"  {outcome.stage.label} reached in {format_duration(outcome.elapsed)}")
        if to:
            text.append(f"; test email accepted for {to}")
        if outcome.message_id:
            text.append(f"\n  Message-ID {outcome.message_id}")
        for warning in outcome.warnings:  # e.g. QUIT unanswered after the 250: do not resend
            text.append(f"\n  ! {warning}", style="bold yellow")
        return text
    diagnosis = outcome.diagnosis
    text.append("✘ FAILED", style="bold red")
    text.append(f" at {outcome.stage.label} after {format_duration(outcome.elapsed)}")
    if diagnosis is None:
        return text
    return text + diagnosis_text(diagnosis, fix_key=fix_key, with_fix=with_fix)


def diagnosis_text(diagnosis: Diagnosis, *, fix_key: str = "F2", with_fix: bool = True) -> Text:
    text = Text()
    text.append(f"\n  {diagnosis.cause}", style="bold")
    if diagnosis.evidence:
        text.append("\n  server said: ")
        text.append(diagnosis.evidence)
    if diagnosis.explanation:
        text.append(f"\n  {diagnosis.explanation}")
    if diagnosis.fix is not None and with_fix:
        text.append("\n  Fix: ", style="bold")
        text.append(diagnosis.fix.label)
        text.append(f"  [{fix_key}: apply, then ctrl+t to test again]", style="bold")
    return text


class StageLadder(Static):
    """Each stage reached, with a tick or a cross and its time."""

    DEFAULT_CSS = """
    StageLadder {
        width: 100%;
        height: auto;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id)
        self.stages: dict[Stage, tuple[str, str]] = {}

    def reset(self) -> None:
        self.stages.clear()
        self.update(Text("No test yet.\nctrl+t sends one.", style="dim"))

    def started(self, stage: Stage) -> None:
        self.stages[stage] = ("…", "")
        self._redraw()

    def finished(self, event: StageFinished) -> None:
        self.stages[event.stage] = ("✔" if event.ok else "✘", format_duration(event.elapsed))
        self._redraw()

    def cancelled(self) -> None:
        for stage, (mark, _time) in list(self.stages.items()):
            if mark == "…":
                self.stages[stage] = ("✘", "cancelled")
        self._redraw()

    def _redraw(self) -> None:
        lines = []
        for stage, (mark, time) in self.stages.items():
            style = {"✔": "green", "✘": "bold red"}.get(mark, "yellow")
            line = Text(f"{mark} ", style=style)
            line.append(f"{stage.label:<13}")
            line.append(f"{time:>8}", style="dim")
            lines.append(line)
        # No newline after the last stage: eleven stages fit eleven rows without a scrollbar.
        self.update(Text("\n").join(lines))
        if isinstance(self.parent, VerticalScroll):
            self.parent.scroll_end(animate=False, immediate=False)


class LadderView(VerticalScroll):
    """The ladder's scroll area: its end (the stage reached, or the one that failed) stays
    in view when the verdict below takes room from it. Scrolled once, before that resize,
    the failing stage was left below the fold in 3 runs of 11."""

    def on_resize(self) -> None:
        self.scroll_end(animate=False, immediate=True)


class TranscriptLog(RichLog):
    """The transcript: its end (the server's last reply) stays in view when the verdict
    below takes room from it. A RichLog scrolls to its end when written to, not when it
    shrinks: a verdict that came after the last lines were drawn hid the last 7 to 9 of
    them at every size. One the person scrolled up in stays where they put it."""

    at_end = True
    """Whether the end was in view at the last scroll (a resize does not move it)."""

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        self.at_end = new_value >= self.max_scroll_y

    def on_resize(self, event: events.Resize) -> None:
        # Textual runs each class's own handler in turn: RichLog's still runs after this one.
        if self.at_end:
            self.scroll_end(animate=False, immediate=False, x_axis=False)


class VerdictView(Vertical):
    """The verdict (scrolls; Tab reaches it, arrows scroll it) and, under it, the fix line."""

    ALLOW_MAXIMIZE = True


class DiagnosticsPane(Vertical):
    """Streams a test send: ladder on the left, transcript on the right, verdict below."""

    DEFAULT_CSS = """
    DiagnosticsPane {
        height: 1fr;
        min-height: 8;
    }
    DiagnosticsPane > Horizontal {
        height: 1fr;
    }
    DiagnosticsPane #ladder-view {
        width: 26;
        height: 1fr;
        /* No right padding: a scrollbar (a short pane) then takes it, and no line wraps.
           The left column is the focus bar (app.tcss). */
        padding: 0;
        border-right: vkey $foreground 30%;
        scrollbar-size-vertical: 1;
    }
    DiagnosticsPane RichLog {
        width: 1fr;
        height: 1fr;
        background: $surface;
        scrollbar-size-vertical: 1;
        overflow-x: hidden;
    }
    DiagnosticsPane #verdict-view {
        height: auto;
        /* The ladder keeps 3 rows (scrolled to its end: the failing stage stays in view);
           the advice of the common failures fits the rest at 80x24. */
        max-height: 80%;
        display: none;
        border-top: hkey $foreground 30%;
    }
    DiagnosticsPane.-done #verdict-view {
        display: block;
    }
    DiagnosticsPane.-done > Horizontal {
        /* The verdict needs the room more than the transcript (f4 shows all of it). */
        min-height: 3;
    }
    DiagnosticsPane #verdict-scroll {
        height: auto;
        max-height: 100%;
        padding: 0 1 0 0;
        scrollbar-size-vertical: 1;
    }
    DiagnosticsPane #verdict {
        height: auto;
    }
    DiagnosticsPane #fix-line {
        height: auto;
        padding: 0 1;
        dock: bottom;
        display: none;
    }
    DiagnosticsPane #fix-line.-shown {
        display: block;
    }
    DiagnosticsPane #verdict-view.-maximized {
        max-height: 100%;
        height: 1fr;
    }
    """

    def __init__(
        self,
        *,
        max_lines: int = MAX_SCREEN_LINES,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(id=id, classes=classes)
        self.max_lines = max_lines
        self.outcome: Outcome | None = None
        self.tls: TlsDetails | None = None
        """The certificate the last test saw (the pin dialog shows it)."""
        self.running = False
        self._pending: deque[Text | TranscriptLine] = deque()
        self._pending_dropped = 0
        self._saved: deque[str] = deque(maxlen=MAX_SAVED_LINES)
        self._saved_dropped = 0
        self.lines_received = 0
        self.on_flush: Callable[[], None] | None = None

    def compose(self) -> ComposeResult:
        with Horizontal():
            with LadderView(id="ladder-view"):
                yield StageLadder(id="ladder")
            yield TranscriptLog(
                max_lines=self.max_lines, wrap=True, markup=False, min_width=20, id="transcript"
            )
        with VerdictView(id="verdict-view"):
            with VerticalScroll(id="verdict-scroll", can_focus=True):
                yield Static("", id="verdict")
            yield Static("", id="fix-line")

    def on_mount(self) -> None:
        self.ladder.reset()
        # Runs only while a test streams: an idle pane costs nothing.
        self._flush_timer = self.set_interval(1 / 20, self.flush, pause=True)

    @property
    def ladder(self) -> StageLadder:
        return self.query_one(StageLadder)

    @property
    def log_widget(self) -> RichLog:
        return self.query_one("#transcript", RichLog)

    # ------------------------------------------------------------------ feeding

    def start(self, title: str) -> None:
        """Clear everything for a new test."""
        self.outcome = None
        self.tls = None
        self.running = True
        self._pending.clear()
        self._pending_dropped = 0
        self._saved.clear()
        self._saved_dropped = 0
        self.lines_received = 0
        self.ladder.reset()
        self.ladder.update(Text("starting…", style="dim"))
        self.log_widget.clear()
        self.remove_class("-done")
        self._show_verdict(Text(""), None)
        self._flush_timer.resume()
        self._write(Text(f" ** {title}", style="italic"))

    def add_event(self, event: Event) -> None:
        if isinstance(event, TranscriptLine):
            # The hot path under a flood: keep the event, build its Text only if it is drawn.
            self.lines_received += 1
            if len(self._saved) == self._saved.maxlen:
                self._saved_dropped += 1
            self._saved.append(PREFIX[(event.direction, event.encrypted)] + event.text)
            if len(self._pending) >= self.max_lines:
                self._pending.popleft()
                self._pending_dropped += 1
            self._pending.append(event)
        elif isinstance(event, StageStarted):
            self.ladder.started(event.stage)
        elif isinstance(event, StageFinished):
            self.ladder.finished(event)
            if event.detail:
                self._write(Text(f" ** {event.stage.label}: {event.detail}", style="italic dim"))
        elif isinstance(event, TlsDetails):
            self.tls = event
            for line in tls_lines(event):
                self._write(line)
        elif isinstance(event, ServerCapabilities):
            self._write(capabilities_line(event))
        elif isinstance(event, Outcome):
            self.finish(event)

    def finish(self, outcome: Outcome) -> None:
        self._stop()
        self.outcome = outcome
        self._saved.append("")
        self._saved.append(verdict_text(outcome).plain)
        self._show_verdict(verdict_text(outcome, with_fix=False), fix_line(outcome))
        self.add_class("-done")

    def cancelled(self) -> None:
        self._stop()
        self.ladder.cancelled()
        text = Text("✘ CANCELLED", style="bold red")
        text.append("  the test was stopped (escape); nothing more was sent")
        self._saved.append(text.plain)
        self._show_verdict(text, None)
        self.add_class("-done")

    def crashed(self, error: BaseException) -> None:
        self._stop()
        text = Text("✘ ERROR", style="bold red")
        text.append(f"  {error}" if str(error) else f"  {type(error).__name__}")
        self._saved.append(text.plain)
        self._show_verdict(text, None)
        self.add_class("-done")

    def _show_verdict(self, verdict: Text, fix: Text | None) -> None:
        self.query_one("#verdict", Static).update(verdict)
        line = self.query_one("#fix-line", Static)
        line.update(fix or "")
        line.set_class(fix is not None, "-shown")
        self.query_one("#verdict-scroll", VerticalScroll).scroll_home(animate=False)

    def _write(self, line: Text) -> None:
        if len(self._saved) == self._saved.maxlen:
            self._saved_dropped += 1
        self._saved.append(line.plain)
        if len(self._pending) >= self.max_lines:
            self._pending.popleft()
            self._pending_dropped += 1
        self._pending.append(line)

    def _stop(self) -> None:
        self.flush()
        self.running = False
        self._flush_timer.pause()

    def flush(self) -> None:
        """Draw what arrived since the last refresh (called 20 times a second)."""
        if not self._pending:
            return
        log = self.log_widget
        lines = self._pending
        skipped = self._pending_dropped + max(0, len(lines) - MAX_LINES_PER_FLUSH)
        if skipped:
            log.write(
                Text(
                    f" ** … {skipped} lines not drawn (flood); Save log keeps the last 20,000",
                    style="dim",
                )
            )
            while len(lines) > MAX_LINES_PER_FLUSH:
                lines.popleft()
        # One write for the whole batch: one render and one refresh, not one per line.
        batch = [
            transcript_line(line) if isinstance(line, TranscriptLine) else line for line in lines
        ]
        log.write(Text("\n").join(batch))
        lines.clear()
        self._pending_dropped = 0
        if self.on_flush is not None:
            self.on_flush()

    # ------------------------------------------------------------------ export

    def transcript_text(self) -> str:
        """The transcript as plain text, already redacted by the engine, for a support ticket."""
        head = []
        if self._saved_dropped:
            head.append(f"[{self._saved_dropped} earlier lines not kept]")
        return "\n".join([*head, *self._saved]) + "\n"
