"""What an Amazon SES failure means: cause, fix and exit code for the driver's errors.

Error answers from SES (:func:`diagnose_error`, by the error code and text),
failures under botocore that are not an answer (:func:`transport_diagnosis`)
and failures to obtain credentials (:func:`credentials_diagnosis`).
"""

from __future__ import annotations

import re
import ssl
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from tui_mailsetup.drivers import http
from tui_mailsetup.drivers.http import server_error
from tui_mailsetup.engine.events import Diagnosis, Stage
from tui_mailsetup.exitcodes import ExitCode
from tui_mailsetup.fixes import Fix
from tui_mailsetup.sanitize import untrusted_text


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


_INVALID_KEY = {"UnrecognizedClientException", "InvalidClientTokenId", "InvalidAccessKeyId"}
_EXPIRED = {"ExpiredToken", "ExpiredTokenException", "TokenRefreshRequired"}
_CLOCK = {"RequestExpired", "RequestTimeTooSkewed"}
_SIGNATURE = {
    "SignatureDoesNotMatch",
    "InvalidSignatureException",
    "IncompleteSignature",
    "IncompleteSignatureException",
}
DENIED = {"AccessDenied", "AccessDeniedException", "NotAuthorized", "UnauthorizedOperation"}
_THROTTLED = {
    "Throttling",
    "ThrottlingException",
    "TooManyRequestsException",
    "LimitExceededException",
    "RequestLimitExceeded",
    "SlowDown",
}
_PAUSED = {
    "AccountSuspendedException",
    "SendingPausedException",
    "AccountSendingPausedException",
    "ConfigurationSetSendingPausedException",
}


@dataclass(frozen=True)
class _Rule:
    """An error code whose meaning does not depend on the message: one fixed diagnosis."""

    codes: frozenset[str]
    stage: Stage
    cause: str
    exit_code: ExitCode
    explanation: str = ""
    """``{where}``: where the credentials came from."""


_FIXED = (
    _Rule(
        frozenset(_EXPIRED),
        Stage.AUTH,
        "The AWS credentials have expired",
        ExitCode.NOPERM,
        "Temporary credentials{where} are past their expiry. Obtain fresh ones (for "
        "SSO: aws sso login; for a session token: a new one) and try again.",
    ),
    _Rule(
        frozenset(_CLOCK),
        Stage.AUTH,
        "AWS refused the request as expired: this machine's clock is wrong",
        ExitCode.NOPERM,
        "Signed requests are valid for 15 minutes around AWS's time. Synchronise the "
        "clock (timedatectl set-ntp true, or chrony).",
    ),
    _Rule(
        frozenset(_PAUSED),
        Stage.SEND,
        "Sending is paused for this SES account",
        ExitCode.NOPERM,
        "AWS pauses sending after too many bounces or complaints. Read the notice in "
        "the SES console (Reputation metrics) and ask AWS to re-enable it.",
    ),
    _Rule(
        frozenset({"MailFromDomainNotVerifiedException", "MailFromDomainNotVerified"}),
        Stage.SEND,
        "The custom MAIL FROM domain of the sender is not verified in SES",
        ExitCode.CONFIG,
        "Publish the MX and SPF records SES shows for the MAIL FROM domain.",
    ),
    _Rule(
        frozenset({"MessageRejected", "BadRequestException", "InvalidParameterValue"}),
        Stage.SEND,
        "SES rejected the message",
        ExitCode.DATAERR,
    ),
)
"""Checked after the rules that read the message (not verified, throttling, quota)."""


NOT_VERIFIED = re.compile(r"not verified|did not have authority to send", re.IGNORECASE)
FAILED_IDENTITIES = re.compile(
    r"failed the check in region ([A-Za-z0-9-]+):\s*(.+)$", re.IGNORECASE
)
_SCOPED_REGION = re.compile(r"scoped to a valid region|scoped to correct region", re.IGNORECASE)
_EXPECTED_REGION = re.compile(r"expecting '([a-z0-9-]+)'", re.IGNORECASE)


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


def diagnose_error(code: str, message: str, status: int, context: ErrorContext) -> Diagnosis:
    """Cause and fix for an error answer from SES (send or check)."""
    code, message = error_code_and_message(code, message)
    evidence = untrusted_text(f"{code}: {message}" if message else code)
    where = f" (credentials from {context.credentials})" if context.credentials else ""
    lowered = message.lower()

    if code == "MessageRejected" and NOT_VERIFIED.search(message):
        return not_verified(message, evidence, context)
    if "maximum sending rate" in lowered or (
        code in _THROTTLED and "daily" not in lowered and "quota" not in lowered
    ):
        return Diagnosis(
            Stage.SEND,
            "SES is throttling this account: the maximum send rate was exceeded",
            evidence=evidence,
            explanation=(
                "SES allows a number of messages per second (MaxSendRate, shown by `check`). "
                "Wait a moment and send again; a higher rate is requested from AWS support."
            ),
            exit_code=ExitCode.TEMPFAIL,
            retry_after=time.time() + 1.0,
        )
    if "daily message quota" in lowered or "quota exceeded" in lowered:
        return Diagnosis(
            Stage.SEND,
            "The SES 24-hour sending quota is used up",
            evidence=evidence,
            explanation=(
                "Sending resumes as the 24-hour window moves on (`check` shows the quota and "
                "what was sent). Request a higher quota in the SES console."
            ),
            exit_code=ExitCode.TEMPFAIL,
        )
    if code in _INVALID_KEY:
        explanation = (
            f"AWS does not know the access key ID {untrusted_text(context.access_key)}{where}: "
            "it was deleted, mistyped, or belongs to another partition. Create an access key "
            "for an IAM user or role allowed to send with SES."
        )
        if context.smtp_password_suspected:
            explanation += " " + _SMTP_NOT_API
        return Diagnosis(
            Stage.AUTH,
            "AWS rejected the credentials: the access key ID is not valid",
            evidence=evidence,
            explanation=explanation,
            exit_code=ExitCode.NOPERM,
        )
    if code in _SIGNATURE:
        if _SCOPED_REGION.search(message):
            expected = _EXPECTED_REGION.search(message)
            return Diagnosis(
                Stage.SEND,
                "The request was signed for the wrong region (ses.region does not match the endpoint)",
                evidence=evidence,
                explanation=(
                    "The endpoint serves another region than ses.region. Set ses.region to the "
                    "endpoint's region, or clear ses.endpoint_url."
                ),
                fix=Fix(f"set ses.region to {expected.group(1)}", {"ses.region": expected.group(1)})
                if expected
                else None,
                exit_code=ExitCode.CONFIG,
            )
        explanation = (
            f"The secret access key does not belong to the access key ID "
            f"{untrusted_text(context.access_key)}{where}."
        )
        if context.smtp_password_suspected:
            explanation = _SMTP_NOT_API
        else:
            explanation += (
                " Copy the secret again (it is shown only once when the key is created), or "
                "create a new access key."
            )
        return Diagnosis(
            Stage.AUTH,
            "AWS rejected the signature: the secret access key is wrong",
            evidence=evidence,
            explanation=explanation,
            exit_code=ExitCode.NOPERM,
        )
    if code in DENIED:
        action = re.search(r"perform[:\s]+[`']?(ses:[A-Za-z]+)", message)
        needed = action.group(1) if action else "ses:SendRawEmail and ses:SendEmail"
        return Diagnosis(
            Stage.SEND,
            f"The IAM identity is not allowed to send with SES ({needed} is missing)",
            evidence=evidence,
            explanation=(
                f"The credentials{where} are valid, but their IAM policy does not allow "
                f"{needed}. Add a policy allowing ses:SendEmail and ses:SendRawEmail on the "
                "sender identity (arn:aws:ses:REGION:ACCOUNT:identity/DOMAIN), or use "
                "credentials that have it."
            ),
            exit_code=ExitCode.NOPERM,
        )
    for rule in _FIXED:
        if code in rule.codes:
            return Diagnosis(
                rule.stage,
                rule.cause,
                evidence=evidence,
                explanation=rule.explanation.format(where=where),
                exit_code=rule.exit_code,
            )
    if code == "NotFoundException" or status == 404:
        return Diagnosis(
            Stage.SEND,
            f"The endpoint does not know this operation or resource (HTTP {status})",
            evidence=evidence,
            explanation="Check ses.endpoint_url and ses.region.",
            exit_code=ExitCode.CONFIG,
        )
    if status >= 500 or status == 0:
        return server_error("SES", status, evidence)
    return Diagnosis(
        Stage.SEND,
        f"SES refused the request (HTTP {status})",
        evidence=evidence,
        exit_code=ExitCode.DATAERR if 400 <= status < 500 else ExitCode.TEMPFAIL,
    )


_SMTP_NOT_API = (
    "The secret looks like an SES SMTP password (44 characters), which works only with the "
    "SMTP interface. The API needs the IAM user's secret access key (40 characters); or "
    "use the SMTP driver with these credentials: tui-mailsetup set driver smtp."
)


def not_verified(message: str, evidence: str, context: ErrorContext) -> Diagnosis:
    failed_match = FAILED_IDENTITIES.search(message)
    if failed_match:
        failed = {part.strip().lower() for part in failed_match.group(2).split(",")}
    else:  # "Did not have authority to send from email X" (no list): the sender
        failed = {context.sender.lower()}
    sender = context.sender.lower()
    sender_failed = sender in failed or identity_domain(sender) in failed
    region = context.region
    if sender_failed:
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
    reason: BaseException = http.root_cause(error)
    if name in ("ConnectTimeoutError", "ReadTimeoutError"):
        reason = TimeoutError(str(error))
    elif name == "SSLError" and not isinstance(reason, ssl.SSLError):
        reason = ssl.SSLError(str(error))
    return http.transport_diagnosis(reason, url)


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
    if name in ("UnauthorizedSSOTokenError", "SSOTokenLoadError", "TokenRetrievalError"):
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
    if name in ("ClientError",) or name.endswith("Exception"):
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
