"""Provider presets, loaded from the data file shipped in the package."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from tui_mailsetup.settings import Encryption


@dataclass(frozen=True)
class Preset:
    id: str
    name: str
    kind: str
    """Providers that share conventions share a kind: google, microsoft, ses, …"""
    host: str
    port: int
    encryption: Encryption
    username_hint: str = ""
    username: str = ""
    """A fixed username the provider requires (SendGrid: apikey); empty when it varies."""
    notes: str = ""
    region: str = ""
    domains: tuple[str, ...] = ()
    """Mailbox domains the provider serves (gmail.com), for autodetection."""
    mx_suffixes: tuple[str, ...] = ()
    """MX host suffixes that reveal the provider (mail.protection.outlook.com)."""
    spf_include: str = ""
    """What the sender domain's SPF record must include for this provider."""
    username_format: str = ""
    """The login convention: "address" (the full address), "localpart" (before the @), or "" when it varies."""
    oauth2: str = ""
    """The OAuth2 provider that signs in for this host (a table under [oauth2] in the data)."""
    oauth2_default: bool = False
    """Choosing the preset selects auth = xoauth2 (the provider no longer takes passwords)."""
    oauth2_tenant: str = ""
    """The Microsoft tenant the preset implies (consumers for Outlook.com)."""
    password_warning: str = ""
    """Said when a password is used with this provider."""

    def username_for(self, address: str) -> str:
        """The login for ``address`` under this provider's convention; "" when unknown."""
        return username_from_format(self.username_format, address) or self.username

    def settings_changes(self) -> dict[str, Any]:
        """What choosing this preset sets."""
        changes = server_settings(self.host, self.port, self.encryption, self.username)
        if self.oauth2_default:
            changes["smtp.auth"] = "xoauth2"
            changes["oauth2.provider"] = self.oauth2
            if self.oauth2_tenant:
                changes["oauth2.tenant"] = self.oauth2_tenant
        return changes


@cache
def presets_data() -> dict[str, Any]:
    """The presets data file, parsed once: presets, SES, OAuth2 and reply-code facts."""
    return tomllib.loads(
        resources.files("tui_mailsetup").joinpath("data/presets.toml").read_text(encoding="utf-8")
    )


@cache
def load_presets() -> tuple[Preset, ...]:
    raw = presets_data()
    presets = [
        Preset(**{**entry, "encryption": Encryption(entry["encryption"])})
        for entry in raw["preset"]
    ]
    ses = raw["ses"]
    for region in ses["regions"]:
        presets.append(
            Preset(
                id=f"ses-{region}",
                name=ses["name"].format(region=region),
                kind=ses["kind"],
                host=ses["host"].format(region=region),
                port=ses["port"],
                encryption=Encryption(ses["encryption"]),
                username_hint=ses["username_hint"],
                notes=ses["notes"],
                region=region,
                spf_include=ses["spf_include"],
                mx_suffixes=(f"inbound-smtp.{region}.amazonaws.com",),
            )
        )
    return tuple(presets)


def get_preset(preset_id: str) -> Preset | None:
    return next((p for p in load_presets() if p.id == preset_id), None)


def match_preset(host: str) -> Preset | None:
    """The preset whose host is ``host`` (case-insensitive, trailing dot ignored)."""
    wanted = host.strip().lower().rstrip(".").strip("[]")
    if not wanted:
        return None
    if wanted in {"127.0.0.1", "::1", "localhost.localdomain"}:
        wanted = "localhost"
    return next((p for p in load_presets() if p.host == wanted), None)


def preset_for_mail_domain(domain: str) -> Preset | None:
    """The provider whose mailboxes live at ``domain`` (gmail.com → Gmail)."""
    wanted = domain.strip().lower().rstrip(".")
    return next((p for p in load_presets() if wanted in p.domains), None)


def preset_for_mx(mx_host: str) -> Preset | None:
    """The provider an MX host name reveals (aspmx.l.google.com → Google Workspace)."""
    host = mx_host.strip().lower().rstrip(".")
    matches = [
        (len(suffix), preset)
        for preset in load_presets()
        for suffix in preset.mx_suffixes
        if host == suffix or host.endswith("." + suffix)
    ]
    # The most specific suffix wins: mxa.eu.mailgun.org is Mailgun EU, not US.
    return max(matches, key=lambda match: match[0])[1] if matches else None


def username_from_format(username_format: str, address: str) -> str:
    """``address`` → the login a provider expects ("address", "localpart", or ISPDB's
    ``%EMAILADDRESS%`` / ``%EMAILLOCALPART%``); "" when there is no address or no convention."""
    if "@" not in address:
        return ""
    local = address.rpartition("@")[0]
    return {
        "address": address,
        "%EMAILADDRESS%": address,
        "localpart": local,
        "%EMAILLOCALPART%": local,
    }.get(username_format.strip(), "")


def server_settings(
    host: str, port: int, encryption: Encryption, username: str = ""
) -> dict[str, Any]:
    """The settings that choosing a server sets (a preset, or what detection found)."""
    changes: dict[str, Any] = {
        "smtp.host": host,
        "smtp.port": port,
        "smtp.encryption": encryption.value,
    }
    if username:
        changes["smtp.username"] = username
    return changes


def reply_code(provider: str, meaning: str) -> str:
    """The enhanced status code ``provider``'s SMTP service answers with for ``meaning``
    (a ``[replies.<provider>]`` table): ``reply_code("google", "bad_credentials")`` → "5.7.8"."""
    return str(presets_data()["replies"][provider][meaning])


def is_ses_smtp_host(host: str) -> bool:
    """Whether ``host`` is one of Amazon SES's SMTP endpoints (any region, FIPS too)."""
    return re.match(presets_data()["ses"]["host_pattern"], host) is not None
