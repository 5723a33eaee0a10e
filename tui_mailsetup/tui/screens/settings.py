"""A returning user: every section as a tab, with where each value came from."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widget import Widget
from textual.widgets import TabbedContent, TabPane, Tabs
from textual.widgets._tabbed_content import ContentTab

from tui_mailsetup.findings import Finding
from tui_mailsetup.tui.form import SECTIONS
from tui_mailsetup.tui.screens.form import FormScreen

TAB_TITLES = {"review": "Test"}


class SectionTabs(TabbedContent):
    """Tabs that follow focus only while it is still there.

    Textual activates a pane when something in it is focused, by a message that
    arrives later; after ``pgdn`` twice in a burst, a stale one would show the
    previous section again while the keys go to the next one.
    """

    def _on_tab_pane_focused(self, event: TabPane.Focused) -> None:
        event.stop()
        screen = self.screen
        focused = screen.focused
        target = f"tab-{getattr(screen, '_target_section', '')}"
        if (
            focused is not None
            and event.tab_pane in focused.ancestors
            and event.tab_pane.id == target
        ):
            super()._on_tab_pane_focused(event)

    def _on_tabs_tab_activated(self, event: Tabs.TabActivated) -> None:
        # The person chose a tab on the tab bar: that is now the section asked for.
        if self._is_associated_tabs(event.tabs) and event.tab.id is not None:
            pane_id = ContentTab.sans_prefix(event.tab.id)
            screen = self.screen
            if hasattr(screen, "_target_section"):
                screen._target_section = pane_id.removeprefix("tab-")
        super()._on_tabs_tab_activated(event)


class SettingsScreen(FormScreen):
    """Driver | Server | Credentials | Sender | Test (| Inbox in the demo)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("pageup", "previous_section", "Prev", priority=True),
        Binding("pagedown", "next_section", "Next", priority=True),
    ]

    @property
    def section_ids(self) -> tuple[str, ...]:
        ids = tuple(section.id for section in SECTIONS)
        return (*ids, "inbox") if self.mail_app.inbox is not None else ids

    def compose_body(self) -> ComposeResult:
        with SectionTabs(initial="tab-driver", id="tabs"):
            for section in SECTIONS:
                with TabPane(TAB_TITLES.get(section.id, section.title), id=f"tab-{section.id}"):
                    if section.id == "driver":
                        self._built.add(section.id)
                        yield self.build_section(section)
            if self.mail_app.inbox is not None:
                from tui_mailsetup.tui.widgets.inbox import InboxPane

                with TabPane("Inbox", id="tab-inbox"):
                    yield InboxPane(self.mail_app.inbox, id="inbox")

    def after_mount(self) -> None:
        self.focus_section("driver")

    def section_container(self, section_id: str) -> Widget:
        return self.query_one(f"#tab-{section_id}", TabPane)

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        if event.pane.id is not None:
            self.ensure_section(event.pane.id.removeprefix("tab-"))

    def reveal_section(self, section_id: str) -> None:
        self.query_one(TabbedContent).active = f"tab-{section_id}"

    def current_section(self) -> str:
        active = self.query_one(TabbedContent).active or "tab-driver"
        return active.removeprefix("tab-")

    def show_section(self, section_id: str) -> None:
        self._target_section = section_id
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

    def refresh_inbox(self) -> None:
        from tui_mailsetup.tui.widgets.inbox import InboxPane

        for pane in self.query(InboxPane).results(InboxPane):
            pane.refresh_messages()
