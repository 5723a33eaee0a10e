"""The Microsoft Graph driver: ``POST {endpoint}/v1.0/users/{mailbox}/sendMail``.

For tenants that switched SMTP AUTH off. The message goes in Graph's MIME form: the
very bytes the SMTP driver would send, base64-encoded, ``Content-Type: text/plain``.
(Graph's MIME form keeps a copy in the mailbox's Sent Items whatever
``graph.save_to_sent_items`` says: only the JSON form takes ``saveToSentItems``, and
it would rebuild the message; the transcript says so when the setting is false.)
The bearer token comes from the ``[oauth2]`` settings with Graph's scopes
(:mod:`tui_mailsetup.drivers.graph_auth`); the transcript shows it as a placeholder,
masks it wherever an answer quotes it, and shows Graph's ``request-id`` (what
Microsoft support asks for) and the timing.

``check`` (``stop_after``) sends nothing: ``GET /v1.0/users/{mailbox}?$select=id,mail,
userPrincipalName`` proves the token is Graph's and unexpired (a 401 otherwise) and
that the mailbox exists (404 otherwise). Reading a user needs User.ReadBasic.All or
User.Read.All, which an app holding only Mail.Send lacks: Graph's 403 then still
proves the token, and the check passes with a warning that the mailbox was not
verified.

Exit codes: 401 and 403 (the token, the permission, the access policy, Send As) 77;
404 (no such mailbox, no Exchange licence) and refused recipients 67; 429 and 503/504
(throttled, with ``Retry-After``) and other 5xx 75; other 4xx 65. What an error answer
means is decided by :data:`tui_mailsetup.engine.diagnosis.graph.GRAPH_RULES`.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from email.message import EmailMessage
from typing import Any
from urllib.parse import quote

from tui_mailsetup.drivers.graph_auth import NATIONAL_CLOUDS, graph_root
from tui_mailsetup.drivers.http import (
    HttpRequest,
    HttpResponse,
    check_url,
    refuse,
    run_request,
)
from tui_mailsetup.engine.diagnosis.graph import GRAPH_RULES, SERVICE, GraphReply
from tui_mailsetup.engine.diagnosis.http_api import diagnose_http
from tui_mailsetup.engine.events import Diagnosis, Event, Stage
from tui_mailsetup.exitcodes import ExitCode
from tui_mailsetup.sanitize import untrusted_text
from tui_mailsetup.settings import MailSettings

REQUEST_ID_HEADERS = ("request-id", "client-request-id", "x-ms-ags-diagnostic", "Retry-After")
CHECK_PERMISSION = "User.ReadBasic.All (or User.Read.All)"


def mailbox_of(settings: MailSettings) -> str:
    """The mailbox sent as: graph.mailbox, else the sender address."""
    return settings.graph.mailbox.strip() or settings.sender.address.strip()


class GraphDriver:
    name = "graph"

    def __init__(self, settings: MailSettings, token: str | None) -> None:
        self.settings = settings
        self._token = token
        self.check_details: dict[str, Any] = {}

    def __repr__(self) -> str:
        return f"GraphDriver(mailbox={mailbox_of(self.settings)!r})"

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
        assert self._token is not None  # _problem() said so
        mailbox = mailbox_of(self.settings)
        user_url = f"{graph_root(self.settings)}/v1.0/users/{quote(mailbox, safe='@')}"
        headers = {"Authorization": f"Bearer {self._token}", "Accept": "application/json"}
        shown = ("Authorization: Bearer [access token redacted]",)
        self.check_details = {}
        if stop_after is not None:
            request = HttpRequest(
                "GET",
                f"{user_url}?$select=id,mail,userPrincipalName",
                headers,
                shown_headers=shown,
                summary=f"reads the mailbox {mailbox} (needs {CHECK_PERMISSION}); sends nothing",
                response_headers=REQUEST_ID_HEADERS,
                masked=(self._token,),
            )
            interpret = self._interpret_check
        else:
            data = bytes(message)
            summary = (
                f"the message as MIME (base64), {len(data)} bytes, as {mailbox} "
                f"to {', '.join(recipients)}"
            )
            if not self.settings.graph.save_to_sent_items:
                summary += "; Graph's MIME form keeps a copy in Sent Items regardless"
            request = HttpRequest(
                "POST",
                f"{user_url}/sendMail",
                {**headers, "Content-Type": "text/plain"},
                base64.b64encode(data),
                shown_headers=(*shown, "Content-Type: text/plain"),
                summary=summary,
                response_headers=REQUEST_ID_HEADERS,
                masked=(self._token,),
            )
            interpret = self._interpret_send
        return run_request(
            request,
            seconds=self.settings.smtp.timeout,
            interpret=interpret,
            message_id=str(message.get("Message-ID", "")),
            recipients=recipients,
        )

    def _problem(self) -> Diagnosis | None:
        if not mailbox_of(self.settings):
            return Diagnosis(
                Stage.SEND,
                "No mailbox to send as: set graph.mailbox or sender.address",
                exit_code=ExitCode.CONFIG,
            )
        if not self._token:
            return Diagnosis(
                Stage.SEND,
                "No access token for Microsoft Graph",
                explanation="Configure [oauth2] (client credentials with a secret or a "
                "certificate, or the device-code sign-in: tui-mailsetup oauth2 login).",
                exit_code=ExitCode.CONFIG,
            )
        return check_url(graph_root(self.settings), "graph.endpoint", root_only=True)

    # -------------------------------------------------------------- answers

    def _interpret_send(self, response: HttpResponse) -> tuple[bool, str, Diagnosis | None]:
        if response.status in (200, 202):
            request_id = untrusted_text(response.header("request-id"), limit=100)
            detail = "accepted for delivery (202)"
            return True, f"{detail}, request-id {request_id}" if request_id else detail, None
        return False, f"HTTP {response.status}", self._diagnose(response)

    def _interpret_check(self, response: HttpResponse) -> tuple[bool, str, Diagnosis | None]:
        mailbox = mailbox_of(self.settings)
        cloud = NATIONAL_CLOUDS.get(graph_root(self.settings).split("://", 1)[-1], "")
        self.check_details = {"mailbox": mailbox, "token": "accepted"}
        if cloud:
            self.check_details["cloud"] = cloud
        if response.status == 200:
            found = _json(response)
            self.check_details |= {
                "mailbox_verified": True,
                "id": untrusted_text(str(found.get("id", "")), limit=100),
            }
            return True, f"the token is accepted and the mailbox {mailbox} exists", None
        if response.status == 403:
            code = _error(response)[0]
            warning = (
                f"the token is accepted, but the mailbox was not verified: reading it needs "
                f"{CHECK_PERMISSION}, which this token lacks ({code or 'HTTP 403'}); Mail.Send "
                "alone is enough to send. A test send verifies the rest."
            )
            self.check_details |= {"mailbox_verified": False, "warning": warning}
            return True, f"warning: {warning}", None
        return False, f"HTTP {response.status}", self._diagnose(response)

    def _diagnose(self, response: HttpResponse) -> Diagnosis:
        """Graph's error answer, judged by GRAPH_RULES (engine/diagnosis/graph.py)."""
        code, text = _error(response)
        reply = GraphReply(
            service=SERVICE,
            status=response.status,
            settings=self.settings,
            code=code,
            message=text,
            headers=response.headers,
            body=response.body,
            mailbox=mailbox_of(self.settings),
        )
        return diagnose_http(reply, GRAPH_RULES)


def _json(response: HttpResponse) -> dict[str, Any]:
    try:
        value = json.loads(response.body.decode("utf-8", "replace"))
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _error(response: HttpResponse) -> tuple[str, str]:
    """Graph's ``{"error": {"code", "message"}}``, neutralised ("" when absent)."""
    error = _json(response).get("error")
    if not isinstance(error, dict):
        return "", ""
    code = untrusted_text(str(error.get("code", "")), limit=100)
    text = untrusted_text(str(error.get("message", "")), limit=400)
    return code, text
