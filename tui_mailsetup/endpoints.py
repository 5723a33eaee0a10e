"""The HTTP APIs the drivers send credentials to: their URLs, and the one rule a URL is held to.

One home for a rule that used to live in three places that disagreed: validation
(``check --offline`` and the TUI's fields) accepted ``http://api.example.com`` that the
driver then refused, and the Django export wrote Mailgun's base URL without the ``/v3``
that the driver adds. Now validation, the drivers' last check before sending, and the
exports all ask this module:

- :func:`url_problem`: whether a URL may carry a credential (an API key, a signed AWS
  request): ``https``, or plain ``http`` only to this machine's loopback interface (a test
  server, a compatible service on this machine); a host; no user name or password inside
  the URL (they would be printed wherever the URL is); no query or fragment (the drivers
  append paths to it); no white space or control characters.
- :func:`mailgun_api_root` / :func:`mailgun_api_url` / :func:`mailgun_api_host`: the
  Mailgun API as the driver calls it, and as django-anymail and Laravel want it written.
- :func:`ses_endpoint`: the SES endpoint the driver calls.

No network, no third-party imports: the TUI validates on every keystroke.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from tui_mailsetup.names import is_loopback

if TYPE_CHECKING:
    from tui_mailsetup.settings import MailSettings

MAILGUN_API_ROOTS = {
    "us": "https://api.mailgun.net",
    "eu": "https://api.eu.mailgun.net",
}
"""Mailgun's API per region, without the ``/v3`` version path."""

MAILGUN_VERSION_PATH = "/v3"

URL_KEYS_BY_DRIVER = {
    "mailgun": ("mailgun.base_url",),
    "ses": ("ses.endpoint_url",),
    "graph": ("graph.endpoint",),
}
"""The URL settings each HTTP driver sends its credentials to (the contract test walks these)."""


@dataclass(frozen=True)
class UrlProblem:
    code: str
    """The finding code (``url-plaintext``, ``url-invalid``, …), prefixed by the caller's key."""
    message: str
    """What is wrong, for a person; never quotes a password embedded in the URL."""
    plaintext: bool = False
    """The URL is well-formed but would send the credential unencrypted to another machine."""


def url_problem(
    url: str,
    *,
    carries: str = "the API key",
    root_only: bool = False,
    allow_query: bool = False,
    loopback_http_setting: str = "",
) -> UrlProblem | None:
    """None when ``url`` may be sent ``carries``; else what is wrong, before anything is sent.

    ``root_only``: the service's root (``https://graph.microsoft.com``), no path; the driver
    appends its own. ``allow_query``: the URL is used as it is (a token endpoint), nothing
    is appended to it. ``loopback_http_setting``: plain http even to loopback only when that
    setting (``oauth2.allow_plaintext_loopback``) is on; the caller passes it only when it
    is off. An empty ``url`` is not judged here: every caller treats it as "the provider's
    own".
    """
    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in url):
        return UrlProblem("url-invalid", "must not contain spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        return UrlProblem("url-invalid", f"is not a valid URL ({exc})")
    if parts.scheme not in ("http", "https"):
        return UrlProblem(
            "url-invalid", "must start with https:// (or http:// for a server on this machine)"
        )
    if not parts.hostname:
        return UrlProblem("url-invalid", "has no host name after the scheme")
    if parts.username is not None or parts.password is not None:
        return UrlProblem(
            "url-credentials",
            "must not contain a user name or password (user:password@host): it would be printed "
            f"with the URL; {carries} is stored with set-secret",
        )
    if parts.fragment or url.endswith("#"):
        return UrlProblem("url-invalid", "must not have a fragment (#…)")
    if not allow_query and (parts.query or url.endswith("?")):
        return UrlProblem("url-invalid", "must not have a query (?…)")
    if port == 0:
        return UrlProblem("url-invalid", "has port 0")
    if root_only and parts.path not in ("", "/"):
        return UrlProblem(
            "url-invalid",
            f"must be the service's root URL ({parts.scheme}://{parts.netloc}), without a path",
        )
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        return UrlProblem(
            "url-plaintext",
            f"uses plain http to another machine: {carries} would travel unencrypted. Use "
            "https://; only a server on this machine (127.0.0.1, ::1, localhost) may be "
            "reached over http",
            plaintext=True,
        )
    if parts.scheme == "http" and loopback_http_setting:
        return UrlProblem(
            "url-plaintext",
            f"is plain http: allowed on the loopback interface only with "
            f"{loopback_http_setting} = true",
            plaintext=True,
        )
    return None


def mailgun_api_root(settings: MailSettings) -> str:
    """The API root the driver calls, without ``/v3``: people paste ``base_url`` both ways."""
    custom = settings.mailgun.base_url.strip().rstrip("/")
    base = custom or MAILGUN_API_ROOTS[settings.mailgun.region.value]
    return base.removesuffix(MAILGUN_VERSION_PATH)


def mailgun_api_url(settings: MailSettings) -> str:
    """The versioned API URL (``…/v3``), as django-anymail's ``MAILGUN_API_URL`` wants it."""
    return mailgun_api_root(settings) + MAILGUN_VERSION_PATH


def mailgun_api_host(settings: MailSettings) -> str:
    """The API's host (and port), as Laravel's ``MAILGUN_ENDPOINT`` wants it."""
    root = mailgun_api_root(settings)
    try:
        return urlsplit(root).netloc or root
    except ValueError:
        return root


def mailgun_region_mismatch(settings: MailSettings) -> bool:
    """The domain or the base URL says EU while the region says US (EU domains answer 401
    on the US API)."""
    mailgun = settings.mailgun
    domain = mailgun.domain.lower()
    host = mailgun_api_host(settings).lower() if mailgun.base_url.strip() else ""
    looks_eu = domain.endswith(".eu.mailgun.org") or ".eu." in f".{host}"
    return looks_eu and mailgun.region.value != "eu"


def ses_endpoint(settings: MailSettings) -> str:
    """The SES endpoint the driver calls: ``ses.endpoint_url``, else the region's."""
    custom = settings.ses.endpoint_url.strip().rstrip("/")
    return custom or f"https://email.{settings.ses.region.strip()}.amazonaws.com"
