"""The form screen: the coordinator of one form, around a layout of its sections.

The wizard and the settings screen are this form with a different layout object (steps
with Back/Next, or tabs behind a summary: :mod:`.form_layout` is the seam, and the form
asks the layout only what :class:`~.form_layout.FormLayout` names). Everything a person
does with the values goes through here, by concern: the decisions in
:class:`~tui_mailsetup.tui.form_session.FormSession` (Textual-free), the widgets' upkeep
in :mod:`.form_view`, when sections are built in :mod:`.form_sections`, the test send and
the DNS check in :mod:`.form_review`, the dialogs in :mod:`.form_dialogs`. What the screen
needs from outside comes in a :class:`~tui_mailsetup.tui.services.TuiServices`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.await_complete import AwaitComplete
from textual.binding import Binding, BindingType
from textual.css.query import NoMatches
from textual.widget import Widget
from textual.widgets import Footer, Header, Input, Static

from tui_mailsetup.findings import Finding
from tui_mailsetup.fixes import Fix
from tui_mailsetup.tui.first_frame import FirstResumeScreen
from tui_mailsetup.tui.form import SECTION_BY_ID, FormState, Section, section_of
from tui_mailsetup.tui.form_session import FormSession
from tui_mailsetup.tui.screens.form_dialogs import (
    ask_about_conflicts,
    confirm_pin,
    open_export,
    open_help,
    open_save_transcript,
)
from tui_mailsetup.tui.screens.form_layout import FormHost, FormLayout
from tui_mailsetup.tui.screens.form_review import ReviewFlow
from tui_mailsetup.tui.screens.form_sections import SectionMounter
from tui_mailsetup.tui.screens.form_view import FormView, ancestor, build_section, focus_chain
from tui_mailsetup.tui.services import TuiServices
from tui_mailsetup.tui.widgets.dns_report import DnsPanel
from tui_mailsetup.tui.widgets.field import FieldRow
from tui_mailsetup.tui.widgets.server_helpers import DetectRow, PresetRow
from tui_mailsetup.tui.widgets.status_line import StatusLine

# The settings model, the engine's events and the drivers are imported where they are
# used: the first frame is drawn before they are loaded (see MailSetupApp).
if TYPE_CHECKING:
    from tui_mailsetup.engine.events import Outcome
    from tui_mailsetup.settings import MailSettings
    from tui_mailsetup.tui.widgets.diagnostics import DiagnosticsPane
    from tui_mailsetup.tui.widgets.oauth2_signin import SignInRow


class FormScreen(FirstResumeScreen):
    """One form's coordinator: its keys, actions and messages, around a layout of its
    sections (which the wizard and the settings screen choose)."""

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

    def __init__(self, services: TuiServices, layout: Callable[[FormHost], FormLayout]) -> None:
        super().__init__()
        self.services = services
        self.config = services.config
        # The first frame: the driver as the file has it, the rest once loaded.
        peek = self.config.peek
        driver = peek.text("driver").lower() if peek is not None else ""
        self.view = FormView(self, FormSession.provisional(driver), services)
        if self.config.config_ready:
            self._take_config()
        self.sections = SectionMounter(self, services.config, services.keys)
        self.review = ReviewFlow(self, self, services)
        self._focus_after_mount: str | None = None
        self._fix_shown = False
        self.form_layout = layout(self)
        """How the sections are laid out (steps or tabs): the form asks it, never the reverse
        of a private member."""
        self.target_section = self.form_layout.section_ids[0]
        """The section last asked for (focus changes may briefly activate another tab)."""

    @property
    def session(self) -> FormSession:
        """The form's values and decisions (Textual-free)."""
        return self.view.session

    @property
    def state(self) -> FormState:
        """The values being edited (the session's)."""
        return self.session.state

    @property
    def settings(self) -> MailSettings | None:
        """The values as typed, once they validate."""
        return self.session.settings

    @property
    def findings(self) -> list[Finding]:
        return self.session.findings

    @property
    def focus_chain(self) -> list[Widget]:
        """Tab order is the form's order (DOM order), known before a section is laid out.

        (See :func:`~tui_mailsetup.tui.screens.form_view.focus_chain`.)"""
        return focus_chain(self)

    # ------------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        yield Header()
        if self.services.banner:
            yield Static(Text(self.services.banner), id="banner")
        yield from self.form_layout.compose()
        yield StatusLine(id="status-line")
        # Compact: every key still fits at 80 columns, even with esc while a test runs.
        yield Footer(compact=True, show_command_palette=False)

    def build_section(self, section: Section) -> Widget:
        """The contents of one section (a wizard step or a tab), built when first shown."""
        return build_section(section, self.session, self.services, self._source)

    def compose_section(self, section_id: str) -> Widget:
        """A section's contents built now, with the layout (the wizard's first step)."""
        self.sections.mark_built(section_id)
        return self.build_section(SECTION_BY_ID[section_id])

    def section_container(self, section_id: str) -> Widget:
        """The (possibly still empty) container a section's contents go in."""
        return self.form_layout.container(section_id)

    def ensure_section(self, section_id: str) -> AwaitComplete | None:
        """Mount a section's contents the first time it is needed (startup stays fast)."""
        return self.sections.ensure(section_id)

    async def section_ready(self, section_id: str) -> None:
        await self.sections.ready(section_id)

    def section_mounted(self, section_id: str) -> None:
        """Bring a freshly mounted section up to date with the form."""
        self.session.validated = False
        self.revalidate()
        self._update_driver_visibility()
        if section_id == "credentials":
            self._update_secret_note()
        elif section_id == "review":
            self.view.update_recipient()
            self.show_last_result()
        elif section_id == "server":
            self.view.update_username_hint()
        if self.target_section == section_id:
            # A late focus event may have shown another section meanwhile.
            self.reveal_section(section_id)
            pending, self._focus_after_mount = self._focus_after_mount, None
            if pending is not None and (row := self.row(pending)) is not None:
                self.set_focus(row.editor)
            else:
                self.focus_section(section_id)

    def _take_config(self) -> None:
        self.view.session = FormSession.loaded(self.config.loaded, self.config.secret_sources())
        self.view.follow_oauth2_provider(loading=True)

    def _source(self, key: str) -> str:
        return self.session.source(key) if self.config.config_ready else ""

    def on_mount(self) -> None:
        self.title = "tui-mailsetup"
        self.sub_title = self.form_layout.sub_title()
        # The other sections are built right after the first frame, all at once, and keys
        # wait for them: a key typed after pgdn never meets a section still being built.
        self.sections.hold_keys()
        self.form_layout.mounted()
        self.focus_section(self.section_ids[0])
        self._first_mount_done = True
        if self.config.config_ready:
            self._start()
        # Else the app loads the configuration after the first frame, then calls config_loaded.

    def config_loaded(self) -> None:
        """The configuration has been loaded (after the first frame): fill the values in."""
        self._take_config()
        self.view.fill(self._source)
        self._update_driver_visibility()
        self.form_layout.loaded()
        self._start()

    async def sections_built(self) -> None:
        """Return once the sections being built after the first frame are (closing waits)."""
        await self.sections.wait()

    @property
    def built_all(self) -> bool:
        """Every section is built (right after the first frame; keys wait for it)."""
        return self.sections.done

    def release_keys(self) -> None:
        """This screen is being replaced: keys no longer wait for its sections."""
        self.sections.release()

    def _start(self) -> None:
        # Validation (and its imports) waits for the frame with the values: it shows at once.
        self.call_after_refresh(self.revalidate)
        # A moment after that frame, so that it is painted (and read) before the work.
        prebuild = self.sections.prebuild
        self.call_after_refresh(self.set_timer, 0.05, lambda: prebuild(self.section_ids))
        for warning in self.config.loaded.warnings:
            self.notify(warning.message, severity="warning", timeout=8)

    # ------------------------------------------------------------------ messages

    def clear_status(self) -> None:
        """The person did something else: the last message has been read."""
        with contextlib.suppress(NoMatches):
            self.query_one("#status-line", StatusLine).clear()

    # ------------------------------------------------------------------ sections

    @property
    def section_ids(self) -> tuple[str, ...]:
        return self.form_layout.section_ids

    def show_section(self, section_id: str) -> None:
        """Put a section on screen and focus its first editor (once it is built)."""
        self.target_section = section_id
        pending = self.ensure_section(section_id)
        self.form_layout.switch_to(section_id)
        if pending is None:
            self.focus_section(section_id)
        self.form_layout.after_show(section_id)

    def current_section(self) -> str:
        return self.form_layout.current()

    def reveal_section(self, section_id: str) -> None:
        """Show a section that is already built, without moving focus."""
        self.form_layout.reveal(section_id)

    def action_edit(self, section: str) -> None:
        """A letter on the settings' summary: open its section (bound on the summary)."""
        self.show_section(section)

    def action_advance(self) -> None:
        """The wizard's Next: the next section, or Save at the last."""
        if self.current_section() == self.section_ids[-1]:
            self.save()
        else:
            self.action_next_section()

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
        own = self.form_layout.focusables(section_id)
        if own is not None:
            yield from own
            return
        if section_id == "review":
            if (recipient := self.query_one_optional("#recipient", Input)) is not None:
                yield recipient
            return
        for row in self.query(f"#body-{section_id} FieldRow").results(FieldRow):
            if row.display:
                yield row.editor

    # ------------------------------------------------------------------ rows

    def row(self, key: str) -> FieldRow | None:
        return self.view.row(key)

    def rows(self) -> Iterable[FieldRow]:
        return self.view.rows()

    @on(FieldRow.ValueChanged)
    def _on_value_changed(self, event: FieldRow.ValueChanged) -> None:
        self.apply_value(event.key, event.value)

    def sync_rows(self) -> None:
        """Take every editor's value now (its Changed message may still be on its way).

        Keys are delivered at once (see :mod:`tui_mailsetup.tui.keys`): ctrl+s typed
        right after a burst must save what the burst typed.
        """
        for row in self.view.editing():
            if row.value != self.state.get(row.spec.key):
                self.apply_value(row.spec.key, row.value)

    def apply_value(self, key: str, value: Any) -> None:
        """A value the person typed or chose."""
        if self.view.apply_value(key, value):
            self.clear_status()
            self.revalidate()

    @property
    def uses_oauth2(self) -> bool:
        """auth = xoauth2 on SMTP: a sign-in, not a password, logs in."""
        return self.session.uses_oauth2

    def set_field(self, key: str, value: Any) -> None:
        """Set a value from the program (a fix, a preset, a suggestion)."""
        self.view.set_field(key, value)

    def _update_driver_visibility(self) -> None:
        self.view.update_visibility()

    def _update_secret_note(self) -> None:
        self.view.update_secret_note()

    # ------------------------------------------------------------------ validation

    def revalidate(self) -> list[Finding]:
        """Validate what is on screen with the engine's function; mark every field."""
        changed = self.session.validate()
        findings = self.session.findings
        self.view.update_signin()
        if not changed:
            return findings
        self.view.show_findings(findings)
        with contextlib.suppress(NoMatches):
            self.review.review_panel().show_findings(findings)
        self.form_layout.findings_changed(findings)
        fix_shown = self.fix_on_offer() is not None
        if fix_shown != self._fix_shown:
            # The footer shows f2 only while a fix is on offer (a footer redraw is not free).
            self._fix_shown = fix_shown
            self.refresh_bindings()
        return findings

    def sections_with_errors(self) -> set[str]:
        return self.session.sections_with_errors()

    # ------------------------------------------------------------------ fixes

    @on(FieldRow.FixRequested)
    def _on_fix_requested(self, event: FieldRow.FixRequested) -> None:
        if event.row.finding is not None and event.row.finding.fix is not None:
            self.apply_fix(event.row.finding.fix)

    def fix_on_offer(self) -> tuple[Fix, bool] | None:
        """The fix F2 applies: the focused field's, else the last test's, else the first one.

        The flag says whether it came from a failed test (then "test again" follows).
        """
        row = ancestor(self.focused, FieldRow)
        pane = self.pane
        return self.session.fix_on_offer(
            row.finding if row is not None else None, pane.outcome if pane is not None else None
        )

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
        if pin := self.session.pin_to_confirm(fix):
            self._confirm_pin(fix, pin)
            return
        self._apply_fix(fix)

    def _confirm_pin(self, fix: Fix, fingerprint: str) -> None:
        pane = self.pane
        confirm_pin(
            self,
            fingerprint,
            pane.tls if pane is not None else None,
            pin=lambda: self._apply_fix(fix),
            ca_file=lambda: self.focus_field("smtp.ca_file"),
        )

    def _apply_fix(self, fix: Fix) -> None:
        self.view.set_fields(dict(fix.changes))
        self._update_secret_note()
        self.revalidate()
        self.notify(fix.label, title="Fixed")

    @on(DetectRow.Detected)
    def _detected(self, event: DetectRow.Detected) -> None:
        self.view.detected(event.candidate, event.query)
        self.revalidate()

    def on_sign_in_row_client_id_given(self, message: SignInRow.ClientIdGiven) -> None:
        """Kept in the form (ctrl+s saves it with the rest; nothing is written before)."""
        self.set_field("oauth2.client_id", message.client_id)
        self.revalidate()
        if (row := self.view.update_signin()) is not None:
            row.continue_sign_in()

    @on(PresetRow.Chosen)
    def _on_preset(self, event: PresetRow.Chosen) -> None:
        self.view.preset_chosen(event.preset)
        self.revalidate()

    # ------------------------------------------------------------------ saving

    def describe_changes(self) -> list[str]:
        """What changed since the last save, one line each; secrets by name only."""
        self.sync_rows()
        return self.session.describe_changes()

    @property
    def dirty(self) -> bool:
        self.sync_rows()
        return self.session.dirty

    def action_save(self) -> None:
        self.save()

    def save(self, resolved: tuple[str, dict[str, Any]] | None = None) -> bool:
        """ctrl+s: write the keys changed here, and only those (the session's save plan).

        A key changed both in the file and here is a conflict: a dialog shows both values
        and the person keeps theirs or takes the file's (``resolved`` is that choice).
        """
        self.sync_rows()
        self.revalidate()
        result = self.session.save(resolved)
        if result.kind == "invalid":
            self.notify(result.message, title="Not saved", severity="error", timeout=8)
            self.focus_field(result.first_error)
            return False
        if result.kind == "failed":
            self.notify(result.message, title="Not saved", severity="error", timeout=10)
            return False
        if result.kind == "conflict":
            ask_about_conflicts(self, result, lambda choice: self.save(resolved=choice))
            return False
        self.config.reload()
        self.view.saved(self.config.loaded, self.config.secret_sources(), result.taken)
        self.view.show_sources(self._source)
        self.revalidate()
        self.notify(result.message, severity=result.severity)
        if result.overridden:
            self.notify(result.overridden_message, severity="warning", timeout=8)
        return True

    def focus_field(self, key: str) -> None:
        section = section_of(key)
        if section is None:
            return
        self._focus_after_mount = key
        self.show_section(section.id)
        if (row := self.row(key)) is not None:
            self._focus_after_mount = None
            self.set_focus(row.editor)

    # ------------------------------------------------------------------ test send, DNS

    @property
    def sending(self) -> bool:
        return self.review.sending

    @property
    def checking_dns(self) -> bool:
        return self.review.checking_dns

    @property
    def pane(self) -> DiagnosticsPane | None:
        return self.review.pane

    @property
    def dns_panel(self) -> DnsPanel | None:
        return self.review.dns_panel

    def recipients(self) -> list[str]:
        return self.session.recipients(self.review.typed_recipient())

    def action_send_test(self) -> None:
        self.review.send_test()

    def action_check_dns(self) -> None:
        self.review.check_dns()

    def action_cancel_send(self) -> None:
        """Escape: stop a running test send, and a running DNS check."""
        self.review.cancel()

    def on_review_panel_test_ended(self) -> None:
        self.review.send_ended()

    @on(DnsPanel.Finished)
    def _dns_finished(self) -> None:
        self.review.dns_finished()

    def on_dns_checked(self) -> None:
        """A DNS report is shown (the settings' summary shows its status)."""
        self.form_layout.summary_changed()

    def test_recorded(self, outcome: Outcome) -> None:
        """The app has recorded a finished test (from its TestFinished): show the result."""
        self.review.send_ended()
        self.show_last_result()
        self.form_layout.test_recorded()

    def show_last_result(self) -> None:
        self.review.show_last_result()
        self.form_layout.summary_changed()

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
        view = self.query_one_optional(VerdictView)
        if view is None:
            return
        self.show_section("review")
        self.maximize(view, container=False)
        self.set_focus(view.query_one("#verdict-scroll"))

    # ------------------------------------------------------------------ the panels' requests

    def on_dns_panel_check_requested(self) -> None:
        self.action_check_dns()

    def on_review_panel_test_requested(self) -> None:
        self.action_send_test()

    def on_review_panel_save_requested(self) -> None:
        self.save()

    def on_review_panel_export_requested(self) -> None:
        self.action_export()

    def on_review_panel_save_log_requested(self) -> None:
        self.action_save_transcript()

    def action_export(self) -> None:
        open_export(self, self.services.exporter, self.settings, self.services.config_path)

    def action_save_transcript(self) -> None:
        pane = self.pane
        default = self.services.config_path.with_name("transcript.txt")
        open_save_transcript(self, pane.transcript_text() if pane is not None else "", default)

    def action_help(self) -> None:
        open_help(self, self.focused, self._source)


__all__ = ["FormScreen"]
