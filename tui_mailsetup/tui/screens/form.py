"""What the wizard and the settings screen share: the form, live validation, fixes, save and test.

The two screens differ only in how they lay the sections out (steps with
Back/Next, or tabs); everything a person does with the values happens here,
and every judgement about a value is the engine's (:mod:`tui_mailsetup.validation`).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar, cast

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.await_complete import AwaitComplete
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.css.query import NoMatches
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Button, Footer, Header, Input, Static

from tui_mailsetup.findings import Finding, Severity, has_errors
from tui_mailsetup.fixes import Fix
from tui_mailsetup.tui.first_frame import FirstResumeScreen
from tui_mailsetup.tui.form import (
    FIELDS,
    FORM_SECRET_KEYS,
    SECTION_BY_ID,
    SECTIONS,
    FieldSpec,
    FormState,
    Section,
    section_of,
    suggested_port,
)
from tui_mailsetup.tui.widgets.dns_report import DnsPanel
from tui_mailsetup.tui.widgets.field import FieldRow
from tui_mailsetup.tui.widgets.server_helpers import DetectRow, PresetRow

W = TypeVar("W", bound=Widget)

_SEVERITY_RANK = ("information", "warning", "error")

PASSWORD_KEYS = frozenset({"smtp.password", "smtp.password_command"})
"""The rows hidden when auth is xoauth2: a sign-in logs in, not a password."""

# The settings model, the engine's events and the drivers are imported where they are
# used: the first frame is drawn before they are loaded (see MailSetupApp).
if TYPE_CHECKING:
    from tui_mailsetup.engine.events import Event, Outcome
    from tui_mailsetup.settings import MailSettings
    from tui_mailsetup.tui.app import MailSetupApp
    from tui_mailsetup.tui.widgets.diagnostics import DiagnosticsPane
    from tui_mailsetup.tui.widgets.review import ReviewPanel


def source_words(source: str) -> str:
    """Where a value came from, in a sentence ("the environment")."""
    from tui_mailsetup.config_file import ValueSource

    try:
        return ValueSource(source).phrase
    except ValueError:
        return source


class TestFinished(Message):
    """A test send ended (posted by the send worker)."""

    __test__ = False

    def __init__(self, outcome: Outcome) -> None:
        super().__init__()
        self.outcome = outcome


def describe_target(settings: MailSettings) -> str:
    from tui_mailsetup.settings import Driver

    if settings.driver is Driver.SMTP:
        return f"{settings.smtp.host}:{settings.smtp.port} ({settings.smtp.encryption.value})"
    if settings.driver is Driver.SENDMAIL:
        return settings.sendmail.path
    if settings.driver is Driver.MAILGUN:
        return f"Mailgun {settings.mailgun.domain} ({settings.mailgun.region.value})"
    if settings.driver is Driver.GRAPH:
        return f"Microsoft Graph as {settings.graph.mailbox or settings.sender.address}"
    return f"Amazon SES {settings.ses.region}"


class FormScreen(FirstResumeScreen):
    """Base of the wizard and the settings screen."""

    BINDINGS: ClassVar[list[BindingType]] = [
        # Quit first: the footer cuts from the right, and quitting must always show.
        Binding("ctrl+q", "app.request_quit", "Quit"),
        Binding("ctrl+s", "save", "Save"),
        Binding("ctrl+t", "send_test", "Test"),
        Binding("f1", "help", "Help"),
        Binding("f2", "fix", "Fix"),
        # Zoom before DNS: the footer cuts from the right, and at 60 columns f4 (the whole
        # verdict) must stay in view. Priority bindings come first in the footer whatever
        # their place here: pgup is left to f1's list (pgdn shows the way), for the room.
        Binding("f4", "zoom_verdict", "Zoom"),
        Binding("f3", "check_dns", "DNS"),
        Binding("escape", "cancel_send", "Cancel"),
        Binding("pageup", "previous_section", "Prev", priority=True, show=False),
        Binding("pagedown", "next_section", "Next", priority=True),
    ]

    def __init__(self) -> None:
        super().__init__()
        app = self.mail_app
        self.settings: MailSettings | None = None
        if app.config_ready:
            self._take_config()
        else:
            # The first frame: the driver as the file has it, the rest once loaded.
            peek = app.peek
            driver = peek.text("driver").lower() if peek is not None else ""
            self.state = FormState.provisional(driver)
            self.saved_raw, self.saved_secrets = self.state.snapshot()
            self.saved_base: dict[str, Any] = {}
            self.disk_values: dict[str, Any] | None = None
        self.findings: list[Finding] = []
        self._prebuilding = False
        self.sending = False
        self.checking_dns = False
        self._validated = False
        self._built: set[str] = set()
        self._mounting: dict[str, AwaitComplete] = {}
        self._focus_after_mount: str | None = None
        self._sent_settings: MailSettings | None = None
        self._fix_shown = False
        self._status_batch: Text | None = None
        self._status_severity = "information"
        self._target_section = "driver"
        """The section last asked for (focus changes may briefly activate another tab)."""

    @property
    def focus_chain(self) -> list[Widget]:
        """Tab order is the form's order (DOM order), known before a section is laid out.

        Textual sorts by where widgets are drawn, which is unknown for a section
        just shown; a Tab typed right after ``pgdn`` then went to the wrong field.
        """
        chain: list[Widget] = []

        def walk(node: Widget, visible: bool) -> None:
            for child in node.displayed_children:
                if child._check_disabled():
                    continue
                rule = child.styles.get_rule("visibility")
                shown = rule != "hidden" if rule else visible
                if shown and child.allow_focus():
                    chain.append(child)
                if child.is_container and child.allow_focus_children():
                    walk(child, shown)

        walk(self, self.visible)
        return chain

    @property
    def mail_app(self) -> MailSetupApp:
        return cast("MailSetupApp", self.app)

    # ------------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        yield Header()
        if self.mail_app.banner:
            yield Static(Text(self.mail_app.banner), id="banner")
        yield from self.compose_body()
        yield Static("", id="status-line")
        # Compact: every key still fits at 80 columns, even with esc while a test runs.
        yield Footer(compact=True, show_command_palette=False)

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
            row.display = spec.applies_to(self.state.driver_name)
            children.append(row)
        # Not a Tab stop: focus on the scroll area itself showed nothing and typing went nowhere.
        return VerticalScroll(
            *children, classes="section-body", id=f"body-{section.id}", can_focus=False
        )

    def _build_detect(self) -> Widget:
        from tui_mailsetup.tui.widgets.server_helpers import DetectRow

        row = DetectRow(
            str(self.state.get("sender.address") or ""), id="detect-row", classes="smtp-only"
        )
        row.nameservers = list(self.settings.dns.nameservers) if self.settings else []
        row.settings = self.settings
        return row

    def _build_presets(self) -> Widget | None:
        from tui_mailsetup.tui.widgets.server_helpers import PresetRow

        presets = self.mail_app.presets()
        if not presets:
            return None
        return PresetRow(presets, id="preset-row", classes="smtp-only")

    def section_container(self, section_id: str) -> Widget:
        """The (possibly still empty) container a section's contents go in."""
        raise NotImplementedError

    def ensure_section(self, section_id: str) -> AwaitComplete | None:
        """Mount a section's contents the first time it is needed (startup stays fast)."""
        if section_id in self._built or section_id not in SECTION_BY_ID:
            return None
        self._built.add(section_id)
        container = self.section_container(section_id)
        app = self.mail_app
        # Before the configuration is loaded (right after the first frame) the section
        # waits for it: its fields show the loaded values, never the defaults.
        mounting = (
            container.mount(self.build_section(SECTION_BY_ID[section_id]))
            if app.config_ready
            else None
        )

        async def mounted() -> None:
            if mounting is None:
                await app.wait_for_config()
                await container.mount(self.build_section(SECTION_BY_ID[section_id]))
            else:
                await mounting
            self.section_mounted(section_id)
            if self._target_section == section_id:
                # A late focus event may have shown another section meanwhile.
                self.reveal_section(section_id)
                pending, self._focus_after_mount = self._focus_after_mount, None
                if pending is not None and (row := self.row(pending)) is not None:
                    self.set_focus(row.editor)
                else:
                    self.focus_section(section_id)

        self._mounting[section_id] = AwaitComplete(mounted())
        # Keys typed meanwhile wait, then go to the section's first field, in order.
        self.mail_app.keys.hold(self._mounting[section_id])
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

    def _take_config(self) -> None:
        app = self.mail_app
        self.state = FormState.from_settings(app.loaded.settings, app.secret_sources())
        self.saved_raw, self.saved_secrets = self.state.snapshot()
        self.saved_base = copy.deepcopy(self.state.base)
        self.settings = app.loaded.settings
        self.disk_values = self._read_disk()
        self._follow_oauth2_provider(loading=True)
        """What the file held when the form took its values: ctrl+s compares the file with it
        to find the keys someone else changed meanwhile (None: it could not be read)."""

    def _read_disk(self) -> dict[str, Any] | None:
        from tui_mailsetup.config_file import file_values
        from tui_mailsetup.errors import MailSetupError

        try:
            return file_values(self.mail_app.config_path)
        except (MailSetupError, OSError):
            return None

    def _source(self, key: str) -> str:
        if not self.mail_app.config_ready:
            return ""
        spec = FIELDS[key]
        if spec.kind == "secret":
            return self.state.known_secrets.get(key) or ""
        return self.mail_app.loaded.sources.get(key, "")

    def on_mount(self) -> None:
        self.title = "tui-mailsetup"
        self.sub_title = str(self.mail_app.config_path)
        # The other sections are built right after the first frame, all at once, and keys
        # wait for them: a key typed after pgdn never meets a section still being built.
        self._prebuilt: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.mail_app.keys.hold(self._prebuilt)
        self.after_mount()
        self._first_mount_done = True
        if self.mail_app.config_ready:
            self._start()
        # Else the app loads the configuration after the first frame, then calls config_loaded.

    def config_loaded(self) -> None:
        """The configuration has been loaded (after the first frame): fill the values in."""
        self._take_config()
        for row in list(self.rows()):
            if row.is_mounted and row.query(f"#{row.spec.widget_id}"):
                row.set_value(self.state.get(row.spec.key))
                row.set_source(self._source(row.spec.key))
        self._update_driver_visibility()
        self.after_load()
        self._start()

    @property
    def built_all(self) -> bool:
        """Every section is built (right after the first frame; keys wait for it)."""
        return self._prebuilt.done()

    def release_keys(self) -> None:
        """This screen is being replaced: keys no longer wait for its sections."""
        if not self._prebuilt.done():
            self._prebuilt.set_result(None)

    def _start(self) -> None:
        # Validation (and its imports) waits for the frame with the values: it shows at once.
        self.call_after_refresh(self.revalidate)
        # A moment after that frame, so that it is painted (and read) before the work.
        self.call_after_refresh(self.set_timer, 0.05, self._prebuild)
        for warning in self.mail_app.loaded.warnings:
            self.notify(warning.message, severity="warning", timeout=8)

    def after_load(self) -> None:
        """Subclasses show what needed the loaded configuration (the home screen's summary)."""

    def _prebuild(self) -> None:
        self._prebuilding = True
        pending = [
            mounting
            for section_id in self.section_ids
            if (mounting := self.ensure_section(section_id)) is not None
        ]

        def built(_: object = None) -> None:
            if not self._prebuilt.done():
                self._prebuilt.set_result(None)

        if not pending:
            built()
            return
        AwaitComplete(*pending)._future.add_done_callback(built)

    def after_mount(self) -> None:
        """Subclasses finish setting up here (Textual calls every class's on_mount itself)."""

    # ------------------------------------------------------------------ messages

    def show_status(self, message: str, *, title: str, severity: str, timeout: float) -> None:
        """A message on its own row above the footer (toasts covered the verdict and the actions).

        It stays until the next thing the person does (a value typed or chosen, another
        section, another message): "saved", "fixed", "pinned" and the reason a key did
        nothing are read after the fact. ``timeout`` is ignored for that reason. Messages
        from one action (saved, then "still overridden") are shown together.
        """
        line = self.query_one("#status-line", Static)
        mark = {"error": "✘ ", "warning": "! "}.get(severity, "✔ ")
        style = {"error": "bold red", "warning": "bold yellow"}.get(severity, "green")
        text = Text(mark, style=style)
        if title:
            text.append(f"{title}: ", style="bold")
        text.append(message)
        if self._status_batch is not None:
            # Another message of the same action: both stay in view, the worst one sets the mark.
            text = Text("\n").join([self._status_batch, text])
            severity = max(severity, self._status_severity, key=_SEVERITY_RANK.index)
        else:
            self.call_after_refresh(self._close_status_batch)
        self._status_batch = text
        self._status_severity = severity
        line.update(text)
        line.set_class(True, "-shown")
        line.set_class(severity == "error", "-error")

    def _close_status_batch(self) -> None:
        self._status_batch = None

    def clear_status(self) -> None:
        """The person did something else: the last message has been read."""
        self._status_batch = None
        with contextlib.suppress(NoMatches):
            self.query_one("#status-line", Static).set_class(False, "-shown")

    # ------------------------------------------------------------------ sections

    @property
    def section_ids(self) -> tuple[str, ...]:
        return tuple(section.id for section in SECTIONS)

    def show_section(self, section_id: str) -> None:
        raise NotImplementedError

    def current_section(self) -> str:
        raise NotImplementedError

    def reveal_section(self, section_id: str) -> None:
        """Show a section that is already built, without moving focus."""

    def action_next_section(self) -> None:
        self.clear_status()
        ids = self.section_ids
        index = ids.index(self.current_section())
        if index + 1 < len(ids):
            self.show_section(ids[index + 1])

    def action_previous_section(self) -> None:
        self.clear_status()
        ids = self.section_ids
        index = ids.index(self.current_section())
        if index > 0:
            self.show_section(ids[index - 1])

    def focus_section(self, section_id: str) -> None:
        """Focus the first editor of a section once it is shown."""

        for widget in self._focusables(section_id):
            # Now, not after the next message: the keys that follow must land here.
            self.set_focus(widget, scroll_visible=False)
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
        self.apply_value(event.key, event.value)

    def sync_rows(self) -> None:
        """Take every editor's value now (its Changed message may still be on its way).

        Keys are delivered at once (see :mod:`tui_mailsetup.tui.keys`): ctrl+s typed
        right after a burst must save what the burst typed.
        """
        for row in list(self.rows()):
            if not row.is_mounted or not row.query(f"#{row.spec.widget_id}"):
                continue
            if row.value != self.state.get(row.spec.key):
                self.apply_value(row.spec.key, row.value)

    def apply_value(self, key: str, value: Any) -> None:
        """A value the person typed or chose."""
        if not self.state.set(key, value):
            return
        self.clear_status()
        if key == "driver":
            self._update_driver_visibility()
            self._update_secret_note()
        elif key == "smtp.encryption":
            port = suggested_port(str(value), self.state.get("smtp.port"))
            if port is not None:
                self.set_field("smtp.port", str(port))
        elif key == "sender.address":
            self._update_recipient()
        elif key == "smtp.host":
            self._update_username_hint()
            self._follow_oauth2_provider()
        elif key == "smtp.auth":
            self._follow_oauth2_provider()
            self._update_driver_visibility()
            self._update_secret_note()
        if (key in FIELDS and FIELDS[key].kind == "secret") or key == "smtp.password_command":
            self._update_secret_note()
        self.revalidate()

    @property
    def uses_oauth2(self) -> bool:
        """auth = xoauth2 on SMTP: a sign-in, not a password, logs in."""
        return self.state.driver_name == "smtp" and str(self.state.get("smtp.auth")) == "xoauth2"

    def _follow_oauth2_provider(self, *, loading: bool = False) -> None:
        """With xoauth2, the sign-in's provider is the host's (Google for Gmail and Workspace,
        Microsoft for Office 365 and Outlook): the default (microsoft) stayed for Gmail.

        Set in the form, written by ctrl+s like any change. At load only a provider the file
        does not name follows; ``custom`` (a provider of one's own) is never replaced.
        """
        if not self.uses_oauth2:
            return
        preset = self.mail_app.match_preset(str(self.state.get("smtp.host") or ""))
        if preset is None or not preset.oauth2:
            return
        oauth2 = self.state.base.get("oauth2", {})
        if oauth2.get("provider") in {preset.oauth2, "custom"}:
            return
        if loading and self.mail_app.loaded.sources.get("oauth2.provider", "default") != "default":
            return
        self.set_field("oauth2.provider", preset.oauth2)
        if preset.oauth2_tenant and not oauth2.get("tenant"):
            self.set_field("oauth2.tenant", preset.oauth2_tenant)

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
        driver = self.state.driver_name
        # With OAuth2 no password is used: its rows would only ask for one.
        hidden = PASSWORD_KEYS if self.uses_oauth2 else frozenset()
        for row in self.rows():
            row.display = row.spec.applies_to(driver) and row.spec.key not in hidden
        for widget in self.query(".smtp-only"):
            widget.display = driver == "smtp"

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
        from tui_mailsetup.drivers import SECRET_KEY_FOR_DRIVER

        driver = self.state.driver
        key = FORM_SECRET_KEYS.get(driver) or SECRET_KEY_FOR_DRIVER.get(driver)
        if key is None:
            note.update("Sendmail hands the message to a local program: no credentials here.")
            return
        if self.uses_oauth2:
            from tui_mailsetup.tui.widgets.oauth2_signin import PROVIDER_NAMES

            provider = str(self.state.base.get("oauth2", {}).get("provider") or "")
            name = PROVIDER_NAMES.get(provider, provider or "the provider")
            note.update(
                Text(
                    f"OAuth2: no password. Sign in with {name} below; the tokens go to the "
                    "owner-only credentials file."
                )
            )
            return
        if self.state.secrets.get(key):
            source = "typed here: saved to the owner-only credentials file with ctrl+s"
        elif key == "smtp.password" and str(self.state.get("smtp.password_command") or "").strip():
            source = "from password_command (run at each test)"
        else:
            known = self.state.known_secrets.get(key)
            source = (
                f"from {source_words(known)}; type to replace it"
                if known
                else (
                    "not set: type it below, or set password_command"
                    if key == "smtp.password"
                    else "not set: type it below"
                )
            )
        text = Text(f"{FIELDS[key].label}: {source}.")
        if not self.state.secrets.get(key) and source.startswith("not set"):
            from tui_mailsetup.secrets import credentials_problem

            if problem := credentials_problem(self.mail_app.config_path):
                # Say why the stored one is not used, and the command that fixes it.
                text.append(f"\n{problem}", style="bold red")
        note.update(text)

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
        # One message per finding: under its first field; the others are marked and refer to it.
        told: dict[int, str] = {}
        for row in self.rows():
            found = by_key.get(row.spec.key)
            if found is None:
                row.show_finding(None)
                continue
            first = told.setdefault(id(found), row.spec.label)
            row.show_finding(found, see=None if first == row.spec.label else first)
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
        self.sync_rows()
        offer = self.fix_on_offer()
        if offer is None:
            self.notify("No fix on offer here.", severity="warning")
            return
        fix, from_test = offer
        self.apply_fix(fix)
        if from_test and "smtp.fingerprint" not in fix.changes:
            self.notify("Press ctrl+t to test again.", title=f"Applied: {fix.label}")

    def apply_fix(self, fix: Fix) -> None:
        pin = str(fix.changes.get("smtp.fingerprint") or "")
        if pin and pin != str(self.state.get("smtp.fingerprint") or ""):
            self._confirm_pin(fix, pin)
            return
        self._apply_fix(fix)

    def _confirm_pin(self, fix: Fix, fingerprint: str) -> None:
        """Pinning is a decision: show the certificate, offer its CA file first when it has one."""
        from tui_mailsetup.tui.screens.dialogs import PinConfirmScreen

        pane = self.pane
        tls = pane.tls if pane is not None else None

        def decided(choice: str | None) -> None:
            if choice == "pin":
                self._apply_fix(fix)
                self.notify("Press ctrl+t to test again.", title="Certificate pinned")
            elif choice == "ca-file":
                # After the dialog has gone: the screen gets its focus back first.
                self.call_after_refresh(self.focus_field, "smtp.ca_file")
                self.notify(
                    "Type the path of the authority's certificate (PEM), then ctrl+t.",
                    title="CA file",
                )

        self.app.push_screen(PinConfirmScreen(fingerprint, tls), decided)

    def _apply_fix(self, fix: Fix) -> None:
        for key, value in fix.changes.items():
            self.set_field(key, value)
        self._update_secret_note()
        self.revalidate()
        self.notify(fix.label, title="Fixed")

    @on(DetectRow.Detected)
    def _detected(self, event: DetectRow.Detected) -> None:
        best = event.candidate
        self.set_field("smtp.host", best.host)
        self.set_field("smtp.port", best.port)
        self.set_field("smtp.encryption", best.encryption.value)
        self._follow_oauth2_provider()
        if best.username_hint and (row := self.row("smtp.username")) is not None:
            row.set_placeholder(best.username_hint)
        self._fill_identity(event.query, best.preset_id, best.username_hint)
        self.revalidate()

    def _fill_identity(self, query: str, preset_id: str, username_hint: str) -> None:
        """Detect from an address also types the username and the sender (empty fields only)."""
        if "@" not in query:
            return
        preset = next((p for p in self.mail_app.presets() if p.id == preset_id), None)
        username = ""
        if preset is not None and preset.username:
            username = preset.username
        elif not username_hint or "address" in username_hint.lower():
            # "your full … address", or no convention known: the address is the usual login.
            username = query
        if username and not str(self.state.get("smtp.username") or "").strip():
            self.set_field("smtp.username", username)
        if not str(self.state.get("sender.address") or "").strip():
            self.set_field("sender.address", query)
            self._update_recipient()

    @on(PresetRow.Chosen)
    def _on_preset(self, event: PresetRow.Chosen) -> None:
        preset = event.preset
        for key, value in preset.settings_changes().items():
            self.set_field(key, value)
        if preset.region and self.state.driver_name == "ses":
            self.set_field("ses.region", preset.region)
        self._update_username_hint()
        self._follow_oauth2_provider()
        self._update_driver_visibility()
        self._update_secret_note()
        self.revalidate()

    # ------------------------------------------------------------------ saving

    def _base_changes(self) -> dict[str, tuple[Any, Any]]:
        """Keys without a field of their own (``oauth2.client_id``, …) that a fix, a preset or
        the sign-in set since the last save: ``{key: (before, after)}``."""
        from tui_mailsetup.config_file import flatten

        before, after = flatten(self.saved_base), flatten(self.state.base)
        return {
            key: (before.get(key), value)
            for key, value in after.items()
            if key not in FIELDS and before.get(key) != value
        }

    def person_changed_keys(self) -> list[str]:
        """The keys changed in this TUI since the last save, secrets apart: all ctrl+s writes."""
        from tui_mailsetup.settings import MailSettings

        keys = [k for k in self.state.changed_keys(self.saved_raw)]
        keys += [k for k in self._base_changes() if k not in keys]
        return [k for k in keys if k not in MailSettings.SECRET_KEYS]

    def describe_changes(self) -> list[str]:
        """What changed since the last save, one line each; secrets by name only."""
        self.sync_rows()
        lines = []
        for key in self.state.changed_keys(self.saved_raw):
            before, after = self.saved_raw.get(key), self.state.raw.get(key)
            lines.append(f"{key}: {_shown(before)} → {_shown(after)}")
        for key, (before, after) in self._base_changes().items():
            lines.append(f"{key}: {_shown(before)} → {_shown(after)}")
        for key, value in self.state.secrets.items():
            if self.saved_secrets.get(key) != value:
                lines.append(f"{key}: typed (saved to the credentials file)")
        return lines

    @property
    def dirty(self) -> bool:
        self.sync_rows()
        return (
            self.state.raw != self.saved_raw
            or self.state.secrets != self.saved_secrets
            or bool(self._base_changes())
        )

    def action_save(self) -> None:
        self.save()

    def _changed_underneath(self, now: dict[str, Any]) -> set[str]:
        """The keys whose value in the file differs from what it held when the form loaded it."""
        before = self.disk_values
        if before is None:
            return set()
        return {k for k in before.keys() | now.keys() if before.get(k) != now.get(k)}

    def save(self, resolved: tuple[str, dict[str, Any]] | None = None) -> bool:
        """ctrl+s: write the keys changed here, and only those; keep what others wrote meanwhile.

        When the file changed on disk since it was loaded, the keys changed there and not here
        are kept (the form then shows the file's values); a key changed on both sides is a
        conflict: a dialog shows both values and the person keeps theirs or takes the file's
        (``resolved`` is that choice, with the file's values the dialog showed).
        """
        from tui_mailsetup import files
        from tui_mailsetup.config_file import file_values, flatten, save_settings
        from tui_mailsetup.errors import MailSetupError
        from tui_mailsetup.secrets import store_secret

        self.sync_rows()
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
        mine = self.person_changed_keys()
        clean = _without_secrets(settings)
        ours = flatten(clean.model_dump(mode="json"))
        conflicts: dict[str, Any] = {}
        try:
            # One lock from reading the file to writing it: no other writer comes in between.
            with files.locked(path):
                now = file_values(path)
                underneath = self._changed_underneath(now)
                conflicts = {
                    k: now.get(k) for k in mine if k in underneath and now.get(k) != ours.get(k)
                }
                choice, seen = resolved if resolved is not None else ("", {})
                asking = bool(conflicts) and (
                    choice not in {"mine", "theirs"}
                    or any(k not in seen or seen[k] != v for k, v in conflicts.items())
                )
                if not asking:
                    keys = [k for k in mine if not (choice == "theirs" and k in conflicts)]
                    save_settings(path, clean, keys)
                    for key, value in self.state.secrets.items():
                        if self.saved_secrets.get(key) != value:
                            store_secret(path, key, value)
                    written = file_values(path)
        except (MailSetupError, OSError, ValueError) as exc:
            # Any refusal of the file layer (a file or directory not safe to write, …) included.
            self.notify(str(exc), title="Not saved", severity="error", timeout=10)
            return False
        if asking:
            self._ask_about_conflicts(conflicts, ours, sorted(underneath - set(mine)))
            return False
        overridden = [k for k in mine if loaded.sources.get(k) in {"env", "secrets-dir", "cli"}]
        app.reload()
        # What someone else wrote meanwhile (and a conflict settled for the file) now shows.
        taken = sorted(underneath - set(keys))
        self._take_from_file(taken)
        self.saved_raw, self.saved_secrets = self.state.snapshot()
        self.saved_base = copy.deepcopy(self.state.base)
        self.disk_values = written
        self.state.known_secrets.update(app.secret_sources())
        for row in self.rows():
            row.set_source(self._source(row.spec.key))
        self._update_secret_note()
        self.revalidate()
        # The path is in the header; with news from the file it gives way to the news.
        message = f"Saved to {path}" if not taken else "Saved"
        if taken:
            shown = ", ".join(f"{_key_shown(k)} {_file_shown(written.get(k))}" for k in taken)
            message += f". Changed in the file since it was loaded, and kept: {shown}"
        if choice == "mine" and conflicts:
            message += ". Yours replaced the file's: " + ", ".join(sorted(conflicts))
        self.notify(message, severity="warning" if taken else "information")
        if overridden:
            self.notify(
                "Still overridden by the environment: " + ", ".join(sorted(overridden)),
                severity="warning",
                timeout=8,
            )
        return True

    def _take_from_file(self, keys: Iterable[str]) -> None:
        """Show the file's (just reloaded) values for these keys, as if loaded that way."""
        from tui_mailsetup.config_file import flatten
        from tui_mailsetup.tui.form import display_value

        loaded = self.mail_app.loaded.settings
        effective = flatten(loaded.model_dump(mode="json"))
        for key in keys:
            if key in FIELDS:
                self.set_field(key, display_value(loaded, FIELDS[key]))
            elif key in effective:
                self.set_field(key, effective[key])

    def _ask_about_conflicts(
        self, conflicts: dict[str, Any], ours: dict[str, Any], others: list[str]
    ) -> None:
        """The file and this TUI changed the same keys: show both, let the person choose."""
        from tui_mailsetup.tui.screens.dialogs import ConflictScreen

        rows = [
            (_key_shown(k), _file_shown(ours.get(k)), _file_shown(v))
            for k, v in sorted(conflicts.items())
        ]
        seen = dict(conflicts)

        def decided(choice: str | None) -> None:
            if choice in {"mine", "theirs"}:
                self.save(resolved=(choice, seen))
            else:
                self.notify(
                    "Not saved: the file changed underneath ("
                    + ", ".join(_key_shown(k) for k in sorted(seen))
                    + ")",
                    severity="warning",
                )

        self.app.push_screen(ConflictScreen(rows, [_key_shown(k) for k in others]), decided)

    def focus_field(self, key: str) -> None:
        section = section_of(key)
        if section is None:
            return
        self._focus_after_mount = key
        self.show_section(section.id)
        if (row := self.row(key)) is not None:
            self._focus_after_mount = None
            self.set_focus(row.editor)

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

    def action_send_test(self, confirmed: bool = False) -> None:
        if self.sending:
            self.notify("A test is running; escape cancels it.", severity="warning")
            return
        self.sync_rows()
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
        if (limited := self.mail_app.rate_limit_text()) is not None and not confirmed:
            from tui_mailsetup.tui.screens.dialogs import ConfirmScreen

            body = Text(limited.plain + ".", style="bold")
            body.append(
                "\nThe server refused the last test for sending too much. Another test now "
                "may be refused too, and may extend the wait."
            )

            def decided(yes: bool | None) -> None:
                if yes:
                    self.action_send_test(confirmed=True)

            self.app.push_screen(ConfirmScreen("Rate limited", body, "Test anyway"), decided)
            return
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
        from tui_mailsetup.engine.events import Outcome
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
        from tui_mailsetup.drivers import secret_key_for
        from tui_mailsetup.settings import get_value

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
        if self.checking_dns and (panel := self.dns_panel) is not None:
            panel.cancel()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "cancel_send":
            return self.sending or self.checking_dns
        if action == "check_dns":
            # Off while a send or a check runs: then esc takes its place and the footer fits 80.
            return not (self.sending or self.checking_dns)
        if action == "fix":
            # Shown in the footer only while a fix is on offer.
            return self.fix_on_offer() is not None
        if action == "zoom_verdict":
            pane = self.pane
            return pane is not None and pane.has_class("-done")
        return True

    def action_zoom_verdict(self) -> None:
        """f4: the whole verdict on the whole screen (escape or f4 again restores it)."""
        from tui_mailsetup.tui.widgets.diagnostics import VerdictView

        if self.maximized is not None:
            self.minimize()
            return
        try:
            view = self.query_one(VerdictView)
        except NoMatches:
            return
        self.show_section("review")
        self.maximize(view, container=False)
        self.set_focus(view.query_one("#verdict-scroll"))

    @on(TestFinished)
    def _on_test_finished(self, event: TestFinished) -> None:
        self.sending = False
        self.refresh_bindings()
        self.mail_app.record_outcome(event.outcome, self._sent_settings)
        self.show_last_result()
        self.mail_app.after_test(event.outcome)

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
        self.sync_rows()
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

    def dns_worker(self, settings: MailSettings | None) -> None:
        """The panel runs the check (its own worker) and says when it ended."""
        panel = self.dns_panel
        if panel is None:
            self._dns_ended()
            return
        panel.check(settings)

    @on(DnsPanel.Finished)
    def _dns_finished(self) -> None:
        self._dns_ended()
        self.on_dns_checked()

    def on_dns_checked(self) -> None:
        """Subclasses show the new DNS summary (the home screen)."""

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
        from tui_mailsetup.settings import field_doc
        from tui_mailsetup.tui.screens.dialogs import HelpScreen

        detect = _ancestor(self.focused, DetectRow)
        if detect is not None and detect.details:
            self.app.push_screen(HelpScreen("What Detect tried", Text(detect.details)))
            return
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


def _shown(value: Any) -> str:
    text = "" if value is None else str(value)
    return f'"{text}"' if text else "(empty)"


def _key_shown(key: str) -> str:
    """A dotted key read from the file (another writer may have put any text in it)."""
    from tui_mailsetup.sanitize import untrusted_text

    return untrusted_text(key, limit=100)


def _file_shown(value: Any) -> str:
    """A value as the file holds it (``3000``, ``"Ops"``); absent: back to its default.

    Whatever wrote the file, its text reaches the terminal with control characters escaped.
    """
    from tui_mailsetup.sanitize import untrusted_text

    if value is None:
        return "(removed: the default)"
    return untrusted_text(f'"{value}"' if isinstance(value, str) else str(value).lower(), limit=200)


def _ancestor(widget: Widget | None, kind: type[W]) -> W | None:
    while widget is not None:
        if isinstance(widget, kind):
            return widget
        parent = widget.parent
        widget = parent if isinstance(parent, Widget) else None
    return None


def _row_of(widget: Widget | None) -> FieldRow | None:
    return _ancestor(widget, FieldRow)


def _without_secrets(settings: MailSettings) -> MailSettings:
    return settings.model_copy(
        update={
            "smtp": settings.smtp.model_copy(update={"password": None}),
            "mailgun": settings.mailgun.model_copy(update={"api_key": None}),
            "ses": settings.ses.model_copy(update={"secret_access_key": None}),
            "oauth2": settings.oauth2.model_copy(update={"client_secret": None, "token": None}),
        }
    )


__all__ = ["FormScreen", "TestFinished"]
