"""The Amazon SES driver: the SES v2 API through botocore (the optional extra ``aws``).

botocore is what AWS's own tools use, so the credentials are found exactly
as the AWS CLI finds them: explicit keys (``ses.access_key_id`` and the
secret ``ses.secret_access_key``), else the standard chain: the environment,
a named profile (``ses.profile``, else ``AWS_PROFILE``) with its SSO session,
assumed role or ``credential_process``, web identity, the container
credentials endpoint, the EC2 instance role. The transcript says which one
supplied them (botocore's credential ``method``), never the secret.

A test send posts the whole MIME message (``SendEmail`` with raw content), so
what arrives is byte for byte what the SMTP driver would have sent. ``check``
(``stop_after``) sends nothing: it reads the account (sandbox or production,
sending enabled, quota) and the sender identity's verification and DKIM
status in this region, and looks for the identity in the other regions when
it is not verified here.

botocore is imported only when this driver runs; the offline part
(:func:`credential_hint`, used by validation and ``show``) needs only the
standard library.
"""

from __future__ import annotations

import asyncio
import configparser
import contextlib
import os
import re
import ssl
import time
from collections.abc import AsyncIterator, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from tui_mailsetup.drivers.http import check_url
from tui_mailsetup.engine.events import (
    Diagnosis,
    Direction,
    Event,
    Outcome,
    Stage,
    StageFinished,
    StageStarted,
    TranscriptLine,
)
from tui_mailsetup.exitcodes import ExitCode
from tui_mailsetup.fixes import Fix
from tui_mailsetup.sanitize import untrusted_text
from tui_mailsetup.settings import MailSettings

EXTRA = "aws"
MISSING_EXTRA = (
    "Amazon SES support is not installed: it needs botocore, the optional extra "
    f"tui-mailsetup[{EXTRA}]. Install it with: pip install 'tui-mailsetup[{EXTRA}]'"
)
PROBE_TIMEOUT = 5.0
"""Seconds for each request that looks for the sender identity in other regions."""

# botocore's credential ``method`` values, as a person reads them.
_METHODS = {
    "explicit": "ses.access_key_id and ses.secret_access_key",
    "env": "the environment (AWS_ACCESS_KEY_ID)",
    "shared-credentials-file": "profile {profile} (credentials file)",
    "config-file": "profile {profile} (config file)",
    "sso": "SSO (profile {profile})",
    "assume-role": "an assumed role (profile {profile})",
    "assume-role-with-web-identity": "web identity (AWS_WEB_IDENTITY_TOKEN_FILE)",
    "custom-process": "credential_process (profile {profile})",
    "container-role": "the container credentials endpoint (ECS/EKS role)",
    "iam-role": "the EC2 instance role (instance metadata)",
    "ec2-credentials-file": "the EC2 credentials file",
    "boto-config": "the boto configuration file",
    "login": "aws login (profile {profile})",
}


def describe_method(method: str, profile: str) -> str:
    """Where credentials came from, from botocore's ``method`` (never the secret)."""
    text = _METHODS.get(method, f"{method} (profile {{profile}})")
    return text.format(profile=profile or "default")


def endpoint(settings: MailSettings) -> str:
    custom = settings.ses.endpoint_url.strip().rstrip("/")
    return custom or f"https://email.{settings.ses.region.strip()}.amazonaws.com"


# --------------------------------------------------------------------------- offline: where credentials would come from


@dataclass(frozen=True)
class CredentialHint:
    """Where botocore's chain would find credentials, judged without network or botocore.

    ``source`` is one of explicit, env, profile, sso, assume-role,
    web-identity, process, container, instance-role (the last one cannot be
    known offline: it is what is left) or none.
    """

    source: str
    text: str
    problem: str = ""
    """A reason the credentials cannot work at all (validation reports it as an error)."""
    field: str = "ses.profile"


def _aws_files(environ: Mapping[str, str]) -> tuple[Path, Path]:
    home = Path(environ.get("HOME") or Path.home())
    credentials = environ.get("AWS_SHARED_CREDENTIALS_FILE") or str(home / ".aws" / "credentials")
    config = environ.get("AWS_CONFIG_FILE") or str(home / ".aws" / "config")
    return Path(credentials).expanduser(), Path(config).expanduser()


def _read_ini(path: Path) -> configparser.RawConfigParser:
    parser = configparser.RawConfigParser()
    try:
        parser.read(path, encoding="utf-8")
    except (configparser.Error, OSError, UnicodeDecodeError):
        return configparser.RawConfigParser()
    return parser


def credential_hint(
    settings: MailSettings,
    *,
    secret_present: bool,
    environ: Mapping[str, str] | None = None,
) -> CredentialHint:
    """The first source of botocore's chain that has credentials, read from files and variables.

    The same order as botocore: explicit keys; the environment (unless
    ``ses.profile`` names a profile, which overrides it as ``--profile``
    does); the profile's assumed role, web identity, SSO, keys or
    ``credential_process``; the container endpoint; else the instance role.
    """
    env = os.environ if environ is None else environ
    ses = settings.ses
    key_id = ses.access_key_id.strip()
    if key_id and not secret_present:
        return CredentialHint(
            "explicit",
            "ses.access_key_id without its secret",
            "ses.access_key_id is set but the secret ses.secret_access_key is not stored: store "
            "it with `tui-mailsetup set-secret ses.secret_access_key`, or clear "
            "ses.access_key_id to use the AWS credential chain",
            "ses.secret_access_key",
        )
    if secret_present:
        if not key_id and not env.get("AWS_ACCESS_KEY_ID"):
            return CredentialHint(
                "explicit",
                "ses.secret_access_key without an access key ID",
                "ses.secret_access_key is stored but ses.access_key_id is empty: set it",
                "ses.access_key_id",
            )
        return CredentialHint("explicit", describe_method("explicit", ""))
    named = ses.profile.strip()
    if not named and env.get("AWS_ACCESS_KEY_ID") and env.get("AWS_SECRET_ACCESS_KEY"):
        return CredentialHint("env", describe_method("env", ""))
    profile = named or env.get("AWS_PROFILE") or env.get("AWS_DEFAULT_PROFILE") or "default"
    credentials_file, config_file = _aws_files(env)
    credentials = _read_ini(credentials_file)
    config = _read_ini(config_file)
    section = "default" if profile == "default" else f"profile {profile}"
    in_config = config.has_section(section) or config.has_section(profile)
    in_credentials = credentials.has_section(profile)
    explicit_profile = bool(named or env.get("AWS_PROFILE") or env.get("AWS_DEFAULT_PROFILE"))
    if explicit_profile and not (in_config or in_credentials):
        where = "ses.profile" if named else "AWS_PROFILE"
        return CredentialHint(
            "profile",
            f"profile {profile}",
            f"{where} names the profile {profile!r}, which is in neither {credentials_file} "
            f"nor {config_file}",
            "ses.profile",
        )
    options: dict[str, str] = {}
    if in_config:
        options.update(config.items(section if config.has_section(section) else profile))
    if options.get("role_arn"):
        return CredentialHint("assume-role", describe_method("assume-role", profile))
    if env.get("AWS_WEB_IDENTITY_TOKEN_FILE") or options.get("web_identity_token_file"):
        return CredentialHint("web-identity", describe_method("assume-role-with-web-identity", ""))
    if options.get("sso_start_url") or options.get("sso_session"):
        return CredentialHint("sso", describe_method("sso", profile))
    if in_credentials and credentials.has_option(profile, "aws_access_key_id"):
        return CredentialHint("profile", describe_method("shared-credentials-file", profile))
    if options.get("credential_process"):
        return CredentialHint("process", describe_method("custom-process", profile))
    if options.get("aws_access_key_id"):
        return CredentialHint("profile", describe_method("config-file", profile))
    if env.get("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI") or env.get(
        "AWS_CONTAINER_CREDENTIALS_FULL_URI"
    ):
        return CredentialHint("container", describe_method("container-role", ""))
    if env.get("AWS_EC2_METADATA_DISABLED", "").lower() == "true":
        return CredentialHint(
            "none",
            "no credentials",
            "No AWS credentials: none in the environment, the profile files or a container "
            "endpoint, and instance metadata is disabled (AWS_EC2_METADATA_DISABLED)",
            "ses.access_key_id",
        )
    return CredentialHint(
        "instance-role",
        "the EC2 instance role, if this machine has one (nothing else was found)",
    )


def looks_like_smtp_password(secret: str) -> bool:
    """An SES SMTP password (44 characters, version byte 4) rather than an IAM secret key (40)."""
    return (
        len(secret) == 44
        and secret.startswith("B")
        and bool(re.fullmatch(r"[A-Za-z0-9+/=]+", secret))
    )


# --------------------------------------------------------------------------- diagnosis


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
_DENIED = {"AccessDenied", "AccessDeniedException", "NotAuthorized", "UnauthorizedOperation"}
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
_NOT_VERIFIED = re.compile(r"not verified|did not have authority to send", re.IGNORECASE)
_FAILED_IDENTITIES = re.compile(
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


def _identity_domain(address: str) -> str:
    return address.rpartition("@")[2].lower()


def diagnose_error(code: str, message: str, status: int, context: ErrorContext) -> Diagnosis:
    """Cause and fix for an error answer from SES (send or check)."""
    code, message = error_code_and_message(code, message)
    evidence = untrusted_text(f"{code}: {message}" if message else code)
    where = f" (credentials from {context.credentials})" if context.credentials else ""
    lowered = message.lower()

    if code == "MessageRejected" and _NOT_VERIFIED.search(message):
        return _not_verified(message, evidence, context)
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
    if code in _EXPIRED:
        return Diagnosis(
            Stage.AUTH,
            "The AWS credentials have expired",
            evidence=evidence,
            explanation=(
                f"Temporary credentials{where} are past their expiry. Obtain fresh ones (for "
                "SSO: aws sso login; for a session token: a new one) and try again."
            ),
            exit_code=ExitCode.NOPERM,
        )
    if code in _CLOCK:
        return Diagnosis(
            Stage.AUTH,
            "AWS refused the request as expired: this machine's clock is wrong",
            evidence=evidence,
            explanation=(
                "Signed requests are valid for 15 minutes around AWS's time. Synchronise the "
                "clock (timedatectl set-ntp true, or chrony)."
            ),
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
    if code in _DENIED:
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
    if code in _PAUSED:
        return Diagnosis(
            Stage.SEND,
            "Sending is paused for this SES account",
            evidence=evidence,
            explanation=(
                "AWS pauses sending after too many bounces or complaints. Read the notice in "
                "the SES console (Reputation metrics) and ask AWS to re-enable it."
            ),
            exit_code=ExitCode.NOPERM,
        )
    if code in ("MailFromDomainNotVerifiedException", "MailFromDomainNotVerified"):
        return Diagnosis(
            Stage.SEND,
            "The custom MAIL FROM domain of the sender is not verified in SES",
            evidence=evidence,
            explanation="Publish the MX and SPF records SES shows for the MAIL FROM domain.",
            exit_code=ExitCode.CONFIG,
        )
    if code in ("MessageRejected", "BadRequestException", "InvalidParameterValue"):
        return Diagnosis(
            Stage.SEND,
            "SES rejected the message",
            evidence=evidence,
            exit_code=ExitCode.DATAERR,
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
        return Diagnosis(
            Stage.SEND,
            f"SES had a server error (HTTP {status}); try again later",
            evidence=evidence,
            exit_code=ExitCode.TEMPFAIL,
        )
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


def _not_verified(message: str, evidence: str, context: ErrorContext) -> Diagnosis:
    failed_match = _FAILED_IDENTITIES.search(message)
    if failed_match:
        failed = {part.strip().lower() for part in failed_match.group(2).split(",")}
    else:  # "Did not have authority to send from email X" (no list): the sender
        failed = {context.sender.lower()}
    sender = context.sender.lower()
    sender_failed = sender in failed or _identity_domain(sender) in failed
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
        domain = _identity_domain(context.sender)
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
    from urllib.parse import urlsplit

    from tui_mailsetup.drivers import http

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


# --------------------------------------------------------------------------- events from a worker thread


_END = object()


class _Bridge:
    """Transcript lines from the thread that runs botocore, delivered to the event loop as they happen."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.queue: asyncio.Queue[object] = asyncio.Queue()

    def _put(self, item: object) -> None:
        # RuntimeError: the loop has closed, nobody is listening any more.
        with contextlib.suppress(RuntimeError):
            self.loop.call_soon_threadsafe(self.queue.put_nowait, item)

    def sent(self, text: str) -> None:
        self._put(TranscriptLine(Direction.SENT, text, True))

    def received(self, text: str) -> None:
        self._put(TranscriptLine(Direction.RECEIVED, text, True))

    def note(self, text: str) -> None:
        self._put(TranscriptLine(Direction.NOTE, text, True))

    def close(self) -> None:
        self._put(_END)


class _Failed(Exception):
    def __init__(self, diagnosis: Diagnosis) -> None:
        super().__init__(diagnosis.cause)
        self.diagnosis = diagnosis


@dataclass(frozen=True)
class _Result:
    ok: bool
    detail: str
    diagnosis: Diagnosis | None = None
    message_id: str = ""


@dataclass
class _Session:
    botocore: Any
    session: Any
    method: str
    where: str
    access_key: str
    secret: str
    token: str | None
    profile: str
    clients: dict[tuple[str, str], Any] = field(default_factory=dict)


# --------------------------------------------------------------------------- the driver


class SesDriver:
    name = "ses"

    def __init__(self, settings: MailSettings, secret_access_key: str | None) -> None:
        self.settings = settings
        self._secret = secret_access_key
        self.check_details: dict[str, Any] = {}
        """What the last check found (credentials, account, identity), for --json."""

    def __repr__(self) -> str:
        return f"SesDriver(region={self.settings.ses.region!r})"

    def send(
        self,
        message: EmailMessage,
        recipients: list[str],
        *,
        stop_after: Stage | None = None,
    ) -> AsyncIterator[Event]:
        if stop_after is not None:
            self.check_details = {}
            return self._run(lambda bridge: self._check(bridge), recipients)
        data = bytes(message)
        message_id = str(message.get("Message-ID", ""))
        return self._run(
            lambda bridge: self._send(bridge, data, recipients, message_id), recipients
        )

    # ------------------------------------------------------------------ plumbing

    async def _run(
        self, work: Callable[[_Bridge], _Result], recipients: list[str]
    ) -> AsyncIterator[Event]:
        started = time.monotonic()
        yield StageStarted(Stage.SEND)
        bridge = _Bridge(asyncio.get_running_loop())

        def guarded() -> _Result:
            try:
                return work(bridge)
            except _Failed as failed:
                return _Result(False, failed.diagnosis.cause, failed.diagnosis)
            except Exception as exc:  # botocore raising what it documents nowhere: no traceback
                diagnosis = Diagnosis(
                    Stage.SEND,
                    "The request to SES failed unexpectedly",
                    evidence=untrusted_text(f"{type(exc).__name__}: {exc}"),
                    exit_code=ExitCode.UNAVAILABLE,
                )
                return _Result(False, diagnosis.cause, diagnosis)
            finally:
                bridge.close()

        task = asyncio.ensure_future(asyncio.to_thread(guarded))
        while (item := await bridge.queue.get()) is not _END:
            assert isinstance(item, TranscriptLine)
            yield item
        result = await task
        elapsed = time.monotonic() - started
        stage = result.diagnosis.stage if result.diagnosis else Stage.SEND
        yield StageFinished(Stage.SEND, result.ok, elapsed, result.detail)
        yield Outcome(
            result.ok,
            stage if not result.ok else Stage.SEND,
            elapsed,
            result.diagnosis,
            result.message_id if result.ok else "",
            tuple(recipients),
        )

    def _settings_problem(self) -> Diagnosis | None:
        ses = self.settings.ses
        if not ses.region.strip():
            return Diagnosis(Stage.CONFIG, "ses.region is not set", exit_code=ExitCode.CONFIG)
        if ses.endpoint_url.strip():
            return check_url(endpoint(self.settings), "ses.endpoint_url")
        return None

    def _open(self, bridge: _Bridge) -> _Session:
        """botocore, the credentials (explicit or the chain) and where they came from."""
        if problem := self._settings_problem():
            raise _Failed(problem)
        try:
            import botocore.exceptions
            import botocore.parsers
            import botocore.session
        except ImportError as exc:
            raise _Failed(
                Diagnosis(
                    Stage.CONFIG,
                    MISSING_EXTRA,
                    evidence=untrusted_text(str(exc)),
                    exit_code=ExitCode.CONFIG,
                )
            ) from exc
        ses = self.settings.ses
        hint = credential_hint(self.settings, secret_present=self._secret is not None)
        if hint.problem and hint.source == "explicit":
            raise _Failed(Diagnosis(Stage.CONFIG, hint.problem, exit_code=ExitCode.CONFIG))
        profile = ses.profile.strip()
        try:
            session = botocore.session.Session(profile=profile or None)
            if self._secret is not None:
                key_id = ses.access_key_id.strip() or os.environ.get("AWS_ACCESS_KEY_ID", "")
                token = None if ses.access_key_id.strip() else os.environ.get("AWS_SESSION_TOKEN")
                session.set_credentials(key_id, self._secret, token)
                credentials = session.get_credentials()
                method = "explicit"
            else:
                credentials = session.get_credentials()
                method = getattr(credentials, "method", "") or "unknown"
            if credentials is None:
                raise _Failed(no_credentials())
            frozen = credentials.get_frozen_credentials()
        except _Failed:
            raise
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            raise _Failed(
                credentials_diagnosis(exc, profile or session_profile(os.environ))
            ) from exc
        shown_profile = profile or session_profile(os.environ)
        where = describe_method(method, shown_profile)
        bridge.note(f"credentials: {where}, access key {frozen.access_key}")
        return _Session(
            botocore,
            session,
            method,
            where,
            frozen.access_key,
            frozen.secret_key,
            frozen.token,
            shown_profile,
        )

    def _client(
        self,
        opened: _Session,
        service: str,
        region: str,
        bridge: _Bridge | None,
        *,
        timeout: float | None = None,
    ) -> Any:
        cached = opened.clients.get((service, region))
        if cached is not None:
            return cached
        seconds = timeout or float(self.settings.smtp.timeout)
        try:
            client = self._create_client(opened, service, region, seconds)
        except opened.botocore.exceptions.BotoCoreError as exc:
            raise _Failed(
                Diagnosis(
                    Stage.CONFIG,
                    f"No SES endpoint for the region {untrusted_text(region)!r}",
                    evidence=untrusted_text(f"{type(exc).__name__}: {exc}"),
                    explanation="Set ses.region to an AWS region such as us-east-1.",
                    exit_code=ExitCode.CONFIG,
                )
            ) from exc
        if bridge is not None:
            client.meta.events.register("before-send", _transcript_hook(bridge))
        opened.clients[(service, region)] = client
        return client

    def _create_client(self, opened: _Session, service: str, region: str, seconds: float) -> Any:
        from botocore.config import Config

        return opened.session.create_client(
            service,
            region_name=region,
            endpoint_url=self.settings.ses.endpoint_url.strip() or None,
            aws_access_key_id=opened.access_key,
            aws_secret_access_key=opened.secret,
            aws_session_token=opened.token,
            config=Config(
                connect_timeout=seconds,
                read_timeout=seconds,
                retries={"total_max_attempts": 1},
                user_agent_extra="tui-mailsetup",
            ),
        )

    def _context(self, opened: _Session | None, recipients: list[str]) -> ErrorContext:
        secret = opened.secret if opened else (self._secret or "")
        return ErrorContext(
            region=self.settings.ses.region.strip(),
            sender=self.settings.sender.address.strip(),
            recipients=tuple(recipients),
            credentials=opened.where if opened else "",
            access_key=opened.access_key if opened else "",
            smtp_password_suspected=looks_like_smtp_password(secret),
        )

    def _call(
        self,
        opened: _Session,
        bridge: _Bridge,
        client: Any,
        operation: str,
        **params: Any,
    ) -> dict[str, Any]:
        """One API call; raises _Failed with the diagnosis, or _ClientError for the caller to judge."""
        exceptions = opened.botocore.exceptions
        try:
            answer: dict[str, Any] = getattr(client, operation)(**params)
        except exceptions.ClientError as exc:
            error = exc.response.get("Error", {})
            status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
            code, text = error_code_and_message(
                str(error.get("Code", "")), str(error.get("Message", ""))
            )
            bridge.received(untrusted_text(f"HTTP {status} {code}: {text}"))
            raise _ClientError(code, text, status) from exc
        except (exceptions.BotoCoreError, opened.botocore.parsers.ResponseParserError) as exc:
            raise _Failed(transport_diagnosis(exc, endpoint(self.settings))) from exc
        status = int(answer.get("ResponseMetadata", {}).get("HTTPStatusCode", 200) or 200)
        bridge.received(f"HTTP {status}")
        return answer

    # ------------------------------------------------------------------ send

    def _send(
        self, bridge: _Bridge, data: bytes, recipients: list[str], message_id: str
    ) -> _Result:
        opened = self._open(bridge)
        region = self.settings.ses.region.strip()
        client = self._client(opened, "sesv2", region, bridge)
        sender = self.settings.sender.address.strip()
        bridge.note(
            f"the test message as raw MIME, {len(data)} bytes, from {sender} to {', '.join(recipients)}"
        )
        try:
            answer = self._call(
                opened,
                bridge,
                client,
                "send_email",
                FromEmailAddress=sender,
                Destination={"ToAddresses": recipients},
                Content={"Raw": {"Data": data}},
            )
        except _ClientError as error:
            context = self._context(opened, recipients)
            if error.code == "MessageRejected" and _NOT_VERIFIED.search(error.message):
                failed = _FAILED_IDENTITIES.search(error.message)
                names = failed.group(2).lower() if failed else sender.lower()
                if sender.lower() in names or _identity_domain(sender) in names:
                    bridge.note(f"looking for {sender} in the other SES regions")
                    elsewhere = self._verified_elsewhere(opened, sender)
                    context = replace(context, verified_in=elsewhere)
            diagnosis = diagnose_error(error.code, error.message, error.status, context)
            return _Result(False, diagnosis.cause, diagnosis)
        accepted = untrusted_text(str(answer.get("MessageId", "")))
        return _Result(
            True, f"accepted as {accepted}; credentials from {opened.where}", None, message_id
        )

    # ------------------------------------------------------------------ check

    def _check(self, bridge: _Bridge) -> _Result:
        opened = self._open(bridge)
        region = self.settings.ses.region.strip()
        client = self._client(opened, "sesv2", region, bridge)
        details: dict[str, Any] = {"credentials": opened.where, "region": region}
        self.check_details = details
        parts = [f"credentials from {opened.where}"]
        problems: list[Diagnosis] = []
        account = self._account(opened, bridge, client, region)
        details["account"] = account
        if account.get("error"):
            bridge.note(f"account: {account['error']}")
        else:
            parts.append(_account_summary(account))
            bridge.note("account: " + _account_summary(account))
            if account.get("sending_enabled") is False:
                problems.append(
                    Diagnosis(
                        Stage.SEND,
                        f"Sending is disabled for this SES account in {region}",
                        explanation=(
                            "AWS pauses sending after too many bounces or complaints; read the "
                            "notice in the SES console and ask for it to be re-enabled."
                        ),
                        exit_code=ExitCode.NOPERM,
                    )
                )
        sender = self.settings.sender.address.strip()
        if sender:
            identity = self._identity(opened, bridge, client, sender)
            details["identity"] = identity
            bridge.note("identity: " + _identity_summary(identity))
            if identity.get("verified") is False:
                bridge.note(f"looking for {sender} in the other SES regions")
                elsewhere = self._verified_elsewhere(opened, sender)
                identity["verified_in_other_regions"] = list(elsewhere)
                context = ErrorContext(
                    region=region,
                    sender=sender,
                    credentials=opened.where,
                    access_key=opened.access_key,
                    verified_in=elsewhere,
                )
                problems.append(
                    _not_verified(
                        f"Email address is not verified. The following identities failed the "
                        f"check in region {region.upper()}: {sender}",
                        f"{sender}: not verified in {region}",
                        context,
                    )
                )
            elif identity.get("verified"):
                parts.append(f"sender verified ({identity.get('identity')})")
        if problems:
            return _Result(False, problems[0].cause, problems[0])
        return _Result(True, untrusted_text("; ".join(parts)))

    def _account(
        self, opened: _Session, bridge: _Bridge, client: Any, region: str
    ) -> dict[str, Any]:
        try:
            answer = self._call(opened, bridge, client, "get_account")
        except _ClientError as error:
            if error.code in _DENIED:
                return {"error": f"not allowed to read the account ({error.code}: ses:GetAccount)"}
            if error.status in (404, 501) or error.code in ("UnknownOperationException", "404"):
                return self._account_v1(opened, bridge, region)
            raise _Failed(
                diagnose_error(error.code, error.message, error.status, self._context(opened, []))
            ) from None
        quota = answer.get("SendQuota") or {}
        return {
            "api": "sesv2 GetAccount",
            "production": answer.get("ProductionAccessEnabled"),
            "sending_enabled": answer.get("SendingEnabled"),
            "enforcement": answer.get("EnforcementStatus"),
            "max_24_hour_send": quota.get("Max24HourSend"),
            "max_send_rate": quota.get("MaxSendRate"),
            "sent_last_24_hours": quota.get("SentLast24Hours"),
        }

    def _account_v1(self, opened: _Session, bridge: _Bridge, region: str) -> dict[str, Any]:
        """SES v1's GetSendQuota and GetAccountSendingEnabled, for services without GetAccount."""
        bridge.note("GetAccount is not available here; asking the SES v1 API")
        client = self._client(opened, "ses", region, bridge)
        account: dict[str, Any] = {"api": "ses GetSendQuota", "production": None}
        try:
            quota = self._call(opened, bridge, client, "get_send_quota")
        except _ClientError as error:
            if error.code in _DENIED:
                return {"error": f"not allowed to read the quota ({error.code}: ses:GetSendQuota)"}
            raise _Failed(
                diagnose_error(error.code, error.message, error.status, self._context(opened, []))
            ) from None
        account.update(
            max_24_hour_send=quota.get("Max24HourSend"),
            max_send_rate=quota.get("MaxSendRate"),
            sent_last_24_hours=quota.get("SentLast24Hours"),
        )
        try:
            enabled = self._call(opened, bridge, client, "get_account_sending_enabled")
            account["sending_enabled"] = enabled.get("Enabled")
        except (_ClientError, _Failed):  # not offered by every compatible service
            bridge.note("GetAccountSendingEnabled is not available here")
            account["sending_enabled"] = None
        return account

    def _identity(
        self, opened: _Session, bridge: _Bridge, client: Any, sender: str
    ) -> dict[str, Any]:
        """The sender's own identity, else its domain's: verification and DKIM."""
        for name in (sender, _identity_domain(sender)):
            try:
                answer = self._call(
                    opened, bridge, client, "get_email_identity", EmailIdentity=name
                )
            except _ClientError as error:
                if error.code == "NotFoundException" or error.status == 404:
                    continue
                if error.code in _DENIED:
                    return {
                        "identity": sender,
                        "verified": None,
                        "error": f"{error.code}: ses:GetEmailIdentity",
                    }
                raise _Failed(
                    diagnose_error(
                        error.code, error.message, error.status, self._context(opened, [])
                    )
                ) from None
            if _verified(answer):
                dkim = answer.get("DkimAttributes") or {}
                return {
                    "identity": name,
                    "type": answer.get("IdentityType"),
                    "verified": True,
                    "dkim": dkim.get("Status"),
                    "dkim_signing": dkim.get("SigningEnabled"),
                }
        return {"identity": sender, "verified": False}

    def _verified_elsewhere(self, opened: _Session, sender: str) -> tuple[str, ...]:
        """The other regions where the sender (or its domain) is a verified identity."""
        region = self.settings.ses.region.strip()
        try:
            regions = [r for r in opened.session.get_available_regions("sesv2") if r != region]
        except Exception:
            return ()
        # Clients are created one by one (botocore's loaders are not meant for
        # concurrent first use), the lookups run in parallel.
        clients: dict[str, Any] = {}
        for other in regions:
            try:
                clients[other] = self._client(opened, "sesv2", other, None, timeout=PROBE_TIMEOUT)
            except _Failed:
                continue

        def probe(other: str) -> str | None:
            for name in (sender, _identity_domain(sender)):
                try:
                    if _verified(clients[other].get_email_identity(EmailIdentity=name)):
                        return other
                except Exception:  # a region that is not enabled, not reachable, …
                    continue
            return None

        with ThreadPoolExecutor(max_workers=8) as pool:
            found = [r for r in pool.map(probe, clients) if r]
        return tuple(found)


class _ClientError(Exception):
    def __init__(self, code: str, message: str, status: int) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status


def _verified(answer: Mapping[str, Any]) -> bool:
    return (
        bool(answer.get("VerifiedForSendingStatus"))
        or answer.get("VerificationStatus") == "SUCCESS"
    )


def session_profile(environ: Mapping[str, str]) -> str:
    return environ.get("AWS_PROFILE") or environ.get("AWS_DEFAULT_PROFILE") or "default"


def _account_summary(account: Mapping[str, Any]) -> str:
    parts: list[str] = []
    production = account.get("production")
    if production is True:
        parts.append("production access")
    elif production is False:
        parts.append(
            "sandbox: only verified recipients (request production access to send to anyone)"
        )
    else:
        parts.append("sandbox status unknown")
    enabled = account.get("sending_enabled")
    parts.append(
        "sending enabled"
        if enabled
        else "sending DISABLED"
        if enabled is False
        else "sending status unknown"
    )
    limit = account.get("max_24_hour_send")
    if limit is not None:
        sent = account.get("sent_last_24_hours") or 0
        parts.append(f"sent {float(sent):g} of {float(limit):g} in the last 24 h")
    rate = account.get("max_send_rate")
    if rate is not None:
        parts.append(f"at most {float(rate):g} per second")
    return ", ".join(parts)


def _identity_summary(identity: Mapping[str, Any]) -> str:
    name = identity.get("identity", "")
    if identity.get("error"):
        return f"{name}: cannot read ({identity['error']})"
    if identity.get("verified"):
        dkim = identity.get("dkim") or "unknown"
        return f"{name} verified for sending, DKIM {dkim}"
    return f"{name} is not verified in this region"


def _transcript_hook(bridge: _Bridge) -> Callable[..., None]:
    def hook(request: Any, **_: Any) -> None:
        bridge.sent(f"{request.method} {untrusted_text(request.url)}")
        authorization = request.headers.get("Authorization", b"")
        if isinstance(authorization, bytes):
            authorization = authorization.decode("latin-1")
        if authorization:
            shown = authorization.split("Signature=")[0] + "Signature=[redacted]"
            bridge.sent(untrusted_text(f"Authorization: {shown}"))
        if request.headers.get("X-Amz-Security-Token"):
            bridge.sent("X-Amz-Security-Token: [redacted]")

    return hook
