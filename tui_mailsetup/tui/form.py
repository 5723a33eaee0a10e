"""What the settings form shows, and the raw values it holds while a person types.

This module knows nothing of Textual: it describes the fields (label, kind,
which driver they belong to, which section they sit in) and turns the raw text
of the widgets into the nested mapping that
:func:`tui_mailsetup.validation.evaluate` validates. Validation itself is the
engine's: nothing here decides whether a value is good.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from tui_mailsetup.settings import Driver, MailSettings

# The settings model (pydantic) is imported inside the functions that need values: the
# TUI's first frame is drawn from this module before the model is loaded. The tables
# below are keyed by the enums' values (a StrEnum member finds its label too);
# tests/tui/test_tui_form.py checks that they cover the enums of settings.py.

Kind = Literal["text", "int", "float", "select", "bool", "secret"]
Options = tuple[tuple[str, str], ...]

SMTP = frozenset({"smtp"})
SENDMAIL = frozenset({"sendmail"})
MAILGUN = frozenset({"mailgun"})
SES = frozenset({"ses"})
GRAPH = frozenset({"graph"})

DRIVER_LABELS: dict[str, str] = {
    "smtp": "SMTP server",
    "sendmail": "Sendmail (local binary)",
    "mailgun": "Mailgun (HTTP API)",
    "ses": "Amazon SES (API)",
    "graph": "Microsoft Graph (API; when SMTP AUTH is off)",
}

FORM_SECRET_KEYS: dict[str, str] = {"graph": "oauth2.client_secret"}
"""The secret typed in the form where it is not the one the driver sends with (Graph sends
with an access token, obtained with the app's client secret)."""

GRAPH_FLOW_LABELS: dict[str, str] = {
    "client-credentials": "App (client credentials)",
    "device-code": "Person's sign-in (device code)",
}

ENCRYPTION_LABELS: dict[str, str] = {
    "starttls": "STARTTLS (587, 25, 2525)",
    "tls": "TLS (implicit, 465)",
    "none": "None (local relay only)",
}

MAILGUN_REGION_LABELS: dict[str, str] = {"us": "US", "eu": "EU"}


def _auth_options() -> Options:
    from tui_mailsetup.settings import AuthMechanism

    return tuple((m.value, m.value) for m in AuthMechanism)


# The port each encryption mode is usually spoken on, and the ports that are
# "usual" for some mode: only those are replaced when the mode changes, so a
# deliberate custom port is never overwritten.


@dataclass(frozen=True)
class FieldSpec:
    key: str
    label: str
    kind: Kind = "text"
    options: Options | Callable[[], Options] = ()
    """A select's (label, value) pairs, or a function giving them when the row is built."""
    placeholder: str = ""
    drivers: frozenset[str] | None = None
    """The drivers (``Driver`` values) the field belongs to; None: every driver."""

    @property
    def widget_id(self) -> str:
        return widget_id(self.key)

    @property
    def choices(self) -> Options:
        return self.options() if callable(self.options) else self.options

    def applies_to(self, driver: Driver | str) -> bool:
        return self.drivers is None or str(driver) in self.drivers


@dataclass(frozen=True)
class Section:
    id: str
    title: str
    fields: tuple[FieldSpec, ...] = ()
    intro: str = ""


def widget_id(key: str) -> str:
    return "f-" + key.replace(".", "--").replace("_", "-")


def _options(enum_labels: Mapping[str, str]) -> Options:
    return tuple((label, str(value)) for value, label in enum_labels.items())


SECTIONS: tuple[Section, ...] = (
    Section(
        "driver",
        "Driver",
        (FieldSpec("driver", "Send with", "select", _options(DRIVER_LABELS)),),
        intro="How this machine hands mail over. Most services offer SMTP; "
        "Mailgun and Amazon SES also have an HTTP API.",
    ),
    Section(
        "server",
        "Server",
        (
            FieldSpec("smtp.host", "Host", placeholder="smtp.example.com", drivers=SMTP),
            FieldSpec("smtp.port", "Port", "int", placeholder="587", drivers=SMTP),
            FieldSpec(
                "smtp.encryption", "Encryption", "select", _options(ENCRYPTION_LABELS), drivers=SMTP
            ),
            FieldSpec("smtp.verify", "Verify cert", "bool", drivers=SMTP),
            FieldSpec(
                "smtp.ca_file",
                "CA file",
                placeholder="optional: PEM file of a private CA",
                drivers=SMTP,
            ),
            FieldSpec(
                "smtp.fingerprint",
                "Pinned cert",
                placeholder="optional: SHA-256 of a self-signed cert",
                drivers=SMTP,
            ),
            FieldSpec(
                "smtp.ehlo_name", "EHLO name", placeholder="this machine's name", drivers=SMTP
            ),
            FieldSpec("smtp.timeout", "Timeout (s)", "float", placeholder="30", drivers=SMTP),
            FieldSpec("sendmail.path", "Sendmail path", drivers=SENDMAIL),
            FieldSpec("mailgun.domain", "Domain", placeholder="mg.example.com", drivers=MAILGUN),
            FieldSpec(
                "mailgun.region",
                "Region",
                "select",
                _options(MAILGUN_REGION_LABELS),
                drivers=MAILGUN,
            ),
            FieldSpec(
                "mailgun.base_url", "API URL", placeholder="the region's API", drivers=MAILGUN
            ),
            FieldSpec("ses.region", "Region", placeholder="us-east-1", drivers=SES),
            FieldSpec("ses.endpoint_url", "Endpoint", placeholder="AWS", drivers=SES),
            FieldSpec(
                "graph.mailbox", "Mailbox", placeholder="empty: the sender address", drivers=GRAPH
            ),
            FieldSpec(
                "graph.endpoint",
                "Graph URL",
                placeholder="https://graph.microsoft.com",
                drivers=GRAPH,
            ),
            FieldSpec("graph.save_to_sent_items", "Sent Items", "bool", drivers=GRAPH),
        ),
    ),
    Section(
        "credentials",
        "Credentials",
        (
            FieldSpec("smtp.username", "Username", placeholder="empty: no login", drivers=SMTP),
            FieldSpec("smtp.password", "Password", "secret", drivers=SMTP),
            FieldSpec(
                "smtp.password_command",
                "Password cmd",
                placeholder="optional: argv printing the password",
                drivers=SMTP,
            ),
            FieldSpec(
                "smtp.auth",
                "Mechanism",
                "select",
                _auth_options,
                drivers=SMTP,
            ),
            FieldSpec("smtp.allow_plaintext_auth", "Plain-text auth", "bool", drivers=SMTP),
            FieldSpec("mailgun.api_key", "API key", "secret", drivers=MAILGUN),
            FieldSpec(
                "ses.profile", "AWS profile", placeholder="empty: the AWS chain", drivers=SES
            ),
            FieldSpec("ses.access_key_id", "Access key ID", placeholder="AKIA…", drivers=SES),
            FieldSpec("ses.secret_access_key", "Secret key", "secret", drivers=SES),
            FieldSpec(
                "oauth2.flow", "Sign-in", "select", _options(GRAPH_FLOW_LABELS), drivers=GRAPH
            ),
            FieldSpec(
                "oauth2.tenant", "Tenant", placeholder="contoso.onmicrosoft.com", drivers=GRAPH
            ),
            FieldSpec("oauth2.client_id", "Client ID", placeholder="the app's ID", drivers=GRAPH),
            FieldSpec("oauth2.client_secret", "Client secret", "secret", drivers=GRAPH),
            FieldSpec(
                "oauth2.certificate_file",
                "Certificate",
                placeholder="optional: PEM with key, instead of a secret",
                drivers=GRAPH,
            ),
        ),
    ),
    Section(
        "sender",
        "Sender",
        (
            FieldSpec("sender.name", "Name", placeholder="Acme Licensing (64 characters at most)"),
            FieldSpec("sender.address", "Address", placeholder="licensing@acme.example"),
        ),
    ),
    Section("review", "Review & test"),
)

SECTION_BY_ID: dict[str, Section] = {section.id: section for section in SECTIONS}
FIELDS: dict[str, FieldSpec] = {spec.key: spec for section in SECTIONS for spec in section.fields}
SECRET_FIELDS = tuple(key for key, spec in FIELDS.items() if spec.kind == "secret")
_INT = re.compile(r"^\s*[+-]?\d+\s*$")
_FLOAT = re.compile(r"^\s*[+-]?(\d+\.?\d*|\.\d+)\s*$")


def section_of(key: str) -> Section | None:
    for section in SECTIONS:
        if any(spec.key == key for spec in section.fields):
            return section
    return None


def display_value(settings: MailSettings, spec: FieldSpec) -> Any:
    """The widget value for a setting: text for inputs, bool for switches."""
    from tui_mailsetup.settings import get_value

    if spec.kind == "secret":
        return ""
    value = get_value(settings, spec.key)
    if spec.kind == "bool":
        return bool(value)
    if spec.kind == "float" and isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def parse_raw(spec: FieldSpec, raw: Any) -> Any:
    """What the widget holds, as close to its type as it goes; the validator judges the rest.

    Text that is not a number stays text, so the validator reports it
    ("Input should be a valid integer") instead of this module guessing.
    """
    if spec.kind == "bool":
        return bool(raw)
    text = "" if raw is None else str(raw)
    if spec.kind == "int" and _INT.match(text):
        return int(text)
    if spec.kind == "float" and _FLOAT.match(text):
        return float(text)
    return text


@dataclass
class FormState:
    """The values a person is editing: the loaded settings plus what they typed."""

    base: dict[str, Any]
    """The settings as loaded, nested like the TOML (``model_dump``), secrets left out."""
    raw: dict[str, Any] = field(default_factory=dict)
    """Widget values by dotted key, as typed."""
    secrets: dict[str, str] = field(default_factory=dict)
    """Secrets typed in this session (never shown again once saved)."""
    known_secrets: dict[str, str | None] = field(default_factory=dict)
    """Where each secret would come from when none is typed (environment, credentials file …)."""

    @classmethod
    def from_settings(
        cls, settings: MailSettings, known_secrets: Mapping[str, str | None] | None = None
    ) -> FormState:
        from tui_mailsetup.settings import MailSettings

        base = settings.model_dump(mode="json")
        for key in MailSettings.SECRET_KEYS:
            section, name = key.split(".")
            base[section][name] = None
        raw = {key: display_value(settings, spec) for key, spec in FIELDS.items()}
        return cls(base, raw, {}, dict(known_secrets or {}))

    @classmethod
    def provisional(cls, driver: str) -> FormState:
        """Before the configuration is loaded: only the driver (the first frame's one field)."""
        return cls({}, {"driver": driver if driver in DRIVER_LABELS else "smtp"})

    def set(self, key: str, value: Any) -> bool:
        """Record a widget's value; True when it changed."""
        spec = FIELDS[key]
        if spec.kind == "secret":
            text = "" if value is None else str(value)
            secret_changed = self.secrets.get(key, "") != text
            if text:
                self.secrets[key] = text
            else:
                self.secrets.pop(key, None)
            return secret_changed
        changed: bool = self.raw.get(key) != value
        self.raw[key] = value
        return changed

    def get(self, key: str) -> Any:
        spec = FIELDS[key]
        if spec.kind == "secret":
            return self.secrets.get(key, "")
        return self.raw.get(key)

    @property
    def driver_name(self) -> str:
        """The driver's value as typed ("smtp" when it is none of them), without the model."""
        name = str(self.raw.get("driver", "smtp"))
        return name if name in DRIVER_LABELS else "smtp"

    @property
    def driver(self) -> Driver:
        from tui_mailsetup.settings import Driver

        try:
            return Driver(str(self.raw.get("driver", "smtp")))
        except ValueError:
            return Driver.SMTP

    def data(self) -> dict[str, Any]:
        """The nested mapping to validate: loaded values overlaid with what was typed."""
        data = copy.deepcopy(self.base)
        for key, value in self.raw.items():
            spec = FIELDS[key]
            if spec.kind == "secret":
                continue
            _assign(data, key, parse_raw(spec, value))
        for key, value in self.secrets.items():
            _assign(data, key, value)
        return data

    def secret_sources(self) -> dict[str, str | None]:
        """For validation: a typed secret counts as a source, else where one would come from."""
        sources = dict(self.known_secrets)
        for key in self.secrets:
            sources[key] = "typed"
        return sources

    def snapshot(self) -> tuple[dict[str, Any], dict[str, str]]:
        return dict(self.raw), dict(self.secrets)

    def changed_keys(self, saved: Mapping[str, Any]) -> list[str]:
        return [key for key, value in self.raw.items() if saved.get(key) != value]


def _assign(data: dict[str, Any], key: str, value: Any) -> None:
    *parents, name = key.split(".")
    section = data
    for part in parents:
        section = section.setdefault(part, {})
    section[name] = value


def suggested_port(encryption: str, port: Any) -> int | None:
    """The port to switch to when the encryption mode changes, or None to leave it."""
    from tui_mailsetup.ports import IMPLICIT_TLS_PORTS, STARTTLS_PORTS, USUAL_PORT
    from tui_mailsetup.settings import Encryption

    try:
        current = int(str(port).strip())
    except ValueError:
        current = None
    try:
        mode = Encryption(encryption)
    except ValueError:
        return None
    # A port outside the usual ones was chosen on purpose; one that already fits stays.
    # (`none` starts in plain text like STARTTLS, so the STARTTLS ports fit it too.)
    if current is not None and current not in IMPLICIT_TLS_PORTS | STARTTLS_PORTS:
        return None
    fitting = IMPLICIT_TLS_PORTS if mode is Encryption.TLS else STARTTLS_PORTS
    if current is not None and current in fitting:
        return None
    return USUAL_PORT[mode]
