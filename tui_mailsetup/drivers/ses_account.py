"""``check`` for SES: the account and the sender identity, read and reported; nothing is sent.

The account (sandbox or production, sending enabled, quota) through SES v2's
GetAccount, or SES v1's GetSendQuota where GetAccount is not offered; the
sender identity's verification and DKIM status in this region, and the
other regions where it is verified when it is not verified here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tui_mailsetup.drivers.ses_api import (
    Bridge,
    ClientError,
    Failed,
    Result,
    SesApi,
    Session,
    is_verified,
)
from tui_mailsetup.engine.diagnosis.ses import (
    DENIED,
    ErrorContext,
    identity_domain,
    not_verified,
)
from tui_mailsetup.engine.events import Diagnosis, Stage
from tui_mailsetup.exitcodes import ExitCode
from tui_mailsetup.sanitize import untrusted_text
from tui_mailsetup.settings import MailSettings


class AccountCheck(SesApi):
    """The ``check`` half of the driver (``send`` with ``stop_after``)."""

    def __init__(self, settings: MailSettings, secret_access_key: str | None) -> None:
        super().__init__(settings, secret_access_key)
        self.check_details: dict[str, Any] = {}
        """What the last check found (credentials, account, identity), for --json."""

    def _check(self, bridge: Bridge) -> Result:
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
            return Result(False, problems[0].cause, problems[0])
        return Result(True, untrusted_text("; ".join(parts)))

    def _account(self, opened: Session, bridge: Bridge, client: Any, region: str) -> dict[str, Any]:
        try:
            answer = self._call(opened, bridge, client, "get_account")
        except ClientError as error:
            if error.code in DENIED:
                return {"error": f"not allowed to read the account ({error.code}: ses:GetAccount)"}
            if error.status in (404, 501) or error.code in ("UnknownOperationException", "404"):
                return self._account_v1(opened, bridge, region)
            raise Failed(self._explain(error, self._context(opened, []))) from None
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

    def _account_v1(self, opened: Session, bridge: Bridge, region: str) -> dict[str, Any]:
        """SES v1's GetSendQuota and GetAccountSendingEnabled, for services without GetAccount."""
        bridge.note("GetAccount is not available here; asking the SES v1 API")
        client = self._client(opened, "ses", region, bridge)
        account: dict[str, Any] = {"api": "ses GetSendQuota", "production": None}
        try:
            quota = self._call(opened, bridge, client, "get_send_quota")
        except ClientError as error:
            if error.code in DENIED:
                return {"error": f"not allowed to read the quota ({error.code}: ses:GetSendQuota)"}
            raise Failed(self._explain(error, self._context(opened, []))) from None
        account.update(
            max_24_hour_send=quota.get("Max24HourSend"),
            max_send_rate=quota.get("MaxSendRate"),
            sent_last_24_hours=quota.get("SentLast24Hours"),
        )
        try:
            enabled = self._call(opened, bridge, client, "get_account_sending_enabled")
            account["sending_enabled"] = enabled.get("Enabled")
        except (ClientError, Failed):  # not offered by every compatible service
            bridge.note("GetAccountSendingEnabled is not available here")
            account["sending_enabled"] = None
        return account

    def _identity(
        self, opened: Session, bridge: Bridge, client: Any, sender: str
    ) -> dict[str, Any]:
        """The sender's own identity, else its domain's: verification and DKIM."""
        for name in (sender, identity_domain(sender)):
            try:
                answer = self._call(
                    opened, bridge, client, "get_email_identity", EmailIdentity=name
                )
            except ClientError as error:
                if error.code == "NotFoundException" or error.status == 404:
                    continue
                if error.code in DENIED:
                    return {
                        "identity": sender,
                        "verified": None,
                        "error": f"{error.code}: ses:GetEmailIdentity",
                    }
                raise Failed(self._explain(error, self._context(opened, []))) from None
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


def account_summary(account: Mapping[str, Any]) -> str:
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


def identity_summary(identity: Mapping[str, Any]) -> str:
    name = identity.get("identity", "")
    if identity.get("error"):
        return f"{name}: cannot read ({identity['error']})"
    if identity.get("verified"):
        dkim = identity.get("dkim") or "unknown"
        return f"{name} verified for sending, DKIM {dkim}"
    return f"{name} is not verified in this region"
