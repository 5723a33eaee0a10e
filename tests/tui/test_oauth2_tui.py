"""The Credentials step's "Sign in with Microsoft": the device code shown, approved as a
person would, the tokens stored; escape cancels. Against tests/oauth2_server.py."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Button, Static

from tests.support.oauth2_server import AuthServer
from tests.support.smtp_servers import LocalCA
from tests.support.tui_support import SENDER, open_section, wait_for, write_config
from tui_mailsetup.secrets import read_credentials
from tui_mailsetup.tui.app import MailSetupApp
from tui_mailsetup.tui.screens.form import FormScreen
from tui_mailsetup.tui.widgets.oauth2_signin import ClientIdScreen, SignInRow, SignInScreen

MAILBOX = "alice@contoso.test"


@pytest.fixture
def auth(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[AuthServer]:
    ca = LocalCA(tmp_path)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(ca.ca_path))
    server = AuthServer(ca).start()
    yield server
    server.stop()


def oauth_config(path: Path, auth: AuthServer, *, client_id: bool = True) -> Path:
    return write_config(
        path,
        {
            "smtp.host": "smtp.office365.com",
            "smtp.username": MAILBOX,
            "smtp.auth": "xoauth2",
            **({"oauth2.client_id": auth.client_id} if client_id else {}),
            "oauth2.token_url": auth.token_url,
            "oauth2.device_authorization_url": auth.device_url,
            **SENDER,
        },
    )


async def press_sign_in(pilot: Pilot[int], app: MailSetupApp) -> SignInRow:
    """Credentials step → "Sign in with …" (once it shows)."""
    await open_section(pilot, "credentials")
    row = app.screen.query_one(SignInRow)
    await wait_for(pilot, lambda: bool(row.display))
    row.query_one("#signin-button", Button).press()
    return row


async def open_sign_in(pilot: Pilot[int], app: MailSetupApp) -> SignInRow:
    """Credentials step → "Sign in with …" → wait until the dialog shows the code."""
    row = await press_sign_in(pilot, app)
    await wait_for(pilot, lambda: isinstance(app.screen, SignInScreen))
    code_widget = app.screen.query_one("#signin-code", Static)
    await wait_for(pilot, lambda: "enter the code" in str(code_widget.render()))
    return row


async def test_sign_in_with_microsoft_shows_the_code_and_stores_the_tokens(
    tmp_path: Path, auth: AuthServer
) -> None:
    config = oauth_config(tmp_path / "cfg" / "config.toml", auth)
    app = MailSetupApp(config)
    async with app.run_test(size=(80, 24)) as pilot:
        row = await open_sign_in(pilot, app)
        assert str(row.query_one("#signin-button", Button).label) == "Sign in with Microsoft"
        dialog = app.screen
        shown = str(dialog.query_one("#signin-code", Static).render())
        where = str(dialog.query_one("#signin-where", Static).render())
        assert f"{auth.url}/activate" in where
        countdown = str(dialog.query_one("#signin-countdown", Static).render())
        assert re.search(r"expires in \d+:\d\d", countdown)
        match = re.search(r"\d{4}-\d{4}", shown)
        assert match
        assert auth.approve(match.group(), MAILBOX) == 200
        await wait_for(pilot, lambda: not isinstance(app.screen, SignInScreen))
        state = row.query_one("#signin-state", Static)
        await wait_for(pilot, lambda: f"Signed in as {MAILBOX}" in str(state.render()))
    stored = read_credentials(config)
    assert "oauth2.token" in stored
    assert "at-" not in config.read_text()


async def test_escape_cancels_the_sign_in(tmp_path: Path, auth: AuthServer) -> None:
    config = oauth_config(tmp_path / "cfg" / "config.toml", auth)
    app = MailSetupApp(config)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_sign_in(pilot, app)
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, SignInScreen))
        await pilot.pause(0.5)
    assert "oauth2.token" not in read_credentials(config)


async def test_no_sign_in_for_a_password_provider(tmp_path: Path) -> None:
    config = write_config(
        tmp_path / "cfg" / "config.toml",
        {"smtp.host": "smtp.sendgrid.net", "smtp.username": "apikey", **SENDER},
    )
    app = MailSetupApp(config)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_section(pilot, "credentials")
        await pilot.pause(0.6)
        assert not app.screen.query_one(SignInRow).display


async def test_sign_in_asks_for_the_client_id_and_saves_it(
    tmp_path: Path, auth: AuthServer
) -> None:
    config = oauth_config(tmp_path / "cfg" / "config.toml", auth, client_id=False)
    app = MailSetupApp(config)
    async with app.run_test(size=(80, 24)) as pilot:
        await press_sign_in(pilot, app)
        await wait_for(pilot, lambda: isinstance(app.screen, ClientIdScreen))
        await pilot.press(*auth.client_id, "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, SignInScreen))
        code_widget = app.screen.query_one("#signin-code", Static)
        await wait_for(pilot, lambda: "enter the code" in str(code_widget.render()))
        match = re.search(r"\d{4}-\d{4}", str(code_widget.render()))
        assert match
        assert auth.approve(match.group(), MAILBOX) == 200
        await wait_for(pilot, lambda: not isinstance(app.screen, SignInScreen))
        # Signed in with the form's client ID; config.toml changes only with ctrl+s.
        assert "oauth2.token" in read_credentials(config)
        assert "client_id" not in config.read_text()
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: f'client_id = "{auth.client_id}"' in config.read_text())


async def test_the_client_id_dialog_says_where_a_client_id_comes_from(tmp_path: Path) -> None:
    config = write_config(
        tmp_path / "cfg" / "config.toml",
        {"smtp.host": "smtp.office365.com", "smtp.username": MAILBOX, "smtp.auth": "xoauth2"},
    )
    app = MailSetupApp(config)
    async with app.run_test(size=(80, 24)) as pilot:
        await press_sign_in(pilot, app)
        await wait_for(pilot, lambda: isinstance(app.screen, ClientIdScreen))
        await pilot.pause()
        shown = " ".join(str(w.render()) for w in app.screen.query(Static))
        assert "app registration" in shown
        assert "App registrations" in shown and "learn.microsoft.com" in shown


async def test_with_gmail_the_sign_in_is_google_and_no_password_is_asked_for(
    tmp_path: Path,
) -> None:
    config = write_config(
        tmp_path / "cfg" / "config.toml",
        {
            "smtp.host": "smtp.gmail.com",
            "smtp.username": "alice@gmail.example",
            "smtp.auth": "xoauth2",
            **SENDER,
        },
    )
    app = MailSetupApp(config)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_section(pilot, "credentials")
        row = app.screen.query_one(SignInRow)
        await wait_for(pilot, lambda: bool(row.display))
        assert str(row.query_one("#signin-button", Button).label) == "Sign in with Google"
        screen = app.screen
        assert isinstance(screen, FormScreen)
        for key in ("smtp.password", "smtp.password_command"):
            password_row = screen.row(key)
            assert password_row is not None and not password_row.display, key
        note = str(screen.query_one("#secret-note", Static).render())
        assert "no password" in note and "set-secret" not in note
        assert "Password" not in note
        # The provider followed the host in the form: a change ctrl+s saves, nothing before.
        assert 'oauth2.provider: "microsoft" → "google"' in screen.describe_changes()
        assert "provider" not in config.read_text()


async def test_a_sign_in_that_cannot_reach_the_endpoint_says_so_in_one_sentence(
    tmp_path: Path,
) -> None:
    import socket

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = write_config(
        tmp_path / "cfg" / "config.toml",
        {
            "smtp.host": "smtp.office365.com",
            "smtp.username": MAILBOX,
            "smtp.auth": "xoauth2",
            "oauth2.client_id": "00000000-0000-0000-0000-000000000001",
            "oauth2.token_url": f"https://127.0.0.1:{port}/token",
            "oauth2.device_authorization_url": f"https://127.0.0.1:{port}/device",
            **SENDER,
        },
    )
    app = MailSetupApp(config)
    async with app.run_test(size=(80, 24)) as pilot:
        await press_sign_in(pilot, app)
        await wait_for(pilot, lambda: isinstance(app.screen, SignInScreen))
        dialog = app.screen
        assert isinstance(dialog, SignInScreen)
        await wait_for(pilot, lambda: bool(dialog.error), limit=60)
        assert dialog.error == "Cannot reach 127.0.0.1: no DNS or no route to it from this machine."
        shown = str(dialog.query_one("#signin-countdown", Static).render())
        assert "Cannot reach 127.0.0.1" in shown
        assert "Max retries" not in shown and "Connection" not in shown
