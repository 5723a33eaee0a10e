"""An unexpected SMTP reply, diagnosed by ordered, named rules.

:data:`REPLY_RULES` is the whole decision: the first rule that recognises the
reply gives the diagnosis, so a rule placed earlier wins (provider codes before
the generic meaning of 535; STARTTLS before authentication). Each rule is a
small function of a :class:`Reply`; :func:`refused`, the last, always answers.
A plain ``535`` at AUTH is :func:`credentials_rejected`.
"""

from __future__ import annotations

from tui_mailsetup.engine.diagnosis.common import FIX_STARTTLS, Reply, ReplyRule
from tui_mailsetup.engine.diagnosis.providers import (
    gmail_app_password,
    microsoft_auth_required,
    microsoft_basic_auth_refused,
    microsoft_smtp_auth_disabled,
    ses_smtp_credentials,
)
from tui_mailsetup.engine.diagnosis.rate_limits import (
    _RATE_ONLY_TEXT,
    explicit_retry_after,
    is_rate_limit,
    retry_after_from,
)
from tui_mailsetup.engine.events import Diagnosis, Stage
from tui_mailsetup.exitcodes import ExitCode
from tui_mailsetup.fixes import Fix
from tui_mailsetup.sanitize import untrusted_text
from tui_mailsetup.settings import MailSettings

# --------------------------------------------------------------------------- TLS and session


def starttls_required(reply: Reply) -> Diagnosis | None:
    """530 naming TLS: the command needs STARTTLS first."""
    if reply.code != 530 or not ("starttls" in reply.text or "tls" in reply.text):
        return None
    return Diagnosis(
        stage=reply.stage,
        cause="The server requires STARTTLS before this command (530)",
        evidence=reply.evidence,
        fix=FIX_STARTTLS,
        exit_code=ExitCode.PROTOCOL,
    )


def authentication_required(reply: Reply) -> Diagnosis | None:
    """530 (not about TLS): the command needs AUTH first."""
    if reply.code != 530:
        return None
    return Diagnosis(
        stage=reply.stage,
        cause="The server requires authentication (530)",
        evidence=reply.evidence,
        explanation=(
            "Set smtp.username and store the password with: tui-mailsetup set-secret smtp.password"
            if not reply.smtp.username
            else "Authentication did not take effect; check the account and mechanism."
        ),
        exit_code=ExitCode.NOPERM,
    )


def starttls_refused(reply: Reply) -> Diagnosis | None:
    """Any refusal of STARTTLS but 421 (454 and 5xx): no encryption, so no test."""
    if reply.stage != Stage.STARTTLS or reply.code == 421:
        return None
    code = reply.code
    return Diagnosis(
        stage=reply.stage,
        cause=(
            "The server refused to start TLS (454: TLS temporarily unavailable)"
            if code == 454
            else f"The server refused STARTTLS ({code})"
        ),
        evidence=reply.evidence,
        explanation=(
            "It offered STARTTLS but could not start it, usually a certificate or "
            "configuration problem on the server. The test does not continue without "
            "encryption."
        ),
        exit_code=ExitCode.PROTOCOL,
    )


# --------------------------------------------------------------------------- authentication


def auth_mechanism_refused(reply: Reply) -> Diagnosis | None:
    """502/504 at AUTH, or a 5xx (not 535) naming the mechanism."""
    code, text = reply.code, reply.text
    if reply.stage != Stage.AUTH or not (
        code in (504, 502) or ("mechanism" in text and code >= 500 and code != 535)
    ):
        return None
    return Diagnosis(
        stage=reply.stage,
        cause=f"The server does not accept the {reply.mechanism or 'chosen'} mechanism ({code})",
        evidence=reply.evidence,
        fix=Fix("let the program choose (auth = auto)", {"smtp.auth": "auto"})
        if reply.smtp.auth.value != "auto"
        else None,
        exit_code=ExitCode.NOPERM,
    )


def auth_temporary_failure(reply: Reply) -> Diagnosis | None:
    """4xx at AUTH: the credentials could not be checked now (or too many attempts)."""
    code, text = reply.code, reply.text
    if reply.stage != Stage.AUTH or not 400 <= code < 500:
        return None
    limited = is_rate_limit(code, text)
    return Diagnosis(
        stage=reply.stage,
        cause=(
            f"Rate limited by the server during authentication ({code})"
            if limited and _RATE_ONLY_TEXT.search(text)
            else f"Temporary authentication failure ({code})"
        ),
        evidence=reply.evidence,
        explanation=(
            "The server could not check the credentials just now (its authentication "
            "back end is unavailable, or too many attempts were made). Try again later; "
            "the password was not rejected."
        ),
        exit_code=ExitCode.TEMPFAIL,
        retry_after=(
            retry_after_from(reply.message, now=reply.now)
            if limited
            else explicit_retry_after(reply.message, now=reply.now)
        ),
    )


def credentials_rejected(reply: Reply) -> Diagnosis | None:
    """535 (and any other permanent refusal at AUTH): the username or password is wrong."""
    if reply.stage != Stage.AUTH:
        return None
    return Diagnosis(
        stage=reply.stage,
        cause=f"Authentication failed: the server rejected the username or password ({reply.code})",
        evidence=reply.evidence,
        explanation=(
            f"One attempt was made ({reply.mechanism or 'AUTH'} as "
            f"{untrusted_text(reply.smtp.username)}); "
            "no other mechanism was tried, so the account is not locked by retries. Check the "
            "username (often the full address) and the password; many providers require an "
            "app-specific password or an API key instead of the account password."
        ),
        exit_code=ExitCode.NOPERM,
    )


# --------------------------------------------------------------------------- rate limits


def rate_limited(reply: Reply) -> Diagnosis | None:
    """421/450/451/452, or a 4xx that says it is a limit: wait, and remember until when."""
    code, text, stage = reply.code, reply.text, reply.stage
    if not is_rate_limit(code, text):
        return None
    if code == 421 and stage == Stage.GREETING:
        cause = "The server is refusing connections for now (421)"
    elif code == 452:
        cause = "The server is throttling: too many recipients or messages, or out of storage (452)"
    elif _RATE_ONLY_TEXT.search(text):
        cause = f"Rate limited by the server ({code})"
    else:
        cause = f"Temporary failure at {stage.label} ({code}): the server asks to try again later"
    return Diagnosis(
        stage=stage,
        cause=cause,
        evidence=reply.evidence,
        explanation=(
            "A temporary refusal: sending limits per minute/hour/day, greylisting, or an "
            "overloaded server. Wait before the next test; the time is remembered."
        ),
        exit_code=ExitCode.TEMPFAIL,
        retry_after=retry_after_from(reply.message, now=reply.now),
    )


# --------------------------------------------------------------------------- generic refusals


def greeting_refused(reply: Reply) -> Diagnosis | None:
    """A refusal in the greeting (554): the server will not talk to this client."""
    if reply.stage != Stage.GREETING:
        return None
    return Diagnosis(
        stage=reply.stage,
        cause=f"The server refused the session in its greeting ({reply.code})",
        evidence=reply.evidence,
        explanation=(
            "A 554 greeting means the server will not talk to this client: the IP address may "
            "be on a block list, or the server only accepts mail from certain networks."
        ),
        exit_code=ExitCode.UNAVAILABLE if reply.code >= 500 else ExitCode.TEMPFAIL,
    )


def ehlo_rejected(reply: Reply) -> Diagnosis | None:
    """A refusal of EHLO: usually the EHLO name."""
    if reply.stage not in (Stage.EHLO, Stage.EHLO_AGAIN):
        return None
    return Diagnosis(
        stage=reply.stage,
        cause=f"The server rejected EHLO ({reply.code})",
        evidence=reply.evidence,
        explanation=(
            "Some servers require the EHLO name to be this machine's real, resolvable name; "
            "set smtp.ehlo_name to it."
        ),
        exit_code=ExitCode.PROTOCOL,
    )


def sender_denied(reply: Reply) -> Diagnosis | None:
    """5.2.252/SendAsDenied, or 5.7.1/"not permitted" at MAIL (not about relaying)."""
    text, stage = reply.text, reply.stage
    denied = (
        "5.2.252" in text
        or "sendasdenied" in text
        or (
            stage == Stage.MAIL
            and ("5.7.1" in text or "not permitted" in text or "not allowed" in text)
        )
    )
    if not denied or "relay" in text:
        return None
    smtp = reply.smtp
    fix = None
    if "@" in smtp.username and smtp.username.lower() != reply.settings.sender.address.lower():
        fix = Fix("send as the account's own address", {"sender.address": smtp.username})
    return Diagnosis(
        stage=stage,
        cause="The server does not let this account send as the sender address",
        evidence=reply.evidence,
        explanation=(
            "Providers only accept sender addresses the account owns or has verified (a "
            "verified domain or 'send as' permission)."
        ),
        fix=fix,
        exit_code=ExitCode.NOPERM,
    )


def relay_denied(reply: Reply) -> Diagnosis | None:
    """A reply naming relaying, or 5.7.1 at RCPT."""
    if not ("relay" in reply.text or (reply.stage == Stage.RCPT and "5.7.1" in reply.text)):
        return None
    authenticated = reply.authenticated
    return Diagnosis(
        stage=reply.stage,
        cause="Relaying denied: the server does not accept mail for this recipient from this client",
        evidence=reply.evidence,
        explanation=(
            "The server only delivers to its own domains unless the client authenticates."
            if not authenticated
            else "Even authenticated, this account may not relay to that domain."
        ),
        exit_code=ExitCode.NOPERM if not authenticated else ExitCode.NOUSER,
    )


def message_too_large(reply: Reply) -> Diagnosis | None:
    """552 outside RCPT: the message exceeds the server's SIZE."""
    if reply.code != 552 or reply.stage == Stage.RCPT:
        return None
    return Diagnosis(
        stage=reply.stage,
        cause="The server says the message is too large (552)",
        evidence=reply.evidence,
        explanation="The message exceeds the size the server accepts (see SIZE in its EHLO reply).",
        exit_code=ExitCode.DATAERR,
    )


def recipient_refused(reply: Reply) -> Diagnosis | None:
    """5xx at RCPT: no such mailbox."""
    if reply.stage != Stage.RCPT or reply.code < 500:
        return None
    return Diagnosis(
        stage=reply.stage,
        cause=f"The recipient was refused ({reply.code})",
        evidence=reply.evidence,
        explanation="The server does not accept mail for that address: a typo, or no such mailbox.",
        exit_code=ExitCode.NOUSER,
    )


def content_rejected(reply: Reply) -> Diagnosis | None:
    """5xx after DATA: a content, spam or header policy refused the message."""
    if reply.stage != Stage.DATA or reply.code < 500:
        return None
    return Diagnosis(
        stage=reply.stage,
        cause=f"The server rejected the message content ({reply.code})",
        evidence=reply.evidence,
        explanation=(
            "The envelope was accepted but the message itself was refused after DATA: a "
            "content or spam filter, a policy on headers (From must match the account or a "
            "verified domain), or a malformed message. The server's text says which."
        ),
        exit_code=ExitCode.DATAERR,
    )


def refused(reply: Reply) -> Diagnosis:
    """Anything else: the server refused the command (4xx temporary, 5xx permanent)."""
    code = reply.code
    temporary = 400 <= code < 500
    return Diagnosis(
        stage=reply.stage,
        cause=f"The server refused {reply.stage.label} ({code})",
        evidence=reply.evidence,
        exit_code=ExitCode.TEMPFAIL if temporary else ExitCode.UNAVAILABLE,
        retry_after=explicit_retry_after(reply.message, now=reply.now) if temporary else None,
    )


REPLY_RULES: tuple[ReplyRule, ...] = (
    # provider codes first: they mean one thing whatever the stage
    microsoft_auth_required,
    microsoft_smtp_auth_disabled,
    microsoft_basic_auth_refused,
    # TLS and session
    starttls_required,
    authentication_required,
    starttls_refused,
    # authentication (every rule here is for Stage.AUTH; credentials_rejected ends it)
    ses_smtp_credentials,
    gmail_app_password,
    auth_mechanism_refused,
    auth_temporary_failure,
    credentials_rejected,
    # rate limits
    rate_limited,
    # generic refusals
    greeting_refused,
    ehlo_rejected,
    sender_denied,
    relay_denied,
    message_too_large,
    recipient_refused,
    content_rejected,
    refused,
)
"""Every reply rule, in the order they are tried; the first that answers wins."""


def diagnose_reply(reply: Reply) -> Diagnosis:
    """The first rule's diagnosis (:func:`refused` always answers)."""
    for rule in REPLY_RULES:
        diagnosis = rule(reply)
        if diagnosis is not None:
            return diagnosis
    return refused(reply)


def from_reply(
    stage: Stage,
    code: int,
    message: str,
    settings: MailSettings,
    *,
    mechanism: str = "",
    authenticated: bool = False,
    now: float | None = None,
) -> Diagnosis:
    """The diagnosis for an unexpected reply at ``stage``."""
    return diagnose_reply(Reply(stage, code, message, settings, mechanism, authenticated, now))
