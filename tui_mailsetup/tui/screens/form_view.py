"""What the form's widgets show: the sections built from the session, the rows kept in step.

:class:`FormView` is composed into the form screen: it builds a section's widgets from the
session (:func:`build_section`), brings the mounted rows, notes and hints in line with it
(values, sources, findings, which rows the driver shows), and carries a change through
(a value typed, a detected server, a preset, a fix: what else follows). It decides
nothing: every answer comes from :class:`~tui_mailsetup.tui.form_session.FormSession`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, TypeVar

from rich.text import Text
from textual.containers import VerticalScroll
from textual.css.query import NoMatches
from textual.widget import Widget
from textual.widgets import Input, Static

from tui_mailsetup.findings import Finding
from tui_mailsetup.tui.form import FIELDS, Section, suggested_port
from tui_mailsetup.tui.form_session import FormSession
from tui_mailsetup.tui.services import TuiServices
from tui_mailsetup.tui.widgets.field import FieldRow

if TYPE_CHECKING:
    from tui_mailsetup.config_file import LoadedConfig
    from tui_mailsetup.engine.detect import Candidate
    from tui_mailsetup.presets import Preset
    from tui_mailsetup.tui.widgets.oauth2_signin import SignInRow


def build_section(
    section: Section, session: FormSession, services: TuiServices, source: Callable[[str], str]
) -> Widget:
    """The contents of one section (a wizard step or a tab), built when first shown."""
    if section.id == "review":
        # Imported here: the pane (and RichLog) stay out of the first frame's imports.
        from tui_mailsetup.tui.widgets.review import ReviewPanel

        return ReviewPanel(export_available=services.exporter is not None, id="review")
    children: list[Widget] = []
    if section.intro:
        children.append(Static(section.intro, classes="section-intro"))
    if section.id == "server":
        from tui_mailsetup.tui.widgets.server_helpers import DetectRow, PresetRow

        detect = DetectRow(
            str(session.state.get("sender.address") or ""), id="detect-row", classes="smtp-only"
        )
        detect.nameservers = list(session.settings.dns.nameservers) if session.settings else []
        detect.settings = session.settings
        children.append(detect)
        if presets := services.presets():
            children.append(PresetRow(presets, id="preset-row", classes="smtp-only"))
    if section.id == "credentials":
        children.append(Static("", id="secret-note", classes="section-intro"))
        from tui_mailsetup.tui.widgets.oauth2_signin import SignInRow

        signin = SignInRow()
        signin.settings = session.settings
        signin.loaded = services.config.loaded if services.config.config_ready else None
        children.append(signin)
    for spec in section.fields:
        row = FieldRow(spec, session.state.get(spec.key), source=source(spec.key))
        row.display = spec.applies_to(session.state.driver_name)
        children.append(row)
    # Not a Tab stop: focus on the scroll area itself showed nothing and typing went nowhere.
    return VerticalScroll(
        *children, classes="section-body", id=f"body-{section.id}", can_focus=False
    )


class FormView:
    """The form screen's rows and notes, kept in step with its session."""

    def __init__(self, root: Widget, session: FormSession, services: TuiServices) -> None:
        self.root = root
        """The screen: every row, note and hint is queried under it."""
        self.session = session
        """The values shown (replaced once the configuration is loaded)."""
        self.services = services
        self._signin: SignInRow | None = None

    # ------------------------------------------------------------------ changes

    def apply_value(self, key: str, value: Any) -> bool:
        """A value the person typed or chose, and what follows from it; False: no change."""
        session = self.session
        if not session.state.set(key, value):
            return False
        if key == "driver":
            self.update_visibility()
            self.update_secret_note()
        elif key == "smtp.encryption":
            port = suggested_port(str(value), session.state.get("smtp.port"))
            if port is not None:
                self.set_field("smtp.port", str(port))
        elif key == "sender.address":
            self.update_recipient()
        elif key == "smtp.host":
            self.update_username_hint()
            self.follow_oauth2_provider()
        elif key == "smtp.auth":
            self.follow_oauth2_provider()
            self.update_visibility()
            self.update_secret_note()
        if (key in FIELDS and FIELDS[key].kind == "secret") or key == "smtp.password_command":
            self.update_secret_note()
        return True

    def set_field(self, key: str, value: Any) -> None:
        """Set a value from the program (a fix, a preset, a suggestion)."""
        shown = self.session.set_field(key, value)
        if key in FIELDS and (row := self.row(key)) is not None:
            row.set_value(shown)
        if key == "driver":
            self.update_visibility()

    def set_fields(self, changes: dict[str, Any]) -> None:
        for key, value in changes.items():
            self.set_field(key, value)

    def follow_oauth2_provider(self, *, loading: bool = False) -> None:
        """With xoauth2, the sign-in's provider is the host's (the session decides)."""
        if not self.session.uses_oauth2:
            return
        preset = self.services.match_preset(str(self.session.state.get("smtp.host") or ""))
        self.set_fields(self.session.oauth2_provider_changes(preset, loading=loading))

    def detected(self, best: Candidate, query: str) -> None:
        """Detect found a server: it goes in, and from an address the username and sender."""
        self.set_field("smtp.host", best.host)
        self.set_field("smtp.port", best.port)
        self.set_field("smtp.encryption", best.encryption.value)
        self.follow_oauth2_provider()
        if best.username_hint and (row := self.row("smtp.username")) is not None:
            row.set_placeholder(best.username_hint)
        preset = next((p for p in self.services.presets() if p.id == best.preset_id), None)
        self.set_fields(self.session.identity_changes(query, preset, best.username_hint))
        self.update_recipient()

    def saved(
        self, loaded: LoadedConfig, secret_sources: dict[str, str | None], taken: list[str]
    ) -> None:
        """After ctrl+s: the session takes the reloaded file; the keys taken from it show."""
        shown = self.session.saved(loaded, secret_sources, taken)
        for key, value in shown.items():
            if (row := self.row(key)) is not None:
                row.set_value(value)
        if "driver" in shown:
            self.update_visibility()
        self.update_secret_note()

    def preset_chosen(self, preset: Preset) -> None:
        self.set_fields(dict(preset.settings_changes()))
        if preset.region and self.session.state.driver_name == "ses":
            self.set_field("ses.region", preset.region)
        self.update_username_hint()
        self.follow_oauth2_provider()
        self.update_visibility()
        self.update_secret_note()

    # ------------------------------------------------------------------ widgets

    def row(self, key: str) -> FieldRow | None:
        try:
            return self.root.query_one(f"#row-{FIELDS[key].widget_id}", FieldRow)
        except (NoMatches, KeyError):
            return None

    def rows(self) -> Iterable[FieldRow]:
        return self.root.query(FieldRow).results(FieldRow)

    def editing(self) -> list[FieldRow]:
        """The rows whose editor is mounted (a row's editor is composed after the row)."""
        return [r for r in self.rows() if r.is_mounted and r.query(f"#{r.spec.widget_id}")]

    def fill(self, source: Callable[[str], str]) -> None:
        """The configuration has been loaded: every mounted row shows its value and source."""
        for row in self.editing():
            row.set_value(self.session.state.get(row.spec.key))
            row.set_source(source(row.spec.key))

    def show_sources(self, source: Callable[[str], str]) -> None:
        for row in self.rows():
            row.set_source(source(row.spec.key))

    def show_findings(self, findings: list[Finding]) -> None:
        """One message per finding: under its first field; the others are marked and refer to it."""
        by_key: dict[str, Finding] = {}
        for finding in findings:
            for key in finding.fields:
                by_key.setdefault(key, finding)
        told: dict[int, str] = {}
        for row in self.rows():
            found = by_key.get(row.spec.key)
            if found is None:
                row.show_finding(None)
                continue
            first = told.setdefault(id(found), row.spec.label)
            row.show_finding(found, see=None if first == row.spec.label else first)

    def update_visibility(self) -> None:
        session = self.session
        # With OAuth2 no password is used: its rows would only ask for one.
        for row in self.rows():
            row.display = session.shows(row.spec)
        for widget in self.root.query(".smtp-only"):
            widget.display = session.state.driver_name == "smtp"

    def update_recipient(self) -> None:
        recipient = self.root.query_one_optional("#recipient", Input)
        if recipient is not None:
            recipient.placeholder = self.session.recipient_placeholder()

    def update_username_hint(self) -> None:
        session = self.session
        preset = self.services.match_preset(str(session.state.get("smtp.host") or ""))
        if (row := self.row("smtp.username")) is not None:
            hint = preset.username_hint if preset is not None and preset.username_hint else ""
            row.set_placeholder(hint or "empty: no login")

    def update_signin(self) -> SignInRow | None:
        """The sign-in row follows the values as typed (and the configuration as loaded)."""
        row = self._signin
        if row is None:
            # Looked up once it is built (the credentials section), then kept: this runs
            # with every keystroke's validation.
            if not self.root.query("#oauth2-signin"):
                return None
            from tui_mailsetup.tui.widgets.oauth2_signin import SignInRow

            row = self._signin = self.root.query_one("#oauth2-signin", SignInRow)
        row.settings = self.session.settings
        row.loaded = self.services.config.loaded if self.services.config.config_ready else None
        return row

    def update_secret_note(self) -> None:
        session = self.session
        note = self.root.query_one_optional("#secret-note", Static)
        if note is None:
            return
        name = "the provider"
        if session.uses_oauth2:
            from tui_mailsetup.tui.widgets.oauth2_signin import PROVIDER_NAMES

            provider = str(session.state.base.get("oauth2", {}).get("provider") or "")
            name = PROVIDER_NAMES.get(provider, provider or "the provider")
        said = session.secret_note(name)
        text = Text(said.text)
        if said.problem:
            text.append(f"\n{said.problem}", style="bold red")
        note.update(text)


def focus_chain(screen: Widget) -> list[Widget]:
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

    walk(screen, screen.visible)
    return chain


W = TypeVar("W", bound=Widget)


def ancestor(widget: Widget | None, kind: type[W]) -> W | None:
    """``widget`` or the nearest of its parents that is a ``kind`` (the focused row, …)."""
    while widget is not None:
        if isinstance(widget, kind):
            return widget
        parent = widget.parent
        widget = parent if isinstance(parent, Widget) else None
    return None
