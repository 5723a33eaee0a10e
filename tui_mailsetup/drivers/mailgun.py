"""The Mailgun driver: the HTTP API (``/v3/DOMAIN/messages.mime``), US or EU region.

A test send posts the whole MIME message, so what arrives is byte for byte
what the SMTP driver would have sent. ``check`` (``stop_after``) only asks
for the domain (``GET /v3/domains/DOMAIN``): the key and the domain are
verified and nothing is sent.

The request goes out with httpx (asynchronous, explicit timeouts, the proxy
variables honoured), imported only when this driver runs: see
:mod:`tui_mailsetup.drivers.http`. What an error answer means is
:data:`tui_mailsetup.engine.diagnosis.mailgun.MAILGUN_RULES`.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from email.message import EmailMessage
from urllib.parse import quote

from tui_mailsetup.drivers.http import (
    HttpRequest,
    HttpResponse,
    check_url,
    multipart,
    refuse,
    run_request,
)
from tui_mailsetup.endpoints import mailgun_api_root
from tui_mailsetup.engine.diagnosis.http_api import diagnose_http
from tui_mailsetup.engine.diagnosis.mailgun import AUTH_HINT, MAILGUN_RULES, SERVICE
from tui_mailsetup.engine.events import Diagnosis, Event, Stage
from tui_mailsetup.exitcodes import ExitCode
from tui_mailsetup.sanitize import untrusted_text
from tui_mailsetup.settings import MailSettings


class MailgunDriver:
    name = "mailgun"

    def __init__(self, settings: MailSettings, api_key: str | None) -> None:
        self.settings = settings
        self._api_key = api_key

    def __repr__(self) -> str:
        return f"MailgunDriver(domain={self.settings.mailgun.domain!r})"

    def send(
        self,
        message: EmailMessage,
        recipients: list[str],
        *,
        stop_after: Stage | None = None,
    ) -> AsyncIterator[Event]:
        problem = self._problem()
        if problem is not None:
            return refuse(problem, recipients)
        domain = self.settings.mailgun.domain.strip()
        base = mailgun_api_root(self.settings)
        token = base64.b64encode(f"api:{self._api_key}".encode()).decode("ascii")
        headers = {"Authorization": f"Basic {token}", "Accept": "application/json"}
        shown = ("Authorization: Basic [Mailgun API key redacted]",)
        # An error page or a proxy may quote the request back: the key, or the header.
        masked = (self._api_key or "", token)
        if stop_after is not None:
            request = HttpRequest(
                "GET",
                f"{base}/v3/domains/{quote(domain, safe='')}",
                headers,
                shown_headers=shown,
                masked=masked,
            )
        else:
            data = bytes(message)
            fields: list[tuple[str, str | tuple[str, str, bytes]]] = [
                ("to", recipient) for recipient in recipients
            ]
            fields.append(("message", ("message.eml", "message/rfc822", data)))
            body, content_type = multipart(fields)
            request = HttpRequest(
                "POST",
                f"{base}/v3/{quote(domain, safe='')}/messages.mime",
                {**headers, "Content-Type": content_type},
                body,
                shown_headers=shown,
                masked=masked,
                summary=f"the test message as MIME, {len(data)} bytes, to {', '.join(recipients)}",
            )
        return run_request(
            request,
            seconds=self.settings.smtp.timeout,
            interpret=self._interpret_check if stop_after is not None else self._interpret_send,
            message_id=str(message.get("Message-ID", "")),
            recipients=recipients,
        )

    def _problem(self) -> Diagnosis | None:
        if not self.settings.mailgun.domain.strip():
            return Diagnosis(
                Stage.SEND,
                "mailgun.domain is not set",
                explanation="Set it to the sending domain configured in Mailgun.",
                exit_code=ExitCode.CONFIG,
            )
        if not self._api_key:
            return Diagnosis(
                Stage.SEND,
                "No Mailgun API key is set",
                explanation="Store it with: tui-mailsetup set-secret mailgun.api_key",
                exit_code=ExitCode.CONFIG,
            )
        return check_url(mailgun_api_root(self.settings), "mailgun.base_url")

    def _interpret_send(self, response: HttpResponse) -> tuple[bool, str, Diagnosis | None]:
        if response.status == 200:
            queued = untrusted_text(_json_field(response, "id"))
            return True, f"queued as {queued}" if queued else "queued", None
        return self._refused(response)

    def _interpret_check(self, response: HttpResponse) -> tuple[bool, str, Diagnosis | None]:
        if response.status == 200:
            return True, "the API key and the domain are valid", None
        return self._refused(response)

    def _refused(self, response: HttpResponse) -> tuple[bool, str, Diagnosis | None]:
        """Mailgun's error answer (its JSON ``message`` the evidence), judged by MAILGUN_RULES."""
        reply = response.reply(
            SERVICE,
            self.settings,
            message=_json_field(response, "message"),
            auth_hint=AUTH_HINT,
        )
        return False, f"HTTP {response.status}", diagnose_http(reply, MAILGUN_RULES)


def _json_field(response: HttpResponse, name: str) -> str:
    """A top-level field of the JSON answer as the server sent it, untrusted ("" when absent)."""
    try:
        value = json.loads(response.body.decode("utf-8", "replace")).get(name, "")
    except (ValueError, AttributeError):
        return ""
    return str(value) if value else ""
