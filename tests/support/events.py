"""What a test does with the events a driver or the SMTP ladder yields: collect them, take the
outcome, the transcript, print them as ``send-test`` does, check nothing unsafe reaches the
terminal. (``smtp_servers.run_ladder`` runs the ladder itself.)"""

from __future__ import annotations

from collections.abc import AsyncIterator

from tui_mailsetup.engine.events import Event, Outcome, TranscriptLine


async def collect(events: AsyncIterator[Event]) -> list[Event]:
    """Every event of a stream, in order."""
    return [event async for event in events]


def outcome_of(events: list[Event]) -> Outcome:
    last = events[-1]
    assert isinstance(last, Outcome)
    return last


def transcript(events: list[Event]) -> list[TranscriptLine]:
    return [e for e in events if isinstance(e, TranscriptLine)]


def render_human(events: list[Event], *, color: bool = False) -> str:
    """Every event as ``send-test`` prints it on a terminal (the verdict included)."""
    import io

    from tui_mailsetup.cli.smtp_cmds import HumanPrinter

    stream = io.StringIO()
    printer = HumanPrinter(stream, color=color)
    for event in events:
        printer.event(event)
    return stream.getvalue()


def assert_terminal_safe(events: list[Event]) -> None:
    """No escape sequence or bell from a server reaches the terminal (nor the JSON)."""
    import json

    from tui_mailsetup.engine.events import event_to_json

    for text in (
        render_human(events),
        json.dumps([event_to_json(e) for e in events], ensure_ascii=False),
    ):
        for bad in ("\x1b", "\x07", "\x9b", "\u202e", "\x00"):
            assert bad not in text, (bad, text)
