"""What an Amazon SES API failure means: :data:`SES_RULES`, the shape of :mod:`.http_api`.

An error answer from SES (a botocore ``ClientError``: its code, text and HTTP status) is a
:class:`SesReply`: an :class:`~.http_api.HttpReply` that also carries the request's
circumstances (:class:`ErrorContext`: the region, where the credentials came from, the
regions where the sender is verified). :func:`diagnose_ses` runs :data:`SES_RULES` over it.
The error codes come first, since SES names its errors more precisely than its statuses
(a 400 is a sandbox, a throttle or a bad signature); the rules that read the text (not
verified, throttling, quota) before those that read only the code.

Beside them, failures that are not an answer: botocore's transport errors
(:func:`transport_diagnosis`) and failures to obtain credentials
(:func:`credentials_diagnosis`, :func:`no_credentials`). The SES SMTP interface's replies
are SMTP rules (:func:`.providers.ses_smtp_credentials`).
"""

from __future__ import annotations

import re
import ssl
from dataclasses import dataclass
from functools import cached_property
from urllib.parse import urlsplit

from tui_mailsetup.engine.diagnosis.http_api import (
    HttpReply,
    HttpRule,
    diagnose_http,
    http_server_error,
    root_cause,
)
from tui_mailsetup.engine.diagnosis.http_api import (
    transport_diagnosis as http_transport_diagnosis,
)
from tui_mailsetup.engine.events import Diagnosis, Stage
from tui_mailsetup.exitcodes import ExitCode
from tui_mailsetup.fixes import Fix
from tui_mailsetup.sanitize import untrusted_text
from tui_mailsetup.settings import MailSettings

SERVICE = "SES"


@dataclass(frozen=True)
class ErrorContext:
    """What a diagnosis needs besides the error: the request's circumstances."""

    region: str
    sender: str
    recipients: tuple[str, ...] = ()
    credentials: str = ""
    """Where the credentials came from (describe_method)."""
    access_key: str = ""
    smtp_password_suspected: bool = False
    verified_in: tuple[str, ...] = ()
    """Other regions where the sender identity is verified (looked up after a rejection)."""


@dataclass(frozen=True, kw_only=True)
class SesReply(HttpReply):
    """An SES error answer, with the request's circumstances."""

    context: ErrorContext

    @cached_property
    def evidence(self) -> str:
        """``CODE: text`` (SES's own form; never the body, which botocore has parsed)."""
        return untrusted_text(f"{self.code}: {self.message}" if self.message else self.code)

    @property
    def where(self) -> str:
        """Where the credentials came from, as the explanations say it ("" when not known)."""
        found = self.context.credentials
        return f" (credentials from {found})" if found else ""


INVALID_KEY = frozenset(
    {"UnrecognizedClientException", "InvalidClientTokenId", "InvalidAccessKeyId"}
)
EXPIRED = frozenset({"ExpiredToken", "ExpiredTokenException", "TokenRefreshRequired"})
CLOCK = frozenset({"RequestExpired", "RequestTimeTooSkewed"})
SIGNATURE = frozenset(
    {
        "SignatureDoesNotMatch",
        "InvalidSignatureException",
        "IncompleteSignature",
        "IncompleteSignatureException",
    }
)
DENIED = frozenset(
    {"AccessDenied", "AccessDeniedException", "NotAuthorized", "UnauthorizedOperation"}
)
THROTTLED = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "TooManyRequestsException",
        "LimitExceededException",
        "RequestLimitExceeded",
        "SlowDown",
    }
)
PAUSED = frozenset(
    {
        "AccountSuspendedException",
        "SendingPausedException",
        "AccountSendingPausedException",
        "ConfigurationSetSendingPausedException",
    }
)
MAIL_FROM_NOT_VERIFIED = frozenset(
    {"MailFromDomainNotVerifiedException", "MailFromDomainNotVerified"}
)
REJECTED = frozenset({"MessageRejected", "BadRequestException", "InvalidParameterValue"})

NOT_VERIFIED = re.compile(r"not verified|did not have authority to send", re.IGNORECASE)
FAILED_IDENTITIES = re.compile(
    r"failed the check in region ([A-Za-z0-9-]+):\s*(.+)$", re.IGNORECASE
)
_SCOPED_REGION = re.compile(r"scoped to a valid region|scoped to correct region", re.IGNORECASE)
_EXPECTED_REGION = re.compile(r"expecting '([a-z0-9-]+)'", re.IGNORECASE)
_ACTION = re.compile(r"perform[:\s]+[`']?(ses:[A-Za-z]+)")

_SMTP_NOT_API = (
    "The secret looks like an SES SMTP password (44 characters), which works only with the "
    "SMTP interface. The API needs the IAM user's secret access key (40 characters); or "
    "use the SMTP driver with these credentials: tui-mailsetup set driver smtp."
)


def error_code_and_message(code: str, message: str) -> tuple[str, str]:
    """The error's code and text; an XML error document in the text (query-protocol
    services and emulators answering a JSON client) is unpacked."""
    if "<Code>" in message:
        found = re.search(r"<Code>([^<]+)</Code>", message)
        text = re.search(r"<Message>([^<]*)</Message>", message)
        if found:
            return found.group(1).strip(), (text.group(1).strip() if text else "")
    if message.lstrip().startswith("<"):  # an HTML error page: its title says enough
        title = re.search(r"<title>([^<]*)</title>", message, re.IGNORECASE)
        message = title.group(1) if title else " ".join(re.sub(r"<[^>]+>", " ", message).split())
        message = message[:200]
    return code, message


def identity_domain(address: str) -> str:
    return address.rpartition("@")[2].lower()


def failed_identities(message: str, sender: str) -> set[str]:
    """The identities a not-verified rejection names (lower case); the sender when it names none
    ("Did not have authority to send from email X")."""
    found = FAILED_IDENTITIES.search(message)
    if not found:
        return {sender.lower()}
    return {part.strip().lower() for part in found.group(2).split(",")}


def sender_failed(message: str, sender: str) -> bool:
    """Whether a not-verified rejection is about the sender (address or domain), not a recipient."""
    failed = failed_identities(message, sender)
    return sender.lower() in failed or identity_domain(sender) in failed


def sender_rejected(code: str, message: str, sender: str) -> bool:
    """An SES error saying the sender is not verified here (worth looking in other regions)."""
    return (
        code == "MessageRejected"
        and bool(NOT_VERIFIED.search(message))
        and sender_failed(message, sender)
    )


def not_verified(message: str, evidence: str, context: ErrorContext) -> Diagnosis:
    """The sender not verified (here, or only in another region), or a sandbox recipient."""
    region = context.region
    if not sender_failed(message, context.sender):
        failed = failed_identities(message, context.sender)
        recipients = ", ".join(sorted(failed)) or ", ".join(context.recipients)
        return Diagnosis(
            Stage.SEND,
            f"The SES account is in the sandbox ({region}): the recipient {recipients} is not verified",
            evidence=evidence,
            explanation=(
                "In the sandbox, SES delivers only to verified addresses. Verify the recipient "
                f"(aws sesv2 create-email-identity --email-identity ADDRESS --region {region}), "
                "send the test to a verified address, or request production access for the "
                "account (SES console → Account dashboard → Request production access)."
            ),
            exit_code=ExitCode.NOUSER,
        )
    if context.verified_in:
        other = context.verified_in[0]
        return Diagnosis(
            Stage.SEND,
            f"The sender {context.sender} is verified in {other}, not in {region}",
            evidence=evidence,
            explanation=(
                "SES identities, quotas and the sandbox are per region: ses.region must be "
                f"the region where the identity is verified ({', '.join(context.verified_in)})."
            ),
            fix=Fix(f"set ses.region to {other}", {"ses.region": other}),
            exit_code=ExitCode.CONFIG,
        )
    domain = identity_domain(context.sender)
    return Diagnosis(
        Stage.SEND,
        f"The sender {context.sender} is not a verified identity in SES ({region})",
        evidence=evidence,
        explanation=(
            f"SES sends only from verified addresses or domains. Verify the domain {domain} "
            f"(DNS records, also enabling DKIM) or the address in the SES console for "
            f"{region}: aws sesv2 create-email-identity --email-identity {domain} "
            f"--region {region}"
        ),
        exit_code=ExitCode.NOPERM,
    )


# --------------------------------------------------------------------------- rules reading the text


def ses_identity_not_verified(reply: SesReply) -> Diagnosis | None:
    """MessageRejected, "not verified": the sender (here or elsewhere), or a sandbox recipient."""
    if reply.code != "MessageRejected" or not NOT_VERIFIED.search(reply.message):
        return None
    return not_verified(reply.message, reply.evidence, reply.context)


def ses_throttled(reply: SesReply) -> Diagnosis | None:
    """The maximum send rate exceeded (a throttling code that is not about the daily quota)."""
    text = reply.text
    rate = "maximum sending rate" in text or (
        reply.code in THROTTLED and "daily" not in text and "quota" not in text
    )
    if not rate:
        return None
    return Diagnosis(
        Stage.SEND,
        "SES is throttling this account: the maximum send rate was exceeded",
        evidence=reply.evidence,
        explanation=(
            "SES allows a number of messages per second (MaxSendRate, shown by `check`). "
            "Wait a moment and send again; a higher rate is requested from AWS support."
        ),
        exit_code=ExitCode.TEMPFAIL,
        retry_after=reply.clock() + 1.0,
    )


def ses_daily_quota(reply: SesReply) -> Diagnosis | None:
    """The 24-hour quota used up."""
    if "daily message quota" not in reply.text and "quota exceeded" not in reply.text:
        return None
    return Diagnosis(
        Stage.SEND,
        "The SES 24-hour sending quota is used up",
        evidence=reply.evidence,
        explanation=(
            "Sending resumes as the 24-hour window moves on (`check` shows the quota and "
            "what was sent). Request a higher quota in the SES console."
        ),
        exit_code=ExitCode.TEMPFAIL,
    )


# --------------------------------------------------------------------------- the credentials


def ses_invalid_access_key(reply: SesReply) -> Diagnosis | None:
    """An access key ID that AWS does not know (deleted, mistyped, another partition)."""
    if reply.code not in INVALID_KEY:
        return None
    explanation = (
        f"AWS does not know the access key ID {untrusted_text(reply.context.access_key)}"
        f"{reply.where}: it was deleted, mistyped, or belongs to another partition. Create an "
        "access key for an IAM user or role allowed to send with SES."
    )
    if reply.context.smtp_password_suspected:
        explanation += " " + _SMTP_NOT_API
    return Diagnosis(
        Stage.AUTH,
        "AWS rejected the credentials: the access key ID is not valid",
        evidence=reply.evidence,
        explanation=explanation,
        exit_code=ExitCode.NOPERM,
    )


def ses_wrong_region(reply: SesReply) -> Diagnosis | None:
    """A signature scoped to another region than the endpoint's: ses.region is wrong."""
    if reply.code not in SIGNATURE or not _SCOPED_REGION.search(reply.message):
        return None
    expected = _EXPECTED_REGION.search(reply.message)
    return Diagnosis(
        Stage.SEND,
        "The request was signed for the wrong region (ses.region does not match the endpoint)",
        evidence=reply.evidence,
        explanation=(
            "The endpoint serves another region than ses.region. Set ses.region to the "
            "endpoint's region, or clear ses.endpoint_url."
        ),
        fix=Fix(f"set ses.region to {expected.group(1)}", {"ses.region": expected.group(1)})
        if expected
        else None,
        exit_code=ExitCode.CONFIG,
    )


def ses_wrong_secret(reply: SesReply) -> Diagnosis | None:
    """Any other signature failure: the secret does not belong to the access key ID."""
    if reply.code not in SIGNATURE:
        return None
    if reply.context.smtp_password_suspected:
        explanation = _SMTP_NOT_API
    else:
        explanation = (
            f"The secret access key does not belong to the access key ID "
            f"{untrusted_text(reply.context.access_key)}{reply.where}. Copy the secret again "
            "(it is shown only once when the key is created), or create a new access key."
        )
    return Diagnosis(
        Stage.AUTH,
        "AWS rejected the signature: the secret access key is wrong",
        evidence=reply.evidence,
        explanation=explanation,
        exit_code=ExitCode.NOPERM,
    )


def ses_not_allowed(reply: SesReply) -> Diagnosis | None:
    """Valid credentials whose IAM policy does not allow sending (the action named when given)."""
    if reply.code not in DENIED:
        return None
    action = _ACTION.search(reply.message)
    needed = action.group(1) if action else "ses:SendRawEmail and ses:SendEmail"
    return Diagnosis(
        Stage.SEND,
        f"The IAM identity is not allowed to send with SES ({needed} is missing)",
        evidence=reply.evidence,
        explanation=(
            f"The credentials{reply.where} are valid, but their IAM policy does not allow "
            f"{needed}. Add a policy allowing ses:SendEmail and ses:SendRawEmail on the "
            "sender identity (arn:aws:ses:REGION:ACCOUNT:identity/DOMAIN), or use "
            "credentials that have it."
        ),
        exit_code=ExitCode.NOPERM,
    )


def ses_credentials_expired(reply: SesReply) -> Diagnosis | None:
    """Temporary credentials (SSO, a session token) past their expiry."""
    if reply.code not in EXPIRED:
        return None
    return Diagnosis(
        Stage.AUTH,
        "The AWS credentials have expired",
        evidence=reply.evidence,
        explanation=(
            f"Temporary credentials{reply.where} are past their expiry. Obtain fresh ones (for "
            "SSO: aws sso login; for a session token: a new one) and try again."
        ),
        exit_code=ExitCode.NOPERM,
    )


def ses_clock_skewed(reply: SesReply) -> Diagnosis | None:
    """A request refused as expired: this machine's clock is off by more than 15 minutes."""
    if reply.code not in CLOCK:
        return None
    return Diagnosis(
        Stage.AUTH,
        "AWS refused the request as expired: this machine's clock is wrong",
        evidence=reply.evidence,
        explanation=(
            "Signed requests are valid for 15 minutes around AWS's time. Synchronise the "
            "clock (timedatectl set-ntp true, or chrony)."
        ),
        exit_code=ExitCode.NOPERM,
    )


# --------------------------------------------------------------------------- the account and the message


def ses_sending_paused(reply: SesReply) -> Diagnosis | None:
    """The account's (or configuration set's) sending paused by AWS."""
    if reply.code not in PAUSED:
        return None
    return Diagnosis(
        Stage.SEND,
        "Sending is paused for this SES account",
        evidence=reply.evidence,
        explanation=(
            "AWS pauses sending after too many bounces or complaints. Read the notice in "
            "the SES console (Reputation metrics) and ask AWS to re-enable it."
        ),
        exit_code=ExitCode.NOPERM,
    )


def ses_mail_from_not_verified(reply: SesReply) -> Diagnosis | None:
    """The custom MAIL FROM domain's MX and SPF records are not published."""
    if reply.code not in MAIL_FROM_NOT_VERIFIED:
        return None
    return Diagnosis(
        Stage.SEND,
        "The custom MAIL FROM domain of the sender is not verified in SES",
        evidence=reply.evidence,
        explanation="Publish the MX and SPF records SES shows for the MAIL FROM domain.",
        exit_code=ExitCode.CONFIG,
    )


def ses_message_rejected(reply: SesReply) -> Diagnosis | None:
    """Any other rejection of the message (its text says why)."""
    if reply.code not in REJECTED:
        return None
    return Diagnosis(
        Stage.SEND, "SES rejected the message", evidence=reply.evidence, exit_code=ExitCode.DATAERR
    )


# --------------------------------------------------------------------------- by status


def ses_unknown_operation(reply: SesReply) -> Diagnosis | None:
    """404 (NotFoundException): the endpoint is not SES, or not in this region."""
    if reply.code != "NotFoundException" and reply.status != 404:
        return None
    return Diagnosis(
        Stage.SEND,
        f"The endpoint does not know this operation or resource (HTTP {reply.status})",
        evidence=reply.evidence,
        explanation="Check ses.endpoint_url and ses.region.",
        exit_code=ExitCode.CONFIG,
    )


def ses_refused(reply: SesReply) -> Diagnosis | None:
    """Any other answer with a status below 500: refused (a 4xx is about the request)."""
    if not 0 < reply.status < 500:
        return None
    return Diagnosis(
        Stage.SEND,
        f"SES refused the request (HTTP {reply.status})",
        evidence=reply.evidence,
        exit_code=ExitCode.DATAERR if 400 <= reply.status < 500 else ExitCode.TEMPFAIL,
    )


SES_RULES: tuple[HttpRule[SesReply], ...] = (
    # the text first: a MessageRejected or a throttling code can mean several things
    ses_identity_not_verified,
    ses_throttled,
    ses_daily_quota,
    # the credentials (a region-scoped signature before a wrong secret)
    ses_invalid_access_key,
    ses_wrong_region,
    ses_wrong_secret,
    ses_not_allowed,
    ses_credentials_expired,
    ses_clock_skewed,
    # the account and the message
    ses_sending_paused,
    ses_mail_from_not_verified,
    ses_message_rejected,
    # by status: a 5xx or no status is SES's own failure
    ses_unknown_operation,
    ses_refused,
    http_server_error,
)
"""Every SES rule, in the order they are tried; the first that answers wins."""


def diagnose_ses(
    code: str, message: str, status: int, context: ErrorContext, settings: MailSettings
) -> Diagnosis:
    """Cause and fix for an error answer from SES (send or check)."""
    code, message = error_code_and_message(code, message)
    reply = SesReply(
        service=SERVICE,
        status=status,
        settings=settings,
        code=code,
        message=message,
        context=context,
    )
    return diagnose_http(reply, SES_RULES)


# --------------------------------------------------------------------------- no answer


def transport_diagnosis(error: BaseException, url: str) -> Diagnosis:
    """botocore's errors that are not an answer from SES."""
    name = type(error).__name__
    if name == "ResponseParserError":
        return Diagnosis(
            Stage.SEND,
            f"{urlsplit(url).hostname or url} answered with something that is not an SES answer",
            evidence=untrusted_text(str(error), limit=300),
            explanation="Check ses.endpoint_url: it should be an SES endpoint.",
            exit_code=ExitCode.UNAVAILABLE,
        )
    if name == "ProxyConnectionError":
        return Diagnosis(
            Stage.SEND,
            "The HTTPS proxy (HTTPS_PROXY) could not be reached",
            evidence=untrusted_text(f"{name}: {error}"),
            exit_code=ExitCode.UNAVAILABLE,
        )
    reason: BaseException = root_cause(error)
    if name in ("ConnectTimeoutError", "ReadTimeoutError"):
        reason = TimeoutError(str(error))
    elif name == "SSLError" and not isinstance(reason, ssl.SSLError):
        reason = ssl.SSLError(str(error))
    return http_transport_diagnosis(reason, url)


# --------------------------------------------------------------------------- no credentials


_SSO = frozenset({"UnauthorizedSSOTokenError", "SSOTokenLoadError", "TokenRetrievalError"})


def credentials_diagnosis(error: BaseException, profile: str) -> Diagnosis:
    """botocore's errors while finding credentials (profiles, SSO, container, process)."""
    name = type(error).__name__
    evidence = untrusted_text(f"{name}: {error}")
    shown = profile or "default"
    if name == "ProfileNotFound":
        return Diagnosis(
            Stage.AUTH,
            f"The AWS profile {shown!r} does not exist",
            evidence=evidence,
            explanation="Check ses.profile (or AWS_PROFILE) against ~/.aws/config and ~/.aws/credentials.",
            exit_code=ExitCode.CONFIG,
        )
    if name in _SSO:
        return Diagnosis(
            Stage.AUTH,
            f"The SSO session of profile {shown!r} has expired or was never started",
            evidence=evidence,
            explanation=f"Sign in again: aws sso login --profile {shown}",
            exit_code=ExitCode.NOPERM,
        )
    if name == "PartialCredentialsError":
        return Diagnosis(
            Stage.AUTH,
            "Incomplete AWS credentials: a key ID without its secret, or the reverse",
            evidence=evidence,
            exit_code=ExitCode.CONFIG,
        )
    if name == "ClientError" or name.endswith("Exception"):
        return Diagnosis(
            Stage.AUTH,
            "Obtaining the AWS credentials failed (assumed role or web identity refused)",
            evidence=evidence,
            exit_code=ExitCode.NOPERM,
        )
    return Diagnosis(
        Stage.AUTH,
        "The AWS credentials could not be obtained",
        evidence=evidence,
        explanation=(
            "A credential source (container endpoint, credential_process, instance metadata) "
            "failed; its message says why."
        ),
        exit_code=ExitCode.NOPERM,
    )


def no_credentials() -> Diagnosis:
    return Diagnosis(
        Stage.AUTH,
        "No AWS credentials were found",
        explanation=(
            "Looked in: the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY), the "
            "profile (ses.profile or AWS_PROFILE) in ~/.aws/config and ~/.aws/credentials "
            "(SSO, assumed roles, credential_process), web identity, the container credentials "
            "endpoint and the EC2 instance role. Set one of them up, or set ses.access_key_id "
            "and store the secret with tui-mailsetup set-secret ses.secret_access_key."
        ),
        exit_code=ExitCode.CONFIG,
    )
