"""The Textual application: picks the wizard or the settings screen, holds what they share."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from textual import events
from textual.app import SystemCommand
from textual.binding import Binding, BindingType
from textual.notifications import SeverityLevel
from textual.screen import Screen

from tui_mailsetup.tui.first_frame import FirstFrameApp
from tui_mailsetup.tui.hooks import (
    DriverFactory,
    Exporter,
    InboxSource,
    MessageBuilder,
    default_driver_factory,
    default_exporter,
    default_message_builder,
)
from tui_mailsetup.tui.nocolor import with_signal_greys
from tui_mailsetup.tui.services import TestHistory, TuiServices

if TYPE_CHECKING:
    from textual.filter import LineFilter

    from tui_mailsetup.config_file import ConfigError, LoadedConfig
    from tui_mailsetup.engine.events import Outcome
    from tui_mailsetup.presets import Preset
    from tui_mailsetup.startup.peek import Peek
    from tui_mailsetup.tui.screens.form import FormScreen
    from tui_mailsetup.tui.widgets.review import TestFinished

_DEFAULT: Any = object()


class MailSetupApp(FirstFrameApp):
    """``MailSetupApp(config_path)``: the wizard when the file does not exist, else the settings.

    Parameters beyond the path are seams for the demo, tests and benchmarks:

    * ``banner``: a line shown above every screen ("DEMO: sandbox server …").
    * ``inbox``: a callable returning the messages a local sandbox received;
      when given, the settings screen grows an "Inbox" tab (the demo).
    * ``driver_factory`` / ``message_builder``: how a test send is made
      (defaults: the engine's driver and test message).
    * ``exporter``: what the review step's "Export…" uses (default: the
      export module; None hides the button).
    * ``first_run``: force the wizard (True) or the settings screen (False).
    * ``loaded``: an already loaded configuration (else it is loaded here).

    Without ``loaded``, the first frame is drawn from the file's raw values
    (:mod:`tui_mailsetup.startup.peek`: which screen, the driver), and the
    configuration is loaded in a thread right after it (the settings model,
    every layer, validation); the screen then fills its values in. Keys typed
    meanwhile wait, in order (see :mod:`tui_mailsetup.tui.keys`). A file that
    cannot be read or parsed is loaded at once, here, and raises ConfigError as
    before; one whose values do not validate ends the app with exit 78 and the
    error in :attr:`load_error`, for the caller to print.
    """

    # Absolute, so that subclasses defined elsewhere (the demo, benchmarks) find it.
    CSS_PATH = Path(__file__).with_name("app.tcss")
    TITLE = "tui-mailsetup"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+q", "request_quit", "Quit", priority=True),
        # What people press first to leave a terminal program: the same as ctrl+q.
        Binding("ctrl+c", "request_quit", "Quit", show=False, priority=True),
    ]

    def __init__(
        self,
        config_path: str | Path | None = None,
        *,
        system: bool = False,
        loaded: LoadedConfig | None = None,
        banner: str = "",
        inbox: InboxSource | None = None,
        driver_factory: DriverFactory | None = None,
        message_builder: MessageBuilder | None = None,
        exporter: Exporter | None = _DEFAULT,
        first_run: bool | None = None,
    ) -> None:
        super().__init__()
        self._loaded: LoadedConfig | None = loaded
        self.load_error: ConfigError | None = None
        """Set when the configuration did not load after the first frame (the app exits 78)."""
        self._peek: Peek | None = None
        self._system = system
        if loaded is None:
            from tui_mailsetup.startup.peek import peek_config

            self._peek = peek_config(config_path, system=system)
            if self._peek is None:
                # Unreadable, not UTF-8, not TOML: loading says why (ConfigError), now.
                from tui_mailsetup.config_file import load_config

                self._loaded = load_config(config_path, system=system)
        self.config_path: Path = self._peek.path if self._peek is not None else self.loaded.path
        self.banner = banner
        self.inbox = inbox
        self.driver_factory: DriverFactory = driver_factory or default_driver_factory
        self.message_builder: MessageBuilder = message_builder or default_message_builder
        self.exporter: Exporter | None = default_exporter() if exporter is _DEFAULT else exporter
        self._first_run_given = first_run is not None
        if first_run is not None:
            self.first_run = first_run
        elif self._peek is not None:
            self.first_run = peek_needs_wizard(self._peek)
        else:
            self.first_run = needs_wizard(self.loaded)
        self._secret_sources: dict[str, str | None] | None = None
        """Found by the loading thread with the configuration; taken by the first screen."""
        from tui_mailsetup.tui.keys import KeyRouter, keep_pasted_escapes

        self.keys = KeyRouter(self)
        keep_pasted_escapes()
        self.services = TuiServices(
            config=self,
            keys=self.keys,
            history=TestHistory(self.config_path),
            config_path=self.config_path,
            driver_factory=self.driver_factory,
            message_builder=self.message_builder,
            exporter=self.exporter,
            inbox=inbox,
            banner=banner,
        )
        """What the screens get (they never reach into the app)."""

    @property
    def last_outcome(self) -> Outcome | None:
        """The last test sent in this session (None before one)."""
        return self.services.history.last_outcome

    @property
    def peek(self) -> Peek | None:
        return self._peek

    @property
    def loaded(self) -> LoadedConfig:
        """The configuration as loaded; only read once :attr:`config_ready` is true."""
        if self._loaded is None:
            # An AttributeError: ``getattr(app, "loaded", None)`` is None until then.
            raise AttributeError("the configuration is loaded right after the first frame")
        return self._loaded

    @loaded.setter
    def loaded(self, value: LoadedConfig) -> None:
        self._loaded = value

    @property
    def config_ready(self) -> bool:
        return self._loaded is not None

    async def wait_for_config(self) -> None:
        """Return once the configuration is loaded (at once when it already is)."""
        if self._loaded is None:
            await asyncio.shield(self._config_future)

    async def on_event(self, event: events.Event) -> None:
        # Keys and pastes go one at a time, each to the widget focused when it was typed.
        if self.keys.takes(event):
            await self.keys.receive(event)  # type: ignore[arg-type]
            return
        await super().on_event(event)

    async def _shutdown(self) -> None:
        self.keys.close()
        # Closing while the sections are still being built (a test that quits at once)
        # would tear widgets down in the middle of their mount.
        form = self.form_screen
        if form is not None:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(form.sections_built(), 5)
        await super()._shutdown()

    async def _on_key(self, event: events.Key) -> None:
        # A key still bubbling up while the app closes finds no screen: nothing to do.
        if self.screen_stack:
            await super()._on_key(event)

    def on_mount(self) -> None:
        # Only the screen shown is imported (tabs and the inbox cost a first-run nothing).
        if self.first_run:
            from tui_mailsetup.tui.screens.wizard import WizardScreen

            # Keys typed before the first screen is up wait for it.
            self.keys.hold(self.push_screen(WizardScreen(self.services)))
        else:
            from tui_mailsetup.tui.screens.settings import SettingsScreen

            self.keys.hold(self.push_screen(SettingsScreen(self.services)))
        if self._loaded is None:
            # Keys wait for the values; the thread starts once the first frame is drawn.
            self._config_future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self.keys.hold(self._config_future)
            # Two refreshes: the first frame is laid out, painted and written out by then.
            self.call_after_refresh(self.call_after_refresh, self._load_in_background)

    # ------------------------------------------------------------------ loading after the first frame

    def _load_in_background(self) -> None:
        self.run_worker(self._load, thread=True, exit_on_error=False, name="load-config")

    def _load(self) -> None:
        """In a thread: the settings stack and the secrets' sources (never a widget here)."""
        from tui_mailsetup.config_file import ConfigError, load_config
        from tui_mailsetup.secrets import secret_sources

        try:
            loaded = load_config(self.config_path, system=self._system)
        except ConfigError as exc:
            self._from_thread(self._load_failed, exc)
            return
        try:
            sources = secret_sources(loaded)
        except Exception:
            sources = {}
        self._from_thread(self._load_done, loaded, sources)
        # What validation and the other sections need next, imported here while the main
        # thread paints the values (imports only: no widget is touched from this thread).
        import importlib

        for name in _NEXT_MODULES:
            with contextlib.suppress(Exception):
                importlib.import_module(name)

    def _from_thread(self, callback: Any, *args: Any) -> None:
        # The app may have been closed meanwhile (ctrl+q at once): then nothing is left to fill.
        with contextlib.suppress(RuntimeError):
            self.call_from_thread(callback, *args)

    def _load_failed(self, error: ConfigError) -> None:
        from tui_mailsetup.exitcodes import ExitCode

        self.load_error = error
        self._config_future.cancel()
        self.exit(int(ExitCode.CONFIG), return_code=int(ExitCode.CONFIG))

    def _load_done(self, loaded: LoadedConfig, sources: dict[str, str | None]) -> None:
        self._loaded = loaded
        self._secret_sources = sources
        release = self._config_future
        wizard = needs_wizard(loaded)
        form = self.form_screen
        if not self._first_run_given and wizard != self.first_run:
            # The raw values said otherwise (a secrets directory set the host, say).
            from tui_mailsetup.tui.screens.settings import SettingsScreen
            from tui_mailsetup.tui.screens.wizard import WizardScreen

            self.first_run = wizard
            screen = WizardScreen(self.services) if wizard else SettingsScreen(self.services)
            self.keys.hold(self.switch_screen(screen))
            if form is not None:
                form.release_keys()
        elif form is not None:
            form.config_loaded()
        release.set_result(None)
        self.after_load()

    def after_load(self) -> None:
        """Hook run once the configuration is loaded and its values are on the screen
        (benchmarks time it)."""

    # ------------------------------------------------------------------ shared services

    def reload(self) -> None:
        from tui_mailsetup.config_file import ConfigError, load_config

        try:
            self.loaded = load_config(self.config_path)
        except ConfigError as exc:
            self.notify(str(exc), title="Could not reload", severity="error")

    def secret_sources(self) -> dict[str, str | None]:
        if self._secret_sources is not None:
            found, self._secret_sources = self._secret_sources, None
            return found  # just found by the loading thread
        from tui_mailsetup.secrets import secret_sources

        try:
            return secret_sources(self.loaded)
        except Exception:
            return {}

    def presets(self) -> tuple[Preset, ...]:
        return self.services.presets()

    def on_test_finished(self, message: TestFinished) -> None:
        """A test ended: record it from its outcome, then the form shows the result."""
        if warning := self.services.history.record(message.outcome, message.settings):
            self.notify(warning, severity="warning")
        form = self.form_screen
        if form is not None:
            form.test_recorded(message.outcome)

    def get_line_filters(self) -> Sequence[LineFilter]:
        """Under NO_COLOR, a ✘ stays as visible as a ✔ (see :mod:`tui_mailsetup.tui.nocolor`)."""
        return with_signal_greys(super().get_line_filters())

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = True,
    ) -> None:
        """On a screen with a status line (the form's), a message goes there (plain text,
        never markup, read after the fact: no timeout); elsewhere it is a toast."""
        from tui_mailsetup.tui.widgets.status_line import StatusLine

        lines = self.screen.query(StatusLine) if self.screen_stack else None
        if lines:
            lines.first().show(message, title=title, severity=severity)
            return
        super().notify(message, title=title, severity=severity, timeout=timeout, markup=False)

    # ------------------------------------------------------------------ quitting

    @property
    def form_screen(self) -> FormScreen | None:
        from tui_mailsetup.tui.screens.form import FormScreen

        for screen in reversed(self.screen_stack):
            if isinstance(screen, FormScreen):
                return screen
        return None

    async def action_request_quit(self) -> None:
        from tui_mailsetup.tui.screens.dialogs import ConfirmQuitScreen

        form = self.form_screen
        if form is None or not form.dirty:
            self.exit(0)
            return
        if isinstance(self.screen, ConfirmQuitScreen):
            return

        def decided(choice: str | None) -> None:
            if choice == "discard" or (choice == "save" and form.save()):
                self.exit(0)

        self.push_screen(ConfirmQuitScreen(form.describe_changes()), decided)

    # ------------------------------------------------------------------ command palette

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        form = self.form_screen
        if form is not None:
            yield SystemCommand("Save", "Save the configuration (ctrl+s)", form.action_save)
            yield SystemCommand(
                "Send a test email", "Test the settings end to end (ctrl+t)", form.action_send_test
            )
            yield SystemCommand("Apply fix", "Apply the fix on offer (f2)", form.action_fix)
            yield SystemCommand(
                "Check DNS",
                "Check the sender domain's MX, SPF, DKIM, DMARC and MTA-STS records (f3)",
                form.action_check_dns,
            )
            yield SystemCommand(
                "Save transcript",
                "Write the last test's transcript, redacted",
                form.action_save_transcript,
            )
            if self.exporter is not None:
                yield SystemCommand(
                    "Export", "Write the settings for msmtp, postfix, env …", form.action_export
                )
            for section_id in form.section_ids:
                yield SystemCommand(
                    f"Go to {section_id}",
                    f"Show the {section_id} section",
                    lambda s=section_id: form.show_section(s),
                )
        from tui_mailsetup.tui.screens.machine import machine_command

        yield machine_command(self, self.services.config)
        yield SystemCommand("Help", "Keys and help for the focused field (f1)", self._help)
        yield SystemCommand("Quit", "Quit (ctrl+q)", self.action_request_quit)
        yield from super().get_system_commands(screen)

    def _help(self) -> None:
        form = self.form_screen
        if form is not None:
            form.action_help()


_NEXT_MODULES = (
    "tui_mailsetup.validation",
    "tui_mailsetup.drivers",
    "tui_mailsetup.presets",
    "tui_mailsetup.tui.widgets.server_helpers",
    "tui_mailsetup.tui.widgets.oauth2_signin",
    "tui_mailsetup.tui.widgets.review",
)
"""What the values' validation and the sections built next import, in that order."""


def needs_wizard(loaded: LoadedConfig) -> bool:
    """No file, or one without a usable server section (only ``[dns]``, say): the wizard."""
    settings = loaded.settings
    return _wizard_rule(
        loaded.exists, settings.driver.value, settings.smtp.host, settings.mailgun.domain
    )


def peek_needs_wizard(peek: Peek) -> bool:
    """:func:`needs_wizard` from the raw values (the first frame's guess; the load decides)."""
    driver = peek.text("driver").lower() or "smtp"
    return _wizard_rule(peek.exists, driver, peek.text("smtp.host"), peek.text("mailgun.domain"))


def _wizard_rule(exists: bool, driver: str, host: str, domain: str) -> bool:
    if not exists:
        return True
    if driver == "smtp":
        return not host.strip()
    if driver == "mailgun":
        return not domain.strip()
    return False
