"""A returning user: every section as a tab, with where each value came from."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.css.query import NoMatches
from textual.widget import Widget
from textual.widgets import TabbedContent, TabPane, Tabs
from textual.widgets._tabbed_content import ContentTab, ContentTabs

from tui_mailsetup.findings import Finding
from tui_mailsetup.tui.form import SECTIONS
from tui_mailsetup.tui.screens.form import FormScreen
from tui_mailsetup.tui.screens.home_summary import home_footer, home_rows, home_skeleton
from tui_mailsetup.tui.services import TuiServices
from tui_mailsetup.tui.widgets.home import SECTION_KEYS, HomePanel

if TYPE_CHECKING:
    from tui_mailsetup.engine.events import Outcome

TAB_TITLES = {"review": "Test"}


class SectionTabs(TabbedContent):
    """Tabs that follow focus only while it is still there.

    Textual activates a pane when something in it is focused, and a tab when the
    tab bar changed, by messages that arrive later; after ``pgup`` five times in a
    burst, stale ones showed an earlier section again while focus was elsewhere.
    (Textual runs every class's handler in turn: ``prevent_default`` stops the base's.)
    """

    def _on_tab_pane_focused(self, event: TabPane.Focused) -> None:
        screen = self.screen
        focused = screen.focused
        target = f"tab-{screen.target_section}" if isinstance(screen, FormScreen) else ""
        if not (
            focused is not None
            and event.tab_pane in focused.ancestors
            and event.tab_pane.id == target
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
            screen = self.screen
            if isinstance(screen, FormScreen):
                screen.target_section = pane_id.removeprefix("tab-")


class SettingsScreen(FormScreen):
    """Driver | Server | Credentials | Sender | Test (| Inbox in the demo)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        *(
            Binding(key, f"edit('{section}')", section.title(), show=False)
            for key, section in SECTION_KEYS.items()
        ),
    ]

    def __init__(self, services: TuiServices) -> None:
        super().__init__(services)
        self.target_section = "home"

    @property
    def section_ids(self) -> tuple[str, ...]:
        ids = ("home", *(section.id for section in SECTIONS))
        return (*ids, "inbox") if self.services.inbox is not None else ids

    def compose_body(self) -> ComposeResult:
        from tui_mailsetup.tui.widgets.home import HomePanel

        with SectionTabs(initial="tab-home", id="tabs"):
            with TabPane("Home", id="tab-home"):
                yield HomePanel(id="home")
            # Every section (hidden behind Home) is built right after the first frame.
            for section in SECTIONS:
                yield TabPane(TAB_TITLES.get(section.id, section.title), id=f"tab-{section.id}")
            if self.services.inbox is not None:
                from tui_mailsetup.tui.widgets.inbox import InboxPane

                with TabPane("Inbox", id="tab-inbox"):
                    yield InboxPane(self.services.inbox, id="inbox")

    def after_mount(self) -> None:
        if self.config.config_ready:
            self.update_home()
        else:
            # The first frame: the summary's lines, their values a moment later.
            self.query_one("#home", HomePanel).show_rows(home_skeleton(self.state.driver_name))
        self.focus_section("home")

    def after_load(self) -> None:
        self.update_home()

    # ------------------------------------------------------------------ home

    def _focusables(self, section_id: str) -> Iterable[Widget]:
        if section_id == "home":
            yield from self.query("#home")
            return
        yield from super()._focusables(section_id)

    def action_edit(self, section: str) -> None:
        """A letter on the home screen: open its section."""
        self.show_section(section)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "edit":
            return isinstance(self.focused, HomePanel)
        return super().check_action(action, parameters)

    def update_home(self) -> None:
        """Redraw the summary (after a save, a test, a DNS check, and when shown)."""
        if not self.config.config_ready:
            return  # the first frame shows the lines; the values follow (after_load)
        try:
            panel = self.query_one("#home", HomePanel)
        except NoMatches:
            return
        dns = self.dns_panel
        dns_status = dns.status_plain() if dns is not None and dns.report_shown else None
        rows = home_rows(self.session, self.services, dns_status)
        panel.show_rows(rows, home_footer(self.recipients()))

    def show_last_result(self) -> None:
        super().show_last_result()
        self.update_home()

    def on_dns_checked(self) -> None:
        self.update_home()

    def section_container(self, section_id: str) -> Widget:
        return self.query_one(f"#tab-{section_id}", TabPane)

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        if event.pane.id is not None:
            self.ensure_section(event.pane.id.removeprefix("tab-"))
            if event.pane.id == "tab-home":
                self.update_home()

    def reveal_section(self, section_id: str) -> None:
        self.query_one(TabbedContent).active = f"tab-{section_id}"

    def current_section(self) -> str:
        active = self.query_one(TabbedContent).active or "tab-driver"
        return active.removeprefix("tab-")

    def show_section(self, section_id: str) -> None:
        self.target_section = section_id
        tabbed = self.query_one(TabbedContent)
        pending = self.ensure_section(section_id)
        tabbed.active = f"tab-{section_id}"
        if pending is None:
            self.focus_section(section_id)
        if self.current_section() != section_id:
            # A focused widget in a pane re-activates that pane.
            tabbed.query_one(Tabs).focus()

    def on_findings_changed(self, findings: list[Finding]) -> None:
        errors = self.sections_with_errors()
        tabs = self.query_one(TabbedContent)
        for section in SECTIONS:
            title = TAB_TITLES.get(section.id, section.title)
            try:
                tab = tabs.get_tab(f"tab-{section.id}")
            except Exception:
                continue
            tab.label = f"{title} ✘" if section.id in errors else title

    def test_recorded(self, outcome: Outcome) -> None:
        super().test_recorded(outcome)
        # The demo's sandbox received the test: its inbox shows it.
        self.refresh_inbox()

    def refresh_inbox(self) -> None:
        from tui_mailsetup.tui.widgets.inbox import InboxPane

        for pane in self.query(InboxPane).results(InboxPane):
            pane.refresh_messages()
