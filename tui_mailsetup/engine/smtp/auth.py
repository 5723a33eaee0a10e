"""Authentication: choosing the mechanism, the one exchange, and the ``*`` cancel.

Exactly one AUTH attempt with one mechanism (never mechanism after
mechanism, as aiosmtplib's ``SMTP.login`` does); every encoded form of the
secret joins the redactor before it is sent. XOAUTH2 and OAUTHBEARER (RFC
7628) carry an OAuth2 access token; a refused token's error challenge is
decoded into the transcript, the token never is.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable
from typing import TYPE_CHECKING

from aiosmtplib.auth import (
    auth_crammd5_verify,
    auth_login_encode,
    auth_plain_encode,
    auth_xoauth2_encode,
)
from aiosmtplib.errors import SMTPResponseException, SMTPServerDisconnected
from aiosmtplib.response import SMTPResponse

from tui_mailsetup.engine.events import Diagnosis
from tui_mailsetup.engine.smtp.errors import Failed
from tui_mailsetup.engine.smtp.protocol import TranscriptProtocol
from tui_mailsetup.engine.smtp.redaction import Redactor, server_text
from tui_mailsetup.sanitize import untrusted_text
from tui_mailsetup.settings import AuthMechanism
from tui_mailsetup.startup.lazy import on_first_use

if TYPE_CHECKING:
    from tui_mailsetup.engine import diagnosis as diag
else:
    diag = on_first_use("tui_mailsetup.engine.diagnosis")  # at the first failure: startup/

AUTO_PREFERENCE = ("CRAM-MD5", "PLAIN", "LOGIN")
"""auto's order: CRAM-MD5 never reveals the password, even to the server."""
BEARER_MECHANISMS = frozenset({"XOAUTH2", "OAUTHBEARER"})
"""Mechanisms whose secret is an OAuth2 access token."""


def choose_mechanism(configured: AuthMechanism, offered: tuple[str, ...]) -> str:
    """The one mechanism to try (upper case); raises :class:`Failed` when it is not offered."""
    if configured == AuthMechanism.AUTO:
        mechanism = next((m for m in AUTO_PREFERENCE if m in offered), "")
        if not mechanism:
            raise Failed(diag.mechanism_unavailable("CRAM-MD5, PLAIN or LOGIN", offered))
        return mechanism
    mechanism = configured.value.upper()
    if mechanism == "XOAUTH2" and mechanism not in offered and "OAUTHBEARER" in offered:
        mechanism = "OAUTHBEARER"  # RFC 7628, the standard form of the same bearer token
    if mechanism not in offered:
        raise Failed(diag.mechanism_unavailable(mechanism, offered))
    return mechanism


class Authenticator:
    """One AUTH exchange over ``protocol``; the encoded forms join ``redactor`` first."""

    def __init__(
        self,
        protocol: TranscriptProtocol,
        redactor: Redactor,
        *,
        host: str,
        port: int,
        note: Callable[[str], None],
    ) -> None:
        self.protocol = protocol
        self.redactor = redactor
        self.host = host
        """The server's name, for OAUTHBEARER's host field."""
        self.port = port
        self.note = note
        self.bearer_error: dict[str, str] | None = None
        """A refused bearer token's decoded error challenge (status, schemes, scope)."""

    async def exchange(self, mechanism: str, username: str, password: str) -> SMTPResponse:
        """Exactly one attempt with one mechanism; the final reply (or a further 334)."""
        protocol = self.protocol
        if mechanism == "PLAIN":
            blob = auth_plain_encode(username, password)
            self.redactor.add(blob)
            return await protocol.execute_command(b"AUTH", b"PLAIN", blob)
        if mechanism == "LOGIN":
            user_b64, password_b64 = auth_login_encode(username, password)
            self.redactor.add(password_b64)
            response = await protocol.execute_command(b"AUTH", b"LOGIN", user_b64)
            if response.code != 334:
                return response
            return await protocol.execute_command(password_b64)
        if mechanism == "CRAM-MD5":
            response = await protocol.execute_command(b"AUTH", b"CRAM-MD5")
            if response.code != 334:
                return response
            try:
                answer = auth_crammd5_verify(username, password, response.message)
            except SMTPResponseException:
                return SMTPResponse(501, "malformed CRAM-MD5 challenge from the server")
            self.redactor.add(answer)
            return await protocol.execute_command(answer)
        return await self._bearer(mechanism, username, password)

    async def _bearer(self, mechanism: str, username: str, token: str) -> SMTPResponse:
        """XOAUTH2 or OAUTHBEARER (RFC 7628) with an OAuth2 access token.

        A refused token comes back as a 334 challenge carrying base64 JSON
        (status, schemes, scope); the client answers it (an empty line for
        XOAUTH2, ^A for OAUTHBEARER) and the server then sends the final reply.
        The decoded status and scope go into the transcript; the token never does.
        """
        if mechanism == "OAUTHBEARER":
            blob = oauthbearer_encode(username, self.host, self.port, token)
            abort = base64.b64encode(b"\x01")
        else:
            blob = auth_xoauth2_encode(username, token)
            abort = b""
        self.redactor.add(blob)
        response = await self.protocol.execute_command(b"AUTH", mechanism.encode("ascii"), blob)
        if response.code == 334:
            self.bearer_error = decode_bearer_error(response.message)
            self.note(describe_bearer_error(mechanism, self.bearer_error))
            response = await self.protocol.execute_command(abort)
        return response

    async def cancel(self, mechanism: str, *, timeout: float) -> Diagnosis:  # noqa: ASYNC109
        """Another 334 after the client's last response: cancel with ``*`` (RFC 4954 section 4).

        The exchange must end before anything else is sent (QUIT in the middle of
        it would be read as an AUTH response); the server answers ``*`` with 501.
        """
        evidence = "334 after the last AUTH response"
        try:
            async with asyncio.timeout(timeout):
                cancelled = await self.protocol.execute_command(b"*")
            evidence += f"; * answered with {server_text(f'{cancelled.code} {cancelled.message}')}"
        except (TimeoutError, SMTPResponseException, SMTPServerDisconnected, ConnectionError):
            evidence += "; * got no answer"
        return diag.auth_exchange_endless(mechanism, evidence)


# --------------------------------------------------------------------------- OAuth2 bearer SASL


def oauthbearer_encode(username: str, host: str, port: int, token: str) -> bytes:
    """The RFC 7628 initial client response: GS2 header, then host, port and the bearer token."""
    authzid = username.replace("=", "=3D").replace(",", "=2C")
    message = f"n,a={authzid},\x01host={host}\x01port={port}\x01auth=Bearer {token}\x01\x01"
    return base64.b64encode(message.encode("utf-8"))


def decode_bearer_error(challenge: str) -> dict[str, str]:
    """The JSON a server sends in the 334 error challenge (status, schemes, scope), as strings."""
    import json

    try:
        decoded = base64.b64decode(challenge.strip(), validate=True)
        data = json.loads(decoded.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        return {"raw": untrusted_text(challenge, limit=200)}
    if not isinstance(data, dict):
        return {"raw": untrusted_text(str(data), limit=200)}
    return {
        untrusted_text(str(key), limit=40): untrusted_text(str(value), limit=300)
        for key, value in data.items()
    }


def describe_bearer_error(mechanism: str, error: dict[str, str]) -> str:
    if "raw" in error:
        return f"{mechanism} refused; the server's error detail is not JSON: {error['raw']}"
    parts = [f"{key}={value}" for key, value in error.items()]
    return f"{mechanism} refused, the server's error detail (decoded): {', '.join(parts)}"
