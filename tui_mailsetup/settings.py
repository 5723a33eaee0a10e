"""The one settings model: every key of PRODUCT.md's configuration contract.

Precedence, highest first: command-line overrides, the environment
(``MAILSETUP_SECTION__KEY``), secrets directories (``$CREDENTIALS_DIRECTORY``,
``/run/secrets``, files named like the variables), the TOML file, defaults.
:mod:`tui_mailsetup.config_file` builds the layers one by one so that it can
say where every value came from.
"""

from __future__ import annotations

import re
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, ClassVar

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, SecretStr
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    NestedSecretsSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

ENV_PREFIX = "MAILSETUP_"
ENV_NESTED_DELIMITER = "__"

# C0 controls, DEL and C1 controls: any of them in a value that ends up in an
# SMTP command or a header could split a command or smuggle a header. Line and
# paragraph separators, which Python's email package treats as line breaks,
# and the bidirectional overrides, which make text read other than it is.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff]")


def _no_control_characters(value: str) -> str:
    if match := _CONTROL.search(value):
        raise ValueError(
            f"contains the control character U+{ord(match.group()):04X}; "
            "remove it (values are never repaired silently)"
        )
    return value


SafeStr = Annotated[str, AfterValidator(_no_control_characters)]


class Driver(StrEnum):
    SMTP = "smtp"
    SENDMAIL = "sendmail"
    MAILGUN = "mailgun"
    SES = "ses"


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

    host: SafeStr = ""
    """Server name or IP address of the SMTP relay."""
    port: int = Field(default=587, ge=1, le=65535)
    """TCP port: 587 or 2525 for STARTTLS, 465 for implicit TLS, 25 for a local relay."""
    encryption: Annotated[Encryption, BeforeValidator(_encryption_alias)] = Encryption.STARTTLS
    """none, starttls or tls (implicit TLS, "SSL" in older products)."""
    username: SafeStr = ""
    """Login name; empty means no authentication."""
    password: SecretStr | None = None
    """Secret: never stored in the configuration file (see set-secret)."""
    auth: Annotated[AuthMechanism, BeforeValidator(_lower)] = AuthMechanism.AUTO
    """Authentication mechanism: auto, plain, login, cram-md5 or xoauth2."""
    password_command: SafeStr = ""
    """Command (no shell) whose output is the password or OAuth2 token, like msmtp's passwordeval."""
    ehlo_name: SafeStr = ""
    """Name announced in EHLO; empty means this machine's name."""
    timeout: float = Field(default=30, gt=0, le=3600)
    """Seconds allowed for the whole conversation."""
    verify: bool = True
    """Verify the server's certificate."""
    ca_file: SafeStr = ""
    """Extra trusted CA bundle (PEM) for a private certificate authority."""
    fingerprint: SafeStr = ""
    """Pinned SHA-256 fingerprint of the server certificate, for self-signed servers."""
    allow_plaintext_auth: bool = False
    """Allow sending credentials over an unencrypted connection (trusted local relay only)."""


class SenderSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    name: SafeStr = ""
    """Display name in From (at most 64 characters)."""
    address: SafeStr = ""
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
    api_key: SecretStr | None = None
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
    secret_access_key: SecretStr | None = None
    """Secret: the AWS secret access key (see set-secret); only with ses.access_key_id."""
    profile: SafeStr = ""
    """Named profile in ~/.aws/config and ~/.aws/credentials (SSO and assumed roles included);
    empty: AWS_PROFILE, else the default chain. A profile set here takes precedence over
    AWS_ACCESS_KEY_ID in the environment, as in the AWS CLI's --profile."""


class DnsSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    # A plain default, not default_factory=list: pydantic copies a mutable default for each
    # instance, and asking the signature of the builtin `list` compiles tokenize's regexes
    # (most of the model's build time at every start).
    nameservers: list[SafeStr] = []
    """Resolvers to ask, "127.0.0.1:5353" style allowed; empty means the system resolver."""


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
    """smtp, sendmail, mailgun or ses."""
    smtp: SmtpSettings = Field(default_factory=SmtpSettings)
    sender: SenderSettings = Field(default_factory=SenderSettings)
    sendmail: SendmailSettings = Field(default_factory=SendmailSettings)
    mailgun: MailgunSettings = Field(default_factory=MailgunSettings)
    ses: SesSettings = Field(default_factory=SesSettings)
    dns: DnsSettings = Field(default_factory=DnsSettings)
    detect: DetectSettings = Field(default_factory=DetectSettings)

    # Keys whose values are secrets: never written to the main file, never printed.
    SECRET_KEYS: ClassVar[tuple[str, ...]] = (
        "smtp.password",
        "mailgun.api_key",
        "ses.secret_access_key",
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


def environment_source() -> PydanticBaseSettingsSource:
    return EnvSettingsSource(
        MailSettings,
        env_prefix=ENV_PREFIX,
        env_nested_delimiter=ENV_NESTED_DELIMITER,
        case_sensitive=False,
    )


def secrets_dir_source() -> PydanticBaseSettingsSource:
    """Files named like the variables (``mailsetup_smtp__password``) in the secrets directories."""
    from tui_mailsetup import paths

    existing = [d for d in paths.current().secrets_dirs if d.is_dir()]
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
    from tui_mailsetup.settings_source import declared

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


def default_ehlo_name() -> str:
    import socket

    return socket.getfqdn() or "localhost"


def expand_path(value: str) -> Path:
    return Path(value).expanduser()
