"""A returning user: every section as a tab, with where each value came from."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.css.query import NoMatches
from textual.widget import Widget
from textual.widgets import TabbedContent, TabPane, Tabs
from textual.widgets._tabbed_content import ContentTab, ContentTabs

from tui_mailsetup.findings import Finding, Severity
from tui_mailsetup.tui.form import DRIVER_LABELS, FIELDS, FORM_SECRET_KEYS, SECTIONS
from tui_mailsetup.tui.form_session import source_words
from tui_mailsetup.tui.screens.form import FormScreen
from tui_mailsetup.tui.services import TuiServices
from tui_mailsetup.tui.widgets.home import SECTION_KEYS, HomePanel, HomeRow

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
        panel.show_rows(home_rows(self), home_footer(self))

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


SERVER_LABELS = {
    "smtp": "Server",
    "sendmail": "Program",
    "mailgun": "Mailgun",
    "ses": "SES",
    "graph": "Mailbox",
}
"""The home screen's second line, by driver."""


def home_skeleton(driver: str) -> list[HomeRow]:
    """The home screen's lines before the configuration is loaded: labels, no values yet.

    The same lines as :func:`home_rows` (a Problems line may follow once validated),
    so that filling the values in moves nothing.
    """
    rows = [HomeRow("d", "Send with", Text(), "driver")]
    rows.append(HomeRow("s", SERVER_LABELS.get(driver, "Server"), Text(), "server"))
    if any(spec.kind == "secret" and spec.applies_to(driver) for spec in FIELDS.values()):
        rows.append(HomeRow("c", "Login", Text(), "credentials"))
    rows.append(HomeRow("n", "Sender", Text(), "sender"))
    rows.append(HomeRow("t", "Last test", Text(), "review"))
    rows.append(HomeRow("", "DNS", Text()))
    return rows


def home_rows(screen: FormScreen) -> list[HomeRow]:
    """What a returning user needs first: what sends, who logs in, how the last test went."""
    from tui_mailsetup.drivers import SECRET_KEY_FOR_DRIVER
    from tui_mailsetup.secrets import credentials_problem
    from tui_mailsetup.settings import Driver

    services = screen.services
    settings = screen.settings or screen.config.loaded.settings
    state = screen.state
    driver = state.driver
    rows = [HomeRow("d", "Send with", Text(DRIVER_LABELS[driver]), "driver")]
    if driver is Driver.SMTP:
        smtp = settings.smtp
        server = Text(f"{smtp.host or '(no host)'}:{smtp.port}  {smtp.encryption.value.upper()}")
        if not smtp.verify:
            server.append("  certificate NOT verified", style="bold red")
        elif smtp.fingerprint:
            server.append("  certificate pinned")
        elif smtp.ca_file:
            server.append(f"  CA file {smtp.ca_file}")
        rows.append(HomeRow("s", SERVER_LABELS[driver], server, "server"))
    elif driver is Driver.SENDMAIL:
        rows.append(HomeRow("s", SERVER_LABELS[driver], Text(settings.sendmail.path), "server"))
    elif driver is Driver.MAILGUN:
        domain = f"{settings.mailgun.domain} ({settings.mailgun.region.value})"
        rows.append(HomeRow("s", SERVER_LABELS[driver], Text(domain), "server"))
    elif driver is Driver.GRAPH:
        mailbox = settings.graph.mailbox or settings.sender.address or "(not set)"
        rows.append(HomeRow("s", SERVER_LABELS[driver], Text(mailbox), "server"))
    else:
        rows.append(HomeRow("s", SERVER_LABELS[driver], Text(settings.ses.region), "server"))
    # Graph's token comes from [oauth2]: the secret typed here is the app's.
    secret_key = FORM_SECRET_KEYS.get(driver) or SECRET_KEY_FOR_DRIVER.get(driver)
    if secret_key is not None:
        login = Text()
        if driver is Driver.SMTP:
            user = settings.smtp.username
            login.append(user if user else "none (no authentication)")
        if screen.uses_oauth2:
            # OAuth2 logs in with a sign-in, not a password: say whose, not "password not set".
            login.append(oauth2_login_words(screen))
        elif driver is not Driver.SMTP or settings.smtp.username:
            label = FIELDS[secret_key].label.lower()
            if state.secrets.get(secret_key):
                login.append(f"; {label} typed, not saved yet")
            elif secret_key == "smtp.password" and settings.smtp.password_command.strip():
                login.append(f"; {label} from password_command")
            elif source := state.known_secrets.get(secret_key):
                login.append(f"; {label} from {source_words(source)}")
            else:
                login.append(f"; {label} not set", style="bold red")
                problem = credentials_problem(services.config_path)
                if problem:
                    login.append(f"\n{'':17}{problem}", style="bold red")
        rows.append(HomeRow("c", "Login", login, "credentials"))
    sender = settings.sender
    shown = f"{sender.name} <{sender.address}>" if sender.name else sender.address
    rows.append(HomeRow("n", "Sender", Text(shown or "(not set)"), "sender"))
    last = services.history.last_result_text()
    rows.append(HomeRow("t", "Last test", last[len("Last test: ") :], "review"))
    dns = screen.dns_panel
    dns_text = Text(dns.status_plain()) if dns is not None and dns.report_shown else None
    rows.append(HomeRow("", "DNS", dns_text or Text("not checked yet (f3 checks it)", style="dim")))
    errors = [f for f in screen.findings if f.severity is Severity.ERROR]
    if errors:
        to_fix = Text(f"{len(errors)} to fix: ", style="bold red")
        to_fix.append(f"{errors[0].field}: {errors[0].message}")
        rows.append(HomeRow("", "Problems", to_fix))
    return rows


def oauth2_login_words(screen: FormScreen) -> Text:
    """The home screen's login line with xoauth2: the provider and who is signed in."""
    import dataclasses

    from tui_mailsetup.settings import OAuth2Provider
    from tui_mailsetup.tui.widgets.oauth2_signin import PROVIDER_NAMES, signed_in_as

    loaded = screen.config.loaded
    settings = screen.settings or loaded.settings
    # The form's provider: it may have followed the host since the settings were validated.
    provider = str(screen.state.base.get("oauth2", {}).get("provider") or "microsoft")
    text = Text(f"; OAuth2 with {PROVIDER_NAMES.get(provider, provider)}")
    try:
        oauth2 = settings.oauth2.model_copy(update={"provider": OAuth2Provider(provider)})
    except ValueError:
        oauth2 = settings.oauth2
    settings = settings.model_copy(update={"oauth2": oauth2})
    who = signed_in_as(dataclasses.replace(loaded, settings=settings))
    if who is not None:
        text.append(f", signed in as {who}")
    else:
        text.append(", not signed in yet (c: Sign in)", style="bold red")
    return text


def home_footer(screen: FormScreen) -> Text:
    recipients = screen.recipients()
    to = recipients[0] if recipients else "the sender address"
    text = Text("ctrl+t", style="bold")
    text.append(f" sends a test to {to}.  ")
    text.append("d s c n t", style="bold")
    text.append(" open a section; ")
    text.append("pgdn", style="bold")
    text.append(" walks through them.")
    return text
