"""The SES API through botocore: credentials, clients, calls, and their transcript.

botocore runs in a worker thread; :class:`Bridge` carries its transcript
lines to the event loop as they happen. :class:`SesApi` opens the session
(explicit keys or the AWS chain, :mod:`.ses_credentials`), creates a client
per service and region with the request's timeouts, and turns every error
into a diagnosis (:mod:`tui_mailsetup.engine.diagnosis.ses`, :data:`SES_RULES`) or a
:class:`ClientError` for the caller to judge (:meth:`SesApi._explain`). The driver (:mod:`.ses`) and ``check`` (:mod:`.ses_account`)
build on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from tui_mailsetup.drivers.http import check_url
from tui_mailsetup.drivers.ses_credentials import (
    credential_hint,
    describe_method,
    looks_like_smtp_password,
    session_profile,
)
from tui_mailsetup.endpoints import ses_endpoint
from tui_mailsetup.engine.diagnosis.ses import (
    ErrorContext,
    credentials_diagnosis,
    diagnose_ses,
    error_code_and_message,
    identity_domain,
    no_credentials,
    transport_diagnosis,
)
from tui_mailsetup.engine.events import Diagnosis, Direction, Stage, TranscriptLine
from tui_mailsetup.exitcodes import ExitCode
from tui_mailsetup.sanitize import Masker, untrusted_text
from tui_mailsetup.settings import MailSettings

EXTRA = "aws"
MISSING_EXTRA = (
    "Amazon SES support is not installed: it needs botocore, the optional extra "
    f"tui-mailsetup[{EXTRA}]. Install it with: pip install 'tui-mailsetup[{EXTRA}]'"
)
PROBE_TIMEOUT = 5.0
"""Seconds for each request that looks for the sender identity in other regions."""


# --------------------------------------------------------------------------- events from a worker thread


END = object()


class Bridge:
    """Transcript lines from the thread that runs botocore, delivered to the event loop as they happen."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.queue: asyncio.Queue[object] = asyncio.Queue()
        self.masker = Masker()
        """The secrets in use (the secret key, a session token): masked in every line and in
        the verdict, should an endpoint or a proxy quote them back."""

    def _put(self, item: object) -> None:
        # RuntimeError: the loop has closed, nobody is listening any more.
        with contextlib.suppress(RuntimeError):
            self.loop.call_soon_threadsafe(self.queue.put_nowait, item)

    def sent(self, text: str) -> None:
        self._put(TranscriptLine(Direction.SENT, self.masker(text), True))

    def received(self, text: str) -> None:
        self._put(TranscriptLine(Direction.RECEIVED, self.masker(text), True))

    def note(self, text: str) -> None:
        self._put(TranscriptLine(Direction.NOTE, self.masker(text), True))

    def close(self) -> None:
        self._put(END)

    def masked(self, result: Result) -> Result:
        """``result`` with the secrets in use masked in its detail and its diagnosis."""
        diagnosis = result.diagnosis
        if diagnosis is not None:
            diagnosis = dataclasses.replace(
                diagnosis,
                cause=self.masker(diagnosis.cause),
                evidence=self.masker(diagnosis.evidence),
                explanation=self.masker(diagnosis.explanation),
            )
        return dataclasses.replace(result, detail=self.masker(result.detail), diagnosis=diagnosis)


class Failed(Exception):
    def __init__(self, diagnosis: Diagnosis) -> None:
        super().__init__(diagnosis.cause)
        self.diagnosis = diagnosis


@dataclass(frozen=True)
class Result:
    ok: bool
    detail: str
    diagnosis: Diagnosis | None = None
    message_id: str = ""


@dataclass
class Session:
    botocore: Any
    session: Any
    method: str
    where: str
    access_key: str
    secret: str
    token: str | None
    profile: str
    clients: dict[tuple[str, str], Any] = field(default_factory=dict)


# --------------------------------------------------------------------------- the API


class SesApi:
    """botocore for one driver: the settings, the secret, and the calls made with them."""

    def __init__(self, settings: MailSettings, secret_access_key: str | None) -> None:
        self.settings = settings
        self._secret = secret_access_key

    def _settings_problem(self) -> Diagnosis | None:
        ses = self.settings.ses
        if not ses.region.strip():
            return Diagnosis(Stage.CONFIG, "ses.region is not set", exit_code=ExitCode.CONFIG)
        if ses.endpoint_url.strip():
            return check_url(ses_endpoint(self.settings), "ses.endpoint_url")
        return None

    def _open(self, bridge: Bridge) -> Session:
        """botocore, the credentials (explicit or the chain) and where they came from."""
        bridge.masker.add(self._secret)
        if problem := self._settings_problem():
            raise Failed(problem)
        try:
            import botocore.exceptions
            import botocore.parsers
            import botocore.session
        except ImportError as exc:
            raise Failed(
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
            raise Failed(Diagnosis(Stage.CONFIG, hint.problem, exit_code=ExitCode.CONFIG))
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
                raise Failed(no_credentials())
            frozen = credentials.get_frozen_credentials()
        except Failed:
            raise
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            raise Failed(
                credentials_diagnosis(exc, profile or session_profile(os.environ))
            ) from exc
        shown_profile = profile or session_profile(os.environ)
        where = describe_method(method, shown_profile)
        bridge.masker.add(frozen.secret_key)
        bridge.masker.add(frozen.token)
        bridge.note(f"credentials: {where}, access key {frozen.access_key}")
        return Session(
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
        opened: Session,
        service: str,
        region: str,
        bridge: Bridge | None,
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
            raise Failed(
                Diagnosis(
                    Stage.CONFIG,
                    f"No SES endpoint for the region {untrusted_text(region)!r}",
                    evidence=untrusted_text(f"{type(exc).__name__}: {exc}"),
                    explanation="Set ses.region to an AWS region such as us-east-1.",
                    exit_code=ExitCode.CONFIG,
                )
            ) from exc
        if bridge is not None:
            client.meta.events.register("before-send", transcript_hook(bridge))
        opened.clients[(service, region)] = client
        return client

    def _create_client(self, opened: Session, service: str, region: str, seconds: float) -> Any:
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

    def _context(self, opened: Session | None, recipients: list[str]) -> ErrorContext:
        secret = opened.secret if opened else (self._secret or "")
        return ErrorContext(
            region=self.settings.ses.region.strip(),
            sender=self.settings.sender.address.strip(),
            recipients=tuple(recipients),
            credentials=opened.where if opened else "",
            access_key=opened.access_key if opened else "",
            smtp_password_suspected=looks_like_smtp_password(secret),
        )

    def _explain(self, error: ClientError, context: ErrorContext) -> Diagnosis:
        """What SES's error answer means (:data:`~tui_mailsetup.engine.diagnosis.ses.SES_RULES`)."""
        return diagnose_ses(error.code, error.message, error.status, context, self.settings)

    def _call(
        self,
        opened: Session,
        bridge: Bridge,
        client: Any,
        operation: str,
        **params: Any,
    ) -> dict[str, Any]:
        """One API call; raises Failed with the diagnosis, or ClientError for the caller to judge."""
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
            raise ClientError(code, text, status) from exc
        except (exceptions.BotoCoreError, opened.botocore.parsers.ResponseParserError) as exc:
            raise Failed(transport_diagnosis(exc, ses_endpoint(self.settings))) from exc
        status = int(answer.get("ResponseMetadata", {}).get("HTTPStatusCode", 200) or 200)
        bridge.received(f"HTTP {status}")
        return answer

    def _verified_elsewhere(self, opened: Session, sender: str) -> tuple[str, ...]:
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
            except Failed:
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


class ClientError(Exception):
    def __init__(self, code: str, message: str, status: int) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status


def transcript_hook(bridge: Bridge) -> Callable[..., None]:
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


def is_verified(answer: Mapping[str, Any]) -> bool:
    return (
        bool(answer.get("VerifiedForSendingStatus"))
        or answer.get("VerificationStatus") == "SUCCESS"
    )
