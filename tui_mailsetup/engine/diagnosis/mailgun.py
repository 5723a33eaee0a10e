"""What a Mailgun API error answer means: :data:`MAILGUN_RULES`, the shape of :mod:`.http_api`.

Mailgun's errors are plain HTTP statuses with a JSON ``{"message": …}`` (the evidence);
the shared rules read them, with Mailgun's hint for refused credentials (sending keys,
regions) and its own meaning of 404 (a domain it does not know).
"""

from __future__ import annotations

from tui_mailsetup.engine.diagnosis.http_api import (
    HttpReply,
    HttpRule,
    http_client_error,
    http_credentials_refused,
    http_rate_limited,
    http_redirect,
    http_server_error,
)
from tui_mailsetup.engine.events import Diagnosis
from tui_mailsetup.exitcodes import ExitCode

SERVICE = "Mailgun"
AUTH_HINT = (
    "Use a Mailgun API key (Sending API keys work for sending; checking the domain needs an "
    "account key), and the region the domain was created in: an EU domain answers 401 on "
    "the US API."
)


def mailgun_unknown_domain(reply: HttpReply) -> Diagnosis | None:
    """404: no such sending domain (in this region), or a base URL that is not the API."""
    if reply.status != 404:
        return None
    return Diagnosis(
        reply.stage,
        f"{reply.service} does not know this domain or endpoint (HTTP 404)",
        evidence=reply.evidence,
        explanation="Check the domain, the region and the base URL.",
        exit_code=ExitCode.CONFIG,
    )


MAILGUN_RULES: tuple[HttpRule[HttpReply], ...] = (
    http_credentials_refused,
    http_rate_limited,
    http_redirect,
    mailgun_unknown_domain,
    http_client_error,
    http_server_error,
)
"""Every Mailgun rule, in the order they are tried; the first that answers wins."""
