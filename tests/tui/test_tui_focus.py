"""Focus always visible, with or without colour (issue 20 item 4): a field's row keeps its
mark after its drop-down was used, the helpers (preset, Detect, Send to) reverse their label,
no Tab stop is an invisible scroll area, and under NO_COLOR a ✘ is as visible as a ✔."""

from __future__ import annotations

from pathlib import Path

import pytest
from rich.segment import Segment
from textual.color import Color
from textual.geometry import Region
from textual.widget import Widget
from textual.widgets import Button, Checkbox, Input, Select, Tabs

from tests.support.tui_support import (
    ScriptedDriver,
    form_screen,
    open_section,
    scripted_factory,
    server_config,
    settled,
    wait_for,
)
from tui_mailsetup.engine.events import (
    Diagnosis,
    Event,
    Outcome,
    Stage,
    StageFinished,
    StageStarted,
)
from tui_mailsetup.tui.app import MailSetupApp


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    return server_config(tmp_path)


def segments(widget: Widget) -> list[Segment]:
    """What the widget draws, after the app's filters (NO_COLOR is set for every test)."""
    width, height = widget.region.size  # padding included
    return [seg for strip in widget.render_lines(Region(0, 0, width, height)) for seg in strip]


def reversed_text(widget: Widget) -> str:
    return "".join(seg.text for seg in segments(widget) if seg.style and seg.style.reverse)


async def test_a_row_keeps_its_focus_mark_after_its_drop_down_was_used(config_path: Path) -> None:
    app = MailSetupApp(config_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settled(pilot)
        await open_section(pilot, "server")
        row = form_screen(app).row("smtp.encryption")
        assert row is not None
        select = row.editor
        assert isinstance(select, Select)
        select.focus()
        await pilot.press("enter")
        await wait_for(pilot, lambda: select.expanded)
        await pilot.press("down", "enter")
        await wait_for(pilot, lambda: not select.expanded)
        await pilot.pause()
        assert app.focused is select
        label = row.query_one(".field-label")
        assert "Encryption" in reversed_text(label)
        # And it goes with the focus.
        await pilot.press("tab")
        await pilot.pause()
        assert "Encryption" not in reversed_text(label)


@pytest.mark.parametrize(
    ("section", "editor", "label", "words"),
    [
        ("server", "#preset", "#preset-row .field-label", "Preset"),
        ("server", "#detect-query", "#detect-row .field-label", "Detect from"),
        ("review", "#recipient", "#recipient-label", "Send to"),
    ],
)
async def test_the_helpers_show_their_focus_without_colour(
    config_path: Path, section: str, editor: str, label: str, words: str
) -> None:
    app = MailSetupApp(config_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settled(pilot)
        await open_section(pilot, section)
        shown = form_screen(app).query_one(label)
        form_screen(app).query_one(Tabs).focus()
        await pilot.pause()
        assert words not in reversed_text(shown)
        form_screen(app).query_one(editor).focus()
        await pilot.pause()
        assert words in reversed_text(shown)


async def test_every_tab_stop_shows_where_it_is(config_path: Path) -> None:
    """No Tab stop is a scroll area that shows nothing (typed text vanished there)."""
    app = MailSetupApp(config_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settled(pilot)
        for section in ("driver", "server", "credentials", "sender", "review"):
            await open_section(pilot, section)
            for widget in form_screen(app).focus_chain:
                if isinstance(widget, (Input, Select, Checkbox, Button, Tabs)):
                    continue  # editors, buttons and the tab bar show focus themselves
                # Anything else (a scroll area, the verdict, the ladder) draws a bar when focused.
                widget.focus()
                await pilot.pause()
                bar = widget.styles.border_left[0]
                assert bar not in ("", "none", "hidden", "blank"), f"{widget!r} in {section}"


def brightness(segment: Segment) -> float:
    assert segment.style is not None and segment.style.color is not None
    return Color.from_rich_color(segment.style.color).brightness


def mark(widget: Widget, text: str) -> Segment:
    return next(seg for seg in segments(widget) if text in seg.text)


async def test_under_no_color_a_failure_is_at_least_as_visible_as_a_pass(
    config_path: Path,
) -> None:
    events: list[Event] = [
        StageStarted(Stage.CONNECT),
        StageFinished(Stage.CONNECT, True, 0.01),
        StageStarted(Stage.AUTH),
        StageFinished(Stage.AUTH, False, 0.02),
        Outcome(
            False,
            Stage.AUTH,
            0.03,
            Diagnosis(Stage.AUTH, "The server refused the username or password"),
        ),
    ]
    app = MailSetupApp(config_path, driver_factory=scripted_factory(ScriptedDriver(events)))
    async with app.run_test(size=(80, 24)) as pilot:
        assert app.no_color
        await settled(pilot)
        await pilot.press("ctrl+t")
        await wait_for(
            pilot, lambda: not form_screen(app).sending and form_screen(app).pane is not None
        )
        pane = form_screen(app).pane
        assert pane is not None
        await wait_for(pilot, lambda: pane.outcome is not None)
        await pilot.pause()
        ladder = pane.query_one("#ladder")
        passed, failed = mark(ladder, "✔"), mark(ladder, "✘")
        assert brightness(failed) >= brightness(passed)
        assert failed.style is not None and failed.style.bold
        verdict = mark(pane.query_one("#verdict"), "✘ FAILED")
        assert brightness(verdict) >= brightness(passed)
        assert verdict.style is not None and verdict.style.bold
