"""Validation: one pure function from settings to findings.

No network and no changes to anything; the TUI calls :func:`evaluate` on
every keystroke and the command line on every load, so there is exactly one
set of rules. A finding with a fix offers it as a concrete settings change.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from tui_mailsetup.config_file import describe_error
from tui_mailsetup.endpoints import mailgun_region_mismatch, url_problem
from tui_mailsetup.findings import Finding, Severity
from tui_mailsetup.fixes import Fix
from tui_mailsetup.names import (
    AddressError,
    check_address,
    host_to_ascii,
    internal_domain_reason,
    is_ip_literal,
    is_loopback,
)
from tui_mailsetup.ports import IMPLICIT_TLS_PORTS, STARTTLS_PORTS
from tui_mailsetup.presets import match_preset, reply_code
from tui_mailsetup.settings import SENDER_NAME_MAX, Driver, Encryption, MailSettings, field_keys

__all__ = ["SENDER_NAME_MAX", "evaluate", "recipient_findings", "validate"]
_SES_REGION = re.compile(r"^[a-z]{2}(-gov)?-[a-z]+-\d+$")
_KEY_ORDER = {key: index for index, key in enumerate(field_keys())}


def _error(field: str, message: str, code: str, fix: Fix | None = None, *related: str) -> Finding:
    return Finding(Severity.ERROR, field, message, fix, tuple(related), code)


def _warning(field: str, message: str, code: str, fix: Fix | None = None, *related: str) -> Finding:
    return Finding(Severity.WARNING, field, message, fix, tuple(related), code)


def _info(field: str, message: str, code: str, fix: Fix | None = None, *related: str) -> Finding:
    return Finding(Severity.INFO, field, message, fix, tuple(related), code)


def evaluate(
    data: Mapping[str, Any], *, secret_sources: Mapping[str, str | None] | None = None
) -> tuple[MailSettings | None, list[Finding]]:
    """Validate raw values (as typed, nested like the TOML): the settings when they load, and
    every finding, including values that do not even parse (a port of "abc").

    A value that does not parse does not hide the findings about the others: they are
    checked as if it were at its default, and findings that involve it are left out.
    """
    try:
        settings = MailSettings.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors()
    else:
        return settings, validate(settings, secret_sources=secret_sources)
    findings: list[Finding] = []
    for error in errors:
        key = ".".join(str(part) for part in error["loc"][:2])
        raw = _raw_value(data, key)
        if error["type"] == "host-invalid" and isinstance(raw, str):
            # The host's own check, which offers fixes (split host:port, strip the URL).
            rich = [
                f
                for f in _check_host(raw, Encryption.STARTTLS, True, "")
                if f.severity is Severity.ERROR
            ]
            if rich:
                findings += rich
                continue
        # Field rules raise with the finding code (settings._field_rule); others are generic.
        code = error["type"] if "-" in error["type"] else "invalid-value"
        findings.append(_error(key, describe_error(error, key), code))
    invalid = {f.field for f in findings}
    remaining = _without(data, invalid)
    try:
        partial = MailSettings.model_validate(remaining)
    except ValidationError:
        return None, _sorted(findings)
    findings += [
        f
        for f in validate(partial, secret_sources=secret_sources)
        if not any(_covers(bad, name) for bad in invalid for name in f.fields)
    ]
    return None, _sorted(findings)


def _raw_value(data: Mapping[str, Any], key: str) -> Any:
    value: Any = data
    for part in key.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def recipient_findings(address: str, field: str = "recipient") -> list[Finding]:
    """What is wrong with one recipient (``--to``, the TUI's field), by the one address
    check: an error when it is not an address (never repaired), a warning when its domain
    only exists inside a network."""
    return _address_findings(address, field, "recipient")


def _address_findings(address: str, field: str, what: str) -> list[Finding]:
    try:
        mailbox = check_address(address)
    except AddressError as exc:
        return [_error(field, str(exc), f"{what}-address-invalid")]
    findings: list[Finding] = []
    if reason := internal_domain_reason(mailbox):
        findings.append(
            _warning(
                field,
                f"{mailbox.address} is at {reason}: such mail only works inside your own "
                "network, where a server knows that domain; the public internet cannot deliver it",
                "internal-domain",
            )
        )
    if mailbox.smtputf8:
        findings.append(
            _info(
                field,
                "The address has a non-ASCII local part: the server must support SMTPUTF8",
                f"{what}-smtputf8",
            )
        )
    return findings


def _covers(invalid_key: str, field: str) -> bool:
    return (
        field == invalid_key
        or field.startswith(invalid_key + ".")
        or invalid_key.startswith(field + ".")
    )


def _without(data: Mapping[str, Any], keys: set[str]) -> dict[str, Any]:
    """A copy of nested ``data`` without the dotted ``keys``."""
    copy: dict[str, Any] = {}
    for name, value in data.items():
        if name in keys:
            continue
        nested = {k.split(".", 1)[1] for k in keys if k.startswith(name + ".")}
        copy[name] = _without(value, nested) if isinstance(value, Mapping) and nested else value
    return copy


def validate(
    settings: MailSettings, *, secret_sources: Mapping[str, str | None] | None = None
) -> list[Finding]:
    """Every finding for ``settings``, errors first.

    ``secret_sources`` says which secrets have a source (see
    secrets.secret_sources); when it is None, checks that need it are skipped.
    """
    findings: list[Finding] = []
    findings += _check_sender(settings)
    if settings.driver is Driver.SMTP:
        findings += _check_smtp(settings, secret_sources)
    elif settings.driver is Driver.SENDMAIL:
        findings += _check_sendmail(settings)
    elif settings.driver is Driver.MAILGUN:
        findings += _check_mailgun(settings, secret_sources)
    elif settings.driver is Driver.SES:
        findings += _check_ses(settings, secret_sources)
    elif settings.driver is Driver.GRAPH:
        findings += check_graph(settings, secret_sources)
    findings += _check_dns(settings)
    return _sorted(findings)


def _sorted(findings: list[Finding]) -> list[Finding]:
    return sorted(findings, key=lambda f: (f.severity.rank, _KEY_ORDER.get(f.field, 999)))


# --------------------------------------------------------------------------- host names


def _check_host(host: str, encryption: Encryption, verify: bool, fingerprint: str) -> list[Finding]:
    if not host.strip():
        return [
            _error(
                "smtp.host",
                "No SMTP server is set: enter its name, e.g. smtp.example.com",
                "host-empty",
            )
        ]
    stripped = host.strip()
    if "://" in stripped:
        bare = stripped.split("://", 1)[1].split("/", 1)[0]
        return [
            _error(
                "smtp.host",
                f"{host!r} is a URL; the host is only the server's name",
                "host-url",
                Fix(f"set host to {bare}", {"smtp.host": bare}),
            )
        ]
    if stripped != host or " " in stripped:
        fix = None
        if " " not in stripped:
            fix = Fix(f"set host to {stripped}", {"smtp.host": stripped})
        return [_error("smtp.host", f"{host!r} contains spaces", "host-space", fix)]
    if stripped.count(":") == 1 and not stripped.startswith("["):
        name, _, port = stripped.partition(":")
        fix = None
        if port.isdigit() and 1 <= int(port) <= 65535:
            fix = Fix(
                f"set host to {name} and port to {port}",
                {"smtp.host": name, "smtp.port": int(port)},
            )
        return [
            _error(
                "smtp.host",
                f"{host!r} includes a port; the port has its own field",
                "host-port",
                fix,
            )
        ]
    try:
        ascii_name = host_to_ascii(stripped)
    except ValueError as exc:
        return [_error("smtp.host", f"{host!r} {exc}", "host-invalid")]
    findings: list[Finding] = []
    if is_ip_literal(stripped):
        if (
            encryption is not Encryption.NONE
            and verify
            and not fingerprint
            and not is_loopback(stripped)
        ):
            findings.append(
                _info(
                    "smtp.host",
                    f"{stripped} is an IP address: certificates rarely name one, so verification "
                    "may fail; prefer the server's name",
                    "host-ip-address",
                )
            )
    elif ascii_name != stripped.lower().rstrip("."):
        findings.append(
            _info(
                "smtp.host",
                f"{stripped} is an internationalised name; it is sent as {ascii_name}",
                "host-idn",
            )
        )
    return findings


# --------------------------------------------------------------------------- SMTP


def _check_smtp(
    settings: MailSettings, secret_sources: Mapping[str, str | None] | None
) -> list[Finding]:
    smtp = settings.smtp
    findings = _check_host(smtp.host, smtp.encryption, smtp.verify, smtp.fingerprint)
    local = is_loopback(smtp.host)
    port, encryption = smtp.port, smtp.encryption

    if port in IMPLICIT_TLS_PORTS and encryption is not Encryption.TLS:
        findings.append(
            _error(
                "smtp.encryption",
                f'Port {port} speaks implicit TLS ("SSL"), not {encryption.value}',
                "port-encryption-mismatch",
                Fix("set encryption to TLS", {"smtp.encryption": "tls"}),
                "smtp.port",
            )
        )
    elif port in STARTTLS_PORTS and encryption is Encryption.TLS:
        findings.append(
            _error(
                "smtp.encryption",
                f"Port {port} starts in plain text and upgrades with STARTTLS; implicit TLS fails there",
                "port-encryption-mismatch",
                Fix("set encryption to STARTTLS", {"smtp.encryption": "starttls"}),
                "smtp.port",
            )
        )

    if encryption is Encryption.NONE:
        if smtp.username and not smtp.allow_plaintext_auth:
            secure = "tls" if port in IMPLICIT_TLS_PORTS else "starttls"
            findings.append(
                _error(
                    "smtp.encryption",
                    "Credentials would travel unencrypted. Use encryption, or set "
                    "smtp.allow_plaintext_auth = true for a trusted local relay",
                    "plaintext-auth",
                    Fix(f"set encryption to {secure.upper()}", {"smtp.encryption": secure}),
                    "smtp.username",
                )
            )
        elif local:
            findings.append(
                _info(
                    "smtp.encryption",
                    "No encryption: acceptable only because the relay is on this machine",
                    "no-encryption-local",
                )
            )
        else:
            findings.append(
                _warning(
                    "smtp.encryption",
                    "No encryption: messages cross the network readable by anyone on the path; "
                    "use it only for a trusted local relay",
                    "no-encryption",
                    Fix("set encryption to STARTTLS", {"smtp.encryption": "starttls"}),
                )
            )

    if port == 25 and not local and smtp.host.strip():
        findings.append(
            _warning(
                "smtp.port",
                "Port 25 is often blocked by ISPs and cloud providers for outgoing mail; "
                "587 (STARTTLS) is the submission port",
                "port-25",
                Fix(
                    "use port 587 with STARTTLS", {"smtp.port": 587, "smtp.encryption": "starttls"}
                ),
            )
        )

    findings += _check_credentials(settings, secret_sources)
    findings += _check_tls_trust(settings)

    if smtp.timeout < 5:
        findings.append(
            _warning(
                "smtp.timeout",
                f"{smtp.timeout:g} s is short for a whole SMTP conversation; 30 is usual",
                "timeout-short",
            )
        )
    return findings


def _check_credentials(
    settings: MailSettings, secret_sources: Mapping[str, str | None] | None
) -> list[Finding]:
    smtp = settings.smtp
    findings: list[Finding] = []
    preset = match_preset(smtp.host)
    has_password = (
        secret_sources.get("smtp.password") is not None if secret_sources is not None else None
    )
    from tui_mailsetup.oauth2 import uses_token_store

    token_store = uses_token_store(settings)
    if smtp.username:
        if has_password is False and not token_store:
            findings.append(
                _error(
                    "smtp.password",
                    "A username is set but no password: store one with "
                    "`tui-mailsetup set-secret smtp.password`, set MAILSETUP_SMTP__PASSWORD, "
                    "or set smtp.password_command",
                    "password-missing",
                    None,
                    "smtp.username",
                )
            )
        if token_store:
            findings += _check_oauth2(settings, secret_sources)
    elif has_password:
        findings.append(
            _warning(
                "smtp.username",
                "A password is available but the username is empty, so no authentication is attempted",
                "username-missing",
            )
        )

    if preset is None:
        return findings
    if preset.username and smtp.username != preset.username:
        findings.append(
            _error(
                "smtp.username",
                f"{preset.name} expects the username {preset.username!r} (the password is the API key)",
                "provider-username",
                Fix(f"set username to {preset.username}", {"smtp.username": preset.username}),
            )
        )
    if preset.kind == "ses":
        findings.append(
            _info(
                "smtp.username",
                "Amazon SES SMTP credentials are generated in the SES console; they are not your "
                "IAM access key and secret, and work only in their region",
                "ses-smtp-credentials",
            )
        )
    elif preset.kind == "google" and smtp.username:
        findings.append(
            _info(
                "smtp.password",
                "Google needs an app password (2-Step Verification > App passwords); the account "
                f"password is refused with 535-{reply_code('google', 'bad_credentials')}",
                "google-app-password",
            )
        )
    elif preset.password_warning and smtp.auth.value != "xoauth2":
        findings.append(
            _warning(
                "smtp.auth",
                f"{preset.password_warning}: set auth = xoauth2 and oauth2.client_id, then run "
                "`tui-mailsetup oauth2 login`",
                "microsoft-basic-auth",
                Fix(
                    f"sign in with OAuth2 ({preset.oauth2})",
                    {"smtp.auth": "xoauth2", "oauth2.provider": preset.oauth2},
                ),
            )
        )
    return findings


def _check_tls_trust(settings: MailSettings) -> list[Finding]:
    smtp = settings.smtp
    findings: list[Finding] = []
    if smtp.ca_file:
        path = Path(smtp.ca_file).expanduser()
        if not path.is_file():
            findings.append(
                _error(
                    "smtp.ca_file",
                    f"{smtp.ca_file} does not exist or is not a file",
                    "ca-file-missing",
                )
            )
        elif not os.access(path, os.R_OK):
            findings.append(
                _error("smtp.ca_file", f"{smtp.ca_file} is not readable", "ca-file-unreadable")
            )
    if not smtp.verify and not smtp.fingerprint and smtp.encryption is not Encryption.NONE:
        findings.append(
            _warning(
                "smtp.verify",
                "Certificate verification is off: anyone on the path can impersonate the server and "
                "read the password. Pin the certificate's fingerprint or add its CA instead",
                "verify-off",
                Fix("turn verification on", {"smtp.verify": True}),
            )
        )
    return findings


# --------------------------------------------------------------------------- other drivers


def _check_sendmail(settings: MailSettings) -> list[Finding]:
    path = Path(settings.sendmail.path).expanduser()
    if not settings.sendmail.path:
        return [_error("sendmail.path", "No sendmail binary is set", "sendmail-empty")]
    if not path.is_absolute():
        return [
            _error(
                "sendmail.path",
                f"{settings.sendmail.path} is not an absolute path",
                "sendmail-relative",
            )
        ]
    if not path.exists():
        return [
            _error(
                "sendmail.path",
                f"{path} does not exist: install a sendmail-compatible MTA (postfix, exim4, msmtp-mta) or fix the path",
                "sendmail-missing",
            )
        ]
    if not path.is_file() or not os.access(path, os.X_OK):
        return [
            _error("sendmail.path", f"{path} is not an executable file", "sendmail-not-executable")
        ]
    return []


def _check_mailgun(
    settings: MailSettings, secret_sources: Mapping[str, str | None] | None
) -> list[Finding]:
    mailgun = settings.mailgun
    findings: list[Finding] = []
    if not mailgun.domain:
        findings.append(
            _error(
                "mailgun.domain",
                "No Mailgun sending domain is set, e.g. mg.example.com",
                "mailgun-domain-empty",
            )
        )
    else:
        try:
            host_to_ascii(mailgun.domain)
        except ValueError as exc:
            findings.append(
                _error("mailgun.domain", f"{mailgun.domain!r} {exc}", "mailgun-domain-invalid")
            )
    findings += _check_api_url("mailgun.base_url", mailgun.base_url, "the Mailgun API key")
    if mailgun_region_mismatch(settings):
        findings.append(
            _warning(
                "mailgun.region",
                "This looks like an EU domain: EU domains only work with the EU API",
                "mailgun-region",
                Fix("set region to EU", {"mailgun.region": "eu"}),
            )
        )
    if secret_sources is not None and secret_sources.get("mailgun.api_key") is None:
        findings.append(
            _error(
                "mailgun.api_key",
                "No Mailgun API key: store one with `tui-mailsetup set-secret mailgun.api_key`",
                "mailgun-key-missing",
            )
        )
    return findings


def _check_api_url(key: str, url: str, carries: str, *, root_only: bool = False) -> list[Finding]:
    """An HTTP driver's URL setting, by the rule the driver applies before sending."""
    if not url:
        return []
    problem = url_problem(url, carries=carries, root_only=root_only)
    if problem is None:
        return []
    section = key.split(".", 1)[0]
    fix = None
    if problem.plaintext and url.startswith("http://"):
        https = "https://" + url.removeprefix("http://")
        fix = Fix(f"use https ({https})", {key: https})
    return [_error(key, f"The URL {problem.message}", f"{section}-{problem.code}", fix)]


def _check_ses(
    settings: MailSettings, secret_sources: Mapping[str, str | None] | None
) -> list[Finding]:
    ses = settings.ses
    findings: list[Finding] = []
    if not _SES_REGION.match(ses.region):
        findings.append(
            _error(
                "ses.region",
                f"{ses.region!r} is not an AWS region name such as us-east-1",
                "ses-region-invalid",
            )
        )
    findings += _check_api_url("ses.endpoint_url", ses.endpoint_url, "the signed AWS request")
    findings += _check_ses_credentials(settings, secret_sources)
    return findings


def _check_ses_credentials(
    settings: MailSettings, secret_sources: Mapping[str, str | None] | None
) -> list[Finding]:
    """The credentials as the SES driver finds them: explicit keys, else the AWS chain."""
    from tui_mailsetup.drivers.ses import credential_hint, looks_like_smtp_password

    stored = settings.ses.secret_access_key
    present = stored is not None or bool(
        secret_sources and secret_sources.get("ses.secret_access_key")
    )
    if secret_sources is None and not present and settings.ses.access_key_id:
        return []  # whether the secret is stored is not known here
    hint = credential_hint(settings, secret_present=present)
    if hint.problem:
        return [_error(hint.field, hint.problem, f"ses-credentials-{hint.source}")]
    findings: list[Finding] = []
    if stored is not None and looks_like_smtp_password(stored.get_secret_value()):
        findings.append(
            _warning(
                "ses.secret_access_key",
                "This looks like an SES SMTP password (44 characters), not an IAM secret access "
                "key (40): the API refuses it; use it with the SMTP driver instead",
                "ses-smtp-password",
            )
        )
    if hint.source == "instance-role":
        findings.append(
            _warning(
                "ses.access_key_id",
                "No AWS credentials in ses.access_key_id, the environment, ~/.aws or a container "
                "endpoint: only an EC2 instance role can supply them (`check` tells). Set "
                "ses.profile, or ses.access_key_id and the secret ses.secret_access_key",
                "ses-credentials-instance-role",
            )
        )
    else:
        findings.append(
            _info(
                hint.field if hint.source == "profile" else "ses.access_key_id",
                f"AWS credentials from {hint.text}",
                "ses-credentials",
            )
        )
    return findings


# --------------------------------------------------------------------------- sender and DNS


def _check_sender(settings: MailSettings) -> list[Finding]:
    # The name's length and characters and the address's syntax are checked when the
    # values enter (settings.py field rules); what is left depends on nothing else.
    sender = settings.sender
    if not sender.address:
        return [
            _error(
                "sender.address",
                "No sender address is set, e.g. noreply@example.com",
                "sender-address-empty",
            )
        ]
    return _address_findings(sender.address, "sender.address", "sender")


def _check_dns(settings: MailSettings) -> list[Finding]:
    # Each resolver entry is checked when it enters (settings.py, names.check_nameserver).
    return []


def check_graph(
    settings: MailSettings, secret_sources: Mapping[str, str | None] | None
) -> list[Finding]:
    """driver = graph: the mailbox, the endpoint, and the [oauth2] flow with Graph's scopes.
    The Graph driver's token resolution asks this too: with an error here it asks no
    token endpoint, and the runner reports this finding."""
    from tui_mailsetup.drivers.graph_auth import graph_root, graph_scopes

    findings: list[Finding] = []
    graph = settings.graph
    mailbox = graph.mailbox.strip()
    if not mailbox and not settings.sender.address.strip():
        findings.append(
            _error(
                "graph.mailbox",
                "No mailbox to send as: set graph.mailbox (or sender.address) to the "
                "Exchange Online mailbox's address",
                "graph-mailbox-empty",
            )
        )
    if graph.endpoint.strip():
        findings += _check_api_url(
            "graph.endpoint", graph_root(settings), "the access token", root_only=True
        )
    if settings.oauth2.provider.value == "google":
        findings.append(
            _error(
                "oauth2.provider",
                "Microsoft Graph takes only Microsoft's tokens: set oauth2.provider = microsoft",
                "graph-provider",
                Fix("use Microsoft sign-in", {"oauth2.provider": "microsoft"}),
            )
        )
    view = settings
    if not settings.oauth2.scopes:
        oauth2 = settings.oauth2.model_copy(update={"scopes": graph_scopes(settings)})
        view = settings.model_copy(update={"oauth2": oauth2})
    findings += _check_oauth2(view, secret_sources, related="driver")
    return findings


def _check_oauth2(
    settings: MailSettings,
    secret_sources: Mapping[str, str | None] | None,
    *,
    related: str = "smtp.auth",
) -> list[Finding]:
    """Tokens from `oauth2 login` or an unattended flow (auth = xoauth2, driver = graph):
    what the configured flow still lacks."""
    from tui_mailsetup.oauth2.providers import configuration_problems

    oauth2 = settings.oauth2
    username = settings.smtp.username if related == "smtp.auth" else ""
    findings = [
        _error(key, message, "oauth2-config", None, related)
        for key, message in configuration_problems(oauth2, username=username)
    ]
    if (
        oauth2.flow.value == "client-credentials"
        and secret_sources is not None
        and secret_sources.get("oauth2.client_secret") is None
        and not oauth2.certificate_file.strip()
    ):
        findings.append(
            _error(
                "oauth2.client_secret",
                "the client-credentials flow needs the app's client secret "
                "(tui-mailsetup set-secret oauth2.client_secret) or oauth2.certificate_file",
                "oauth2-secret-missing",
            )
        )
    if (
        oauth2.flow.value == "device-code"
        and secret_sources is not None
        and secret_sources.get("oauth2.token") is None
        and not findings
    ):
        findings.append(
            _warning(
                "oauth2.token",
                "not signed in yet: run `tui-mailsetup oauth2 login` (a URL and a code to enter "
                "on any device)",
                "oauth2-login-needed",
            )
        )
    return findings
