"""A throwaway SMTP server on the loopback interface, for tests and ``demo``.

It is a real server (aiosmtpd) with a real, throwaway certificate authority
(trustme), so a client talks to it exactly as it would to a production relay:
plain SMTP, STARTTLS or implicit TLS; optionally AUTH (PLAIN, LOGIN, CRAM-MD5)
with a generated user and password; messages are kept in memory.

Usage, synchronous (the server runs in its own thread)::

    with Sandbox(mode="starttls") as box:
        ...  # point smtp.host/port/encryption/username/ca_file at box.smtp_settings()
        assert box.messages[0].mail_from == "me@example.test"

or asynchronous (``async with Sandbox() as box``), which starts the thread off
the event loop so a test's own loop is not blocked meanwhile.

Nothing here binds anything but 127.0.0.1 (or ``::1`` when asked): the sandbox
is never reachable from another machine.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import hmac
import logging
import secrets
import shutil
import ssl
import tempfile
import threading
import time
from collections.abc import Awaitable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import MISSING, SMTP, AuthResult, Envelope, LoginPassword, Session

from tui_mailsetup.names import is_ip_literal, is_loopback

Mode = Literal["plain", "starttls", "tls"]
CertKind = Literal["valid", "expired", "wrong-name", "self-signed"]
Mechanism = Literal["PLAIN", "LOGIN", "CRAM-MD5"]

ALL_MECHANISMS: tuple[Mechanism, ...] = ("PLAIN", "LOGIN", "CRAM-MD5")

# aiosmtpd logs to "mail.log": a deprecation warning on every successful AUTH
# (its own Session.login_data) and a traceback whenever a client abandons a
# TLS handshake (which is what a client that rejects the certificate does).
# With no logging configured Python prints those on stderr, right across the
# demo's TUI; the client's transcript already tells the story. Quieten it
# unless someone has configured that logger deliberately.
_aiosmtpd_log = logging.getLogger("mail.log")
if _aiosmtpd_log.level == logging.NOTSET:
    _aiosmtpd_log.setLevel(logging.CRITICAL)


@dataclass(frozen=True)
class ReceivedMessage:
    """One message the sandbox accepted."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes
    """The message as received (headers and body, CRLF line endings)."""
    peer: str
    authenticated_as: str | None
    mail_options: tuple[str, ...] = ()
    received_at: float = field(default_factory=time.time)


@dataclass(frozen=True)
class AuthAttempt:
    mechanism: str
    username: str
    success: bool


class _Handler:
    """aiosmtpd handler: records messages and AUTH attempts; implements CRAM-MD5.

    aiosmtpd finds ``auth_<NAME>`` methods on the handler; a double underscore
    in the name stands for a hyphen (``auth_CRAM__MD5`` is CRAM-MD5).
    """

    def __init__(self, box: Sandbox) -> None:
        self._box = box

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        if isinstance(envelope.content, bytes) and not content:
            content = envelope.content
        user = None
        if session.auth_data is not None:
            login = getattr(session.auth_data, "login", session.auth_data)
            user = login.decode("utf-8", "replace") if isinstance(login, bytes) else str(login)
        message = ReceivedMessage(
            mail_from=envelope.mail_from or "",
            rcpt_tos=tuple(envelope.rcpt_tos),
            data=content,
            peer=str(session.peer),
            authenticated_as=user,
            mail_options=tuple(envelope.mail_options),
        )
        with self._box._lock:
            self._box.messages.append(message)
        self._box._received.set()
        return "250 2.0.0 Message accepted for delivery"

    async def auth_CRAM__MD5(self, server: SMTP, args: list[str]) -> AuthResult:
        challenge = f"<{secrets.token_hex(8)}.{int(time.time())}@sandbox.invalid>".encode()
        response = await server.challenge_auth(challenge)
        if response is MISSING or not isinstance(response, bytes):
            return AuthResult(success=False, handled=False)
        login, _, digest = response.partition(b" ")
        expected = hmac.new(self._box.password.encode("utf-8"), challenge, "md5").hexdigest()
        ok = login.decode("utf-8", "replace") == self._box.username and hmac.compare_digest(
            digest, expected.encode("ascii")
        )
        self._box._record_auth("CRAM-MD5", login, ok)
        return AuthResult(success=ok, handled=False, auth_data=LoginPassword(login, b""))


_CLIENT_ABORT_MESSAGES = frozenset(
    {
        "Error on transport creation for incoming connection",
        "Fatal error on SSL protocol",
        "SSL handshake failed",
    }
)


def _quiet_client_aborts(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """The sandbox loop's exception handler: a client that gives up on a handshake (as one
    that rejects the certificate does) is normal here, and asyncio would print a traceback
    about it (in debug mode) across the demo's TUI. Everything else goes to the default."""
    error = context.get("exception")
    if context.get("message") in _CLIENT_ABORT_MESSAGES and isinstance(error, OSError | EOFError):
        return
    # The same abort seen from the transport's waiter, when the reset wins the race with
    # the handshake (it does on a busy machine): nobody awaits that future any more.
    if context.get("message") == "Future exception was never retrieved" and isinstance(
        error, ConnectionError
    ):
        return
    loop.default_exception_handler(context)


class _Controller(Controller):
    """aiosmtpd's threaded controller, listening on a port the kernel picks.

    Controller needs a fixed port; binding port 0 here and reading the real
    one back avoids the race of "find a free port, close it, bind it again".
    """

    def _create_server(self) -> Awaitable[asyncio.AbstractServer]:
        # This loop is the sandbox's own (a thread of its own): quieten it only.
        self.loop.set_exception_handler(_quiet_client_aborts)

        async def create() -> asyncio.AbstractServer:
            server = await self.loop.create_server(
                self._factory_invoker, host=self.hostname, port=self.port, ssl=self.ssl_context
            )
            self.port = server.sockets[0].getsockname()[1]
            return server

        return create()


class Sandbox:
    """A local SMTP server with a throwaway CA. See the module docstring."""

    def __init__(
        self,
        *,
        mode: Mode = "starttls",
        auth: bool = True,
        mechanisms: tuple[Mechanism, ...] = ALL_MECHANISMS,
        username: str | None = None,
        password: str | None = None,
        host: str = "127.0.0.1",
        cert: CertKind = "valid",
        auth_require_tls: bool = True,
        require_starttls: bool | None = None,
        data_size_limit: int | None = 10 * 1024 * 1024,
        server_hostname: str = "sandbox.tui-mailsetup.invalid",
    ) -> None:
        if not is_loopback(host):
            raise ValueError("the sandbox only listens on the loopback interface")
        self.mode: Mode = mode
        self.auth = auth
        self.mechanisms = mechanisms
        self.username = username if username is not None else f"demo-{secrets.token_hex(3)}"
        self.password = password if password is not None else secrets.token_urlsafe(12)
        # A loopback name (localhost) listens on 127.0.0.1; an address on itself.
        self.host = host.strip().strip("[]") if is_ip_literal(host) else "127.0.0.1"
        self.cert_kind: CertKind = cert
        self.auth_require_tls = auth_require_tls
        # By default a STARTTLS sandbox behaves like a submission port: no
        # MAIL before TLS. Tests of hostile clients may turn that off.
        self.require_starttls = mode == "starttls" if require_starttls is None else require_starttls
        self.data_size_limit = data_size_limit
        self.server_hostname = server_hostname
        self.messages: list[ReceivedMessage] = []
        self.auth_attempts: list[AuthAttempt] = []
        self.port = 0
        self._lock = threading.Lock()
        self._received = threading.Event()
        self._controller: _Controller | None = None
        self._dir: Path | None = None
        self.ca_path: Path | None = None
        """PEM file of the throwaway CA: what a client puts in ``smtp.ca_file``."""
        self.cert_fingerprint = ""
        """SHA-256 of the server certificate, colon-separated upper-case hex (for pinning)."""

    # -- life cycle -------------------------------------------------------

    def start(self) -> Sandbox:
        if self._controller is not None:
            raise RuntimeError("the sandbox is already running")
        self._dir = Path(tempfile.mkdtemp(prefix="tui-mailsetup-sandbox-"))
        server_context = self._make_tls()
        kwargs: dict[str, Any] = {
            "hostname": self.host,
            "port": 0,
            "server_hostname": self.server_hostname,
            "data_size_limit": self.data_size_limit,
            "enable_SMTPUTF8": True,
            "ident": "tui-mailsetup sandbox",
            "timeout": 60,
        }
        if self.mode == "tls":
            kwargs["ssl_context"] = server_context
        elif self.mode == "starttls":
            kwargs["tls_context"] = server_context
            kwargs["require_starttls"] = self.require_starttls
        if self.auth:
            kwargs["authenticator"] = self._authenticate
            # aiosmtpd only counts STARTTLS as "TLS" for auth_require_tls: with
            # implicit TLS the connection is encrypted already, and a plain
            # sandbox with AUTH exists to exercise allow_plaintext_auth.
            kwargs["auth_require_tls"] = self.auth_require_tls and self.mode == "starttls"
            excluded = [m for m in ALL_MECHANISMS if m not in self.mechanisms]
            kwargs["auth_exclude_mechanism"] = excluded
        else:
            # aiosmtpd always advertises its built-in mechanisms; exclude them all.
            kwargs["auth_exclude_mechanism"] = list(ALL_MECHANISMS)
        controller = _Controller(_Handler(self), **kwargs)
        try:
            controller.start()
        except BaseException:
            self._cleanup_dir()
            raise
        self._controller = controller
        self.port = int(controller.port)
        return self

    def stop(self) -> None:
        controller, self._controller = self._controller, None
        if controller is not None:
            controller.stop()
        self._cleanup_dir()

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    async def __aenter__(self) -> Sandbox:
        # Controller.start() blocks until the server thread answers; keep the
        # caller's event loop free meanwhile.
        await asyncio.to_thread(self.start)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await asyncio.to_thread(self.stop)

    # -- what clients need --------------------------------------------------

    @property
    def encryption(self) -> str:
        """The ``smtp.encryption`` value that matches this sandbox."""
        return {"plain": "none", "starttls": "starttls", "tls": "tls"}[self.mode]

    def smtp_settings(self) -> dict[str, Any]:
        """``smtp.*`` values (without the password) that point a client at this sandbox."""
        values: dict[str, Any] = {
            "host": self.host,
            "port": self.port,
            "encryption": self.encryption,
            "username": self.username if self.auth else "",
            # A self-signed server is trusted by pinning, never by its own CA file.
            "ca_file": (
                str(self.ca_path)
                if self.ca_path and self.mode != "plain" and self.cert_kind != "self-signed"
                else ""
            ),
        }
        if self.mode == "plain" and self.auth:
            values["allow_plaintext_auth"] = True
        return values

    def wait_for_message(self, count: int = 1, timeout: float = 5.0) -> list[ReceivedMessage]:
        """Block until ``count`` messages have arrived (or ``timeout``); return them all."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                if len(self.messages) >= count:
                    return list(self.messages)
                self._received.clear()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                with self._lock:
                    return list(self.messages)
            self._received.wait(remaining)

    # -- internals ----------------------------------------------------------

    def _make_tls(self) -> ssl.SSLContext:
        """Create the CA and the server certificate the chosen ``cert`` kind asks for."""
        assert self._dir is not None
        ca = trustme.CA(organization_name="tui-mailsetup sandbox CA")
        self.ca_path = self._dir / "sandbox-ca.pem"
        ca.cert_pem.write_to_path(str(self.ca_path))
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        names = ["127.0.0.1", "::1", "localhost", self.server_hostname]
        now = dt.datetime.now(dt.UTC)
        if self.cert_kind == "self-signed":
            # The CA's own certificate is self-signed: serving it as the leaf is
            # exactly a self-signed server certificate (and ca_path must not be
            # offered as trust for it, so tests of "unknown issuer" stay honest).
            cert_file = self._dir / "server.pem"
            cert_file.write_bytes(ca.cert_pem.bytes() + ca.private_key_pem.bytes())
            context.load_cert_chain(str(cert_file))
            der = ssl.PEM_cert_to_DER_cert(ca.cert_pem.bytes().decode("ascii"))
        else:
            if self.cert_kind == "expired":
                leaf = ca.issue_cert(
                    *names,
                    not_before=now - dt.timedelta(days=60),
                    not_after=now - dt.timedelta(days=30),
                )
            elif self.cert_kind == "wrong-name":
                leaf = ca.issue_cert("mail.elsewhere.invalid")
            else:
                leaf = ca.issue_cert(*names)
            leaf.configure_cert(context)
            der = ssl.PEM_cert_to_DER_cert(leaf.cert_chain_pems[0].bytes().decode("ascii"))
        digest = hashlib.sha256(der).hexdigest().upper()
        self.cert_fingerprint = ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))
        return context

    def _record_auth(self, mechanism: str, login: bytes, success: bool) -> None:
        with self._lock:
            self.auth_attempts.append(
                AuthAttempt(mechanism, login.decode("utf-8", "replace"), success)
            )

    def _authenticate(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        mechanism: str,
        auth_data: Any,
    ) -> AuthResult:
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        login = bytes(auth_data.login)
        ok = hmac.compare_digest(login, self.username.encode("utf-8")) and hmac.compare_digest(
            bytes(auth_data.password), self.password.encode("utf-8")
        )
        self._record_auth(mechanism, login, ok)
        return AuthResult(success=ok, handled=False, auth_data=auth_data)

    def _cleanup_dir(self) -> None:
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None
