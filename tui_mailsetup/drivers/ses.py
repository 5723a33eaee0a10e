"""The Amazon SES driver: the SES v2 HTTP API, signed with AWS Signature Version 4.

Stdlib only (no boto3): the request is one JSON POST of the raw MIME message
to ``/v2/email/outbound-emails``, so what arrives is byte for byte what the
SMTP driver would have sent. ``check`` (``stop_after``) reads the account
(``GET /v2/email/account``): credentials and region are verified, the
sending quota and sandbox status reported, nothing is sent.

Credentials: ``ses.access_key_id`` (else ``AWS_ACCESS_KEY_ID``), the secret
``ses.secret_access_key`` (else ``AWS_SECRET_ACCESS_KEY``), and
``AWS_SESSION_TOKEN`` for temporary credentials.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import os
from collections.abc import AsyncIterator, Mapping
from email.message import EmailMessage
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, quote, urlsplit

from tui_mailsetup.drivers.http import (
    HttpRequest,
    HttpResponse,
    check_url,
    refuse,
    run_request,
    status_diagnosis,
)
from tui_mailsetup.engine.events import Diagnosis, Event, Stage
from tui_mailsetup.exitcodes import ExitCode
from tui_mailsetup.sanitize import untrusted_text
from tui_mailsetup.settings import MailSettings

if TYPE_CHECKING:
    pass

SERVICE = "ses"
ALGORITHM = "AWS4-HMAC-SHA256"
AUTH_HINT = (
    "Use an IAM access key allowed to call ses:SendEmail (SES SMTP credentials are different "
    "and do not work with the API), and check the region."
)
_UNRESERVED = "-_.~"


def endpoint(settings: MailSettings) -> str:
    custom = settings.ses.endpoint_url.strip().rstrip("/")
    return custom or f"https://email.{settings.ses.region.strip()}.amazonaws.com"


# --------------------------------------------------------------------------- Signature V4


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode("utf-8"), hashlib.sha256).digest()


def signing_key(secret_key: str, date: str, region: str, service: str) -> bytes:
    key = _hmac(f"AWS4{secret_key}".encode(), date)
    key = _hmac(key, region)
    key = _hmac(key, service)
    return _hmac(key, "aws4_request")


def sign_v4(
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    access_key: str,
    secret_key: str,
    region: str,
    service: str = SERVICE,
    now: dt.datetime | None = None,
    session_token: str | None = None,
) -> dict[str, str]:
    """``headers`` plus ``x-amz-date`` (and the session token) and ``Authorization``.

    Every given header is signed, with ``host`` taken from the URL, exactly
    as the AWS documentation describes the canonical request.
    """
    parts = urlsplit(url)
    amz_date = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    date = amz_date[:8]
    signed: dict[str, str] = {k.lower(): " ".join(v.strip().split()) for k, v in headers.items()}
    signed["host"] = parts.netloc.lower()
    signed["x-amz-date"] = amz_date
    if session_token:
        signed["x-amz-security-token"] = session_token
    payload_hash = signed.get("x-amz-content-sha256") or hashlib.sha256(body).hexdigest()
    names = sorted(signed)
    query = sorted(
        (quote(k, safe=_UNRESERVED), quote(v, safe=_UNRESERVED))
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
    )
    canonical_request = "\n".join(
        [
            method.upper(),
            quote(parts.path or "/", safe="/" + _UNRESERVED),
            "&".join(f"{k}={v}" for k, v in query),
            "".join(f"{name}:{signed[name]}\n" for name in names),
            ";".join(names),
            payload_hash,
        ]
    )
    scope = f"{date}/{region}/{service}/aws4_request"
    string_to_sign = "\n".join(
        [ALGORITHM, amz_date, scope, hashlib.sha256(canonical_request.encode()).hexdigest()]
    )
    signature = hmac.new(
        signing_key(secret_key, date, region, service), string_to_sign.encode(), hashlib.sha256
    ).hexdigest()
    result = {name: value for name, value in signed.items() if name != "host"}
    result["authorization"] = (
        f"{ALGORITHM} Credential={access_key}/{scope}, SignedHeaders={';'.join(names)}, "
        f"Signature={signature}"
    )
    return result


# --------------------------------------------------------------------------- the driver


class SesDriver:
    name = "ses"

    def __init__(self, settings: MailSettings, secret_access_key: str | None) -> None:
        self.settings = settings
        self._access_key = settings.ses.access_key_id.strip() or os.environ.get(
            "AWS_ACCESS_KEY_ID", ""
        )
        self._secret_key = secret_access_key or os.environ.get("AWS_SECRET_ACCESS_KEY", "")
        self._session_token = os.environ.get("AWS_SESSION_TOKEN") or None

    def __repr__(self) -> str:
        return f"SesDriver(region={self.settings.ses.region!r})"

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
        base = endpoint(self.settings)
        if stop_after is not None:
            method, url, body = "GET", f"{base}/v2/email/account", b""
            summary = "reading the account: nothing is sent"
            headers: dict[str, str] = {}
        else:
            data = bytes(message)
            document = {
                "FromEmailAddress": self.settings.sender.address.strip(),
                "Destination": {"ToAddresses": recipients},
                "Content": {"Raw": {"Data": base64.b64encode(data).decode("ascii")}},
            }
            method, url = "POST", f"{base}/v2/email/outbound-emails"
            body = json.dumps(document).encode()
            headers = {"content-type": "application/json"}
            summary = f"the test message as raw MIME, {len(data)} bytes, to {', '.join(recipients)}"
        signed = sign_v4(
            method,
            url,
            headers,
            body,
            access_key=self._access_key,
            secret_key=self._secret_key,
            region=self.settings.ses.region.strip(),
            session_token=self._session_token,
        )
        credential = signed["authorization"].split(", Signature=")[0]
        shown = [f"Authorization: {credential}, Signature=[redacted]"]
        if self._session_token:
            shown.append("X-Amz-Security-Token: [redacted]")
        request = HttpRequest(
            method, url, signed, body, shown_headers=tuple(shown), summary=summary
        )
        return run_request(
            request,
            seconds=self.settings.smtp.timeout,
            interpret=self._interpret_check if stop_after is not None else self._interpret_send,
            message_id=str(message.get("Message-ID", "")),
            recipients=recipients,
        )

    def _problem(self) -> Diagnosis | None:
        if not self.settings.ses.region.strip():
            return Diagnosis(Stage.SEND, "ses.region is not set", exit_code=ExitCode.CONFIG)
        if not self._access_key:
            return Diagnosis(
                Stage.SEND,
                "No AWS access key ID is set",
                explanation="Set ses.access_key_id (or AWS_ACCESS_KEY_ID in the environment).",
                exit_code=ExitCode.CONFIG,
            )
        if not self._secret_key:
            return Diagnosis(
                Stage.SEND,
                "No AWS secret access key is set",
                explanation="Store it with: tui-mailsetup set-secret ses.secret_access_key",
                exit_code=ExitCode.CONFIG,
            )
        return check_url(endpoint(self.settings), "ses.endpoint_url")

    def _interpret_send(self, response: HttpResponse) -> tuple[bool, str, Diagnosis | None]:
        if response.status == 200:
            message_id = str(_json(response).get("MessageId", ""))
            return True, f"accepted as {untrusted_text(message_id)}", None
        return False, f"HTTP {response.status}", _ses_diagnosis(response)

    def _interpret_check(self, response: HttpResponse) -> tuple[bool, str, Diagnosis | None]:
        if response.status != 200:
            return False, f"HTTP {response.status}", _ses_diagnosis(response)
        account = _json(response)
        quota = account.get("SendQuota") or {}
        parts = ["credentials and region are valid"]
        if isinstance(quota, dict) and "Max24HourSend" in quota:
            parts.append(
                f"sent {quota.get('SentLast24Hours', 0):g} of {quota['Max24HourSend']:g} in 24 h"
            )
        if account.get("ProductionAccessEnabled") is False:
            parts.append("sandbox: only verified recipients")
        if account.get("SendingEnabled") is False:
            diagnosis = Diagnosis(
                Stage.SEND,
                "Sending is disabled for this SES account",
                explanation="Re-enable sending in the SES console (it is paused after abuse).",
                exit_code=ExitCode.NOPERM,
            )
            return False, "sending disabled", diagnosis
        return True, untrusted_text("; ".join(parts)), None


def _json(response: HttpResponse) -> dict[str, Any]:
    try:
        data = json.loads(response.body.decode("utf-8", "replace"))
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _ses_diagnosis(response: HttpResponse) -> Diagnosis:
    error_type = response.headers.get("x-amzn-ErrorType", "") or response.headers.get(
        "X-Amzn-ErrorType", ""
    )
    error_type = error_type.split(":", 1)[0]
    body = _json(response)
    text = str(body.get("message") or body.get("Message") or "")
    evidence = untrusted_text(f"{error_type}: {text}" if error_type else text)
    if error_type == "MessageRejected" and "not verified" in text.lower():
        return Diagnosis(
            Stage.SEND,
            "SES refused an address that is not verified",
            evidence=evidence,
            explanation=(
                "In the SES sandbox both the sender and every recipient must be verified; "
                "verify them or request production access."
            ),
            exit_code=ExitCode.DATAERR,
        )
    if error_type in ("TooManyRequestsException", "LimitExceededException", "Throttling"):
        return Diagnosis(
            Stage.SEND,
            "SES is throttling this account",
            evidence=evidence,
            exit_code=ExitCode.TEMPFAIL,
        )
    if error_type in ("AccountSuspendedException", "SendingPausedException"):
        return Diagnosis(
            Stage.SEND,
            "Sending is paused for this SES account",
            evidence=evidence,
            exit_code=ExitCode.NOPERM,
        )
    if error_type == "MailFromDomainNotVerifiedException":
        return Diagnosis(
            Stage.SEND,
            "The sender's domain is not verified in SES",
            evidence=evidence,
            exit_code=ExitCode.CONFIG,
        )
    return status_diagnosis(response, "Amazon SES", auth_hint=AUTH_HINT, evidence=evidence)
