"""What the wizard and the settings screen share: the form, live validation, fixes, save and test.

The two screens differ only in how they lay the sections out (steps with
Back/Next, or tabs); everything a person does with the values happens here,
and every judgement about a value is the engine's (:mod:`tui_mailsetup.validation`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, ClassVar, cast

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.await_complete import AwaitComplete
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.css.query import NoMatches
from textual.message import Message
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Button, Footer, Header, Input, Label, Select, Static

from tui_mailsetup.drivers import SECRET_KEY_FOR_DRIVER, secret_key_for
from tui_mailsetup.engine.events import Event, Outcome
from tui_mailsetup.findings import Finding, Severity, has_errors
from tui_mailsetup.fixes import Fix
from tui_mailsetup.settings import Driver, MailSettings, field_doc, get_value
from tui_mailsetup.tui.form import (
    FIELDS,
    SECTION_BY_ID,
    SECTIONS,
    FieldSpec,
    FormState,
    Section,
    section_of,
    suggested_port,
)
from tui_mailsetup.tui.widgets.field import FieldRow

if TYPE_CHECKING:
    from tui_mailsetup.tui.app import MailSetupApp
    from tui_mailsetup.tui.widgets.diagnostics import DiagnosticsPane
    from tui_mailsetup.tui.widgets.dns_report import DnsPanel
    from tui_mailsetup.tui.widgets.review import ReviewPanel


SOURCE_WORDS = {
    "env": "the environment",
    "secrets-dir": "the secrets directory",
    "password_command": "password_command",
    "credentials-file": "the credentials file",
    "keyring": "the system keyring",
    "cli": "the command line",
    "file": "the configuration file",
}


class TestFinished(Message):
    """A test send ended (posted by the send worker)."""

    __test__ = False

    def __init__(self, outcome: Outcome) -> None:
        super().__init__()
        self.outcome = outcome


def describe_target(settings: MailSettings) -> str:
    if settings.driver is Driver.SMTP:
        return f"{settings.smtp.host}:{settings.smtp.port} ({settings.smtp.encryption.value})"
    if settings.driver is Driver.SENDMAIL:
        return settings.sendmail.path
    if settings.driver is Driver.MAILGUN:
        return f"Mailgun {settings.mailgun.domain} ({settings.mailgun.region.value})"
    return f"Amazon SES {settings.ses.region}"


class FormScreen(Screen[None]):
    """Base of the wizard and the settings screen."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "save", "Save"),
        Binding("ctrl+t", "send_test", "Test"),
        Binding("f1", "help", "Help"),
        Binding("f2", "fix", "Fix"),
        Binding("f3", "check_dns", "DNS"),
        Binding("escape", "cancel_send", "Cancel"),
        Binding("pageup", "previous_section", "Prev", priority=True),
        Binding("pagedown", "next_section", "Next", priority=True),
    ]

    def __init__(self) -> None:
        super().__init__()
        app = self.mail_app
        self.state = FormState.from_settings(app.loaded.settings, app.secret_sources())
        self.saved_raw, self.saved_secrets = self.state.snapshot()
        self.findings: list[Finding] = []
        self.settings: MailSettings | None = app.loaded.settings
        self.sending = False
        self.checking_dns = False
        self._validated = False
        self._built: set[str] = set()
        self._mounting: dict[str, AwaitComplete] = {}
        self._focus_after_mount: str | None = None
        self._sent_settings: MailSettings | None = None
        self._fix_shown = False
        self._target_section = "driver"
        """The section last asked for (focus changes may briefly activate another tab)."""

    @property
    def mail_app(self) -> MailSetupApp:
        return cast("MailSetupApp", self.app)

    # ------------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        yield Header()
        if self.mail_app.banner:
            yield Static(Text(self.mail_app.banner), id="banner")
        yield from self.compose_body()
        # Compact: every key still fits at 80 columns, even with esc while a test runs.
        yield Footer(compact=True)

    def compose_body(self) -> ComposeResult:
        raise NotImplementedError

    def build_section(self, section: Section) -> Widget:
        """The contents of one section (a wizard step or a tab), built when first shown."""
        if section.id == "review":
            # Imported here: the pane (and RichLog) stay out of the first frame's imports.
            from tui_mailsetup.tui.widgets.review import ReviewPanel

            return ReviewPanel(export_available=self.mail_app.exporter is not None, id="review")
        children: list[Widget] = []
        if section.intro:
            children.append(Static(section.intro, classes="section-intro"))
        if section.id == "server":
            children.append(self._build_detect())
            if (presets := self._build_presets()) is not None:
                children.append(presets)
        if section.id == "credentials":
            children.append(Static("", id="secret-note", classes="section-intro"))
            from tui_mailsetup.tui.widgets.oauth2_signin import SignInRow

            children.append(SignInRow())
        for spec in section.fields:
            row = FieldRow(spec, self.state.get(spec.key), source=self._source(spec.key))
            row.display = spec.applies_to(self.state.driver)
            children.append(row)
        return VerticalScroll(*children, classes="section-body", id=f"body-{section.id}")

    def _build_detect(self) -> Widget:
        address = str(self.state.get("sender.address") or "")
        return Vertical(
            Horizontal(
                Label("Detect from", classes="field-label"),
                Input(
                    address,
                    placeholder="your email address or domain",
                    compact=True,
                    id="detect-query",
                ),
                Button("Detect", compact=True, id="btn-detect"),
            ),
            Static("", id="detect-status", classes="-empty"),
            id="detect-row",
            classes="smtp-only",
        )

    def _build_presets(self) -> Widget | None:
        presets = self.mail_app.presets()
        if not presets:
            return None
        options = [(preset.name, preset.id) for preset in presets]
        return Vertical(
            Select(options, prompt="Provider preset…", compact=True, id="preset"),
            Static("", id="preset-notes", classes="-empty"),
            id="preset-row",
            classes="smtp-only",
        )

    def section_container(self, section_id: str) -> Widget:
        """The (possibly still empty) container a section's contents go in."""
        raise NotImplementedError

    def ensure_section(self, section_id: str) -> AwaitComplete | None:
        """Mount a section's contents the first time it is needed (startup stays fast)."""
        if section_id in self._built or section_id not in SECTION_BY_ID:
            return None
        self._built.add(section_id)
        container = self.section_container(section_id)
        mounting = container.mount(self.build_section(SECTION_BY_ID[section_id]))

        async def mounted() -> None:
            await mounting
            self.section_mounted(section_id)
            if self._target_section == section_id:
                pending, self._focus_after_mount = self._focus_after_mount, None
                if pending is not None and (row := self.row(pending)) is not None:
                    row.editor.focus()
                else:
                    self.focus_section(section_id)

        self._mounting[section_id] = AwaitComplete(mounted())
        return self._mounting[section_id]

    async def section_ready(self, section_id: str) -> None:
        self.ensure_section(section_id)
        if (pending := self._mounting.get(section_id)) is not None:
            await pending

    def section_mounted(self, section_id: str) -> None:
        """Bring a freshly mounted section up to date with the form."""
        self._validated = False
        self.revalidate()
        self._update_driver_visibility()
        if section_id == "credentials":
            self._update_secret_note()
        elif section_id == "review":
            self._update_recipient()
            self.show_last_result()
        elif section_id == "server":
            self._update_username_hint()

    def _source(self, key: str) -> str:
        spec = FIELDS[key]
        if spec.kind == "secret":
            return self.state.known_secrets.get(key) or ""
        return self.mail_app.loaded.sources.get(key, "")

    def on_mount(self) -> None:
        self.title = "tui-mailsetup"
        self.sub_title = str(self.mail_app.config_path)
        # Validation (and its imports) waits for the first frame: the form shows at once.
        self.call_after_refresh(self.revalidate)
        for warning in self.mail_app.loaded.warnings:
            self.notify(warning.message, severity="warning", timeout=8)
        self.after_mount()

    def after_mount(self) -> None:
        """Subclasses finish setting up here (Textual calls every class's on_mount itself)."""

    # ------------------------------------------------------------------ sections

    @property
    def section_ids(self) -> tuple[str, ...]:
        return tuple(section.id for section in SECTIONS)

    def show_section(self, section_id: str) -> None:
        raise NotImplementedError

    def current_section(self) -> str:
        raise NotImplementedError

    def action_next_section(self) -> None:
        ids = self.section_ids
        index = ids.index(self.current_section())
        if index + 1 < len(ids):
            self.show_section(ids[index + 1])

    def action_previous_section(self) -> None:
        ids = self.section_ids
        index = ids.index(self.current_section())
        if index > 0:
            self.show_section(ids[index - 1])

    def focus_section(self, section_id: str) -> None:
        """Focus the first editor of a section once it is shown."""

        for widget in self._focusables(section_id):
            widget.focus(scroll_visible=False)
            return

    def _focusables(self, section_id: str) -> Iterable[Widget]:
        if section_id == "inbox":
            yield from self.query("InboxPane")
            return
        if section_id == "review":
            try:
                yield self.query_one("#recipient", Input)
            except NoMatches:
                return
            return
        for row in self.query(f"#body-{section_id} FieldRow").results(FieldRow):
            if row.display:
                yield row.editor

    # ------------------------------------------------------------------ rows

    def row(self, key: str) -> FieldRow | None:
        try:
            return self.query_one(f"#row-{FIELDS[key].widget_id}", FieldRow)
        except (NoMatches, KeyError):
            return None

    def rows(self) -> Iterable[FieldRow]:
        return self.query(FieldRow).results(FieldRow)

    @on(FieldRow.ValueChanged)
    def _on_value_changed(self, event: FieldRow.ValueChanged) -> None:
        key = event.key
        if not self.state.set(key, event.value):
            return
        if key == "driver":
            self._update_driver_visibility()
            self._update_secret_note()
        elif key == "smtp.encryption":
            port = suggested_port(str(event.value), self.state.get("smtp.port"))
            if port is not None:
                self.set_field("smtp.port", str(port))
        elif key == "sender.address":
            self._update_recipient()
        elif key == "smtp.host":
            self._update_username_hint()
        if (key in FIELDS and FIELDS[key].kind == "secret") or key == "smtp.password_command":
            self._update_secret_note()
        self.revalidate()

    def set_field(self, key: str, value: Any) -> None:
        """Set a value from the program (a fix, a preset, a suggestion)."""
        spec = FIELDS.get(key)
        if spec is None:
            *parents, name = key.split(".")
            section = self.state.base
            for part in parents:
                section = section.setdefault(part, {})
            section[name] = value
            return
        shown = display_for(spec, value)
        self.state.set(key, shown)
        if (row := self.row(key)) is not None:
            row.set_value(shown)
        if key == "driver":
            self._update_driver_visibility()

    def _update_driver_visibility(self) -> None:
        driver = self.state.driver
        for row in self.rows():
            row.display = row.spec.applies_to(driver)
        for widget in self.query(".smtp-only"):
            widget.display = driver is Driver.SMTP

    def _update_recipient(self) -> None:
        try:
            recipient = self.query_one("#recipient", Input)
        except NoMatches:
            return
        address = str(self.state.get("sender.address") or "")
        recipient.placeholder = f"{address} (the sender)" if address else "the sender address"

    def _update_username_hint(self) -> None:
        preset = self.mail_app.match_preset(str(self.state.get("smtp.host") or ""))
        if (row := self.row("smtp.username")) is not None:
            hint = preset.username_hint if preset is not None and preset.username_hint else ""
            row.set_placeholder(hint or "empty: no login")

    def _update_secret_note(self) -> None:
        try:
            note = self.query_one("#secret-note", Static)
        except NoMatches:
            return
        driver = self.state.driver
        key = SECRET_KEY_FOR_DRIVER.get(driver)
        if key is None:
            note.update("Sendmail hands the message to a local program: no credentials here.")
            return
        if self.state.secrets.get(key):
            source = "typed here: saved to the owner-only credentials file with ctrl+s"
        elif key == "smtp.password" and str(self.state.get("smtp.password_command") or "").strip():
            source = "from password_command (run at each test)"
        else:
            known = self.state.known_secrets.get(key)
            source = (
                f"from {SOURCE_WORDS.get(known, known)}; type to replace it"
                if known
                else (
                    "not set: type it below, or set password_command"
                    if key == "smtp.password"
                    else "not set: type it below"
                )
            )
        note.update(Text(f"{FIELDS[key].label}: {source}."))

    # ------------------------------------------------------------------ validation

    def revalidate(self) -> list[Finding]:
        """Validate what is on screen with the engine's function; mark every field."""
        from tui_mailsetup.validation import evaluate

        settings, findings = evaluate(self.state.data(), secret_sources=self.state.secret_sources())
        self.settings = settings
        changed = findings != self.findings or not self._validated
        self._validated = True
        self.findings = findings
        if not changed:
            return findings
        by_key: dict[str, Finding] = {}
        for finding in findings:
            for key in finding.fields:
                by_key.setdefault(key, finding)
        for row in self.rows():
            row.show_finding(by_key.get(row.spec.key))
        with contextlib.suppress(NoMatches):
            self.review_panel().show_findings(findings)
        self.on_findings_changed(findings)
        fix_shown = self.fix_on_offer() is not None
        if fix_shown != self._fix_shown:
            # The footer shows f2 only while a fix is on offer (a footer redraw is not free).
            self._fix_shown = fix_shown
            self.refresh_bindings()
        return findings

    def on_findings_changed(self, findings: list[Finding]) -> None:
        """Subclasses mark their steps or tabs."""

    def sections_with_errors(self) -> set[str]:
        result: set[str] = set()
        for finding in self.findings:
            if finding.severity is Severity.ERROR:
                for key in finding.fields:
                    if (section := section_of(key)) is not None:
                        result.add(section.id)
        return result

    # ------------------------------------------------------------------ fixes

    @on(FieldRow.FixRequested)
    def _on_fix_requested(self, event: FieldRow.FixRequested) -> None:
        if event.row.finding is not None and event.row.finding.fix is not None:
            self.apply_fix(event.row.finding.fix)

    def fix_on_offer(self) -> tuple[Fix, bool] | None:
        """The fix F2 applies: the focused field's, else the last test's, else the first one.

        The flag says whether it came from a failed test (then "test again" follows).
        """
        row = _row_of(self.focused)
        if row is not None and row.finding is not None and row.finding.fix is not None:
            return row.finding.fix, False
        pane = self.pane
        outcome = pane.outcome if pane is not None else None
        if (
            outcome is not None
            and outcome.diagnosis is not None
            and outcome.diagnosis.fix is not None
        ):
            fix = outcome.diagnosis.fix
            if any(
                str(self.state.get(k) if k in FIELDS else "") != str(v)
                for k, v in fix.changes.items()
            ):
                return fix, True
        for finding in self.findings:
            if finding.fix is not None:
                return finding.fix, False
        return None

    def action_fix(self) -> None:
        offer = self.fix_on_offer()
        if offer is None:
            self.notify("No fix on offer here.", severity="warning")
            return
        fix, from_test = offer
        self.apply_fix(fix)
        if from_test:
            self.notify("Press ctrl+t to test again.", title=f"Applied: {fix.label}")

    def apply_fix(self, fix: Fix) -> None:
        for key, value in fix.changes.items():
            self.set_field(key, value)
        self._update_secret_note()
        self.revalidate()
        self.notify(fix.label, title="Fixed")

    @on(Input.Submitted, "#detect-query")
    @on(Button.Pressed, "#btn-detect")
    def _detect_requested(self) -> None:
        query = self.query_one("#detect-query", Input).value.strip()
        if not query:
            self.notify("Type your email address or its domain first.", severity="warning")
            return
        self.detect_worker(query)

    def _detect_status(self, text: Text | str) -> None:
        status = self.query_one("#detect-status", Static)
        status.update(text)
        status.set_class(not str(text), "-empty")

    @work(exclusive=True, exit_on_error=False, group="detect", name="detect")
    async def detect_worker(self, query: str) -> None:
        """Autodetect host, port and encryption with the engine (SRV, MX, known providers)."""
        from tui_mailsetup.engine.detect import DetectOptions, detect
        from tui_mailsetup.engine.dns import make_resolver
        from tui_mailsetup.engine.probe import Verdict

        nameservers = list(self.settings.dns.nameservers) if self.settings else []
        options = DetectOptions.from_settings(self.settings) if self.settings else None
        self._detect_status(Text(f"Looking up {query} …", style="dim"))
        try:
            detection = await detect(query, resolver=make_resolver(nameservers), options=options)
        except ValueError as exc:
            self._detect_status(Text(f"✘ {exc}", style="bold red"))
            return
        best = detection.best
        if best is None:
            problems = "; ".join(detection.problems[:3])
            self._detect_status(
                Text(
                    f"✘ {detection.cause()}" + (f" ({problems})" if problems else ""),
                    style="bold red",
                )
            )
            return
        self.set_field("smtp.host", best.host)
        self.set_field("smtp.port", best.port)
        self.set_field("smtp.encryption", best.encryption.value)
        if best.username_hint and (row := self.row("smtp.username")) is not None:
            row.set_placeholder(best.username_hint)
        status = Text("✔ ", style="bold green")
        status.append(f"{best.host}:{best.port} {best.encryption.value}, from {best.source}")
        if best.verified:
            status.append(", verified")
        elif best.probe.verdict is not Verdict.NOT_PROBED:
            status.append(f", not verified: {best.probe.detail}")
        if detection.ispdb_sent:
            status.append(f"\nAsked Thunderbird's ISPDB about {', '.join(detection.ispdb_sent)}.")
        if best.notes:
            status.append(f"\n{best.notes}", style="dim")
        self._detect_status(status)
        self.revalidate()

    @on(Select.Changed, "#preset")
    def _on_preset(self, event: Select.Changed) -> None:
        event.stop()
        if event.value is Select.NULL:
            return
        preset = next((p for p in self.mail_app.presets() if p.id == event.value), None)
        if preset is None:
            return
        for key, value in preset.settings_changes().items():
            self.set_field(key, value)
        if preset.region and self.state.driver is Driver.SES:
            self.set_field("ses.region", preset.region)
        self._update_username_hint()
        notes = preset.notes + (
            f"\nUsername: {preset.username_hint}" if preset.username_hint else ""
        )
        preset_notes = self.query_one("#preset-notes", Static)
        preset_notes.update(Text(notes.strip()))
        preset_notes.set_class(not notes.strip(), "-empty")
        self.revalidate()

    # ------------------------------------------------------------------ saving

    @property
    def dirty(self) -> bool:
        return self.state.raw != self.saved_raw or self.state.secrets != self.saved_secrets

    def action_save(self) -> None:
        self.save()

    def save(self) -> bool:
        from tui_mailsetup.config_file import ConfigError, save_settings
        from tui_mailsetup.secrets import SecretError, store_secret

        findings = self.revalidate()
        settings = self.settings
        if settings is None or has_errors(findings):
            errors = [f for f in findings if f.severity is Severity.ERROR]
            self.notify(
                f"{len(errors)} error(s) to fix first. {errors[0].field}: {errors[0].message}",
                title="Not saved",
                severity="error",
                timeout=8,
            )
            self.focus_field(errors[0].field)
            return False
        app = self.mail_app
        path = app.config_path
        loaded = app.loaded
        changed = set(self.state.changed_keys(self.saved_raw))
        keys = [
            key
            for key, source in loaded.sources.items()
            if (source == "file" or key in changed) and key not in MailSettings.SECRET_KEYS
        ]
        keys += [k for k in changed if k not in keys and k not in MailSettings.SECRET_KEYS]
        clean = _without_secrets(settings)
        try:
            save_settings(path, clean, keys)
            for key, value in self.state.secrets.items():
                if self.saved_secrets.get(key) != value:
                    store_secret(path, key, value)
        except (ConfigError, SecretError, OSError, ValueError) as exc:
            self.notify(str(exc), title="Not saved", severity="error", timeout=10)
            return False
        overridden = [k for k in changed if loaded.sources.get(k) in {"env", "secrets-dir", "cli"}]
        app.reload()
        self.saved_raw, self.saved_secrets = self.state.snapshot()
        self.state.known_secrets.update(app.secret_sources())
        for row in self.rows():
            row.set_source(self._source(row.spec.key))
        self._update_secret_note()
        self.revalidate()
        self.notify(f"Saved to {path}", title="Saved")
        if overridden:
            self.notify(
                "Still overridden by the environment: " + ", ".join(sorted(overridden)),
                severity="warning",
                timeout=8,
            )
        return True

    def focus_field(self, key: str) -> None:
        section = section_of(key)
        if section is None:
            return
        self._focus_after_mount = key
        self.show_section(section.id)
        if (row := self.row(key)) is not None:
            self._focus_after_mount = None
            row.editor.focus()

    # ------------------------------------------------------------------ test send

    def review_panel(self) -> ReviewPanel:
        """The review section's panel; NoMatches until the section is built."""
        return cast("ReviewPanel", self.query_one("#review"))

    @property
    def pane(self) -> DiagnosticsPane | None:
        try:
            return cast("DiagnosticsPane", self.query_one("#diagnostics"))
        except NoMatches:
            return None

    def recipients(self) -> list[str]:
        typed = ""
        with contextlib.suppress(NoMatches):
            typed = self.query_one("#recipient", Input).value.strip()
        address = typed or str(self.state.get("sender.address") or "").strip()
        return [address] if address else []

    def action_send_test(self) -> None:
        if self.sending:
            self.notify("A test is running; escape cancels it.", severity="warning")
            return
        findings = self.revalidate()
        settings = self.settings
        if settings is None or has_errors(findings):
            errors = [f for f in findings if f.severity is Severity.ERROR]
            self.notify(
                f"{errors[0].field}: {errors[0].message}",
                title=f"Fix {len(errors)} error(s) before testing",
                severity="error",
                timeout=8,
            )
            return
        recipients = self.recipients()
        if not recipients:
            self.notify("Set the sender address (or a recipient) first.", severity="error")
            return
        if (limited := self.mail_app.rate_limit_text()) is not None:
            self.notify(
                limited.plain + ": the server may refuse this test too.", severity="warning"
            )
        self.show_section("review")
        if (dns := self.dns_panel) is not None:
            # The transcript needs the room more than the last DNS report (f3 runs it again).
            dns.hide_report()
        self._sent_settings = settings
        self.sending = True
        self.refresh_bindings()
        self.send_worker(settings, recipients)

    @work(exclusive=True, exit_on_error=False, group="send", name="test-send")
    async def send_worker(self, settings: MailSettings, recipients: list[str]) -> None:
        await self.section_ready("review")
        pane = self.pane
        assert pane is not None
        pane.start(f"test email to {', '.join(recipients)} via {describe_target(settings)}")
        from tui_mailsetup.runner import run_test

        def on_event(event: Event) -> None:
            pane.add_event(event)
            if isinstance(event, Outcome):
                self.post_message(TestFinished(event))

        try:
            # The one runner: every failure, before a connection too, ends as an Outcome
            # in the pane, with the diagnosis the command line prints.
            await run_test(
                self.mail_app.loaded,
                recipients,
                settings=settings,
                secret=self._held_secret(settings),
                on_event=on_event,
                driver_factory=self.mail_app.driver_factory,
                message_builder=self.mail_app.message_builder,
                kind="tui",
                record=False,  # the app records it (TestFinished), and says if it cannot
            )
        except asyncio.CancelledError:
            pane.cancelled()
            self._send_ended()
            raise
        except Exception as exc:
            pane.crashed(exc)  # a bug: the runner turns every expected failure into an Outcome
        self._send_ended()

    def _send_ended(self) -> None:
        self.sending = False
        self.refresh_bindings()

    def _held_secret(self, settings: MailSettings) -> str | None:
        """The secret typed in the form, or given directly (environment); else the runner
        resolves it (password_command, credentials file, keyring)."""
        key = secret_key_for(settings)
        if key is None:
            return None
        if typed := self.state.secrets.get(key):
            return typed
        direct = get_value(self.mail_app.loaded.settings, key)
        return None if direct is None else str(direct.get_secret_value())

    def action_cancel_send(self) -> None:
        """Escape: stop a running test send, and a running DNS check."""
        if self.sending:
            self.workers.cancel_group(self, "send")
        if self.checking_dns:
            self.workers.cancel_group(self, "dns")

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "cancel_send":
            return self.sending or self.checking_dns
        if action == "check_dns":
            # Off while a send or a check runs: then esc takes its place and the footer fits 80.
            return not (self.sending or self.checking_dns)
        if action == "fix":
            # Shown in the footer only while a fix is on offer.
            return self.fix_on_offer() is not None
        return True

    @on(TestFinished)
    def _on_test_finished(self, event: TestFinished) -> None:
        self.sending = False
        self.refresh_bindings()
        self.mail_app.record_outcome(event.outcome, self._sent_settings)
        self.show_last_result()
        self.mail_app.after_test(event.outcome)
        diagnosis = event.outcome.diagnosis
        if diagnosis is not None and diagnosis.fix is not None:
            self.notify(
                f"F2: {diagnosis.fix.label}", title=diagnosis.cause, severity="warning", timeout=8
            )

    def show_last_result(self) -> None:
        try:
            panel = self.review_panel()
        except NoMatches:
            return
        pane = self.pane
        if pane is not None and pane.outcome is not None:
            panel.show_last_result(self.mail_app.rate_limit_text())
        else:
            panel.show_last_result(self.mail_app.last_result_text())

    # ------------------------------------------------------------------ sender domain DNS

    @property
    def dns_panel(self) -> DnsPanel | None:
        try:
            return cast("DnsPanel", self.query_one("#dns"))
        except NoMatches:
            return None

    def dns_settings(self) -> MailSettings:
        """The settings the DNS check uses: what is typed, even while another field has an error."""
        settings = self.settings or self.mail_app.loaded.settings
        address = str(self.state.get("sender.address") or "").strip()
        host = str(self.state.get("smtp.host") or "").strip()
        return settings.model_copy(
            update={
                "sender": settings.sender.model_copy(update={"address": address}),
                "smtp": settings.smtp.model_copy(update={"host": host}),
            }
        )

    def action_check_dns(self) -> None:
        """Check the sender domain's MX, SPF, DKIM, DMARC and MTA-STS records (f3)."""
        self.show_section("review")
        if self.checking_dns:
            self.notify("A DNS check is running; escape cancels it.", severity="warning")
            return
        settings = self.dns_settings()
        if not settings.sender.address:
            self.notify(
                "Set the sender address first: its domain is the one checked.",
                title="No sender address",
                severity="warning",
            )
            self.dns_worker(None)
            return
        self.checking_dns = True
        self.refresh_bindings()
        self.dns_worker(settings)

    @work(exclusive=True, exit_on_error=False, group="dns", name="dns-check")
    async def dns_worker(self, settings: MailSettings | None) -> None:
        """Run the engine's checks for the sender's domain and show the report."""
        try:
            await self._check_dns(settings)
        finally:
            self._dns_ended()

    async def _check_dns(self, settings: MailSettings | None) -> None:
        await self.section_ready("review")
        panel = self.dns_panel
        assert panel is not None
        if settings is None:
            panel.no_sender()
            return
        from tui_mailsetup.engine.dns import check_sender_domain, sender_domain
        from tui_mailsetup.names import host_to_ascii

        domain = sender_domain(settings)
        try:
            if not domain:
                raise ValueError("is not an address with a domain")
            domain = host_to_ascii(domain)
        except ValueError as exc:
            panel.invalid(domain or settings.sender.address, str(exc))
            return
        panel.checking(domain)
        try:
            report = await check_sender_domain(settings, domain=domain)
        except asyncio.CancelledError:
            panel.cancelled(domain)
            raise
        except Exception as exc:
            panel.crashed(domain, exc)
        else:
            panel.show_report(report)

    def _dns_ended(self) -> None:
        self.checking_dns = False
        self.refresh_bindings()

    # ------------------------------------------------------------------ buttons

    @on(Button.Pressed, "#btn-dns")
    def _dns_pressed(self) -> None:
        self.action_check_dns()

    @on(Button.Pressed, "#btn-test")
    def _test_pressed(self) -> None:
        self.action_send_test()

    @on(Button.Pressed, "#btn-save")
    def _save_pressed(self) -> None:
        self.save()

    @on(Button.Pressed, "#btn-export")
    def _export_pressed(self) -> None:
        self.action_export()

    @on(Button.Pressed, "#btn-save-log")
    def _save_log_pressed(self) -> None:
        self.action_save_transcript()

    @on(Input.Submitted, "#recipient")
    def _recipient_submitted(self) -> None:
        self.action_send_test()

    def action_export(self) -> None:
        from tui_mailsetup.tui.screens.dialogs import ExportScreen

        exporter = self.mail_app.exporter
        settings = self.settings
        if exporter is None:
            self.notify("Export is not available in this version.", severity="warning")
            return
        if settings is None:
            self.notify("Fix the errors first.", severity="error")
            return
        self.app.push_screen(
            ExportScreen(exporter, _without_secrets(settings), self.mail_app.config_path)
        )

    def action_save_transcript(self) -> None:
        from tui_mailsetup.tui.screens.dialogs import SaveTranscriptScreen

        pane = self.pane
        if pane is None or not pane.transcript_text().strip():
            self.notify("No transcript yet: ctrl+t sends a test.", severity="warning")
            return
        default = self.mail_app.config_path.with_name("transcript.txt")
        self.app.push_screen(SaveTranscriptScreen(pane.transcript_text(), default))

    # ------------------------------------------------------------------ help

    def action_help(self) -> None:
        from tui_mailsetup.tui.screens.dialogs import HelpScreen

        row = _row_of(self.focused)
        if row is None:
            self.app.push_screen(HelpScreen.general())
            return
        key = row.spec.key
        self.app.push_screen(
            HelpScreen.for_field(
                key, row.spec.label, field_doc(key), row.finding, self._source(key)
            )
        )


def display_for(spec: FieldSpec, value: Any) -> Any:
    if spec.kind == "bool":
        return bool(value)
    if spec.kind == "float" and isinstance(value, float) and value.is_integer():
        return str(int(value))
    if hasattr(value, "value") and not isinstance(value, (str, int, float)):
        return str(value.value)
    return "" if value is None else str(value)


def _row_of(widget: Widget | None) -> FieldRow | None:
    while widget is not None:
        if isinstance(widget, FieldRow):
            return widget
        parent = widget.parent
        widget = parent if isinstance(parent, Widget) else None
    return None


def _without_secrets(settings: MailSettings) -> MailSettings:
    return settings.model_copy(
        update={
            "smtp": settings.smtp.model_copy(update={"password": None}),
            "mailgun": settings.mailgun.model_copy(update={"api_key": None}),
            "ses": settings.ses.model_copy(update={"secret_access_key": None}),
        }
    )


__all__ = ["FormScreen", "TestFinished"]
