"""The one settings model: every key of the configuration contract (README, "Configuration").

Precedence, highest first: command-line overrides, the environment
(``MAILSETUP_SECTION__KEY``), secrets directories (``$CREDENTIALS_DIRECTORY``,
``/run/secrets``, files named like the variables), the TOML file, defaults.
:mod:`tui_mailsetup.config_file` builds the layers one by one so that it can
say where every value came from.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, get_origin

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, SecretStr
from pydantic_core import PydanticCustomError

if TYPE_CHECKING:
    from pydantic.fields import FieldInfo

# The variables' names live in paths.py, which the TUI's cheap first read
# (startup/peek.py) shares; re-exported here for config_file.py.
from tui_mailsetup.paths import ENV_NESTED_DELIMITER as ENV_NESTED_DELIMITER
from tui_mailsetup.paths import ENV_PREFIX as ENV_PREFIX
from tui_mailsetup.sanitize import CONTROL_CHARACTERS, NOT_UTF8
from tui_mailsetup.startup.lazy import asyncio_deferred

# pydantic_settings imports asyncio at its top for one use that tui-mailsetup never makes:
# the stand-in, its cost and its tests are in tui_mailsetup/startup/ (the start-up room).
with asyncio_deferred():
    # Re-exported (``as``) for config_file.py, which must not import pydantic_settings
    # before this module has.
    from pydantic_settings import (
        BaseSettings as BaseSettings,
    )
    from pydantic_settings import (
        EnvSettingsSource,
        NestedSecretsSettingsSource,
        SettingsConfigDict,
    )
    from pydantic_settings import (
        PydanticBaseSettingsSource as PydanticBaseSettingsSource,
    )


# Control characters, line separators and bidirectional overrides are refused in every
# value; so are bytes that are not UTF-8 (they could not even be written to the file).
def _no_control_characters(value: str) -> str:
    if NOT_UTF8.search(value):
        raise ValueError("contains bytes that are not UTF-8 text")
    if match := CONTROL_CHARACTERS.search(value):
        raise ValueError(
            f"contains the control character U+{ord(match.group()):04X}; "
            "remove it (values are never repaired silently)"
        )
    return value


def _safe_secret(value: SecretStr | None) -> SecretStr | None:
    # The message never quotes the secret.
    if value is not None:
        text = value.get_secret_value()
        if NOT_UTF8.search(text):
            raise ValueError("the secret contains bytes that are not UTF-8 text")
        if match := CONTROL_CHARACTERS.search(text):
            raise ValueError(
                f"the secret contains the control character U+{ord(match.group()):04X}"
            )
    return value


SafeStr = Annotated[str, AfterValidator(_no_control_characters)]
Secret = Annotated[SecretStr | None, AfterValidator(_safe_secret)]


# Values invalid on their own are refused when they enter (set, the environment, the
# file, the TUI's save), each with the finding code validation reports it under.
# Empty values pass here: "not set" is validation's finding, not a syntax error.


def _field_rule(
    code: str, check: Callable[[str], object], prefix: str = "", *, allow_empty: bool = True
) -> AfterValidator:
    """``allow_empty``: an empty value means "the default" (a scalar field); an item of a
    list has no default, so an empty one is judged (and refused) like any other."""

    def validate(value: str) -> str:
        if value or not allow_empty:
            try:
                check(value)
            except ValueError as exc:
                message = f"{prefix}{exc}".replace("{", "{{").replace("}", "}}")
                raise PydanticCustomError(code, message) from None
        return value

    return AfterValidator(validate)


def _host_rule(value: str) -> None:
    from tui_mailsetup.names import check_host_value

    check_host_value(value)


def _ehlo_rule(value: str) -> None:
    from tui_mailsetup.names import validate_ehlo_name

    validate_ehlo_name(value)


def _fingerprint_rule(value: str) -> None:
    from tui_mailsetup.names import normalize_fingerprint

    normalize_fingerprint(value)


def _address_rule(value: str) -> None:
    from tui_mailsetup.names import check_address

    check_address(value)


def _mailbox_rule(value: str) -> None:
    """A Graph mailbox: an address (user principal name) or an object ID (a GUID)."""
    import re

    if "@" in value:
        _address_rule(value)
    elif not re.fullmatch(r"[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}", value):
        raise ValueError("is neither an address nor an object ID (a GUID)")


def _command_rule(value: str) -> None:
    import shlex

    try:
        argv = shlex.split(value)
    except ValueError as exc:
        raise ValueError(f"cannot be split into a command and its arguments: {exc}") from None
    if not argv:
        raise ValueError("has no command in it")


def _nameserver_rule(value: str) -> None:
    from tui_mailsetup.names import check_nameserver

    check_nameserver(value)


def _scope_rule(value: str) -> None:
    # RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ). The scopes are sent
    # joined by spaces, so a space would silently ask for two; a quote or a backslash is
    # forbidden outright, and nothing outside printable ASCII is a scope.
    if not value:
        raise ValueError("An OAuth2 scope is empty")
    bad = sorted({c for c in value if not ("\x21" <= c <= "\x7e") or c in '"\\'})
    if bad:
        shown = ", ".join("a space" if c == " " else repr(c) for c in bad)
        split = " (a space separates scopes: give each as its own item)" if " " in bad else ""
        raise ValueError(
            f"The OAuth2 scope {value!r} contains {shown}, which RFC 6749 does not allow "
            f"in a scope{split}"
        )


SENDER_NAME_MAX = 64


def sender_name_problem(value: str) -> str | None:
    """Why ``value`` is too long for a sender name ("is 70 characters; …"), or None."""
    if len(value) > SENDER_NAME_MAX:
        return f"is {len(value)} characters; at most {SENDER_NAME_MAX} are allowed"
    return None


def _sender_name_rule(value: str) -> None:
    if problem := sender_name_problem(value):
        raise ValueError(f"The sender name {problem}")


def _encoded_word_rule(value: str) -> None:
    if "=?" in value and "?=" in value:
        raise ValueError(
            "The sender name contains an RFC 2047 encoded word (=?…?=); write the name as "
            "plain text, it is encoded when the message is built"
        )


class Driver(StrEnum):
    SMTP = "smtp"
    SENDMAIL = "sendmail"
    MAILGUN = "mailgun"
    SES = "ses"
    GRAPH = "graph"


class Encryption(StrEnum):
    NONE = "none"
    STARTTLS = "starttls"
    TLS = "tls"


def _encryption_alias(value: object) -> object:
    # Older products call implicit TLS "SSL"; accept it on input, store "tls".
    if isinstance(value, str) and value.strip().lower() in {"ssl", "ssl/tls", "smtps", "implicit"}:
        return Encryption.TLS.value
    if isinstance(value, str):
        return value.strip().lower()
    return value


class AuthMechanism(StrEnum):
    AUTO = "auto"
    PLAIN = "plain"
    LOGIN = "login"
    CRAM_MD5 = "cram-md5"
    XOAUTH2 = "xoauth2"


class MailgunRegion(StrEnum):
    US = "us"
    EU = "eu"


def _lower(value: object) -> object:
    return value.strip().lower() if isinstance(value, str) else value


class SmtpSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    host: Annotated[SafeStr, _field_rule("host-invalid", _host_rule)] = ""
    """Server name or IP address of the SMTP relay."""
    port: int = Field(default=587, ge=1, le=65535)
    """TCP port: 587 or 2525 for STARTTLS, 465 for implicit TLS, 25 for a local relay."""
    encryption: Annotated[Encryption, BeforeValidator(_encryption_alias)] = Encryption.STARTTLS
    """none, starttls or tls (implicit TLS, "SSL" in older products)."""
    username: SafeStr = ""
    """Login name; empty means no authentication."""
    password: Secret = None
    """Secret: never stored in the configuration file (see set-secret)."""
    auth: Annotated[AuthMechanism, BeforeValidator(_lower)] = AuthMechanism.AUTO
    """Authentication mechanism: auto, plain, login, cram-md5 or xoauth2."""
    password_command: Annotated[SafeStr, _field_rule("password-command-invalid", _command_rule)] = (
        ""
    )
    """Command (no shell) whose output is the password or OAuth2 token, like msmtp's passwordeval."""
    ehlo_name: Annotated[SafeStr, _field_rule("ehlo-invalid", _ehlo_rule)] = ""
    """Name announced in EHLO; empty means this machine's name."""
    timeout: float = Field(default=30, gt=0, le=3600)
    """Seconds allowed for the whole conversation."""
    verify: bool = True
    """Verify the server's certificate."""
    ca_file: SafeStr = ""
    """Extra trusted CA bundle (PEM) for a private certificate authority."""
    fingerprint: Annotated[SafeStr, _field_rule("fingerprint-invalid", _fingerprint_rule)] = ""
    """Pinned SHA-256 fingerprint of the server certificate, for self-signed servers."""
    allow_plaintext_auth: bool = False
    """Allow sending credentials over an unencrypted connection (trusted local relay only)."""


class SenderSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    name: Annotated[
        SafeStr,
        _field_rule("sender-name-long", _sender_name_rule),
        _field_rule("sender-name-encoded-word", _encoded_word_rule),
    ] = ""
    """Display name in From (at most 64 characters)."""
    address: Annotated[SafeStr, _field_rule("sender-address-invalid", _address_rule)] = ""
    """Sender address in From and MAIL FROM."""


class SendmailSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    path: SafeStr = "/usr/sbin/sendmail"
    """Path to a sendmail-compatible binary."""


class MailgunSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    domain: SafeStr = ""
    """Sending domain configured in Mailgun."""
    region: Annotated[MailgunRegion, BeforeValidator(_lower)] = MailgunRegion.US
    """us or eu: the region the domain was created in."""
    base_url: SafeStr = ""
    """API base URL; empty means the region's API."""
    api_key: Secret = None
    """Secret: the Mailgun API key (see set-secret)."""


class SesSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    region: SafeStr = "us-east-1"
    """AWS region of the SES account."""
    endpoint_url: SafeStr = ""
    """API endpoint; empty means AWS."""
    access_key_id: SafeStr = ""
    """AWS access key ID, used with the secret ses.secret_access_key as explicit credentials.
    Empty: the standard AWS credential chain (environment, profile, SSO, container, instance role)."""
    secret_access_key: Secret = None
    """Secret: the AWS secret access key (see set-secret); only with ses.access_key_id."""
    profile: SafeStr = ""
    """Named profile in ~/.aws/config and ~/.aws/credentials (SSO and assumed roles included);
    empty: AWS_PROFILE, else the default chain. A profile set here takes precedence over
    AWS_ACCESS_KEY_ID in the environment, as in the AWS CLI's --profile."""


class GraphSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    mailbox: Annotated[SafeStr, _field_rule("graph-mailbox-invalid", _mailbox_rule)] = ""
    """The mailbox the message is sent as (its address or object ID); empty: sender.address.
    An app-only token needs the Mail.Send application permission for it."""
    endpoint: SafeStr = ""
    """Graph's root URL; empty: https://graph.microsoft.com. National clouds:
    https://graph.microsoft.us, https://dod-graph.microsoft.us, https://microsoftgraph.chinacloudapi.cn
    (with the matching oauth2.token_url)."""
    save_to_sent_items: bool = False
    """Keep a copy in the mailbox's Sent Items (Graph's saveToSentItems)."""


class OAuth2Provider(StrEnum):
    MICROSOFT = "microsoft"
    GOOGLE = "google"
    CUSTOM = "custom"


class OAuth2Flow(StrEnum):
    DEVICE_CODE = "device-code"
    CLIENT_CREDENTIALS = "client-credentials"
    SERVICE_ACCOUNT = "service-account"


def _flow_alias(value: object) -> object:
    # "device_code" and "client_credentials" are how the RFCs spell them.
    return value.strip().lower().replace("_", "-") if isinstance(value, str) else value


class OAuth2Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    provider: Annotated[OAuth2Provider, BeforeValidator(_lower)] = OAuth2Provider.MICROSOFT
    """Who issues the tokens for auth = xoauth2: microsoft, google or custom."""
    flow: Annotated[OAuth2Flow, BeforeValidator(_flow_alias)] = OAuth2Flow.DEVICE_CODE
    """device-code (a person signs in once, from any browser), client-credentials (Microsoft app-only) or service-account (Google domain-wide delegation)."""
    tenant: SafeStr = ""
    """Microsoft tenant (ID or domain); empty: organizations for device-code. Required for client-credentials."""
    client_id: SafeStr = ""
    """Application (client) ID of the app registration."""
    scopes: list[
        Annotated[SafeStr, _field_rule("oauth2-scope-invalid", _scope_rule, allow_empty=False)]
    ] = []  # not default_factory=list: see DnsSettings.nameservers
    """Scopes to request; empty means the provider's defaults for the flow."""
    token_url: SafeStr = ""
    """Token endpoint; empty means the provider's. Set for sovereign clouds, other providers and tests."""
    device_authorization_url: SafeStr = ""
    """Device authorization endpoint (RFC 8628); empty means the provider's."""
    certificate_file: SafeStr = ""
    """PEM file with the app's certificate and private key (0600): Microsoft app-only without a client secret."""
    service_account_file: SafeStr = ""
    """Google service-account key file (JSON, keep it 0600), for flow = service-account."""
    user: SafeStr = ""
    """The mailbox the service account acts as (domain-wide delegation); empty: smtp.username."""
    client_secret: Secret = None
    """Secret: the app registration's client secret (see set-secret)."""
    token: Secret = None
    """Secret: the token store that oauth2 login writes (refresh token, cached access token, expiry)."""
    allow_plaintext_loopback: bool = False
    """Allow a plain http:// token or device endpoint on the loopback interface (a local test
    server or a token broker on this machine); never for another host, which is refused."""


class DnsSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    # Plain defaults, not default_factory=list: pydantic copies a mutable default for each
    # instance, and asking the signature of the builtin `list` (as pydantic does for a
    # default_factory) compiles tokenize's regexes: most of the model's build at every start.
    nameservers: list[
        Annotated[SafeStr, _field_rule("nameserver-invalid", _nameserver_rule, allow_empty=False)]
    ] = []
    """Resolvers to ask, "127.0.0.1:5353" style allowed; empty means the system resolver."""
    timeout: float = Field(default=5.0, gt=0, le=120)
    """Seconds one DNS query may take: a name server that does not answer within this is
    given up on, and a resolver that answers nothing ends the whole run within about this."""
    budget: float = Field(default=20.0, gt=0, le=600)
    """Seconds a whole run of lookups may take (an SPF evaluation with nested includes, all
    the sender-domain checks): RFC 7208 §4.6.4 gives an SPF evaluation at least 20 s, so a
    slow but answering server is waited for. Never less than dns.timeout."""
    https_base_url: SafeStr = ""
    """Where HTTPS fetches of the DNS checks (the MTA-STS policy) connect instead of the
    domain's own server, e.g. "https://127.0.0.1:8443" for tests; the certificate is still
    verified for the real name (mta-sts.<domain>). Empty: the domain's own server."""


class DetectSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    ispdb: bool = True
    """Ask Thunderbird's public ISPDB about the domain (the domain name is sent to it; detect says so)."""
    ispdb_url: SafeStr = "https://autoconfig.thunderbird.net/v1.1/"
    """Base URL of the ISPDB (or a compatible service); the domain is appended to it."""
    autoconfig_urls: list[SafeStr] = Field(
        default_factory=lambda: [
            "https://autoconfig.{domain}/mail/config-v1.1.xml",
            "https://{domain}/.well-known/autoconfig/mail/config-v1.1.xml",
        ]
    )
    """Where a domain publishes its own autoconfig file; {domain} is replaced (HTTPS only)."""
    probe: bool = True
    """Verify candidates by connecting: greeting, EHLO, TLS or STARTTLS, QUIT (never AUTH, never a message)."""
    timeout: float = Field(default=10, gt=0, le=300)
    """Seconds for the whole detection, lookups and probes included."""


class MailSettings(BaseSettings):
    """Everything tui-mailsetup needs to send mail."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter=ENV_NESTED_DELIMITER,
        extra="forbid",
        validate_assignment=True,
        nested_model_default_partial_update=True,
    )

    driver: Annotated[Driver, BeforeValidator(_lower)] = Driver.SMTP
    """smtp, sendmail, mailgun, ses or graph (Microsoft Graph sendMail, the token from [oauth2])."""
    smtp: SmtpSettings = Field(default_factory=SmtpSettings)
    sender: SenderSettings = Field(default_factory=SenderSettings)
    sendmail: SendmailSettings = Field(default_factory=SendmailSettings)
    mailgun: MailgunSettings = Field(default_factory=MailgunSettings)
    ses: SesSettings = Field(default_factory=SesSettings)
    graph: GraphSettings = Field(default_factory=GraphSettings)
    dns: DnsSettings = Field(default_factory=DnsSettings)
    detect: DetectSettings = Field(default_factory=DetectSettings)
    oauth2: OAuth2Settings = Field(default_factory=OAuth2Settings)

    # Keys whose values are secrets: never written to the main file, never printed.
    SECRET_KEYS: ClassVar[tuple[str, ...]] = (
        "smtp.password",
        "mailgun.api_key",
        "ses.secret_access_key",
        "oauth2.client_secret",
        "oauth2.token",
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Constructing MailSettings validates exactly what it is given and
        # reads nothing: the TUI builds candidates on every keystroke.
        # config_file.load_config() reads the layers (environment_source(),
        # secrets_dir_source(), the TOML file) itself, so it can record
        # where each value came from.
        return (init_settings,)


LIST_FORMS = 'comma-separated (a,b) or JSON (["a", "b"])'
"""How a list is written wherever one value is text: the environment, --override, set."""


def parse_list_text(raw: str) -> list[str]:
    """A list setting written as text, in the one way every entry point reads it: JSON
    (``["a", "b"]``) when it starts with ``[``, else comma-separated (``a, b``; empty
    items dropped, so "" is the empty list). ValueError, saying the forms, for anything
    else: a malformed JSON list, or one that holds anything but text."""
    text = raw.strip()
    if not text.startswith("["):
        return [part.strip() for part in text.split(",") if part.strip()]
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        raise ValueError(f"is not a valid JSON list; write it {LIST_FORMS}") from None
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValueError(f"must be a list of text; write it {LIST_FORMS}")
    return value


def list_keys(model: type[BaseModel] = MailSettings, prefix: str = "") -> frozenset[str]:
    """The dotted keys whose value is a list (dns.nameservers, oauth2.scopes, …)."""
    keys: set[str] = set()
    for name, info in model.model_fields.items():
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            keys |= list_keys(annotation, f"{prefix}{name}.")
        elif get_origin(annotation) is list:
            keys.add(f"{prefix}{name}")
    return frozenset(keys)


class _EnvironmentSource(EnvSettingsSource):
    """pydantic-settings' environment source, reading a list the way --override and set do.

    A value that is not a usable list is passed on as the text it is: validation then
    refuses it (78) naming the variable and the expected forms (config_file._problems),
    where pydantic-settings would raise its own error for the whole section."""

    def decode_complex_value(self, field_name: str, field: FieldInfo, value: Any) -> Any:
        if field is not None and get_origin(field.annotation) is list and isinstance(value, str):
            try:
                return parse_list_text(value)
            except ValueError:
                return value
        return super().decode_complex_value(field_name, field, value)


def environment_source() -> PydanticBaseSettingsSource:
    return _EnvironmentSource(
        MailSettings,
        env_prefix=ENV_PREFIX,
        env_nested_delimiter=ENV_NESTED_DELIMITER,
        case_sensitive=False,
    )


def secrets_dir_source() -> PydanticBaseSettingsSource:
    """Files named like the variables (``mailsetup_smtp__password``) in the secrets directories."""
    from tui_mailsetup import paths

    existing = [d for d in paths.secrets_dirs() if d.is_dir()]
    return NestedSecretsSettingsSource(
        file_secret_settings=MailSettings,  # type: ignore[arg-type]
        secrets_dir=existing or None,
        secrets_dir_missing="ok",
        secrets_prefix=ENV_PREFIX,
        secrets_nested_delimiter=ENV_NESTED_DELIMITER,
        secrets_case_sensitive=False,
    )


def field_keys(model: type[BaseModel] = MailSettings, prefix: str = "") -> list[str]:
    """Every settable dotted key (``smtp.port``), in declaration order."""
    keys: list[str] = []
    for name, info in model.model_fields.items():
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            keys.extend(field_keys(annotation, f"{prefix}{name}."))
        else:
            keys.append(f"{prefix}{name}")
    return keys


def field_doc(key: str) -> str:
    """The docstring under a field, for help texts (``f1`` in the TUI, ``--help``)."""
    # Read from this module's source on first use rather than with pydantic's
    # use_attribute_docstrings, which parses the source while the classes are
    # built and so slows every headless command for the sake of the TUI's help key.
    from tui_mailsetup.startup.declared import declared

    return declared().doc(key)


def get_value(settings: BaseModel, key: str) -> Any:
    value: Any = settings
    for part in key.split("."):
        value = getattr(value, part)
    return value


def to_plain(settings: MailSettings, *, include_secrets: bool = False) -> dict[str, Any]:
    """Nested like the TOML; secrets are None when unset, masked otherwise."""
    data = settings.model_dump(mode="json")
    for key in MailSettings.SECRET_KEYS:
        section, name = key.split(".")
        secret = get_value(settings, key)
        if secret is None:
            data[section][name] = None
        else:
            data[section][name] = secret.get_secret_value() if include_secrets else "**********"
    return data


def is_secret_key(key: str) -> bool:
    return key in MailSettings.SECRET_KEYS


SECRET_KEY_FOR_DRIVER: dict[Driver, str] = {
    Driver.SMTP: "smtp.password",
    Driver.MAILGUN: "mailgun.api_key",
    Driver.SES: "ses.secret_access_key",
    Driver.GRAPH: "oauth2.token",
}
"""The secret each driver needs (one of MailSettings.SECRET_KEYS); Sendmail's local mail
system holds its own."""


def expand_path(value: str) -> Path:
    return Path(value).expanduser()
