"""Where the Graph driver's access token comes from: the ``[oauth2]`` settings, with the
scopes of Microsoft Graph instead of those of SMTP.

The token is obtained by the oauth2 package's public functions (``access.access_token``,
``access.login``); this module only hands them a view of the configuration whose
``oauth2.scopes`` name Graph when the user left them empty:

* client credentials: ``https://graph.microsoft.com/.default`` (the app's granted
  application permissions, Mail.Send among them);
* device code (a person's mailbox): ``https://graph.microsoft.com/Mail.Send`` and
  ``offline_access``.

For a national cloud the scope's host is the endpoint's (``graph.microsoft.us``, …).
A stored token issued for another resource (the SMTP scope, from before the driver was
switched) would be refused by Graph with 401: an unattended flow's cached token is
forgotten and fetched again, a person's sign-in must be made again.
"""

from __future__ import annotations

import dataclasses
from urllib.parse import urlsplit

from tui_mailsetup.config_file import LoadedConfig, ValueSource
from tui_mailsetup.settings import Driver, MailSettings, OAuth2Flow

GRAPH_ROOT = "https://graph.microsoft.com"
NATIONAL_CLOUDS = {
    "graph.microsoft.com": "global",
    "graph.microsoft.us": "US Government L4",
    "dod-graph.microsoft.us": "US Government L5 (DoD)",
    "microsoftgraph.chinacloudapi.cn": "China (21Vianet)",
}


def graph_root(settings: MailSettings) -> str:
    """Graph's root URL without ``/v1.0`` (people paste it both ways)."""
    root = settings.graph.endpoint.strip().rstrip("/") or GRAPH_ROOT
    return root.removesuffix("/v1.0")


def graph_scopes(settings: MailSettings) -> list[str]:
    """The scopes a Graph token is asked for when ``oauth2.scopes`` is empty."""
    host = urlsplit(graph_root(settings)).netloc or "graph.microsoft.com"
    resource = f"https://{host}"
    if settings.oauth2.flow is OAuth2Flow.CLIENT_CREDENTIALS:
        return [f"{resource}/.default"]
    return [f"{resource}/Mail.Send", "offline_access"]


def token_view(loaded: LoadedConfig) -> LoadedConfig:
    """``loaded`` as the oauth2 package must see it for the configured driver: with
    driver = graph and no explicit scopes, Graph's; otherwise unchanged."""
    settings = loaded.settings
    if settings.driver is not Driver.GRAPH or settings.oauth2.scopes:
        return loaded
    oauth2 = settings.oauth2.model_copy(update={"scopes": graph_scopes(settings)})
    return dataclasses.replace(loaded, settings=settings.model_copy(update={"oauth2": oauth2}))


def _for_another_resource(granted: list[str], settings: MailSettings) -> bool:
    """Whether stored scopes name a resource other than this Graph endpoint. Microsoft
    answers Graph scopes in short form ("Mail.Send") too: only full URLs count."""
    host = urlsplit(graph_root(settings)).netloc.lower()
    urls = [scope.lower() for scope in granted if "://" in scope]
    return bool(urls) and not any(f"://{host}/" in scope for scope in urls)


def incomplete(loaded: LoadedConfig) -> bool:
    """Whether validation finds an error in what the Graph driver needs (no token is
    worth asking for then)."""
    from tui_mailsetup.findings import Severity
    from tui_mailsetup.secrets import secret_sources
    from tui_mailsetup.validation import check_graph

    findings = check_graph(loaded.settings, secret_sources(loaded))
    return any(f.severity is Severity.ERROR for f in findings)


def graph_access_token(loaded: LoadedConfig) -> str:
    """A valid access token for Graph. Raises oauth2.errors.OAuth2Error (LoginRequired:
    a person must sign in) or secrets.SecretError."""
    from tui_mailsetup.oauth2.access import access_token
    from tui_mailsetup.oauth2.errors import LoginRequired
    from tui_mailsetup.oauth2.store import forget_tokens, load_tokens

    view = token_view(loaded)
    tokens, source = load_tokens(view)
    if tokens is not None and _for_another_resource(tokens.scopes, view.settings):
        if view.settings.oauth2.flow is OAuth2Flow.DEVICE_CODE:
            raise LoginRequired(
                f"the stored sign-in is for {', '.join(tokens.scopes)}, not Microsoft Graph "
                "(driver = graph asks for Mail.Send)"
            )
        if source == ValueSource.CREDENTIALS_FILE:
            # A cached app-only token: nothing a person made; fetched again for Graph.
            forget_tokens(view)
    return access_token(view)
