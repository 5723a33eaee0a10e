"""The HTTP APIs' rules one by one (the shared ones, Mailgun's, SES's): which named rule
answers an error answer, that each keeps to its case, and that every rule of every table
has its row here. The drivers' own tests (test_drivers_http.py, test_drivers_ses.py) drive
the same rules through real servers."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import TypeVar

import pytest

from tui_mailsetup.drivers.http import HttpResponse
from tui_mailsetup.engine.diagnosis import graph, http_api, mailgun, ses
from tui_mailsetup.engine.diagnosis.graph import GraphReply
from tui_mailsetup.engine.diagnosis.http_api import HttpReply, diagnose_http
from tui_mailsetup.engine.diagnosis.ses import ErrorContext, SesReply
from tui_mailsetup.engine.events import Diagnosis, Stage
from tui_mailsetup.exitcodes import ExitCode
from tui_mailsetup.settings import MailSettings

NOW = 1_000_000_000.0
Judged = TypeVar("Judged", bound=HttpReply)
MAILGUN = MailSettings(driver="mailgun", mailgun={"domain": "mg.example.com"})
SES = MailSettings(driver="ses", ses={"region": "eu-west-1"}, sender={"address": "me@example.com"})
CONTEXT = ErrorContext(
    region="eu-west-1",
    sender="me@example.com",
    recipients=("you@example.org",),
    credentials="environment variables",
    access_key="AKIAEXAMPLE",
)
NOT_VERIFIED_SENDER = (
    "Email address is not verified. The following identities failed the check in region "
    "EU-WEST-1: me@example.com"
)


def mailgun_reply(
    status: int, message: str = "", headers: Mapping[str, str] | None = None, body: bytes = b""
) -> HttpReply:
    return HttpReply(
        service="Mailgun",
        status=status,
        settings=MAILGUN,
        message=message,
        headers=headers or {},
        body=body,
        auth_hint=mailgun.AUTH_HINT,
        now=NOW,
    )


def ses_reply(
    code: str, message: str = "", status: int = 400, context: ErrorContext = CONTEXT
) -> SesReply:
    return SesReply(
        service="SES",
        status=status,
        settings=SES,
        code=code,
        message=message,
        context=context,
        now=NOW,
    )


def answering(reply: Judged, rules: Sequence[Callable[[Judged], Diagnosis | None]]) -> str:
    """The name of the first rule that recognises ``reply`` (the one whose diagnosis is used)."""
    for rule in rules:
        if rule(reply) is not None:
            return rule.__name__
    raise AssertionError("no rule answered")  # pragma: no cover - http_server_error always answers


# --------------------------------------------------------------------------- Mailgun and the shared rules

MAILGUN_CASES = [
    ("http_credentials_refused", 401, "Forbidden", {}, ExitCode.NOPERM, "Mailgun refused the credentials (HTTP 401)"),
    ("http_credentials_refused", 403, "", {}, ExitCode.NOPERM, "Mailgun refused the credentials (HTTP 403)"),
    ("http_rate_limited", 429, "Too many requests", {"Retry-After": "60"}, ExitCode.TEMPFAIL, "rate limiting this account (HTTP 429)"),
    ("http_redirect", 301, "", {"Location": "https://elsewhere.example/"}, ExitCode.CONFIG, "redirect (HTTP 301), which is not followed"),
    ("mailgun_unknown_domain", 404, "Domain not found", {}, ExitCode.CONFIG, "does not know this domain or endpoint (HTTP 404)"),
    ("http_client_error", 400, "'to' parameter is not a valid address", {}, ExitCode.DATAERR, "Mailgun rejected the message (HTTP 400)"),
    ("http_server_error", 502, "", {}, ExitCode.TEMPFAIL, "Mailgun had a server error (HTTP 502); try again later"),
    ("http_server_error", 0, "", {}, ExitCode.TEMPFAIL, "server error (HTTP 0)"),
    ("http_server_error", 201, "", {}, ExitCode.TEMPFAIL, "server error (HTTP 201)"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("rule", "status", "message", "headers", "exit_code", "cause"), MAILGUN_CASES
)
def test_each_mailgun_answer_finds_its_named_rule(
    rule: str,
    status: int,
    message: str,
    headers: dict[str, str],
    exit_code: ExitCode,
    cause: str,
) -> None:
    reply = mailgun_reply(status, message, headers)
    assert answering(reply, mailgun.MAILGUN_RULES) == rule
    diagnosis = diagnose_http(reply, mailgun.MAILGUN_RULES)
    assert diagnosis.exit_code == exit_code
    assert cause in diagnosis.cause
    assert diagnosis.stage == Stage.SEND


def test_shared_rules_read_a_plain_api_the_same_way_but_for_mailguns_404() -> None:
    # HTTP_RULES is what a new driver starts from: a 404 there is a rejected request.
    assert answering(mailgun_reply(404), http_api.HTTP_RULES) == "http_client_error"
    for status in (401, 429, 302, 400, 500):
        assert answering(mailgun_reply(status), http_api.HTTP_RULES) == answering(
            mailgun_reply(status), mailgun.MAILGUN_RULES
        )


@pytest.mark.parametrize(
    ("rule", "status", "headers"),
    [
        ("http_credentials_refused", 400, {}),
        ("http_credentials_refused", 407, {}),  # the proxy's credentials, not the API's
        ("http_rate_limited", 503, {"Retry-After": "60"}),  # a busy server, not a limit
        ("http_redirect", 404, {"Location": "https://elsewhere.example/"}),
        ("http_client_error", 500, {}),
        ("http_client_error", 302, {}),
        ("mailgun_unknown_domain", 410, {}),
    ],
)
def test_shared_and_mailgun_rules_leave_other_answers_alone(
    rule: str, status: int, headers: dict[str, str]
) -> None:
    function = getattr(mailgun, rule, None) or getattr(http_api, rule)
    assert function(mailgun_reply(status, headers=headers)) is None


def test_refused_credentials_carry_the_drivers_hint() -> None:
    diagnosis = http_api.http_credentials_refused(mailgun_reply(401, "Forbidden"))
    assert diagnosis is not None
    assert diagnosis.explanation == mailgun.AUTH_HINT
    assert diagnosis.evidence == "Forbidden"


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("120", NOW + 120),
        ("Sun, 09 Sep 2001 02:46:40 GMT", NOW + 3600),  # an HTTP-date
        ("", None),
        ("soon", None),
    ],
)
def test_a_429_remembers_the_time_retry_after_names(header: str, expected: float | None) -> None:
    headers = {"retry-after": header} if header else {}
    diagnosis = http_api.http_rate_limited(mailgun_reply(429, headers=headers))
    assert diagnosis is not None
    assert diagnosis.retry_after == expected


def test_a_redirect_shows_where_it_pointed_neutralised() -> None:
    hostile = {"Location": "https://evil.example/\x1b[2J\x1b]0;owned\x07"}
    diagnosis = http_api.http_redirect(mailgun_reply(307, "ignored", hostile))
    assert diagnosis is not None
    assert diagnosis.evidence.startswith("Location: https://evil.example/")
    assert "\x1b" not in diagnosis.evidence and "\x07" not in diagnosis.evidence
    # no Location: the answer itself is the evidence
    bare = http_api.http_redirect(mailgun_reply(302, "Moved"))
    assert bare is not None and bare.evidence == "Moved"


def test_evidence_is_the_apis_text_else_the_start_of_the_body_neutralised() -> None:
    assert mailgun_reply(400, "bad \x1b[31mthing").evidence == "bad \\x1b[31mthing"
    flood = b"".join(b"line %d \x1b[1m\n" % n for n in range(10_000))
    evidence = mailgun_reply(500, body=flood).evidence
    assert evidence.startswith("line 0 \\x1b[1m\\nline 1")
    assert len(evidence) <= http_api.EVIDENCE_LIMIT
    assert "\x1b" not in evidence and "\n" not in evidence
    assert mailgun_reply(500).evidence == ""


def test_a_response_becomes_the_reply_the_rules_judge() -> None:
    response = HttpResponse(429, "Too Many", {"Retry-After": "5"}, b'{"message": "slow"}')
    reply = response.reply("Mailgun", MAILGUN, message="slow", auth_hint="hint")
    assert (reply.status, reply.header("retry-after"), reply.body) == (429, "5", response.body)
    assert (reply.service, reply.message, reply.auth_hint, reply.stage) == (
        "Mailgun",
        "slow",
        "hint",
        Stage.SEND,
    )


# --------------------------------------------------------------------------- SES

SES_CASES = [
    ("ses_identity_not_verified", "MessageRejected", NOT_VERIFIED_SENDER, 400, Stage.SEND, ExitCode.NOPERM, "is not a verified identity in SES (eu-west-1)"),
    ("ses_throttled", "Throttling", "Maximum sending rate exceeded.", 400, Stage.SEND, ExitCode.TEMPFAIL, "the maximum send rate was exceeded"),
    ("ses_throttled", "TooManyRequestsException", "Too Many Requests", 429, Stage.SEND, ExitCode.TEMPFAIL, "the maximum send rate was exceeded"),
    ("ses_daily_quota", "Throttling", "Daily message quota exceeded.", 400, Stage.SEND, ExitCode.TEMPFAIL, "24-hour sending quota is used up"),
    ("ses_invalid_access_key", "UnrecognizedClientException", "The security token included in the request is invalid.", 403, Stage.AUTH, ExitCode.NOPERM, "the access key ID is not valid"),
    ("ses_wrong_region", "InvalidSignatureException", "Credential should be scoped to a valid region, expecting 'eu-central-1'.", 403, Stage.SEND, ExitCode.CONFIG, "signed for the wrong region"),
    ("ses_wrong_secret", "SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided.", 403, Stage.AUTH, ExitCode.NOPERM, "the secret access key is wrong"),
    ("ses_not_allowed", "AccessDeniedException", "User: arn:aws:iam::1:user/x is not authorized to perform: ses:SendEmail", 403, Stage.SEND, ExitCode.NOPERM, "(ses:SendEmail is missing)"),
    ("ses_credentials_expired", "ExpiredTokenException", "The security token included in the request is expired", 403, Stage.AUTH, ExitCode.NOPERM, "The AWS credentials have expired"),
    ("ses_clock_skewed", "RequestTimeTooSkewed", "Signature expired", 403, Stage.AUTH, ExitCode.NOPERM, "this machine's clock is wrong"),
    ("ses_sending_paused", "SendingPausedException", "Sending is paused for this account.", 400, Stage.SEND, ExitCode.NOPERM, "Sending is paused for this SES account"),
    ("ses_mail_from_not_verified", "MailFromDomainNotVerifiedException", "MAIL FROM domain not verified", 400, Stage.SEND, ExitCode.CONFIG, "custom MAIL FROM domain"),
    ("ses_message_rejected", "MessageRejected", "Illegal header 'X-\\x00'.", 400, Stage.SEND, ExitCode.DATAERR, "SES rejected the message"),
    ("ses_unknown_operation", "NotFoundException", "", 404, Stage.SEND, ExitCode.CONFIG, "does not know this operation or resource (HTTP 404)"),
    ("ses_unknown_operation", "", "Not Found", 404, Stage.SEND, ExitCode.CONFIG, "(HTTP 404)"),
    ("ses_refused", "SomethingNewException", "", 400, Stage.SEND, ExitCode.DATAERR, "SES refused the request (HTTP 400)"),
    ("ses_refused", "SomethingNewException", "", 302, Stage.SEND, ExitCode.TEMPFAIL, "SES refused the request (HTTP 302)"),
    ("http_server_error", "InternalFailure", "", 500, Stage.SEND, ExitCode.TEMPFAIL, "SES had a server error (HTTP 500)"),
    ("http_server_error", "", "", 0, Stage.SEND, ExitCode.TEMPFAIL, "SES had a server error (HTTP 0)"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("rule", "code", "message", "status", "stage", "exit_code", "cause"), SES_CASES
)
def test_each_ses_error_finds_its_named_rule(
    rule: str,
    code: str,
    message: str,
    status: int,
    stage: Stage,
    exit_code: ExitCode,
    cause: str,
) -> None:
    reply = ses_reply(code, message, status)
    assert answering(reply, ses.SES_RULES) == rule
    diagnosis = diagnose_http(reply, ses.SES_RULES)
    assert (diagnosis.stage, diagnosis.exit_code) == (stage, exit_code)
    assert cause in diagnosis.cause
    assert diagnosis.evidence == (f"{code}: {message}" if message else code)


@pytest.mark.parametrize(
    ("rule", "code", "message", "status"),
    [
        # "not verified" is needed: any other MessageRejected is a rejected message
        ("ses_identity_not_verified", "MessageRejected", "Illegal address", 400),
        ("ses_identity_not_verified", "Throttling", NOT_VERIFIED_SENDER, 400),
        # a throttling code about the daily quota is the quota, not the rate
        ("ses_throttled", "Throttling", "Daily message quota exceeded.", 400),
        ("ses_daily_quota", "Throttling", "Rate exceeded", 400),
        # a signature error that names no region is a wrong secret
        ("ses_wrong_region", "SignatureDoesNotMatch", "signature does not match", 403),
        ("ses_wrong_secret", "InvalidClientTokenId", "invalid token", 403),
        ("ses_not_allowed", "Denied", "", 403),
        ("ses_message_rejected", "MessageRejectedLater", "", 400),
        ("ses_unknown_operation", "BadRequestException", "", 400),
        # SES's own failure (5xx, no status) is a server error, not a refusal
        ("ses_refused", "InternalFailure", "", 500),
        ("ses_refused", "", "", 0),
    ],
)
def test_ses_rules_leave_other_errors_alone(
    rule: str, code: str, message: str, status: int
) -> None:
    assert getattr(ses, rule)(ses_reply(code, message, status)) is None


def test_every_rule_has_its_row_is_documented_and_the_server_error_comes_last() -> None:
    answered = {case[0] for case in (*MAILGUN_CASES, *SES_CASES, *GRAPH_CASES)}
    tables: list[Sequence[Callable[..., Diagnosis | None]]] = [
        http_api.HTTP_RULES,
        mailgun.MAILGUN_RULES,
        ses.SES_RULES,
        graph.GRAPH_RULES,
    ]
    for table in tables:
        names = [rule.__name__ for rule in table]
        assert len(set(names)) == len(names)
        assert names[-1] == "http_server_error"
        assert all(rule.__doc__ for rule in table)
        assert set(names) <= answered, set(names) - answered


def test_a_throttled_send_waits_a_second() -> None:
    diagnosis = ses.ses_throttled(ses_reply("Throttling", "Maximum sending rate exceeded."))
    assert diagnosis is not None and diagnosis.retry_after == NOW + 1.0


def test_a_signature_for_another_region_offers_that_region() -> None:
    named = ses.ses_wrong_region(
        ses_reply("SignatureDoesNotMatch", "scoped to a valid region, expecting 'eu-central-1'")
    )
    assert named is not None and named.fix is not None
    assert named.fix.changes == {"ses.region": "eu-central-1"}
    unnamed = ses.ses_wrong_region(ses_reply("SignatureDoesNotMatch", "scoped to correct region"))
    assert unnamed is not None and unnamed.fix is None


@pytest.mark.parametrize("rule", ["ses_invalid_access_key", "ses_wrong_secret"])
def test_an_smtp_password_given_to_the_api_is_named(rule: str) -> None:
    code = "InvalidClientTokenId" if rule == "ses_invalid_access_key" else "SignatureDoesNotMatch"
    plain: Diagnosis = getattr(ses, rule)(ses_reply(code))
    assert "SMTP password" not in plain.explanation
    assert "AKIAEXAMPLE" in plain.explanation
    suspected = replace(CONTEXT, smtp_password_suspected=True)
    smtp_password: Diagnosis = getattr(ses, rule)(ses_reply(code, context=suspected))
    assert "looks like an SES SMTP password" in smtp_password.explanation


def test_not_verified_tells_the_sender_from_a_sandbox_recipient() -> None:
    elsewhere = ErrorContext(
        region="eu-west-1", sender="me@example.com", verified_in=("us-east-1",)
    )
    moved = ses.ses_identity_not_verified(
        ses_reply("MessageRejected", NOT_VERIFIED_SENDER, context=elsewhere)
    )
    assert moved is not None and moved.exit_code == ExitCode.CONFIG
    assert moved.cause == "The sender me@example.com is verified in us-east-1, not in eu-west-1"
    assert moved.fix is not None and moved.fix.changes == {"ses.region": "us-east-1"}
    sandbox = ses.ses_identity_not_verified(
        ses_reply(
            "MessageRejected",
            "Email address is not verified. The following identities failed the check in "
            "region EU-WEST-1: you@example.org",
        )
    )
    assert sandbox is not None and sandbox.exit_code == ExitCode.NOUSER
    assert "in the sandbox (eu-west-1): the recipient you@example.org" in sandbox.cause
    no_list = ses.ses_identity_not_verified(
        ses_reply("MessageRejected", "Did not have authority to send from email me@example.com")
    )
    assert no_list is not None and "me@example.com is not a verified identity" in no_list.cause


@pytest.mark.parametrize(
    ("code", "message", "expected"),
    [
        ("MessageRejected", NOT_VERIFIED_SENDER, True),
        ("MessageRejected", "not verified ... failed the check in region X: example.com", True),
        ("MessageRejected", "Did not have authority to send from email me@example.com", True),
        (
            "MessageRejected",
            "not verified ... failed the check in region X: you@example.org",
            False,
        ),
        # a list naming a longer domain is not the sender's
        (
            "MessageRejected",
            "not verified ... failed the check in region X: sub.example.com",
            False,
        ),
        ("AccessDenied", NOT_VERIFIED_SENDER, False),
    ],
)
def test_the_driver_looks_in_other_regions_only_when_the_sender_failed(
    code: str, message: str, expected: bool
) -> None:
    assert ses.sender_rejected(code, message, "me@example.com") is expected


def test_diagnose_ses_unpacks_xml_and_html_answers() -> None:
    xml = "<Error><Code>Throttling</Code><Message>Maximum sending rate exceeded</Message></Error>"
    throttled = ses.diagnose_ses("", xml, 400, CONTEXT, SES)
    assert throttled.cause == "SES is throttling this account: the maximum send rate was exceeded"
    assert throttled.evidence == "Throttling: Maximum sending rate exceeded"
    html = "<html><head><title>502 Bad Gateway</title></head><body>\x1b[2J</body></html>"
    page = ses.diagnose_ses("502", html, 502, CONTEXT, SES)
    assert page.evidence == "502: 502 Bad Gateway"
    assert page.exit_code == ExitCode.TEMPFAIL


# --------------------------------------------------------------------------- Microsoft Graph

GRAPH = MailSettings(
    driver="graph", sender={"address": "me@example.com"}, graph={"mailbox": "box@example.com"}
)


def graph_reply(
    status: int, code: str = "", message: str = "", headers: Mapping[str, str] | None = None
) -> GraphReply:
    return GraphReply(
        service="Microsoft Graph",
        status=status,
        settings=GRAPH,
        code=code,
        message=message,
        headers=headers or {},
        mailbox="box@example.com",
        now=NOW,
    )


GRAPH_CASES = [
    ("graph_token_refused", 401, "InvalidAuthenticationToken", "Lifetime validation failed, the token is expired.", {}, Stage.AUTH, ExitCode.NOPERM, "Graph refused the access token (HTTP 401: expired)"),
    ("graph_token_refused", 401, "InvalidAuthenticationToken", "Invalid audience.", {}, Stage.AUTH, ExitCode.NOPERM, "(HTTP 401: wrong audience or invalid)"),
    ("graph_send_as_denied", 403, "ErrorSendAsDenied", "not allowed to send as", {}, Stage.SEND, ExitCode.NOPERM, "box@example.com may not send as the sender address me@example.com"),
    ("graph_access_denied", 403, "ErrorAccessDenied", "Access is denied.", {}, Stage.SEND, ExitCode.NOPERM, "Graph denied access to the mailbox box@example.com (HTTP 403 ErrorAccessDenied)"),
    ("graph_no_mailbox", 404, "ErrorInvalidUser", "The requested user is invalid.", {}, Stage.SEND, ExitCode.NOUSER, "Graph knows no mailbox box@example.com (HTTP 404 ErrorInvalidUser)"),
    ("graph_no_mailbox", 400, "MailboxNotEnabledForRESTAPI", "REST API is not yet supported", {}, Stage.SEND, ExitCode.NOUSER, "has no Exchange Online mailbox (licence)"),
    ("graph_throttled", 429, "ApplicationThrottled", "over its limit", {"Retry-After": "30"}, Stage.SEND, ExitCode.TEMPFAIL, "Graph is throttling this app or mailbox (HTTP 429)"),
    ("graph_throttled", 503, "", "", {}, Stage.SEND, ExitCode.TEMPFAIL, "Graph is busy or unavailable (HTTP 503)"),
    ("graph_recipient_refused", 400, "ErrorInvalidRecipients", "At least one recipient is not valid.", {}, Stage.RCPT, ExitCode.NOUSER, "Graph refused a recipient"),
    ("http_redirect", 302, "", "", {"Location": "https://login.example/"}, Stage.SEND, ExitCode.CONFIG, "Microsoft Graph answered with a redirect (HTTP 302)"),
    ("http_client_error", 413, "ErrorMessageSizeExceeded", "too large", {}, Stage.SEND, ExitCode.DATAERR, "Microsoft Graph rejected the message (HTTP 413)"),
    ("http_server_error", 500, "InternalServerError", "", {}, Stage.SEND, ExitCode.TEMPFAIL, "Microsoft Graph had a server error (HTTP 500)"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("rule", "status", "code", "message", "headers", "stage", "exit_code", "cause"), GRAPH_CASES
)
def test_each_graph_error_finds_its_named_rule(
    rule: str,
    status: int,
    code: str,
    message: str,
    headers: dict[str, str],
    stage: Stage,
    exit_code: ExitCode,
    cause: str,
) -> None:
    reply = graph_reply(status, code, message, headers)
    assert answering(reply, graph.GRAPH_RULES) == rule
    diagnosis = diagnose_http(reply, graph.GRAPH_RULES)
    assert (diagnosis.stage, diagnosis.exit_code) == (stage, exit_code)
    assert cause in diagnosis.cause


@pytest.mark.parametrize(
    ("rule", "status", "code", "message"),
    [
        ("graph_token_refused", 403, "InvalidAuthenticationToken", "expired"),
        ("graph_send_as_denied", 403, "ErrorAccessDenied", "Access is denied."),
        ("graph_access_denied", 401, "ErrorAccessDenied", ""),
        ("graph_no_mailbox", 400, "ErrorInvalidRecipients", ""),
        ("graph_throttled", 500, "InternalServerError", ""),
        ("graph_recipient_refused", 413, "ErrorMessageSizeExceeded", "recipient count"),
        ("graph_recipient_refused", 400, "ErrorInvalidRequest", "bad body"),
    ],
)
def test_graph_rules_leave_other_errors_alone(
    rule: str, status: int, code: str, message: str
) -> None:
    assert getattr(graph, rule)(graph_reply(status, code, message)) is None


def test_graph_names_the_policy_and_offers_the_mailboxs_own_address() -> None:
    policy = graph.graph_access_denied(graph_reply(403, "ErrorAccessDenied", "AccessPolicy blocks"))
    assert policy is not None and policy.explanation == graph.POLICY_FIX
    grant = graph.graph_access_denied(graph_reply(403, "ErrorAccessDenied", "Access is denied."))
    assert grant is not None and grant.explanation.startswith(graph.PERMISSION_FIX)
    send_as = graph.graph_send_as_denied(graph_reply(403, "ErrorSendAsDenied", ""))
    assert send_as is not None and send_as.fix is not None
    assert send_as.fix.changes == {"sender.address": "box@example.com"}


def test_graph_throttling_remembers_retry_after_and_a_401_shows_the_challenge() -> None:
    throttled = graph.graph_throttled(graph_reply(503, headers={"Retry-After": "30"}))
    assert throttled is not None and throttled.retry_after == NOW + 30
    challenge = {"WWW-Authenticate": 'Bearer error="invalid_token" \x1b[2J, expired'}
    refused = graph.graph_token_refused(graph_reply(401, "", "", challenge))
    assert refused is not None and "expired" in refused.cause
    assert "(WWW-Authenticate: Bearer error=" in refused.evidence
    assert "\x1b" not in refused.evidence


# --------------------------------------------------------------------------- no answer at all


class _Wrapper(Exception):
    """An HTTP library's error wrapping the OS error underneath."""


def _wrapped(error: BaseException) -> BaseException:
    try:
        raise _Wrapper("request failed") from error
    except _Wrapper as wrapper:
        return wrapper


@pytest.mark.parametrize(
    ("error", "exit_code", "cause"),
    [
        (ssl.SSLCertVerificationError("certificate verify failed"), ExitCode.PROTOCOL, "The certificate of api.example.com was rejected"),
        (ssl.SSLError("wrong version number"), ExitCode.PROTOCOL, "TLS with api.example.com failed"),
        (socket.gaierror(-2, "Name or service not known"), ExitCode.UNAVAILABLE, "The name api.example.com does not resolve"),
        (TimeoutError(), ExitCode.TEMPFAIL, "api.example.com did not answer in time"),
        (ConnectionRefusedError(111, "Connection refused"), ExitCode.UNAVAILABLE, "api.example.com refused the connection"),
        (_Wrapper("something else"), ExitCode.UNAVAILABLE, "The request to api.example.com failed"),
        # the OS error under a wrapper, or named only in its text
        (_wrapped(ConnectionRefusedError(111, "Connection refused")), ExitCode.UNAVAILABLE, "refused the connection"),
        (_Wrapper("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed"), ExitCode.PROTOCOL, "was rejected"),
        (_Wrapper("[Errno -2] Name or service not known"), ExitCode.UNAVAILABLE, "does not resolve"),
    ],
)  # fmt: skip
def test_a_request_without_an_answer_is_named_by_the_error_underneath(
    error: BaseException, exit_code: ExitCode, cause: str
) -> None:
    diagnosis = http_api.transport_diagnosis(
        http_api.root_cause(error), "https://api.example.com/v3"
    )
    assert diagnosis.exit_code == exit_code
    assert cause in diagnosis.cause


def _botocore(name: str) -> type[Exception]:
    """An exception class named as botocore's (the rules read the name, never import botocore)."""
    return type(name, (Exception,), {})


@pytest.mark.parametrize(
    ("name", "exit_code", "cause"),
    [
        ("ResponseParserError", ExitCode.UNAVAILABLE, "127.0.0.1 answered with something that is not an SES answer"),
        ("ProxyConnectionError", ExitCode.UNAVAILABLE, "The HTTPS proxy (HTTPS_PROXY) could not be reached"),
        ("ConnectTimeoutError", ExitCode.TEMPFAIL, "127.0.0.1 did not answer in time"),
        ("ReadTimeoutError", ExitCode.TEMPFAIL, "127.0.0.1 did not answer in time"),
        ("SSLError", ExitCode.PROTOCOL, "TLS with 127.0.0.1 failed"),
        ("EndpointConnectionError", ExitCode.UNAVAILABLE, "The request to 127.0.0.1 failed"),
    ],
)  # fmt: skip
def test_botocores_failures_without_an_answer(name: str, exit_code: ExitCode, cause: str) -> None:
    diagnosis = ses.transport_diagnosis(_botocore(name)("boom"), "https://127.0.0.1:4566")
    assert (diagnosis.exit_code, diagnosis.cause) == (exit_code, cause)


@pytest.mark.parametrize(
    ("name", "exit_code", "cause"),
    [
        ("ProfileNotFound", ExitCode.CONFIG, "The AWS profile 'dev' does not exist"),
        ("SSOTokenLoadError", ExitCode.NOPERM, "The SSO session of profile 'dev' has expired"),
        ("PartialCredentialsError", ExitCode.CONFIG, "Incomplete AWS credentials"),
        ("ClientError", ExitCode.NOPERM, "assumed role or web identity refused"),
        ("CredentialRetrievalError", ExitCode.NOPERM, "The AWS credentials could not be obtained"),
    ],
)
def test_botocores_failures_to_find_credentials(name: str, exit_code: ExitCode, cause: str) -> None:
    diagnosis = ses.credentials_diagnosis(_botocore(name)("boom"), "dev")
    assert (diagnosis.stage, diagnosis.exit_code) == (Stage.AUTH, exit_code)
    assert cause in diagnosis.cause
