"""A returning user: every section as a tab, with where each value came from."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.widget import Widget
from textual.widgets import TabbedContent, TabPane, Tabs
from textual.widgets._tabbed_content import ContentTab, ContentTabs

from tui_mailsetup.findings import Finding
from tui_mailsetup.tui.form import SECTIONS
from tui_mailsetup.tui.screens.form import FormScreen
from tui_mailsetup.tui.screens.form_layout import FormHost
from tui_mailsetup.tui.screens.home_summary import home_footer, home_rows, home_skeleton
from tui_mailsetup.tui.services import TuiServices
from tui_mailsetup.tui.widgets.home import HomePanel

if TYPE_CHECKING:
    from tui_mailsetup.tui.widgets.inbox import InboxPane

TAB_TITLES = {"review": "Test"}


class SectionTabs(TabbedContent):
    """Tabs that follow focus only while it is still there.

    Textual activates a pane when something in it is focused, and a tab when the
    tab bar changed, by messages that arrive later; after ``pgup`` five times in a
    burst, stale ones showed an earlier section again while focus was elsewhere.
    (Textual runs every class's handler in turn: ``prevent_default`` stops the base's.)
    """

    def __init__(self, tabs_layout: SettingsLayout, *, initial: str, id: str) -> None:
        super().__init__(initial=initial, id=id)
        self.tabs_layout = tabs_layout

    def _on_tab_pane_focused(self, event: TabPane.Focused) -> None:
        focused = self.screen.focused
        if not (
            focused is not None
            and event.tab_pane in focused.ancestors
            and event.tab_pane.id == f"tab-{self.tabs_layout.form.target_section}"
        ):
            event.stop()
            event.prevent_default()

    def _on_tabs_tab_activated(self, event: Tabs.TabActivated) -> None:
        if not self._is_associated_tabs(event.tabs):
            return
        if event.tab.id != self.get_child_by_type(ContentTabs).active:
            # Stale: posted for a tab that is no longer the active one.
            event.stop()
            event.prevent_default()
            return
        # The person chose a tab on the tab bar: that is now the section asked for.
        if event.tab.id is not None:
            pane_id = ContentTab.sans_prefix(event.tab.id)
            self.tabs_layout.form.target_section = pane_id.removeprefix("tab-")

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        """A pane came to the front (its own message, handled here first): build it."""
        if event.pane.id is not None:
            self.tabs_layout.form.ensure_section(event.pane.id.removeprefix("tab-"))
            if event.pane.id == "tab-home":
                self.tabs_layout.update_home()


class SettingsLayout:
    """Home | Driver | Server | Credentials | Sender | Test (| Inbox in the demo), as tabs;
    Home sums the settings up and opens a section with one letter."""

    def __init__(self, form: FormHost) -> None:
        self.form = form
        self.services = form.services
        self.home = HomePanel(id="home")
        self.tabs = SectionTabs(self, initial="tab-home", id="tabs")
        self.inbox: InboxPane | None = None
        if self.services.inbox is not None:
            from tui_mailsetup.tui.widgets.inbox import InboxPane

            self.inbox = InboxPane(self.services.inbox, id="inbox")

    @property
    def section_ids(self) -> tuple[str, ...]:
        ids = ("home", *(section.id for section in SECTIONS))
        return (*ids, "inbox") if self.inbox is not None else ids

    def compose(self) -> ComposeResult:
        with self.tabs:
            with TabPane("Home", id="tab-home"):
                yield self.home
            # Every section (hidden behind Home) is built right after the first frame.
            for section in SECTIONS:
                yield TabPane(TAB_TITLES.get(section.id, section.title), id=f"tab-{section.id}")
            if self.inbox is not None:
                with TabPane("Inbox", id="tab-inbox"):
                    yield self.inbox

    def sub_title(self) -> str:
        return str(self.services.config_path)

    def mounted(self) -> None:
        if self.services.config.config_ready:
            self.update_home()
        else:
            # The first frame: the summary's lines, their values a moment later.
            self.home.show_rows(home_skeleton(self.form.session.state.driver_name))

    def loaded(self) -> None:
        self.update_home()

    def container(self, section_id: str) -> Widget:
        return self.tabs.get_pane(f"tab-{section_id}")

    def current(self) -> str:
        active = self.tabs.active or "tab-driver"
        return active.removeprefix("tab-")

    def switch_to(self, section_id: str) -> None:
        self.tabs.active = f"tab-{section_id}"

    def after_show(self, section_id: str) -> None:
        if self.current() != section_id:
            # A focused widget in a pane re-activates that pane.
            self.tabs.query_one(Tabs).focus()

    def reveal(self, section_id: str) -> None:
        self.tabs.active = f"tab-{section_id}"

    def focusables(self, section_id: str) -> Iterable[Widget] | None:
        if section_id == "home":
            return (self.home,)
        if section_id == "inbox":
            return (self.inbox,) if self.inbox is not None else ()
        return None

    def findings_changed(self, findings: list[Finding]) -> None:
        errors = self.form.sections_with_errors()
        for section in SECTIONS:
            title = TAB_TITLES.get(section.id, section.title)
            try:
                tab = self.tabs.get_tab(f"tab-{section.id}")
            except Exception:
                continue
            tab.label = f"{title} ✘" if section.id in errors else title

    def summary_changed(self) -> None:
        self.update_home()

    def test_recorded(self) -> None:
        # The demo's sandbox received the test: its inbox shows it.
        self.refresh_inbox()

    def update_home(self) -> None:
        """Redraw the summary (after a save, a test, a DNS check, and when shown)."""
        if not self.services.config.config_ready:
            return  # the first frame shows the lines; the values follow (loaded)
        if not self.home.is_mounted:
            return
        dns = self.form.dns_panel
        dns_status = dns.status_plain() if dns is not None and dns.report_shown else None
        rows = home_rows(self.form.session, self.services, dns_status)
        self.home.show_rows(rows, home_footer(self.form.recipients()))

    def refresh_inbox(self) -> None:
        if self.inbox is not None:
            self.inbox.refresh_messages()


class SettingsScreen(FormScreen):
    """The form, laid out as the returning user's tabs."""

    def __init__(self, services: TuiServices) -> None:
        super().__init__(services, SettingsLayout)


__all__ = ["SectionTabs", "SettingsLayout", "SettingsScreen"]
