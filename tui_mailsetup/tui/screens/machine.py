""" "This machine": the local mail system behind sendmail (status, apply, test, queue).

The work is :mod:`tui_mailsetup.mta`'s, run in worker threads (the MTA tools
block); this screen shows the status, the apply diff with a confirmation,
the test message followed live, and the queue with a retry. Every line shown
is text the mta package has already sanitised, shown as plain ``Text``
(never markup), wrapped to the terminal's width.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, Footer, Label, Static

if TYPE_CHECKING:
    from textual.app import App

    from tui_mailsetup.config_file import LoadedConfig
    from tui_mailsetup.mta import MtaError
    from tui_mailsetup.settings import MailSettings
    from tui_mailsetup.tui.services import ConfigAccess


MAX_LOG_LINES = 2000
"""Lines the log keeps (a long queue listing scrolls the oldest away)."""


def machine_command(app: App[Any], config: ConfigAccess) -> SystemCommand:
    """The command palette entry that opens this screen (the app's only hook)."""
    return SystemCommand(
        "This machine",
        "The local mail system behind sendmail: status, apply these settings, test, queue",
        lambda: app.push_screen(MachineScreen(config=config)),
    )


class ConfirmApplyScreen(ModalScreen[bool]):
    """Asked before mta apply writes: the diff is already on the machine screen."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "choose(True)", "Apply"),
        Binding("escape,n", "choose(False)", "Cancel"),
    ]

    def __init__(self, summary: str) -> None:
        super().__init__(id="confirm-apply")
        self._summary = summary

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label("Apply to this machine's mail system?", classes="dialog-title")
            yield Static(self._summary, markup=False)
            with Horizontal(classes="dialog-buttons"):
                yield Button("Apply (y)", id="apply", variant="primary", compact=True)
                yield Button("Cancel (esc)", id="cancel", compact=True)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#cancel", Button).focus()

    def action_choose(self, choice: bool) -> None:
        self.dismiss(choice)

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "apply")


class MachineScreen(Screen[None]):
    """``MachineScreen(config, mta=None, config_dir=None, sendmail=None)``: None means detect /
    default; ``config`` is the app's configuration (``TuiServices.config``)."""

    DEFAULT_CSS = """
    MachineScreen #machine-status-box { height: auto; max-height: 45%; padding: 0 1; }
    /* In the flow, under the status (a dialog's buttons dock at the bottom: here they lay
       under the footer and could not be seen). */
    MachineScreen #machine-buttons { height: 1; margin: 1 0 0 1; }
    MachineScreen #machine-buttons Button { width: auto; min-width: 0; margin: 0 2 0 0; }
    /* Focused: another line, not only another colour (NO_COLOR, TERM=linux). */
    MachineScreen #machine-log:focus { border: heavy $accent; }
    MachineScreen #machine-status-box { border-left: blank; }
    MachineScreen #machine-status-box:focus { border-left: outer $accent; }
    MachineScreen #machine-log { height: 1fr; border: round $primary; }
    """
    # The footer is compact and its words short: with the app's ctrl+q (shown first) every
    # key fits at 80 columns, and Quit still shows at 60 (the rest is cut from the right).
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Back"),
        Binding("a", "preview_apply", "Apply"),
        Binding("t", "test", "Test"),
        Binding("r", "refresh_status", "Status"),
        Binding("u", "show_queue", "Queue"),
        Binding("y", "retry_queue", "Retry"),
    ]

    def __init__(
        self,
        *,
        config: ConfigAccess,
        mta: str | None = None,
        config_dir: Path | None = None,
        sendmail: Path | None = None,
        timeout: float = 60.0,
    ) -> None:
        super().__init__(id="machine-screen")
        self.config = config
        self.mta = mta
        self.config_dir = config_dir
        self.sendmail = sendmail
        self.timeout = timeout
        self.log_lines: list[str] = []
        """Every line written to the log, as plain text (what a person reads there)."""

    def compose(self) -> ComposeResult:
        yield Label(
            "This machine's mail system (what cron and PHP's mail() use)", classes="dialog-title"
        )
        with VerticalScroll(id="machine-status-box"):
            yield Static("Reading the mail system…", id="machine-status", markup=False)
        with Horizontal(id="machine-buttons"):
            yield Button("Status", id="status", compact=True)
            yield Button("Apply…", id="apply", variant="primary", compact=True)
            yield Button("Test", id="test", compact=True)
            yield Button("Queue", id="queue", compact=True)
            yield Button("Retry", id="retry", compact=True)
            yield Button("Back", id="back", compact=True)
        # Wrapped, and again when the terminal is resized: an apply refusal is a long
        # sentence, and it was cut even at 120 columns.
        with VerticalScroll(id="machine-log"):
            yield Static("", id="machine-log-text", markup=False)
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        if self.config.config_ready:
            self.action_refresh_status()
        else:  # opened right at start: the configuration loads after the first frame
            self.run_worker(self._status_once_loaded(), exit_on_error=False)

    async def _status_once_loaded(self) -> None:
        await self.config.wait_for_config()
        self.action_refresh_status()

    # ------------------------------------------------------------------ helpers

    @property
    def loaded(self) -> LoadedConfig | None:
        return self.config.loaded if self.config.config_ready else None

    def _settings(self) -> MailSettings:
        from tui_mailsetup.mta import MtaError

        if self.loaded is None:
            raise MtaError("no configuration is loaded")
        return self.loaded.settings

    def _log(self, *lines: str) -> None:
        self.log_lines.extend(lines)
        del self.log_lines[:-MAX_LOG_LINES]
        # Plain text: the mta package sanitised it; never markup.
        self.query_one("#machine-log-text", Static).update(Text("\n".join(self.log_lines)))
        self.query_one("#machine-log", VerticalScroll).scroll_end(animate=False)

    def _log_from_thread(self, *lines: str) -> None:
        self.app.call_from_thread(self._log, *lines)

    def _report_error(self, error: MtaError) -> None:
        self._log_from_thread(f"error: {error}", *(f"    {line}" for line in error.lines))

    def _run(self, job: Callable[[], None]) -> None:
        from tui_mailsetup.mta import MtaError

        try:
            job()
        except MtaError as exc:
            self._report_error(exc)
        except OSError as exc:
            self._log_from_thread(f"error: {exc.strerror or exc}")

    def _backend(self) -> Any:
        from tui_mailsetup.mta.status import backend_for, provider_for

        provider = provider_for(self.mta, self.sendmail)
        return provider, backend_for(provider.name, self.config_dir, action="This machine")

    # ------------------------------------------------------------------ actions

    def action_close(self) -> None:
        self.app.pop_screen()

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        actions: dict[str, Callable[[], object]] = {
            "status": self.action_refresh_status,
            "apply": self.action_preview_apply,
            "test": self.action_test,
            "queue": self.action_show_queue,
            "retry": self.action_retry_queue,
            "back": self.action_close,
        }
        action = actions.get(event.button.id or "")
        if action is not None:
            action()

    @work(thread=True, exclusive=True, group="mta-status", exit_on_error=False)
    def action_refresh_status(self) -> None:
        from tui_mailsetup.mta.status import machine_status, provider_for, status_lines

        loaded = self.loaded
        document = machine_status(
            provider_for(self.mta, self.sendmail),
            self.config_dir,
            loaded.settings if loaded is not None else None,
        )
        text = "\n".join(status_lines(document))
        # The widget is looked up on the app's thread too, not only updated there.
        self.app.call_from_thread(self._show_status, text)

    def _show_status(self, text: str) -> None:
        self.query_one("#machine-status", Static).update(text)

    @work(thread=True, exclusive=True, group="mta", exit_on_error=False)
    def action_preview_apply(self) -> None:
        def job() -> None:
            from tui_mailsetup.mta.status import password_for

            settings = self._settings()
            _, backend = self._backend()
            assert self.loaded is not None
            plan = backend.plan(settings, password_for(self.loaded))
            if not plan.changes:
                self._log_from_thread(f"{backend.name}: already configured; nothing to apply")
                return
            self._log_from_thread(*plan.diff, *(f"note: {n}" for n in plan.notes))
            summary = (
                f"{len([d for d in plan.diff if d[:1] in '+-' and d[:3] not in ('+++', '---')])} "
                f"changed line(s) for {backend.name} in {backend.config_dir} (the diff is shown "
                "behind this dialog). A backup is kept; 'mta revert' restores it."
            )
            self.app.call_from_thread(
                self.app.push_screen, ConfirmApplyScreen(summary), self._confirmed(backend, plan)
            )

        self._run(job)

    def _confirmed(self, backend: Any, plan: Any) -> Callable[[bool | None], None]:
        def decided(choice: bool | None) -> None:
            if choice:
                self._apply(backend, plan)
            else:
                self._log("not applied")

        return decided

    @work(thread=True, exclusive=True, group="mta", exit_on_error=False)
    def _apply(self, backend: Any, plan: Any) -> None:
        def job() -> None:
            from tui_mailsetup.mta import require_root

            require_root("Applying")
            self._log_from_thread(*backend.apply(plan))

        self._run(job)
        self.action_refresh_status()

    @work(thread=True, exclusive=True, group="mta", exit_on_error=False)
    def action_test(self) -> None:
        def job() -> None:
            from tui_mailsetup.mta.follow import send_and_follow

            settings = self._settings()
            _, backend = self._backend()

            def progress(text: str) -> None:
                self._log_from_thread(f"** {text}")

            result = send_and_follow(
                backend,
                settings,
                settings.sender.address.strip(),
                sendmail=self.sendmail,
                timeout=self.timeout,
                progress=progress,
            )
            if result.ok:
                self._log_from_thread(f"OK: delivered to the relay {result.relay}: {result.reply}")
                return
            diagnosis = result.diagnosis
            lines = [f"FAILED ({result.status})"]
            if diagnosis is not None:
                lines = [f"FAILED at {diagnosis.stage.label}: {diagnosis.cause}"]
                lines += [f"  evidence: {diagnosis.evidence}"] if diagnosis.evidence else []
                lines += [f"  why: {diagnosis.explanation}"] if diagnosis.explanation else []
                if diagnosis.fix is not None:
                    lines.append(f"  fix: {diagnosis.fix.label}")
            self._log_from_thread(*lines)

        self._run(job)
        self.action_refresh_status()

    @work(thread=True, exclusive=True, group="mta", exit_on_error=False)
    def action_show_queue(self) -> None:
        self._run(lambda: self._queue(retry=False))

    @work(thread=True, exclusive=True, group="mta", exit_on_error=False)
    def action_retry_queue(self) -> None:
        self._run(lambda: self._queue(retry=True))

    def _queue(self, *, retry: bool) -> None:
        from tui_mailsetup.mta.postfix import Postfix
        from tui_mailsetup.mta.status import queue_lines

        _, backend = self._backend()
        if not isinstance(backend, Postfix):
            self._log_from_thread("msmtp delivers at once and keeps no queue")
            return
        if retry:
            backend.flush()
            self._log_from_thread("asked Postfix to retry every queued message now")
        loaded = self.loaded
        self._log_from_thread(*queue_lines(backend.queue(), loaded.settings if loaded else None))
