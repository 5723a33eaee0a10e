""" "Sign in with Microsoft/Google" on the Credentials step, and the dialog that runs the flow.

:class:`SignInRow` shows itself when the host belongs to an OAuth2 provider (or
auth is xoauth2). Its button opens :class:`SignInScreen`, which runs the
configured flow in a thread (``oauth2.access.login``): for the device code it
shows the address and the code as plain text, selectable in an SSH terminal
(and ``c``/``u`` copy them with OSC 52), a countdown until the code expires;
escape cancels. The tokens go to the credentials file, as ``oauth2 login`` does.
The OAuth2 libraries load only when the flow starts.
"""

from __future__ import annotations

import dataclasses
import re
import threading
import time
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static

from tui_mailsetup.presets import match_preset
from tui_mailsetup.settings import AuthMechanism, MailSettings

if TYPE_CHECKING:
    from tui_mailsetup.config_file import LoadedConfig
    from tui_mailsetup.oauth2.flows import DevicePrompt
    from tui_mailsetup.oauth2.store import TokenSet

PROVIDER_NAMES = {"microsoft": "Microsoft", "google": "Google", "custom": "OAuth2"}

CLIENT_ID_HELP = {
    "microsoft": (
        "Microsoft Entra admin center → App registrations → New registration (allow public "
        "client flows; API permission SMTP.Send): the Application (client) ID. Guide: "
        "learn.microsoft.com/entra/identity-platform/quickstart-register-app"
    ),
    "google": (
        "Google Cloud console → APIs & Services → Credentials → Create credentials → OAuth "
        'client ID, type "TVs and Limited Input devices": its client ID. Guide: '
        "developers.google.com/identity/protocols/oauth2/limited-input-device"
    ),
    "custom": "Your authorisation server's client registration gives it.",
}
"""Where a client ID comes from, as text (an SSH terminal has no browser to open)."""

CLIENT_ID_PLACEHOLDER = {
    "microsoft": "00000000-0000-0000-0000-000000000000",
    "google": "1234567890-abc….apps.googleusercontent.com",
}


def signin_provider(settings: MailSettings | None) -> str | None:
    """The provider to sign in with for these settings, or None when OAuth2 does not apply."""
    if settings is None or settings.driver.value != "smtp":
        return None
    if settings.smtp.auth is AuthMechanism.XOAUTH2:
        return settings.oauth2.provider.value
    preset = match_preset(settings.smtp.host)
    return preset.oauth2 if preset is not None and preset.oauth2 else None


def signed_in_as(loaded: LoadedConfig) -> str | None:
    """Who the stored sign-in is for ("the app" for an app-only flow); None: not signed in."""
    from tui_mailsetup.oauth2.store import load_tokens
    from tui_mailsetup.secrets import SecretError

    try:
        tokens, _ = load_tokens(loaded)
    except SecretError:
        return None
    return None if tokens is None else (tokens.account or "the app")


def signin_failure(error: BaseException, loaded: LoadedConfig) -> str:
    """A failed sign-in in one sentence, never a library's exception text.

    Cannot reach the endpoint (no DNS, no route), no answer in time, a certificate not
    trusted, or what the endpoint refused (its error, already worded by the OAuth2 layer).
    """
    from urllib.parse import urlsplit

    from tui_mailsetup.oauth2.errors import OAuth2Error
    from tui_mailsetup.oauth2.providers import endpoints

    try:
        ends = endpoints(loaded.settings.oauth2)
        url = ends.device_authorization_url or ends.token_url
        host = urlsplit(url).hostname or url
    except Exception:
        host = "the sign-in service"
    if not isinstance(error, OAuth2Error):
        return str(error).splitlines()[0] if str(error) else type(error).__name__
    kind = error.error
    if kind == "unavailable":
        return f"Cannot reach {host}: no DNS or no route to it from this machine."
    if kind == "timeout":
        return f"{host} did not answer in time; try again, or check the network."
    if kind == "tls":
        return (
            f"Cannot reach {host} securely: its certificate is not trusted here (behind an "
            "inspecting proxy, point REQUESTS_CA_BUNDLE at the proxy's CA)."
        )
    if kind == "http":
        status = re.search(r"\b([45]\d\d)\b", error.cause)
        code = f"HTTP {status.group(1)}" if status else "an HTTP error"
        return f"{host} refused the sign-in: {code}."
    if kind in {"missing_extra", "permissions", "client", "certificate", "key_file"}:
        return str(error)
    return f"The sign-in service refused: {error}"


class SignInScreen(ModalScreen["TokenSet | None"]):
    """Runs the configured OAuth2 flow; dismisses with the tokens, or None when cancelled."""

    DEFAULT_CSS = """
    SignInScreen { align: center middle; }
    #signin-box { width: 76; max-width: 100%; height: auto; border: round $accent;
                  padding: 0 1; background: $surface; }
    #signin-code { text-style: bold; color: $accent; padding: 1 0; }
    #signin-countdown { color: $text-muted; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel"),
        Binding("c", "copy_code", "Copy code"),
        Binding("u", "copy_url", "Copy URL"),
    ]

    def __init__(self, loaded: LoadedConfig, provider: str) -> None:
        super().__init__(id="signin-screen")
        self._loaded = loaded
        self._provider_name = PROVIDER_NAMES.get(provider, provider)
        self._cancel = threading.Event()
        self._prompt: DevicePrompt | None = None
        self.tokens: TokenSet | None = None
        self.error: str = ""

    def compose(self) -> ComposeResult:
        with Vertical(id="signin-box"):
            yield Static(
                Text(f"Sign in with {self._provider_name}", style="bold"), id="signin-title"
            )
            yield Static("Contacting the sign-in service…", id="signin-where")
            yield Static("", id="signin-code")
            yield Static("", id="signin-countdown")
            yield Static(Text("escape cancels"), id="signin-keys")

    def on_mount(self) -> None:
        self.set_interval(1.0, self._tick)
        self._run()

    @work(thread=True, exit_on_error=False, name="oauth2-signin")
    def _run(self) -> None:
        from tui_mailsetup.oauth2.access import login

        try:
            tokens = login(
                self._loaded,
                lambda prompt: self.app.call_from_thread(self._show_prompt, prompt),
                cancel=self._cancel,
            )
        except Exception as exc:
            # Every failure ends here in one sentence (a failed worker showed nothing at all).
            if not self._cancel.is_set():
                self.app.call_from_thread(self._failed, signin_failure(exc, self._loaded))
            return
        self.app.call_from_thread(self._done, tokens)

    def _show_prompt(self, prompt: DevicePrompt) -> None:
        self._prompt = prompt
        where = Text("Open this address in a browser on any device (u copies it):\n")
        where.append(prompt.verification_uri, style="underline")
        self.query_one("#signin-where", Static).update(where)
        self.query_one("#signin-code", Static).update(
            Text(f"and enter the code:  {prompt.user_code}   (c copies it)")
        )
        self._tick()

    def _tick(self) -> None:
        if self._prompt is None or self.tokens is not None or self.error:
            return
        left = max(0, round(self._prompt.expires_at - time.time()))
        self.query_one("#signin-countdown", Static).update(
            Text(f"Waiting for the sign-in… the code expires in {left // 60}:{left % 60:02d}")
        )

    def _done(self, tokens: TokenSet) -> None:
        self.tokens = tokens
        who = tokens.account or "the app"
        self.app.notify(f"Signed in with {self._provider_name} as {who}", title="OAuth2")
        self.dismiss(tokens)

    def _failed(self, message: str) -> None:
        self.error = message
        self.query_one("#signin-countdown", Static).update(Text(message, style="bold red"))
        self.query_one("#signin-keys", Static).update(Text("escape closes"))

    def action_cancel(self) -> None:
        self._cancel.set()
        self.dismiss(None)

    def action_copy_code(self) -> None:
        if self._prompt is not None:
            self.app.copy_to_clipboard(self._prompt.user_code)
            self.app.notify("Code copied (terminals that allow OSC 52)")

    def action_copy_url(self) -> None:
        if self._prompt is not None:
            self.app.copy_to_clipboard(self._prompt.verification_uri)
            self.app.notify("Address copied (terminals that allow OSC 52)")


class ClientIdScreen(ModalScreen["str | None"]):
    """Asks for the app registration's client ID, the one thing a sign-in cannot guess."""

    DEFAULT_CSS = """
    ClientIdScreen { align: center middle; }
    #client-id-box { width: 76; max-width: 100%; height: auto; border: round $accent;
                     padding: 0 1; background: $surface; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, provider: str) -> None:
        super().__init__(id="client-id-screen")
        self._provider = provider
        self._provider_name = PROVIDER_NAMES.get(provider, provider)

    def compose(self) -> ComposeResult:
        with Vertical(id="client-id-box"):
            yield Static(
                Text(
                    f"Sign in with {self._provider_name} needs the client ID of an app registration: "
                    "the program that asks for the sign-in is registered once, by you or "
                    "your administrator, and the registration gives its ID."
                )
            )
            yield Static(Text(CLIENT_ID_HELP.get(self._provider, CLIENT_ID_HELP["custom"])))
            yield Input(placeholder=CLIENT_ID_PLACEHOLDER.get(self._provider, ""), id="client-id")
            yield Static(Text("enter continues (saved with the settings: ctrl+s), escape cancels"))

    @on(Input.Submitted, "#client-id")
    def _submitted(self, event: Input.Submitted) -> None:
        value = event.value.strip()
        if value:
            self.dismiss(value)

    def action_cancel(self) -> None:
        self.dismiss(None)


class SignInRow(Horizontal):
    """The Credentials step's "Sign in with …" button and who is signed in.

    The form sets :attr:`settings` (the values as typed, once valid) and :attr:`loaded`;
    a client ID asked for here goes up in :class:`ClientIdGiven`, and the form calls
    :meth:`continue_sign_in` once it holds it.
    """

    class ClientIdGiven(Message):
        """The person typed the app registration's client ID (the form keeps it)."""

        def __init__(self, client_id: str) -> None:
            super().__init__()
            self.client_id = client_id

    DEFAULT_CSS = """
    SignInRow { height: auto; margin: 0 0 1 0; }
    SignInRow Button { margin-right: 2; }
    SignInRow #signin-state { padding: 1 0 0 0; }
    """

    def __init__(self) -> None:
        super().__init__(id="oauth2-signin")
        self.display = False
        self._provider: str | None = None
        self.settings: MailSettings | None = None
        """The form's values as typed, once they validate (set by the form)."""
        self.loaded: LoadedConfig | None = None
        """The configuration as loaded (set by the form)."""

    def compose(self) -> ComposeResult:
        yield Button("Sign in", id="signin-button")
        yield Static("", id="signin-state")

    def on_mount(self) -> None:
        # The form revalidates on every keystroke; following its settings here keeps
        # the form's code untouched (the host or auth may change at any time).
        self.set_interval(0.5, self.sync)
        self.sync()
        self._show_state()

    def sync(self) -> None:
        provider = signin_provider(self.settings)
        if provider != self._provider:
            self._provider = provider
            self.display = provider is not None
            if provider is not None:
                name = PROVIDER_NAMES.get(provider, provider)
                self.query_one("#signin-button", Button).label = f"Sign in with {name}"

    def _loaded(self) -> LoadedConfig | None:
        loaded, settings = self.loaded, self.settings
        if loaded is None or settings is None:
            return None
        result: LoadedConfig = dataclasses.replace(loaded, settings=settings)
        return result

    def _show_state(self) -> None:
        loaded = self._loaded()
        who = signed_in_as(loaded) if loaded is not None else None
        text = f"Signed in as {who}" if who is not None else ""
        self.query_one("#signin-state", Static).update(Text(text))

    @on(Button.Pressed, "#signin-button")
    def _sign_in(self, event: Button.Pressed) -> None:
        event.stop()
        from tui_mailsetup.oauth2.providers import configuration_problems

        loaded = self._loaded()
        if loaded is None or self._provider is None:
            self.app.notify("Fix the form's errors first.", severity="error")
            return
        settings = loaded.settings
        if settings.smtp.auth is not AuthMechanism.XOAUTH2:
            self.app.notify(
                "Set Authentication to xoauth2 first (the password is not used with OAuth2).",
                severity="warning",
            )
            return
        problems = configuration_problems(settings.oauth2, username=settings.smtp.username)
        if problems and problems[0][0] == "oauth2.client_id":
            self.app.push_screen(ClientIdScreen(self._provider), self._client_id_given)
            return
        if problems:
            key, message = problems[0]
            self.app.notify(
                f"{key}: {message}", title="Sign-in needs", severity="error", timeout=10
            )
            return

        def finished(tokens: TokenSet | None) -> None:
            if tokens is not None:
                self._show_state()

        self.app.push_screen(SignInScreen(loaded, self._provider), finished)

    def _client_id_given(self, client_id: str | None) -> None:
        """Put it in the form (ctrl+s saves it with the rest; nothing is written before) and
        go on with the sign-in, which uses the form's settings."""
        if client_id is not None:
            self.post_message(self.ClientIdGiven(client_id))

    def continue_sign_in(self) -> None:
        """The form holds the client ID given: the sign-in goes on with its settings."""
        self.query_one("#signin-button", Button).press()
