"""What the app hands down to its screens: one small typed object instead of the app itself.

The screens used to reach ~19 attributes of ``MailSetupApp`` (and so imported it, the
TUI's only import circle). They now get a :class:`TuiServices` when they are built:
the configuration (:class:`ConfigAccess`, which the app provides), the key router's
``hold``, the seams of :mod:`tui_mailsetup.tui.hooks`, the provider presets, and
:class:`TestHistory`, the last test's result as recorded. This module imports neither
the app nor a screen (``tests/unit/test_tui_imports.py`` checks that the TUI has no circle).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from rich.text import Text

from tui_mailsetup.tui.hooks import DriverFactory, Exporter, InboxSource, MessageBuilder

if TYPE_CHECKING:
    from tui_mailsetup.config_file import LoadedConfig
    from tui_mailsetup.engine.events import Event, Outcome
    from tui_mailsetup.presets import Preset
    from tui_mailsetup.settings import MailSettings
    from tui_mailsetup.startup.peek import Peek
    from tui_mailsetup.state import MailState
    from tui_mailsetup.tui.form_session import TestRequest


class ConfigAccess(Protocol):
    """The configuration as the app loads it (after the first frame, in a thread)."""

    @property
    def config_ready(self) -> bool: ...

    @property
    def loaded(self) -> LoadedConfig:
        """Only read once :attr:`config_ready` is true."""
        ...

    @property
    def peek(self) -> Peek | None:
        """The file's raw values, from which the first frame is drawn."""
        ...

    async def wait_for_config(self) -> None: ...

    def reload(self) -> None:
        """Load the file again (after a save); says so on screen when it cannot."""
        ...

    def secret_sources(self) -> dict[str, str | None]: ...


class KeyHold(Protocol):
    def hold(self, until: Awaitable[Any]) -> None:
        """Keys typed from now wait until ``until`` is done (see :mod:`tui_mailsetup.tui.keys`)."""
        ...


@dataclass
class TestHistory:
    """The last test's result and a rate limit: recorded here, read by ``show`` and the home.

    A test sent in the TUI is recorded from its outcome (the app's ``TestFinished``
    handler) and kept: what the screens show after it is that state, not the file read
    back. Before this session's first test, the state file says how the last one went.
    """

    __test__ = False

    config_path: Path
    last_outcome: Outcome | None = None
    _recorded: MailState | None = field(default=None, repr=False)

    def record(self, outcome: Outcome, settings: MailSettings | None) -> str | None:
        """Remember ``outcome``; returns a warning when the state file could not be written."""
        from tui_mailsetup.settings import Driver
        from tui_mailsetup.state import record_outcome

        self.last_outcome = outcome
        host, port = "", None
        if settings is not None and settings.driver is Driver.SMTP:
            host, port = settings.smtp.host, settings.smtp.port
        try:
            self._recorded = record_outcome(
                self.config_path, outcome, kind="tui", host=host, port=port
            )
        except OSError as exc:
            return f"Could not record the result: {exc}"
        return None

    def _summary(self) -> dict[str, str]:
        from tui_mailsetup.state import load_state

        state = self._recorded if self._recorded is not None else load_state(self.config_path)
        return state.summary()

    def last_result_text(self) -> Text:
        """ "Last test: …" as ``show`` prints it, and "rate limited until" while one lasts."""
        summary = self._summary()
        text = Text("Last test: ", style="bold")
        text.append(summary.get("last_test", "none yet (ctrl+t sends one)"))
        if limited := self._rate_limit(summary):
            text.append("  ·  ")
            text.append_text(limited)
        return text

    def rate_limit_text(self) -> Text | None:
        """ "Rate limited until …" while a recorded rate limit lasts, else None."""
        return self._rate_limit(self._summary())

    @staticmethod
    def _rate_limit(summary: dict[str, str]) -> Text | None:
        until = summary.get("rate_limited_until")
        if until is None:
            return None
        return Text(f"Rate limited until {until}", style="bold yellow")


@dataclass
class TuiServices:
    """Everything a form screen needs from outside it."""

    config: ConfigAccess
    keys: KeyHold
    history: TestHistory
    config_path: Path
    driver_factory: DriverFactory
    message_builder: MessageBuilder
    exporter: Exporter | None = None
    inbox: InboxSource | None = None
    """The demo's sandbox inbox: the settings screen grows an Inbox tab."""
    banner: str = ""
    """A line above every screen ("DEMO: sandbox server …")."""

    async def run_test(self, request: TestRequest, on_event: Callable[[Event], None]) -> None:
        """Send the test ``request`` with the one runner (``record=False``: the app records
        it from the panel's TestFinished, and says when it cannot)."""
        from tui_mailsetup.runner import run_test

        await run_test(
            self.config.loaded,
            request.recipients,
            settings=request.settings,
            secret=request.secret,
            on_event=on_event,
            driver_factory=self.driver_factory,
            message_builder=self.message_builder,
            kind="tui",
            record=False,
        )

    def presets(self) -> tuple[Preset, ...]:
        try:
            from tui_mailsetup.presets import load_presets

            return tuple(load_presets())
        except Exception:
            return ()

    def match_preset(self, host: str) -> Preset | None:
        try:
            from tui_mailsetup.presets import match_preset

            return match_preset(host)
        except Exception:
            return None


__all__ = ["ConfigAccess", "KeyHold", "TestHistory", "TuiServices"]
