"""What ``check`` reports about an SES account and the sender identity, as text."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def is_verified(answer: Mapping[str, Any]) -> bool:
    return (
        bool(answer.get("VerifiedForSendingStatus"))
        or answer.get("VerificationStatus") == "SUCCESS"
    )


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
