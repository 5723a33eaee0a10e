"""Where things are drawn, not only what they say (issue 20 items 3 and 5): the status line
has its own row above the footer at every size and stays until the next action; a failed
test keeps its stage, its next step and f4 in view; the pin dialog its whole fingerprint."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from textual.geometry import Region
from textual.pilot import Pilot
from textual.widget import Widget
from textual.widgets import Footer, Input
from textual.widgets._footer import FooterKey

from tests.support.tui_support import (
    ScriptedDriver,
    form_screen,
    open_section,
    rendered_text,
    scripted_factory,
    server_config,
    settled,
    wait_for,
)
from tui_mailsetup.engine.events import (
    Diagnosis,
    Direction,
    Event,
    Outcome,
    Stage,
    StageFinished,
    StageStarted,
    TranscriptLine,
)
from tui_mailsetup.fixes import Fix
from tui_mailsetup.tui.app import MailSetupApp
from tui_mailsetup.tui.screens.dialogs import PinConfirmScreen
from tui_mailsetup.tui.screens.machine import MachineScreen
from tui_mailsetup.tui.widgets.diagnostics import DiagnosticsPane

SIZES = [(60, 20), (80, 24), (120, 40)]


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    return server_config(tmp_path)


def assert_status_in_view(app: MailSetupApp, words: str) -> None:
    screen = form_screen(app)
    line = screen.query_one("#status-line")
    footer = screen.query_one(Footer)
    region, bottom = line.region, footer.region
    visible = Region(0, 0, *app.size)
    assert region.height >= 1, "the status line takes no room"
    assert visible.contains_region(region), f"{region} is off the {app.size} screen"
    assert not region.overlaps(bottom), f"status {region} is under the footer {bottom}"
    # Nothing else is drawn over it: the screen's topmost widget on each of its rows is it.
    for y in range(region.y, region.bottom):
        widget, _ = screen.get_widget_at(region.x + 1, y)
        assert widget is line, f"row {y} shows {widget!r}"
    assert words in rendered_text(line)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
async def test_the_saved_message_has_its_own_row_above_the_footer(
    config_path: Path, size: tuple[int, int]
) -> None:
    app = MailSetupApp(config_path)
    async with app.run_test(size=size) as pilot:
        await settled(pilot)
        await open_section(pilot, "sender")
        form_screen(app).query_one("#f-sender--name", Input).value = "Ops Team"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: form_screen(app).query_one("#status-line").display)
        await pilot.pause()
        assert_status_in_view(app, "Saved to")
        # Read after the fact: moving on to another field leaves it in view.
        await pilot.press("tab")
        await pilot.pause()
        assert_status_in_view(app, "Saved to")
        # The next change is the next action: the message has been read.
        await pilot.press("x")
        await wait_for(pilot, lambda: not form_screen(app).query_one("#status-line").display)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
async def test_the_reason_a_test_did_not_start_is_in_view_in_the_wizard(
    tmp_path: Path, size: tuple[int, int]
) -> None:
    app = MailSetupApp(tmp_path / "cfg" / "config.toml")
    async with app.run_test(size=size) as pilot:
        await settled(pilot)
        await pilot.press("ctrl+t")
        await wait_for(pilot, lambda: form_screen(app).query_one("#status-line").display)
        await pilot.pause()
        assert_status_in_view(app, "before testing")


async def test_messages_of_one_action_are_shown_together(config_path: Path) -> None:
    app = MailSetupApp(config_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settled(pilot)
        app.notify("first")
        app.notify("second", severity="warning")
        await pilot.pause()
        text = rendered_text(form_screen(app).query_one("#status-line"))
        assert "first" in text and "second" in text


# ---------------------------------------------------------------------- the verdict (item 5)

FINGERPRINT = ":".join(f"{n:02X}" for n in range(32))


def failure(fix: Fix | None, explanation: str) -> list[Event]:
    events: list[Event] = []
    for stage in (Stage.RESOLVE, Stage.CONNECT, Stage.GREETING, Stage.EHLO, Stage.STARTTLS):
        events += [StageStarted(stage), StageFinished(stage, True, 0.01)]
    events += [StageStarted(Stage.EHLO_AGAIN), StageFinished(Stage.EHLO_AGAIN, True, 0.01)]
    events += [StageStarted(Stage.AUTH), StageFinished(Stage.AUTH, False, 0.02)]
    diagnosis = Diagnosis(
        Stage.AUTH,
        "Authentication failed: the server rejected the username or password (535)",
        evidence="535 5.7.8 Authentication credentials invalid",
        explanation=explanation,
        fix=fix,
    )
    events.append(Outcome(False, Stage.AUTH, 0.3, diagnosis))
    return events


ADVICE_535 = (
    "One attempt was made (PLAIN as alice); no other mechanism was tried, so the account is "
    "not locked by retries. Check the username (often the full address) and the password; "
    "many providers require an app-specific password or an API key instead of the account "
    "password."
)


async def send_and_wait(app: MailSetupApp, pilot: Pilot[Any]) -> DiagnosticsPane:
    await settled(pilot)
    await pilot.press("ctrl+t")
    await wait_for(pilot, lambda: form_screen(app).pane is not None)
    pane = form_screen(app).pane
    assert pane is not None
    await wait_for(pilot, lambda: pane.has_class("-done") and not form_screen(app).sending)
    await pilot.pause()
    await pilot.pause()
    return pane


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
async def test_a_failure_keeps_its_stage_its_next_step_and_f4_in_view(
    config_path: Path, size: tuple[int, int]
) -> None:
    driver = ScriptedDriver(failure(None, ADVICE_535))
    app = MailSetupApp(config_path, driver_factory=scripted_factory(driver))
    async with app.run_test(size=size) as pilot:
        pane = await send_and_wait(app, pilot)
        screen_area = Region(0, 0, *app.size)
        # The failing stage: the ladder's last line is inside its visible window.
        ladder = pane.query_one("#ladder-view")
        assert ladder.scroll_offset.y + ladder.scrollable_content_region.height >= (
            ladder.virtual_size.height
        )
        assert screen_area.contains_region(ladder.region)
        # The pinned line says what to do, not "see the advice above".
        fix_line = pane.query_one("#fix-line")
        text = rendered_text(fix_line)
        assert "Check the username" in text and "see the advice" not in text
        assert screen_area.contains_region(fix_line.region)
        # f4 is in the footer and on screen.
        keys = [k for k in form_screen(app).query(FooterKey).results(FooterKey) if k.key == "f4"]
        assert keys, "f4 is not in the footer"
        assert screen_area.contains_region(keys[0].region), f"f4 at {keys[0].region}"


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
async def test_the_transcripts_last_line_stays_in_view_when_the_verdict_takes_room(
    config_path: Path, size: tuple[int, int]
) -> None:
    """The transcript is drawn (and scrolled to its end) before the verdict arrives; the
    verdict then takes rows from it. Its last line (here the server's last reply) must
    still be on screen, as the ladder's failing stage is."""
    events = failure(None, ADVICE_535)
    events[-1:-1] = [
        TranscriptLine(Direction.RECEIVED, f"250-line {n} of a long reply", encrypted=True)
        for n in range(60)
    ]
    events.insert(
        -1, TranscriptLine(Direction.RECEIVED, "535 5.7.8 the last reply", encrypted=True)
    )
    driver = ScriptedDriver(events, wait_before_last=0.3)
    app = MailSetupApp(config_path, driver_factory=scripted_factory(driver))
    async with app.run_test(size=size) as pilot:
        pane = await send_and_wait(app, pilot)
        log = pane.log_widget
        assert log.max_scroll_y > 0, "the transcript fits: the test shows nothing"
        assert log.scroll_y == log.max_scroll_y, (
            f"transcript scrolled to {log.scroll_y} of {log.max_scroll_y}: its end is hidden"
        )
        # Scrolled up to read, it stays there when the terminal shrinks.
        log.scroll_to(y=3, animate=False, immediate=True)
        await pilot.resize_terminal(size[0], size[1] - 2)
        await pilot.pause()
        await pilot.pause()
        assert log.scroll_y == 3


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
async def test_the_pin_dialog_shows_the_whole_fingerprint(
    config_path: Path, size: tuple[int, int]
) -> None:
    fix = Fix("pin the certificate", {"smtp.fingerprint": FINGERPRINT})
    driver = ScriptedDriver(failure(fix, "The certificate signs itself."))
    app = MailSetupApp(config_path, driver_factory=scripted_factory(driver))
    async with app.run_test(size=size) as pilot:
        await send_and_wait(app, pilot)
        await pilot.press("f2")
        await wait_for(pilot, lambda: isinstance(app.screen, PinConfirmScreen))
        await pilot.pause()
        body = app.screen.query_one("#pin-details")
        scroll = body.parent
        assert isinstance(scroll, Widget)
        lines = rendered_text(body).splitlines()
        last = next(n for n, line in enumerate(lines) if FINGERPRINT[-11:] in line)
        # Every line up to the fingerprint's last is inside the scroll area's window.
        assert scroll.scroll_offset.y == 0
        assert last < scroll.scrollable_content_region.height
        assert Region(0, 0, *app.size).contains_region(scroll.region)


# ---------------------------------------------------------------------- this machine (item 8)


@pytest.mark.parametrize("size", [(60, 20), (80, 24)], ids=lambda s: f"{s[0]}x{s[1]}")
async def test_this_machine_keeps_quit_and_its_buttons_in_view_and_wraps_its_log(
    config_path: Path, size: tuple[int, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The screen would read this machine's own mail system: not in a test.
    monkeypatch.setattr(MachineScreen, "action_refresh_status", lambda self: None)
    refusal = (
        "error: Postfix is installed but not configured: there is no /etc/postfix/main.cf. "
        "Run dpkg-reconfigure postfix and choose 'Satellite system' (or 'Internet with "
        "smarthost'), then run mta apply again"
    )
    app = MailSetupApp(config_path, first_run=False)
    async with app.run_test(size=size) as pilot:
        await settled(pilot)
        screen = MachineScreen(config=app.services.config, mta="postfix")
        await app.push_screen(screen)
        await pilot.pause()
        screen._log(refusal)
        await pilot.pause()
        area = Region(0, 0, *app.size)
        footer = screen.query_one(Footer).region
        quit_keys = [k for k in screen.query(FooterKey).results(FooterKey) if k.key == "ctrl+q"]
        assert quit_keys and area.contains_region(quit_keys[0].region)
        buttons = screen.query_one("#machine-buttons").region
        assert area.contains_region(buttons) and not buttons.overlaps(footer)
        back = screen.query_one("#back").region
        assert area.contains_region(back), f"Back at {back}"
        log = screen.query_one("#machine-log-text")
        lines = rendered_text(log).splitlines()
        assert all(len(line.rstrip()) <= log.size.width for line in lines)
        assert " ".join(" ".join(lines).split()) == refusal
