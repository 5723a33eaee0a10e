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
:mod:`.ses_api` (botocore: credentials, clients, calls, transcript),
:mod:`.ses_account` (``check``), :mod:`.ses_credentials` (where credentials
would come from, offline: used by validation and ``show``). What an error
means is decided by the rules of :mod:`tui_mailsetup.engine.diagnosis.ses`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from email.message import EmailMessage

from tui_mailsetup.drivers.http import send_finished
from tui_mailsetup.drivers.ses_account import AccountCheck
from tui_mailsetup.drivers.ses_api import END, Bridge, ClientError, Failed, Result
from tui_mailsetup.drivers.ses_credentials import credential_hint, looks_like_smtp_password
from tui_mailsetup.engine.diagnosis.ses import sender_rejected
from tui_mailsetup.engine.events import (
    Diagnosis,
    Event,
    Stage,
    StageStarted,
    TranscriptLine,
)
from tui_mailsetup.exitcodes import ExitCode
from tui_mailsetup.sanitize import untrusted_text

# Validation and ``show`` import these from here (the driver's module).
__all__ = ["SesDriver", "credential_hint", "looks_like_smtp_password"]


class SesDriver(AccountCheck):
    name = "ses"

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
        self, work: Callable[[Bridge], Result], recipients: list[str]
    ) -> AsyncIterator[Event]:
        started = time.monotonic()
        yield StageStarted(Stage.SEND)
        bridge = Bridge(asyncio.get_running_loop())

        def guarded() -> Result:
            try:
                return work(bridge)
            except Failed as failed:
                return Result(False, failed.diagnosis.cause, failed.diagnosis)
            except Exception as exc:  # botocore raising what it documents nowhere: no traceback
                diagnosis = Diagnosis(
                    Stage.SEND,
                    "The request to SES failed unexpectedly",
                    evidence=untrusted_text(f"{type(exc).__name__}: {exc}"),
                    exit_code=ExitCode.UNAVAILABLE,
                )
                return Result(False, diagnosis.cause, diagnosis)
            finally:
                bridge.close()

        task = asyncio.ensure_future(asyncio.to_thread(guarded))
        while (item := await bridge.queue.get()) is not END:
            assert isinstance(item, TranscriptLine)
            yield item
        result = await task
        if bridge.masker and not result.ok:
            result = bridge.masked(result)
        elapsed = time.monotonic() - started
        stage = result.diagnosis.stage if result.diagnosis and not result.ok else Stage.SEND
        for event in send_finished(
            result.ok,
            elapsed,
            result.detail,
            result.diagnosis,
            recipients,
            result.message_id,
            stage=stage,
        ):
            yield event

    # ------------------------------------------------------------------ send

    def _send(self, bridge: Bridge, data: bytes, recipients: list[str], message_id: str) -> Result:
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
        except ClientError as error:
            context = self._context(opened, recipients)
            if sender_rejected(error.code, error.message, sender):
                bridge.note(f"looking for {sender} in the other SES regions")
                elsewhere = self._verified_elsewhere(opened, sender)
                context = replace(context, verified_in=elsewhere)
            diagnosis = self._explain(error, context)
            return Result(False, diagnosis.cause, diagnosis)
        accepted = untrusted_text(str(answer.get("MessageId", "")))
        return Result(
            True, f"accepted as {accepted}; credentials from {opened.where}", None, message_id
        )
