"""Provider facts (endpoints, default scopes, flows each provider supports), read from the
``[oauth2.<provider>]`` tables of the presets data, and what they make of the settings."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from tui_mailsetup.presets import presets_data
from tui_mailsetup.sanitize import untrusted_text
from tui_mailsetup.settings import OAuth2Flow, OAuth2Settings

_TENANT = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?")
"""A Microsoft tenant as it goes into the endpoint's path: a GUID or a domain."""


@dataclass(frozen=True)
class ProviderFacts:
    id: str
    name: str
    token_url: str
    device_authorization_url: str
    default_tenant: str = ""
    flows: tuple[str, ...] = ()
    scopes: tuple[tuple[str, tuple[str, ...]], ...] = ()
    """Default scopes per flow."""
    device_code_forbidden_scopes: tuple[str, ...] = ()
    basic_auth_cutoff: str = ""

    def default_scopes(self, flow: OAuth2Flow) -> list[str]:
        return list(dict(self.scopes).get(flow.value, ()))


def _raw() -> dict[str, Any]:
    data: dict[str, Any] = presets_data().get("oauth2", {})
    return data


def provider_facts(provider: str) -> ProviderFacts:
    entry = _raw().get(provider, {})
    scopes = tuple(
        (key.removeprefix("scopes_").replace("_", "-"), tuple(value))
        for key, value in entry.items()
        if key.startswith("scopes_")
    )
    return ProviderFacts(
        id=provider,
        name=entry.get("name", provider),
        token_url=entry.get("token_url", ""),
        device_authorization_url=entry.get("device_authorization_url", ""),
        default_tenant=entry.get("default_tenant", ""),
        flows=tuple(entry.get("flows", ())),
        scopes=scopes,
        device_code_forbidden_scopes=tuple(entry.get("device_code_forbidden_scopes", ())),
        basic_auth_cutoff=entry.get("basic_auth_cutoff", ""),
    )


@dataclass(frozen=True)
class Endpoints:
    token_url: str
    device_authorization_url: str
    scopes: list[str]
    tenant: str


def endpoints(oauth2: OAuth2Settings) -> Endpoints:
    """The effective endpoints and scopes: the settings where set, else the provider's."""
    facts = provider_facts(oauth2.provider.value)
    tenant = oauth2.tenant.strip() or facts.default_tenant
    token_url = oauth2.token_url.strip() or facts.token_url.replace("{tenant}", tenant)
    device_url = oauth2.device_authorization_url.strip() or facts.device_authorization_url.replace(
        "{tenant}", tenant
    )
    scopes = list(oauth2.scopes) or facts.default_scopes(oauth2.flow)
    return Endpoints(token_url, device_url, scopes, tenant)


def url_problem(url: str, *, allow_plaintext_loopback: bool) -> str | None:
    """Why ``url`` may not be a token or device endpoint, or None when it may: the one URL
    rule (:func:`tui_mailsetup.endpoints.url_problem`), plain http to loopback only with
    oauth2.allow_plaintext_loopback."""
    from tui_mailsetup.endpoints import url_problem as rule

    problem = rule(
        url.strip(),
        carries="the client secret and the tokens",
        allow_query=True,
        loopback_http_setting="" if allow_plaintext_loopback else "oauth2.allow_plaintext_loopback",
    )
    return None if problem is None else problem.message


def configuration_problems(oauth2: OAuth2Settings, *, username: str = "") -> list[tuple[str, str]]:
    """What stops the configured flow before any request: (key, message) pairs."""
    facts = provider_facts(oauth2.provider.value)
    flow = oauth2.flow
    problems: list[tuple[str, str]] = []
    if facts.flows and flow.value not in facts.flows:
        problems.append(
            (
                "oauth2.flow",
                f"{facts.name} does not offer the {flow.value} flow for SMTP; "
                f"choose one of: {', '.join(facts.flows)}",
            )
        )
    if flow is OAuth2Flow.SERVICE_ACCOUNT:
        if not oauth2.service_account_file.strip():
            problems.append(
                (
                    "oauth2.service_account_file",
                    "the service-account flow needs the key file: "
                    "tui-mailsetup set oauth2.service_account_file /path/to/key.json",
                )
            )
        if not (oauth2.user.strip() or username.strip()):
            problems.append(
                (
                    "oauth2.user",
                    "domain-wide delegation acts as a mailbox: set oauth2.user or smtp.username",
                )
            )
    elif not oauth2.client_id.strip():
        problems.append(
            (
                "oauth2.client_id",
                "set the application (client) ID of the app registration: "
                "tui-mailsetup set oauth2.client_id ID",
            )
        )
    if (
        flow is OAuth2Flow.CLIENT_CREDENTIALS
        and oauth2.provider.value == "microsoft"
        and not oauth2.tenant.strip()
        and not oauth2.token_url.strip()
    ):
        problems.append(
            (
                "oauth2.tenant",
                "app-only tokens are issued by one tenant: set oauth2.tenant to its ID or domain",
            )
        )
    tenant = oauth2.tenant.strip()
    if tenant and not _TENANT.fullmatch(tenant):
        problems.append(
            (
                "oauth2.tenant",
                "a tenant is an ID (a GUID) or a domain name: letters, digits, . and -",
            )
        )
    ends = endpoints(oauth2)
    if not ends.token_url:
        problems.append(("oauth2.token_url", "set oauth2.token_url (the custom provider's)"))
    urls = [("oauth2.token_url", ends.token_url)]
    if flow is OAuth2Flow.DEVICE_CODE:
        urls.append(("oauth2.device_authorization_url", ends.device_authorization_url))
    for key, url in urls:
        if url and (
            problem := url_problem(url, allow_plaintext_loopback=oauth2.allow_plaintext_loopback)
        ):
            problems.append((key, f"{untrusted_text(url, limit=200)} {problem}"))
    if flow is OAuth2Flow.DEVICE_CODE:
        if not ends.device_authorization_url:
            problems.append(
                (
                    "oauth2.device_authorization_url",
                    "set oauth2.device_authorization_url (the custom provider's RFC 8628 endpoint)",
                )
            )
        forbidden = [s for s in ends.scopes if s in facts.device_code_forbidden_scopes]
        if forbidden:
            problems.append(
                (
                    "oauth2.flow",
                    f"{facts.name} does not grant {', '.join(forbidden)} to the device-code flow, "
                    "so a token for Gmail SMTP cannot be obtained this way. Use flow = "
                    "service-account (Google Workspace, domain-wide delegation), or an app password",
                )
            )
    if not ends.scopes:
        problems.append(("oauth2.scopes", "set oauth2.scopes: the custom provider has no defaults"))
    return problems
