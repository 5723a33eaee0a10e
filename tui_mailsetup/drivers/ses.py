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

botocore is imported only when this driver runs. Beside it:
:mod:`.ses_credentials` (where credentials would come from, offline: used by
validation and ``show``), :mod:`.ses_diagnosis` (what an error means) and
:mod:`.ses_account` (what ``check`` reports).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from email.message import EmailMessage
from typing import Any

from tui_mailsetup.drivers.http import check_url
from tui_mailsetup.drivers.ses_account import account_summary, identity_summary, is_verified
from tui_mailsetup.drivers.ses_credentials import (
    credential_hint,
    describe_method,
    looks_like_smtp_password,
    session_profile,
)
from tui_mailsetup.drivers.ses_diagnosis import (
    DENIED,
    FAILED_IDENTITIES,
    NOT_VERIFIED,
    ErrorContext,
    credentials_diagnosis,
    diagnose_error,
    error_code_and_message,
    identity_domain,
    no_credentials,
    not_verified,
    transport_diagnosis,
)
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
from tui_mailsetup.sanitize import untrusted_text
from tui_mailsetup.settings import MailSettings

EXTRA = "aws"
MISSING_EXTRA = (
    "Amazon SES support is not installed: it needs botocore, the optional extra "
    f"tui-mailsetup[{EXTRA}]. Install it with: pip install 'tui-mailsetup[{EXTRA}]'"
)
PROBE_TIMEOUT = 5.0
"""Seconds for each request that looks for the sender identity in other regions."""

# Validation and ``show`` import these from here (the driver's module).
__all__ = ["SesDriver", "credential_hint", "endpoint", "looks_like_smtp_password"]


def endpoint(settings: MailSettings) -> str:
    custom = settings.ses.endpoint_url.strip().rstrip("/")
    return custom or f"https://email.{settings.ses.region.strip()}.amazonaws.com"


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
            if error.code == "MessageRejected" and NOT_VERIFIED.search(error.message):
                failed = FAILED_IDENTITIES.search(error.message)
                names = failed.group(2).lower() if failed else sender.lower()
                if sender.lower() in names or identity_domain(sender) in names:
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
            parts.append(account_summary(account))
            bridge.note("account: " + account_summary(account))
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
            bridge.note("identity: " + identity_summary(identity))
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
                    not_verified(
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
            if error.code in DENIED:
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
            if error.code in DENIED:
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
        for name in (sender, identity_domain(sender)):
            try:
                answer = self._call(
                    opened, bridge, client, "get_email_identity", EmailIdentity=name
                )
            except _ClientError as error:
                if error.code == "NotFoundException" or error.status == 404:
                    continue
                if error.code in DENIED:
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
            if is_verified(answer):
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
            for name in (sender, identity_domain(sender)):
                try:
                    if is_verified(clients[other].get_email_identity(EmailIdentity=name)):
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
