"""The settings, written in the form another program reads.

Formats: ``msmtp`` (an msmtprc account), ``postfix`` (main.cf parameters for a
relay) and ``postfix-sasl`` (its ``sasl_passwd`` line), ``env`` (Laravel's
``MAIL_*`` names, a ``.env`` file), ``django`` (a settings.py fragment) and
``json``.

Secrets are written only when the caller passes them (``--include-secrets``);
otherwise msmtp gets a ``passwordeval`` that calls back into
``tui-mailsetup get-secret``, and the other formats a placeholder or a note.

Every value is quoted for the format it lands in, so a value with spaces,
quotes, ``$`` or ``#`` reads back as itself and can never start a new line or
a new setting. A value that a format cannot carry safely is refused
(:class:`ExportError`), never silently altered.

Pure functions from settings to text: no Textual, no network.
"""

from __future__ import annotations

import json
import re
import shlex
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from email.headerregistry import Address
from pathlib import Path

from tui_mailsetup import __version__, files
from tui_mailsetup.endpoints import (
    URL_KEYS_BY_DRIVER,
    mailgun_api_host,
    mailgun_api_url,
    ses_endpoint,
    url_problem,
)
from tui_mailsetup.exitcodes import ExitCode
from tui_mailsetup.names import FingerprintFormatError, host_to_ascii, normalize_fingerprint
from tui_mailsetup.sanitize import LINE_BREAKERS
from tui_mailsetup.settings import Driver, Encryption, MailSettings, to_plain

FORMATS: tuple[str, ...] = ("msmtp", "postfix", "postfix-sasl", "env", "django", "json")
ALIASES: Mapping[str, str] = {
    "msmtprc": "msmtp",
    "main.cf": "postfix",
    "sasl_passwd": "postfix-sasl",
    "sasl": "postfix-sasl",
    "dotenv": "env",
    "laravel": "env",
}
# Formats whose output is a secret store by nature, written 0600 whatever is in it.
ALWAYS_PRIVATE: frozenset[str] = frozenset({"postfix-sasl"})
PASSWORD_PLACEHOLDER = "<password>"
POSTFIX_SASL_MAP = "${default_database_type}:${config_directory}/sasl_passwd"


GRAPH_FORMATS = ("env", "json")
"""What the graph driver exports to: an application speaking Graph itself, or the settings."""


class ExportError(Exception):
    """The settings cannot be exported in the asked format; nothing was written."""

    def __init__(self, message: str, exit_code: ExitCode = ExitCode.CONFIG) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass(frozen=True)
class ExportOptions:
    secrets: Mapping[str, str | None] | None = None
    """Secret values by dotted key; None means "do not include secrets"."""
    config_path: Path | None = None
    """The configuration the callback commands (msmtp's passwordeval) should read."""
    program: Sequence[str] = field(default_factory=lambda: tuple(program_argv()))
    """How to run tui-mailsetup from another program."""
    account: str = "tui-mailsetup"
    """msmtp: the account's name (export --account; export_target.check_account_name)."""

    @property
    def include_secrets(self) -> bool:
        return self.secrets is not None

    def secret(self, key: str) -> str | None:
        return None if self.secrets is None else self.secrets.get(key)


def program_argv() -> list[str]:
    """How another program (msmtp) can run this tui-mailsetup.

    The console script that is running now, by its absolute path, else this
    interpreter with ``-m``: either works without a PATH and without a
    version manager picking another Python.
    """
    running = Path(sys.argv[0]) if sys.argv and sys.argv[0] else None
    if running is not None and running.name == "tui-mailsetup" and running.is_file():
        return [str(running.resolve())]
    return [sys.executable, "-m", "tui_mailsetup"]


def canonical_format(name: str) -> str:
    lowered = name.strip().lower()
    lowered = ALIASES.get(lowered, lowered)
    if lowered not in FORMATS:
        raise ExportError(
            f"unknown export format {name!r}; choose one of: {', '.join(FORMATS)}", ExitCode.USAGE
        )
    return lowered


def render(fmt: str, settings: MailSettings, options: ExportOptions | None = None) -> str:
    """The exported text for ``fmt`` (see :data:`FORMATS`)."""
    options = options or ExportOptions()
    fmt = canonical_format(fmt)
    if settings.driver is Driver.GRAPH and fmt not in GRAPH_FORMATS:
        raise ExportError(
            f"the graph driver sends through Microsoft Graph's HTTPS API, which {fmt} cannot "
            f"use; export it as {' or '.join(GRAPH_FORMATS)}, or make `tui-mailsetup sendmail` "
            "this machine's sendmail (see tui-mailsetup mta apply --mta tui-mailsetup)",
            ExitCode.CONFIG,
        )
    renderer = _RENDERERS[fmt]
    _require_usable_api_urls(settings)
    return renderer(settings, options)


def _require_usable_api_urls(settings: MailSettings) -> None:
    """The driver's URL settings, by the rule the driver sends by: an export of a URL the
    driver would refuse would configure another program to send the key in clear text."""
    for key in URL_KEYS_BY_DRIVER.get(settings.driver.value, ()):
        section, name = key.split(".")
        url = str(getattr(getattr(settings, section), name))
        if url and (problem := url_problem(url)) is not None:
            raise ExportError(f"{key}: the URL {problem.message}")


def output_mode(fmt: str, *, include_secrets: bool) -> int:
    """The file mode an export is written with: 0600 when it may hold a secret."""
    return 0o600 if include_secrets or canonical_format(fmt) in ALWAYS_PRIVATE else 0o644


def write_export(path: Path, text: str, *, mode: int, backup: bool = False) -> None:
    """Write atomically; a file holding secrets is never readable by others, not even briefly.
    With ``backup`` the file replaced is kept as ``<name>.bak``."""
    if mode & 0o077 == 0:
        files.ensure_dir(path.parent, private=True)
    else:
        files.ensure_dir(path.parent)
    # Private: a secret (or a file that may hold one) is never handed to another user.
    files.atomic_write(
        path, text.encode("utf-8"), mode=mode, backup=backup, secret=mode & 0o077 == 0
    )


# --------------------------------------------------------------------------- shared helpers


def _clean(key: str, value: str) -> str:
    """Refuse a value that could break out of its line (the settings model already forbids
    control characters; this guards the exporters against any other caller)."""
    if match := LINE_BREAKERS.search(value):
        raise ExportError(
            f"{key} contains the control character U+{ord(match.group()):04X}, "
            "which cannot be exported safely",
            ExitCode.DATAERR,
        )
    return value


def ascii_host(host: str) -> str:
    """The host as every program accepts it: IP literals bare, names as IDNA A-labels."""
    try:
        return host_to_ascii(host)
    except ValueError as exc:
        raise ExportError(f"smtp.host {host!r} {exc}") from exc


def fingerprint_colons(value: str) -> str:
    """A SHA-256 fingerprint as ``AB:CD:…`` (upper case), from any spelling people paste."""
    try:
        return normalize_fingerprint(value)
    except FingerprintFormatError as exc:
        raise ExportError(f"smtp.fingerprint: {exc}") from exc


def _require_smtp(settings: MailSettings, fmt: str) -> str:
    if not settings.smtp.host.strip():
        raise ExportError(f"smtp.host is not set; the {fmt} export needs an SMTP relay")
    return ascii_host(settings.smtp.host)


def _header(options: ExportOptions, what: str, comment: str = "#") -> list[str]:
    lines = [f"{comment} {what}, written by tui-mailsetup {__version__}."]
    if options.config_path is not None:
        lines.append(f"{comment} From {_comment_safe(str(options.config_path))}.")
    if not options.include_secrets:
        lines.append(
            f"{comment} Secrets are not included (export with --include-secrets to add them)."
        )
    return lines


def _comment_safe(text: str) -> str:
    return LINE_BREAKERS.sub("?", text)


def _driver_note(settings: MailSettings) -> list[str]:
    if settings.driver is Driver.SMTP:
        return []
    return [
        f"# Note: the driver is {settings.driver.value}; this is the [smtp] section, "
        "which that driver does not use."
    ]


def _has_trust_settings(settings: MailSettings) -> bool:
    """Certificate settings beyond the system trust store, which some formats cannot carry."""
    smtp = settings.smtp
    if settings.driver is not Driver.SMTP or smtp.encryption is Encryption.NONE:
        return False
    return bool(smtp.fingerprint or smtp.ca_file or not smtp.verify)


def _needs_auth(settings: MailSettings) -> bool:
    return bool(settings.smtp.username)


def _sender_address(settings: MailSettings) -> str:
    return _clean("sender.address", settings.sender.address.strip())


def _sender_header(settings: MailSettings) -> str:
    """``Name <address>`` quoted as RFC 5322 wants it (the name may hold commas or quotes)."""
    address = _sender_address(settings)
    name = _clean("sender.name", settings.sender.name.strip())
    if not address:
        return ""
    if not name:
        return address
    try:
        return str(Address(display_name=name, addr_spec=address))
    except (ValueError, IndexError) as exc:
        raise ExportError(f"sender.address {address!r} is not a valid address: {exc}") from exc


# --------------------------------------------------------------------------- msmtp


def _msmtp_value(key: str, value: str) -> str:
    # msmtp takes the rest of the line as the argument and strips one pair of
    # enclosing double quotes, nothing else: no escapes exist, and none are
    # needed, since a quote inside stays literal. Quoting every value keeps
    # leading/trailing blanks and a leading '#' intact.
    return f'"{_clean(key, value)}"'


def _msmtp_secret_command(options: ExportOptions, key: str, *, oauth2_token: bool = False) -> str:
    argv = list(options.program)
    if options.config_path is not None:
        argv += ["--config", str(options.config_path)]
    # An OAuth2 access token is fetched (refreshed when near expiry) by `oauth2 token`.
    argv += ["oauth2", "token"] if oauth2_token else ["get-secret", key]
    # msmtp runs passwordeval through /bin/sh; stdin is closed off because
    # msmtp's own stdin is the message.
    return shlex.join(argv) + " </dev/null"


def render_msmtp(settings: MailSettings, options: ExportOptions) -> str:
    smtp = settings.smtp
    host = _require_smtp(settings, "msmtp")
    lines = _header(options, "msmtp account") + _driver_note(settings)
    lines += [
        "# Use it with: msmtp -C THIS_FILE, or append it to ~/.msmtprc.",
        "",
        f"account {options.account}",
        f"host {_msmtp_value('smtp.host', host)}",
        f"port {smtp.port}",
        f"timeout {max(1, round(smtp.timeout))}",
    ]
    if smtp.ehlo_name:
        lines.append(f"domain {_msmtp_value('smtp.ehlo_name', smtp.ehlo_name)}")
    if smtp.encryption is Encryption.NONE:
        lines.append("tls off")
    else:
        lines.append("tls on")
        lines.append(f"tls_starttls {'on' if smtp.encryption is Encryption.STARTTLS else 'off'}")
        if smtp.fingerprint:
            # A pinned certificate is the whole trust decision, as in the engine.
            lines.append(f"tls_fingerprint {fingerprint_colons(smtp.fingerprint)}")
        elif not smtp.verify:
            lines.append("# smtp.verify = false: the certificate is not checked.")
            lines.append("tls_certcheck off")
        elif smtp.ca_file:
            ca_file = str(Path(smtp.ca_file).expanduser())
            lines.append(f"tls_trust_file {_msmtp_value('smtp.ca_file', ca_file)}")
        else:
            lines.append("tls_trust_file system")
    if _needs_auth(settings):
        mechanism = "on" if smtp.auth.value == "auto" else smtp.auth.value
        if mechanism == "on" and smtp.encryption is Encryption.NONE and smtp.allow_plaintext_auth:
            # msmtp's "on" never picks PLAIN or LOGIN without TLS; the user has
            # explicitly allowed plain-text credentials for this relay.
            lines.append("# smtp.allow_plaintext_auth = true: PLAIN over an unencrypted link.")
            mechanism = "plain"
        lines.append(f"auth {mechanism}")
        lines.append(f"user {_msmtp_value('smtp.username', smtp.username)}")
        password = options.secret("smtp.password")
        if _oauth2_store(settings):
            lines.append("# An OAuth2 access token, refreshed by tui-mailsetup when near expiry;")
            lines.append("# if a new sign-in is needed: tui-mailsetup oauth2 login")
            command = _msmtp_secret_command(options, "smtp.password", oauth2_token=True)
            lines.append(f"passwordeval {_msmtp_value('passwordeval', command)}")
        elif options.include_secrets and password is not None:
            lines.append(f"password {_msmtp_value('smtp.password', password)}")
        else:
            lines.append("# The password is asked of tui-mailsetup each time, never stored here.")
            command = _msmtp_secret_command(options, "smtp.password")
            lines.append(f"passwordeval {_msmtp_value('passwordeval', command)}")
    else:
        lines.append("auth off")
    if address := _sender_address(settings):
        lines.append(f"from {_msmtp_value('sender.address', address)}")
    if settings.sender.name:
        # msmtp < 1.8.25 has no from_full_name; keep the name visible for the reader.
        lines.append(f"# Sender name: {_comment_safe(settings.sender.name)}")
    lines += ["", f"account default : {options.account}", ""]
    return "\n".join(lines)


# --------------------------------------------------------------------------- postfix


def _postfix_value(key: str, value: str) -> str:
    # main.cf expands $name, ${name} and $(name) in every value; $$ is a literal
    # dollar. Leading and trailing blanks are dropped by Postfix, so refuse them
    # rather than write something that reads back differently.
    value = _clean(key, value)
    if value != value.strip():
        raise ExportError(
            f"{key} begins or ends with blanks, which Postfix cannot represent", ExitCode.DATAERR
        )
    return value.replace("$", "$$")


def postfix_nexthop(settings: MailSettings) -> str:
    """``[host]:port``: the brackets turn off MX lookups, as a relay needs."""
    host = _require_smtp(settings, "postfix")
    return f"[{host}]:{settings.smtp.port}"


def render_postfix(settings: MailSettings, options: ExportOptions) -> str:
    smtp = settings.smtp
    nexthop = postfix_nexthop(settings)
    lines = _header(options, "Postfix main.cf settings for relaying through this server")
    lines += _driver_note(settings)
    lines += [
        "# Merge them into main.cf (postconf -e 'name = value' for each), then: postfix reload",
        "",
        f"relayhost = {nexthop}",
    ]
    if smtp.encryption is Encryption.NONE:
        lines.append("smtp_tls_security_level = none")
    else:
        if smtp.fingerprint:
            lines.append("smtp_tls_security_level = fingerprint")
            lines.append("smtp_tls_fingerprint_digest = sha256")
            lines.append(
                f"smtp_tls_fingerprint_cert_match = {fingerprint_colons(smtp.fingerprint)}"
            )
        elif smtp.verify:
            lines.append("smtp_tls_security_level = verify")
        else:
            lines.append("# smtp.verify = false: encrypted, but the certificate is not checked.")
            lines.append("smtp_tls_security_level = encrypt")
        wrapper = "yes" if smtp.encryption is Encryption.TLS else "no"
        lines.append(f"smtp_tls_wrappermode = {wrapper}")
        if smtp.ca_file and not smtp.fingerprint:
            ca_file = str(Path(smtp.ca_file).expanduser())
            lines.append(f"smtp_tls_CAfile = {_postfix_value('smtp.ca_file', ca_file)}")
    if smtp.ehlo_name:
        lines.append(f"smtp_helo_name = {_postfix_value('smtp.ehlo_name', smtp.ehlo_name)}")
    if _needs_auth(settings):
        lines.append("smtp_sasl_auth_enable = yes")
        lines.append(f"smtp_sasl_password_maps = {POSTFIX_SASL_MAP}")
        if smtp.encryption is Encryption.NONE and not smtp.allow_plaintext_auth:
            # Postfix's own default, spelled out: no password in plain text.
            lines.append("smtp_sasl_security_options = noplaintext, noanonymous")
        else:
            # TLS is enforced above (or plain text was explicitly allowed), so
            # PLAIN and LOGIN are fine; Postfix's default would refuse them.
            lines.append("smtp_sasl_security_options = noanonymous")
            lines.append("smtp_sasl_tls_security_options = noanonymous")
        if smtp.auth.value != "auto":
            lines.append(f"smtp_sasl_mechanism_filter = {smtp.auth.value}")
        if smtp.auth.value == "xoauth2":
            lines += _POSTFIX_XOAUTH2_NOTE
        else:
            lines += [
                "",
                "# The password goes in sasl_passwd (mode 0600), then run postmap on it:",
                "#   tui-mailsetup export --format postfix-sasl --include-secrets \\",
                "#       --output /etc/postfix/sasl_passwd && postmap /etc/postfix/sasl_passwd",
                f"# Its line: {_comment_safe(_sasl_line_or_note(settings))}",
            ]
    lines.append("")
    return "\n".join(lines)


def _sasl_line(settings: MailSettings, password: str) -> str:
    username = _clean("smtp.username", settings.smtp.username)
    password = _clean("smtp.password", password)
    if ":" in username:
        # Postfix splits "user:password" at the first colon.
        raise ExportError("smtp.username contains ':', which Postfix's sasl_passwd cannot carry")
    credentials = f"{username}:{password}"
    if credentials != credentials.strip():
        # A table line is "key value", the value trimmed of surrounding blanks.
        raise ExportError(
            "the username begins, or the password ends, with blanks, which Postfix's "
            "sasl_passwd cannot carry",
            ExitCode.DATAERR,
        )
    return f"{postfix_nexthop(settings)} {credentials}"


def _sasl_line_or_note(settings: MailSettings) -> str:
    try:
        return _sasl_line(settings, PASSWORD_PLACEHOLDER)
    except ExportError as exc:
        return f"(cannot be written: {exc})"


def render_postfix_sasl(settings: MailSettings, options: ExportOptions) -> str:
    if not _needs_auth(settings):
        raise ExportError("smtp.username is empty: there is nothing to put in sasl_passwd")
    password = options.secret("smtp.password")
    if options.include_secrets and password is None:
        raise ExportError("no password is set for smtp.password (see tui-mailsetup set-secret)")
    lines = _header(options, "Postfix sasl_passwd")
    lines.append("# Then: postmap THIS_FILE (keep it mode 0600).")
    lines.append(_sasl_line(settings, password if password is not None else PASSWORD_PLACEHOLDER))
    lines.append("")
    return "\n".join(lines)


# --------------------------------------------------------------------------- env (Laravel)

_ENV_BARE = re.compile(r"[A-Za-z0-9_./:@+,=-]*")


def env_quote(key: str, value: str) -> str:
    """A .env value that phpdotenv (Laravel) and python-dotenv both read back as ``value``.

    Single quotes are literal in both (no escapes, no ``${VAR}`` expansion);
    double quotes are needed only when the value holds a single quote, and
    then ``\\`` and ``"`` are escaped. A value that holds a single quote *and*
    ``${`` would be expanded by both readers, so it is refused.
    """
    value = _clean(key, value)
    if _ENV_BARE.fullmatch(value):
        return value
    if "'" not in value and "\\" not in value:
        return f"'{value}'"
    if "${" in value:
        raise ExportError(
            f"{key} holds both a quote and '${{', which a .env file cannot carry literally",
            ExitCode.DATAERR,
        )
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def _env_lines(settings: MailSettings, options: ExportOptions) -> list[tuple[str, str | None]]:
    """(name, value) pairs; value None is a secret left out."""
    pairs: list[tuple[str, str | None]] = []
    if settings.driver is Driver.SMTP:
        smtp = settings.smtp
        host = _require_smtp(settings, "env")
        encryption = {Encryption.NONE: "null", Encryption.STARTTLS: "tls", Encryption.TLS: "ssl"}
        pairs += [
            ("MAIL_MAILER", "smtp"),
            # Laravel 11+ reads MAIL_SCHEME; older versions read MAIL_ENCRYPTION.
            ("MAIL_SCHEME", "smtps" if smtp.encryption is Encryption.TLS else "smtp"),
            ("MAIL_HOST", host),
            ("MAIL_PORT", str(smtp.port)),
            ("MAIL_ENCRYPTION", encryption[smtp.encryption]),
            ("MAIL_USERNAME", smtp.username or "null"),
        ]
        if _needs_auth(settings):
            pairs.append(("MAIL_PASSWORD", _secret_or_none(options, "smtp.password")))
        else:
            pairs.append(("MAIL_PASSWORD", "null"))
        if smtp.ehlo_name:
            pairs.append(("MAIL_EHLO_DOMAIN", smtp.ehlo_name))
    elif settings.driver is Driver.SENDMAIL:
        pairs += [
            ("MAIL_MAILER", "sendmail"),
            ("MAIL_SENDMAIL_PATH", f"{settings.sendmail.path} -bs -i"),
        ]
    elif settings.driver is Driver.MAILGUN:
        pairs += [
            ("MAIL_MAILER", "mailgun"),
            ("MAILGUN_DOMAIN", settings.mailgun.domain),
            ("MAILGUN_SECRET", _secret_or_none(options, "mailgun.api_key")),
            ("MAILGUN_ENDPOINT", mailgun_api_host(settings)),
        ]
    elif settings.driver is Driver.GRAPH:
        pairs += _graph_env(settings, options)
    else:
        pairs += [
            ("MAIL_MAILER", "ses"),
            ("AWS_ACCESS_KEY_ID", settings.ses.access_key_id),
            ("AWS_SECRET_ACCESS_KEY", _secret_or_none(options, "ses.secret_access_key")),
            ("AWS_DEFAULT_REGION", settings.ses.region),
        ]
    pairs += [
        ("MAIL_FROM_ADDRESS", _sender_address(settings)),
        ("MAIL_FROM_NAME", settings.sender.name),
    ]
    return pairs


def _graph_env(settings: MailSettings, options: ExportOptions) -> list[tuple[str, str | None]]:
    """What an application speaking Graph needs: the Azure Identity SDKs' variables
    (EnvironmentCredential: tenant, client, secret or certificate, authority), Graph's root
    and scope, and the mailbox (Laravel's microsoft-graph mailers read MAIL_MAILER)."""
    from urllib.parse import urlsplit

    from tui_mailsetup.drivers.graph_auth import graph_root, graph_scopes
    from tui_mailsetup.settings import OAuth2Flow

    oauth2 = settings.oauth2
    flow_settings = settings.model_copy(
        update={"oauth2": oauth2.model_copy(update={"flow": OAuth2Flow.CLIENT_CREDENTIALS})}
    )
    pairs: list[tuple[str, str | None]] = [
        ("MAIL_MAILER", "microsoft-graph"),
        ("AZURE_TENANT_ID", oauth2.tenant),
        ("AZURE_CLIENT_ID", oauth2.client_id),
    ]
    if oauth2.certificate_file:
        pairs.append(("AZURE_CLIENT_CERTIFICATE_PATH", oauth2.certificate_file))
    else:
        pairs.append(("AZURE_CLIENT_SECRET", _secret_or_none(options, "oauth2.client_secret")))
    if oauth2.token_url:
        parts = urlsplit(oauth2.token_url)
        pairs.append(("AZURE_AUTHORITY_HOST", f"{parts.scheme}://{parts.netloc}"))
    pairs += [
        ("GRAPH_ENDPOINT", graph_root(settings)),
        ("GRAPH_SCOPE", " ".join(oauth2.scopes) or graph_scopes(flow_settings)[0]),
        ("GRAPH_MAILBOX", settings.graph.mailbox or settings.sender.address),
        ("GRAPH_SAVE_TO_SENT_ITEMS", "true" if settings.graph.save_to_sent_items else "false"),
    ]
    return pairs


def _secret_or_none(options: ExportOptions, key: str) -> str | None:
    value = options.secret(key)
    if options.include_secrets and value is None:
        return ""
    return value


def render_env(settings: MailSettings, options: ExportOptions) -> str:
    lines = _header(options, ".env mail settings (Laravel's names)")
    if settings.driver is Driver.GRAPH and settings.oauth2.flow.value == "device-code":
        lines.append(
            "# Note: the device-code sign-in is this program's; an application sending through "
            "Graph on its own needs an app registration with the Mail.Send application "
            "permission (client credentials)."
        )
    if _has_trust_settings(settings):
        lines.append(
            "# Note: the certificate settings (ca_file, fingerprint, verify) have no .env "
            "name; configure them in config/mail.php (stream options)."
        )
    for name, value in _env_lines(settings, options):
        if value is None:
            lines.append(f"# {name}= (secret not exported)")
        else:
            lines.append(f"{name}={env_quote(name, value)}")
    lines.append("")
    return "\n".join(lines)


# --------------------------------------------------------------------------- django


def _py(value: str | int | float | bool | None) -> str:
    # repr() of a str is a valid Python literal whatever it holds.
    return repr(value)


def render_django(settings: MailSettings, options: ExportOptions) -> str:
    lines = _header(options, "Django settings.py fragment")
    needs_os = False
    body: list[str] = []
    sender = _sender_header(settings)
    if settings.driver is Driver.SMTP:
        smtp = settings.smtp
        host = _require_smtp(settings, "django")
        body += [
            f"EMAIL_BACKEND = {_py('django.core.mail.backends.smtp.EmailBackend')}",
            f"EMAIL_HOST = {_py(host)}",
            f"EMAIL_PORT = {smtp.port}",
            f"EMAIL_USE_TLS = {smtp.encryption is Encryption.STARTTLS}",
            f"EMAIL_USE_SSL = {smtp.encryption is Encryption.TLS}",
            f"EMAIL_TIMEOUT = {_py(smtp.timeout)}",
            f"EMAIL_HOST_USER = {_py(smtp.username)}",
        ]
        if not _needs_auth(settings):
            body.append("EMAIL_HOST_PASSWORD = ''")
        elif options.include_secrets:
            body.append(f"EMAIL_HOST_PASSWORD = {_py(options.secret('smtp.password') or '')}")
        else:
            needs_os = True
            body.append("EMAIL_HOST_PASSWORD = os.environ.get('EMAIL_HOST_PASSWORD', '')")
        if _has_trust_settings(settings):
            body.append(
                "# Django's SMTP backend uses the system's trust store: for smtp.ca_file, set "
                "SSL_CERT_FILE in the environment; pinning and verify = false have no equivalent."
            )
    elif settings.driver in (Driver.MAILGUN, Driver.SES):
        # Django has no built-in HTTP-API backends; django-anymail is the usual one.
        body.append("# Requires django-anymail (pip install 'django-anymail[mailgun,amazon-ses]').")
        if settings.driver is Driver.MAILGUN:
            body.append(f"EMAIL_BACKEND = {_py('anymail.backends.mailgun.EmailBackend')}")
            base = mailgun_api_url(settings)
            if options.include_secrets:
                key_expr = _py(options.secret("mailgun.api_key") or "")
            else:
                needs_os = True
                key_expr = "os.environ.get('MAILGUN_API_KEY', '')"
            body += [
                "ANYMAIL = {",
                f"    'MAILGUN_API_KEY': {key_expr},",
                f"    'MAILGUN_SENDER_DOMAIN': {_py(settings.mailgun.domain)},",
                f"    'MAILGUN_API_URL': {_py(base)},",
                "}",
            ]
        else:
            body.append(f"EMAIL_BACKEND = {_py('anymail.backends.amazon_ses.EmailBackend')}")
            params = [f"        'region_name': {_py(settings.ses.region)},"]
            if settings.ses.endpoint_url:
                params.append(f"        'endpoint_url': {_py(ses_endpoint(settings))},")
            if settings.ses.access_key_id:
                params.append(f"        'aws_access_key_id': {_py(settings.ses.access_key_id)},")
            if options.include_secrets and options.secret("ses.secret_access_key"):
                secret = options.secret("ses.secret_access_key")
                params.append(f"        'aws_secret_access_key': {_py(secret)},")
            body += ["ANYMAIL = {", "    'AMAZON_SES_CLIENT_PARAMS': {", *params, "    },", "}"]
    else:
        raise ExportError(
            "Django has no sendmail backend; export with driver = smtp (a local relay on "
            "localhost:25 works like sendmail)"
        )
    if sender:
        body.append(f"DEFAULT_FROM_EMAIL = {_py(sender)}")
        body.append(f"SERVER_EMAIL = {_py(_sender_address(settings))}")
    if needs_os:
        lines += ["import os", ""]
    lines += body
    lines.append("")
    return "\n".join(lines)


# --------------------------------------------------------------------------- json


def render_json(settings: MailSettings, options: ExportOptions) -> str:
    data = to_plain(settings, include_secrets=False)
    for key in MailSettings.SECRET_KEYS:
        section, name = key.split(".")
        # null, not a mask: a masked value could be read back as a password.
        data[section][name] = options.secret(key) if options.include_secrets else None
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


_RENDERERS: Mapping[str, Callable[[MailSettings, ExportOptions], str]] = {
    "msmtp": render_msmtp,
    "postfix": render_postfix,
    "postfix-sasl": render_postfix_sasl,
    "env": render_env,
    "django": render_django,
    "json": render_json,
}


# --------------------------------------------------------------------------- OAuth2


def _oauth2_store(settings: MailSettings) -> bool:
    from tui_mailsetup.oauth2 import uses_token_store

    return uses_token_store(settings)


_POSTFIX_XOAUTH2_NOTE = [
    "",
    "# XOAUTH2: Postfix's SASL client (Cyrus SASL) has no XOAUTH2 of its own; it needs a",
    "# SASL XOAUTH2 plug-in (such as cyrus-sasl-xoauth2) that also refreshes the token, and",
    "# sasl_passwd cannot hold an access token that expires within the hour. The simpler",
    "# route: tui-mailsetup export --format msmtp, and msmtp (msmtp-mta) as this machine's",
    "# sendmail; msmtp asks `tui-mailsetup oauth2 token` for a fresh token on every message.",
]
