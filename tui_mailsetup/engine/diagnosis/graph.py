"""What a Microsoft Graph error answer means: :data:`GRAPH_RULES`, the shape of :mod:`.http_api`.

Graph answers ``{"error": {"code", "message"}}``; the driver decodes it (neutralised)
into a :class:`GraphReply`, which also names the mailbox sent as. Graph's own rules come
first, since its codes say more than its statuses (a 403 may be Send As, a 400 a
recipient, a 503 throttling); then the shared redirect, 4xx and 5xx rules. A 401 is the
token (its audience or its lifetime), a 403 the permission or an access policy, a 404 or
an invalid user the mailbox, 429/503/504 throttling with ``Retry-After``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from tui_mailsetup.engine.diagnosis.http_api import (
    EVIDENCE_LIMIT,
    HttpReply,
    HttpRule,
    body_lines,
    http_client_error,
    http_redirect,
    http_server_error,
)
from tui_mailsetup.engine.diagnosis.rate_limits import retry_after_header
from tui_mailsetup.engine.events import Diagnosis, Stage
from tui_mailsetup.exitcodes import ExitCode
from tui_mailsetup.fixes import Fix
from tui_mailsetup.sanitize import untrusted_text

SERVICE = "Microsoft Graph"
PERMISSION_FIX = (
    "In Entra ID → App registrations → the app → API permissions: add Microsoft Graph → "
    "Application permissions → Mail.Send, then 'Grant admin consent' (a delegated sign-in "
    "needs the delegated Mail.Send, consented by the user or an administrator)."
)
POLICY_FIX = (
    "An Exchange ApplicationAccessPolicy or an RBAC for Applications management scope limits "
    "which mailboxes the app may use and excludes this one. Check with "
    "Test-ApplicationAccessPolicy -Identity MAILBOX -AppId CLIENT_ID (or "
    "Test-ServicePrincipalAuthorization), and add the mailbox to the policy's group or scope."
)


@dataclass(frozen=True, kw_only=True)
class GraphReply(HttpReply):
    """A Graph error answer; ``code`` and ``message`` already neutralised by the driver."""

    mailbox: str
    """The mailbox sent as (graph.mailbox, else the sender address)."""

    @cached_property
    def evidence(self) -> str:
        """``code: message`` when Graph named an error, else the start of the body."""
        if self.code:
            return f"{self.code}: {self.message}"
        return " ".join(body_lines(self.body))[:EVIDENCE_LIMIT]

    @cached_property
    def words(self) -> str:
        """Graph's code and text in lower case, for matching."""
        return f"{self.code} {self.message}".lower()


def graph_token_refused(reply: GraphReply) -> Diagnosis | None:
    """401: the token's lifetime is over, or it was issued for another resource or cloud."""
    if reply.status != 401:
        return None
    challenge = untrusted_text(reply.header("WWW-Authenticate"), limit=300)
    words = f"{reply.words} {challenge.lower()}"
    expired = "expired" in words or "lifetime" in words or "not yet valid" in words
    if expired:
        explanation = (
            "The token's lifetime is over (or this machine's clock is wrong: check it with "
            "timedatectl). A cached token is renewed when it nears expiry; for a token given "
            "by hand, get a new one."
        )
    else:
        explanation = (
            "The token was issued for another resource (its audience is not Microsoft Graph: "
            "the SMTP scope https://outlook.office365.com/.default, say), or by another cloud's "
            "sign-in. Leave oauth2.scopes empty (Graph's scope is then asked for) or set it to "
            "https://graph.microsoft.com/.default (the endpoint's host for a national cloud), "
            "and for a delegated sign-in run tui-mailsetup oauth2 login again."
        )
    return Diagnosis(
        Stage.AUTH,
        "Graph refused the access token (HTTP 401"
        + (": expired)" if expired else ": wrong audience or invalid)"),
        evidence=reply.evidence + (f" (WWW-Authenticate: {challenge})" if challenge else ""),
        explanation=explanation,
        exit_code=ExitCode.NOPERM,
    )


def graph_send_as_denied(reply: GraphReply) -> Diagnosis | None:
    """ErrorSendAsDenied: the mailbox may not send as the sender address."""
    if "sendasdenied" not in reply.words:
        return None
    mailbox = reply.mailbox
    sender = reply.settings.sender.address.strip()
    fix = None
    if "@" in mailbox and sender.lower() != mailbox.lower():
        fix = Fix("send as the mailbox's own address", {"sender.address": mailbox})
    return Diagnosis(
        Stage.SEND,
        f"{mailbox} may not send as the sender address {sender} (ErrorSendAsDenied)",
        evidence=reply.evidence,
        explanation="The From address must be the mailbox itself, or the mailbox needs "
        "Send As on it (Add-RecipientPermission -Identity SENDER -Trustee MAILBOX "
        "-AccessRights SendAs), or graph.mailbox set to the sender's own mailbox.",
        fix=fix,
        exit_code=ExitCode.NOPERM,
    )


def graph_access_denied(reply: GraphReply) -> Diagnosis | None:
    """Another 403: Mail.Send not granted or consented, or an access policy excludes the mailbox."""
    if reply.status != 403:
        return None
    words = reply.words
    policy = "accesspolicy" in words or "raop" in words or "rbac" in words
    return Diagnosis(
        Stage.SEND,
        f"Graph denied access to the mailbox {reply.mailbox} (HTTP 403"
        + (f" {reply.code})" if reply.code else ")"),
        evidence=reply.evidence,
        explanation=POLICY_FIX
        if policy
        else f"{PERMISSION_FIX} If it is granted and consented: {POLICY_FIX}",
        exit_code=ExitCode.NOPERM,
    )


def graph_no_mailbox(reply: GraphReply) -> Diagnosis | None:
    """404 or an invalid user: no such mailbox in the tenant, or one without an Exchange licence."""
    words = reply.words
    if reply.status != 404 and "errorinvaliduser" not in words and "mailboxnotenabled" not in words:
        return None
    if "mailboxnotenabledforrestapi" in words:
        return Diagnosis(
            Stage.SEND,
            f"The mailbox {reply.mailbox} has no Exchange Online mailbox (licence)",
            evidence=reply.evidence,
            explanation="The user exists but has no Exchange Online licence, or the mailbox "
            "is on-premises (Graph reaches only Exchange Online mailboxes): assign a licence "
            "or send as another mailbox.",
            exit_code=ExitCode.NOUSER,
        )
    return Diagnosis(
        Stage.SEND,
        f"Graph knows no mailbox {reply.mailbox} (HTTP {reply.status} {reply.code})".replace(
            " )", ")"
        ),
        evidence=reply.evidence,
        explanation="Set graph.mailbox (or sender.address) to an Exchange Online mailbox of "
        "this tenant: its address or user principal name, as Entra ID lists it.",
        exit_code=ExitCode.NOUSER,
    )


def graph_throttled(reply: GraphReply) -> Diagnosis | None:
    """429, 503/504 or a throttling code: wait until ``Retry-After`` (remembered)."""
    status = reply.status
    if status not in (429, 503, 504) and "throttl" not in reply.words:
        return None
    return Diagnosis(
        Stage.SEND,
        f"Graph is throttling this app or mailbox (HTTP {status})"
        if status == 429
        else f"Graph is busy or unavailable (HTTP {status}); try again later",
        evidence=reply.evidence,
        explanation="Exchange Online limits requests per app and mailbox (about 10,000 "
        "per 10 minutes, 4 at once) and messages per day; the answer says when to "
        "try again.",
        exit_code=ExitCode.TEMPFAIL,
        retry_after=retry_after_header(reply.header("Retry-After"), now=reply.now),
    )


def graph_recipient_refused(reply: GraphReply) -> Diagnosis | None:
    """A 400 naming a recipient: reported at RCPT, as SMTP would."""
    if reply.status != 400 or "recipient" not in reply.words:
        return None
    return Diagnosis(
        Stage.RCPT, "Graph refused a recipient", evidence=reply.evidence, exit_code=ExitCode.NOUSER
    )


GRAPH_RULES: tuple[HttpRule[GraphReply], ...] = (
    graph_token_refused,
    graph_send_as_denied,
    graph_access_denied,
    graph_no_mailbox,
    graph_throttled,
    graph_recipient_refused,
    # the shared rules that still apply (401, 403 and 429 are Graph's own above)
    http_redirect,
    http_client_error,
    http_server_error,
)
"""Every Graph rule, in the order they are tried; the first that answers wins."""
