"""The ladder: every stage of one test conversation, and :func:`run_smtp`, which streams it.

Every stage is driven here, one at a time, over :class:`.protocol.TranscriptProtocol`:
resolve and connect (:mod:`.connection`), implicit TLS or STARTTLS with the
trust decision, the greeting (with :mod:`.probes` when a port seems to speak
the other encryption), EHLO, AUTH (:mod:`.auth`), MAIL/RCPT/DATA. The run's
state, its events and its ending (QUIT, the Outcome) are :class:`.session.Session`'s.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from collections.abc import AsyncIterator
from email.message import EmailMessage
from typing import TYPE_CHECKING, Any

from aiosmtplib.email import flatten_message, quote_address
from aiosmtplib.errors import SMTPDataError, SMTPResponseException, SMTPTimeoutError
from aiosmtplib.esmtp import parse_esmtp_extensions
from aiosmtplib.response import SMTPResponse

from tui_mailsetup.engine import tls
from tui_mailsetup.engine.events import Diagnosis, Event, ServerCapabilities, Stage, TlsDetails
from tui_mailsetup.engine.smtp.auth import BEARER_MECHANISMS, Authenticator, choose_mechanism
from tui_mailsetup.engine.smtp.connection import happy_eyeballs, in_daemon_thread, resolve
from tui_mailsetup.engine.smtp.errors import Stop, reason
from tui_mailsetup.engine.smtp.probes import Peer, inspect_certificate, probe_plain, probe_tls
from tui_mailsetup.engine.smtp.protocol import TranscriptProtocol
from tui_mailsetup.engine.smtp.redaction import server_text
from tui_mailsetup.engine.smtp.session import GREETING_GRACE, Session, TokenRenewer, stage_index
from tui_mailsetup.exitcodes import ExitCode
from tui_mailsetup.names import (
    FingerprintFormatError,
    address_literal,
    normalize_fingerprint,
    parse_host,
    validate_ehlo_name,
)
from tui_mailsetup.ports import IMPLICIT_TLS_PORTS, USUAL_PORT
from tui_mailsetup.sanitize import untrusted_text
from tui_mailsetup.settings import Encryption, MailSettings
from tui_mailsetup.startup.lazy import on_first_use

if TYPE_CHECKING:
    from tui_mailsetup.engine import diagnosis as diag
else:
    diag = on_first_use("tui_mailsetup.engine.diagnosis")  # at the first failure: startup/

PROBE_OTHER_PORT = 2.0
"""Seconds a side probe of another port (465, when STARTTLS is missing) may take."""


TOKEN_REFUSED = frozenset({530, 534, 535})
"""Replies to XOAUTH2/OAUTHBEARER that refuse the token itself (after the 334 error
challenge): worth one renewal. Others (454, 504, a mailbox with SMTP AUTH off) are not."""


class Conversation(Session):
    """The ladder: every stage, one at a time. Use :func:`run_smtp`."""

    # -- the ladder -------------------------------------------------------------

    def _check_config(self) -> None:
        """Settings the ladder cannot use are refused before any network I/O."""
        pinned = self.smtp.fingerprint.strip()
        if pinned and self.smtp.encryption != Encryption.NONE:
            try:
                normalize_fingerprint(pinned)
            except FingerprintFormatError as exc:
                self.begin(Stage.CONFIG)
                self.fail(diag.bad_fingerprint(pinned, str(exc)))

    async def _ladder(self) -> None:
        self._check_config()
        if self.smtp.encryption != Encryption.NONE and self._context_future is None:
            # Loading the system trust store takes tens of milliseconds: do it
            # in a thread while DNS, TCP and the greeting happen.
            self._context_future = asyncio.ensure_future(
                asyncio.to_thread(tls.build_context, self.smtp)
            )
        await self._resolve()
        sock = await self._connect()
        await self._open(sock)
        await self._greeting()
        await self._ehlo(Stage.EHLO)
        if self.smtp.encryption == Encryption.STARTTLS:
            await self._starttls()
            await self._ehlo(Stage.EHLO_AGAIN)
        elif self.smtp.encryption == Encryption.NONE and "starttls" in self.capabilities:
            self.note(
                "the server offers STARTTLS, but encryption = none: "
                "continuing in plain text as configured"
            )
        if self.smtp.username:
            await self._auth()
        if self.message is None:
            # A ladder without a message ends after AUTH (what `check` does).
            raise Stop
        await self._send()
        if self.stop_after is not None and stage_index(Stage.QUIT) > stage_index(self.stop_after):
            raise Stop
        # QUIT is run()'s (_final_quit): after 250 the message is accepted whatever QUIT does.

    async def _resolve(self) -> None:
        started = self.begin(Stage.RESOLVE)
        try:
            self.host = parse_host(self.smtp.host)[0]
        except ValueError as exc:
            self.fail(diag.bad_host(self.smtp.host, str(exc)))
        if not self.smtp.ehlo_name.strip():
            # socket.getfqdn() may do a slow reverse lookup: start it now, in a thread.
            self._fqdn = in_daemon_thread(socket.getfqdn)
        try:
            self._addresses = await resolve(
                self.host,
                self.smtp.port,
                given_addresses=self.given_addresses,
                nameservers=self.settings.dns.nameservers,
                dns_timeout=self.settings.dns.timeout,
            )
        except (socket.gaierror, UnicodeError) as exc:
            self.fail(diag.resolve_failed(self.host, exc))
        if not self._addresses:
            self.fail(diag.resolve_failed(self.host, OSError("no addresses")))
        shown = ", ".join(dict.fromkeys(str(addr[1][0]) for addr in self._addresses))
        self.finish(Stage.RESOLVE, started, shown)

    async def _connect(self) -> socket.socket:
        """Happy eyeballs (:func:`.connection.happy_eyeballs`): the first address to connect wins."""
        started = self.begin(Stage.CONNECT)
        try:
            sock, (family, peer) = await happy_eyeballs(self._addresses)
        except OSError as exc:
            self.fail(diag.connect_failed(self.host, self.smtp.port, exc))
        self.family, self.peer = family, peer
        self.finish(Stage.CONNECT, started, f"{peer[0]} port {peer[1]}")
        return sock

    def _new_protocol(self) -> TranscriptProtocol:
        protocol = TranscriptProtocol(asyncio.get_running_loop(), self.emit)
        self.protocol = protocol
        return protocol

    async def _open(self, sock: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        self._sock = sock  # closed by _close() unless a transport took it over
        protocol = self._new_protocol()
        if self.smtp.encryption != Encryption.TLS:
            await loop.create_connection(lambda: protocol, sock=sock)
            return
        started = self.begin(Stage.TLS)
        context = await self._tls_context()
        try:
            await loop.create_connection(
                lambda: protocol,
                sock=sock,
                ssl=context,
                server_hostname=self.host,
                ssl_handshake_timeout=self.remaining(),
            )
        except ssl.SSLCertVerificationError as exc:
            sock.close()
            details = await self._inspect_certificate(exc)
            self.fail(diag.certificate_rejected(Stage.TLS, exc, details, self.host, self.smtp.port))
        except (ssl.SSLError, ConnectionError, EOFError) as exc:
            sock.close()
            greeting = await probe_plain(self._probe_peer())
            if greeting is not None:
                self.fail(diag.port_speaks_plain(self.smtp.port, greeting))
            self.fail(diag.tls_failed(Stage.TLS, exc))
        self._after_handshake(Stage.TLS, started)

    async def _tls_context(self) -> ssl.SSLContext:
        future = self._context_future
        if future is None:
            future = self._context_future = asyncio.ensure_future(
                asyncio.to_thread(tls.build_context, self.smtp)
            )
        try:
            return await future
        except (OSError, ssl.SSLError) as exc:
            self.fail(
                Diagnosis(
                    self.stage,
                    "smtp.ca_file cannot be used as a CA bundle",
                    evidence=untrusted_text(f"{self.smtp.ca_file}: {reason(exc)}"),
                    explanation="It must be a readable file of PEM certificates (BEGIN CERTIFICATE).",
                    exit_code=ExitCode.CONFIG,
                )
            )

    def _after_handshake(self, stage: Stage, started: float) -> None:
        assert self.protocol is not None
        ssl_object = self.protocol.ssl_object()
        pinned = self.smtp.fingerprint.strip()
        if pinned:
            try:
                tls.check_pin(ssl_object, pinned)
            except tls.PinMismatchError as exc:
                self.emit(
                    tls.describe(ssl_object, verified=False, verify_message="fingerprint mismatch")
                )
                self.fail(diag.pin_mismatch(stage, exc.expected, exc.actual))
            except FingerprintFormatError as exc:  # _check_config() refused it already
                self.fail(diag.bad_fingerprint(pinned, str(exc)))
            details = tls.describe(
                ssl_object, verified=True, verify_message="trusted by the pinned fingerprint"
            )
        elif self.smtp.verify:
            message = "verified (system trust store" + (
                " + smtp.ca_file)" if self.smtp.ca_file else ")"
            )
            details = tls.describe(ssl_object, verified=True, verify_message=message)
        else:
            details = tls.describe(
                ssl_object,
                verified=False,
                verify_message="not verified: verify = false in the configuration",
            )
        self.emit(details)
        self.note(f"TLS established: {details.version} {details.cipher}; {details.verify_message}")
        self.trusted = True
        self.finish(stage, started, f"{details.version}, {details.verify_message}")

    async def _greeting(self) -> None:
        started = self.begin(Stage.GREETING)
        protocol = self.protocol
        assert protocol is not None
        read: asyncio.Future[SMTPResponse] = asyncio.ensure_future(
            protocol.read_response(timeout=None)
        )
        try:
            if self.smtp.encryption != Encryption.TLS and self.remaining() > self.greeting_grace:
                done, _ = await asyncio.wait({read}, timeout=self.greeting_grace)
                if not done:
                    self.note(
                        f"no greeting after {self.greeting_grace:g} s: probing whether port "
                        f"{self.smtp.port} expects implicit TLS"
                    )
                    probe = asyncio.ensure_future(probe_tls(self._probe_peer()))
                    self.probes.append(probe)
                    waiting: set[asyncio.Future[Any]] = {read, probe}
                    done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
                    if read not in done:
                        evidence = await probe
                        if evidence is not None:
                            self.fail(diag.port_speaks_tls(self.smtp.port, evidence))
                        self.note("the implicit-TLS probe failed: still waiting for a greeting")
            response = await read
        finally:
            if not read.done():
                read.cancel()
        if response.code != 220:
            if response.code < 400:
                # 250, 354, …: not an SMTP greeting at all, or replies out of step.
                self.fail(diag.unexpected_greeting(response.code, response.message))
            self.fail(self._reply_diagnosis(response.code, response.message))
        first = response.message.split("\n", 1)[0]
        self.finish(Stage.GREETING, started, untrusted_text(f"{response.code} {first}", limit=120))

    def _probe_peer(self, port: int | None = None) -> Peer:
        """What a side connection (:mod:`.probes`) needs: the address that connected, or the
        same address on another ``port`` (then given at most PROBE_OTHER_PORT seconds: a
        firewall that drops it must not eat the run's deadline)."""
        assert self.peer is not None
        if port is None:
            return Peer(
                self.family, self.peer, self.host, self.smtp.port, self.remaining, self.note
            )
        address = (self.peer[0], port, *self.peer[2:])
        return Peer(
            self.family,
            address,
            self.host,
            port,
            lambda: min(PROBE_OTHER_PORT, self.remaining()),
            self.note,
        )

    async def _ehlo(self, stage: Stage) -> None:
        started = self.begin(stage)
        protocol = self.protocol
        assert protocol is not None
        name = await self._ehlo_name()
        response = await protocol.execute_command(b"EHLO", name.encode("ascii"))
        if response.code != 250:
            self.fail(self._reply_diagnosis(response.code, response.message))
        extensions, mechanisms = parse_esmtp_extensions(response.message)
        self.capabilities = extensions
        self.auth_mechanisms = [m.upper() for m in mechanisms]
        size = extensions.get("size", "").strip()
        capabilities = ServerCapabilities(
            extensions=tuple(server_text(k.upper(), limit=80) for k in extensions),
            auth_mechanisms=tuple(
                server_text(m, limit=40) for m in dict.fromkeys(self.auth_mechanisms)
            ),
            size_limit=int(size) if size.isdigit() else None,
            starttls="starttls" in extensions,
            smtputf8="smtputf8" in extensions,
            eightbitmime="8bitmime" in extensions,
            pipelining="pipelining" in extensions,
            encrypted=protocol.encrypted,
        )
        self.emit(capabilities)
        detail = f"{len(extensions)} extensions"
        if capabilities.auth_mechanisms:
            detail += ", AUTH " + " ".join(capabilities.auth_mechanisms)
        if capabilities.starttls:
            detail += ", STARTTLS"
        self.finish(stage, started, detail)

    async def _ehlo_name(self) -> str:
        configured = self.smtp.ehlo_name.strip()
        if configured:
            try:
                return validate_ehlo_name(configured)
            except ValueError as exc:
                self.fail(
                    Diagnosis(
                        self.stage,
                        f"smtp.ehlo_name is not valid: {exc}",
                        evidence=untrusted_text(configured),
                        exit_code=ExitCode.CONFIG,
                    )
                )
        if self._fqdn is not None:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(min(1.0, self.remaining())):
                    fqdn = await asyncio.shield(self._fqdn)
                with contextlib.suppress(ValueError):
                    name = validate_ehlo_name(fqdn)
                    if "." in name or name == "localhost":
                        return name
        # No usable name: the address literal of this end of the connection (RFC 5321 4.1.3).
        assert self.protocol is not None and self.protocol.transport is not None
        local = self.protocol.transport.get_extra_info("sockname")
        return address_literal(str(local[0])) if local else "[127.0.0.1]"

    async def _starttls(self) -> None:
        protocol = self.protocol
        assert protocol is not None
        if "starttls" not in self.capabilities:
            self.begin(Stage.STARTTLS)
            offered = " ".join(k.upper() for k in self.capabilities) or "nothing"
            # Offer the implicit-TLS port only if it answers: a handshake, no SMTP sent.
            tls_port_answer = None
            if self.smtp.port not in IMPLICIT_TLS_PORTS:
                tls_port_answer = await probe_tls(self._probe_peer(USUAL_PORT[Encryption.TLS]))
            self.fail(
                diag.starttls_not_offered(
                    self.smtp.port, untrusted_text(f"EHLO offered: {offered}"), tls_port_answer
                )
            )
        started = self.begin(Stage.STARTTLS)
        context = await self._tls_context()
        try:
            await protocol.start_tls(context, server_hostname=self.host, timeout=self.remaining())
        except SMTPResponseException as exc:
            if exc.code < 0:
                raise
            self.fail(self._reply_diagnosis(exc.code, exc.message))
        except SMTPTimeoutError as exc:
            if isinstance(exc.__cause__, ssl.SSLCertVerificationError):
                raise exc.__cause__ from None
            raise
        except ssl.SSLCertVerificationError as exc:
            if protocol.transport is not None:
                protocol.transport.close()
            details = await self._inspect_certificate(exc)
            self.fail(
                diag.certificate_rejected(Stage.STARTTLS, exc, details, self.host, self.smtp.port)
            )
        # The client must forget everything learnt before TLS (RFC 3207 4.2).
        self.capabilities = {}
        self.auth_mechanisms = []
        self._after_handshake(Stage.STARTTLS, started)

    async def _inspect_certificate(self, error: ssl.SSLCertVerificationError) -> TlsDetails | None:
        """The certificate that failed verification, fetched again (:func:`.probes.inspect_certificate`)."""
        if self.peer is None:
            return None
        details = await inspect_certificate(
            self._probe_peer(),
            error,
            starttls=self.smtp.encryption != Encryption.TLS,
            ehlo_name=self._ehlo_name,
        )
        if details is not None:
            self.emit(details)
        return details

    async def _auth(self) -> None:
        started = self.begin(Stage.AUTH)
        protocol = self.protocol
        assert protocol is not None
        username = self.smtp.username
        if not self.password:
            self.fail(diag.no_password(username))
        if not protocol.encrypted and not self.smtp.allow_plaintext_auth:
            self.fail(diag.plaintext_auth_refused())
        offered = tuple(dict.fromkeys(self.auth_mechanisms))
        if "auth" not in self.capabilities:
            self.fail(diag.auth_not_offered(protocol.encrypted, "EHLO offered no AUTH"))
        mechanism = choose_mechanism(self.smtp.auth, offered)
        self._mechanism_used = mechanism
        password = self.password
        label = f"{mechanism} as {untrusted_text(username, limit=100)}"
        authenticator = Authenticator(
            protocol,
            self.redactor,
            host=self.host or self.smtp.host,
            port=self.smtp.port,
            note=self.note,
        )
        protocol.auth_label = label
        try:
            response = await authenticator.exchange(mechanism, username, password)
        finally:
            protocol.auth_label = None
        if response.code in TOKEN_REFUSED and mechanism in BEARER_MECHANISMS and self.renew_token:
            response = await self._auth_again(authenticator, mechanism, username, response)
        if response.code == 334:
            # The exchange must end (``*``) before anything else is sent.
            self.fail(await authenticator.cancel(mechanism, timeout=min(2.0, self.remaining())))
        if response.code != 235:
            if mechanism in BEARER_MECHANISMS:
                self.fail(
                    diag.bearer_refused(
                        response.code,
                        response.message,
                        self.settings,
                        mechanism=mechanism,
                        server_error=authenticator.bearer_error,
                    )
                )
            self.fail(self._reply_diagnosis(response.code, response.message))
        self.authenticated = True
        self.finish(Stage.AUTH, started, label)

    async def _auth_again(
        self, authenticator: Authenticator, mechanism: str, username: str, refused: SMTPResponse
    ) -> SMTPResponse:
        """The server refused the OAuth2 token: renew it once and try AUTH again, in the same
        session (a token revoked, or not yet known to the server, before its stated expiry)."""
        renew, protocol = self.renew_token, self.protocol
        assert renew is not None and protocol is not None
        self.renew_token = None  # once
        self.note("the server refused the OAuth2 access token: renewing it once and retrying AUTH")
        try:
            token, how = await renew(self.remaining())
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            cause = getattr(exc, "cause", "") or str(exc)
            self.fail(
                Diagnosis(
                    Stage.AUTH,
                    f"The server refused the OAuth2 access token, and a new one could not be "
                    f"obtained: {untrusted_text(cause, limit=400)}",
                    evidence=server_text(f"{refused.code} {refused.message}", limit=400),
                    explanation=untrusted_text(getattr(exc, "fix", "") or "", limit=400),
                    exit_code=getattr(exc, "exit_code", ExitCode.NOPERM),
                )
            )
        self.password = token
        self.redactor.add_password(token)
        self.note(how)
        authenticator.bearer_error = None
        protocol.auth_label = f"{mechanism} as {untrusted_text(username, limit=100)} (retry)"
        try:
            return await authenticator.exchange(mechanism, username, token)
        finally:
            protocol.auth_label = None

    async def _send(self) -> None:
        protocol = self.protocol
        assert protocol is not None and self.message is not None
        sender = self.settings.sender.address.strip()
        started = self.begin(Stage.MAIL)
        if not sender:
            self.fail(diag.no_sender())
        addresses = [sender, *self.recipients]
        needs_utf8 = not all(a.isascii() for a in addresses)
        if needs_utf8 and "smtputf8" not in self.capabilities:
            self.fail(
                diag.needs_smtputf8(
                    untrusted_text(", ".join(a for a in addresses if not a.isascii()))
                )
            )
        eight_bit = "8bitmime" in self.capabilities
        content = flatten_message(
            self.message, utf8=needs_utf8, cte_type="8bit" if eight_bit else "7bit"
        )
        options: list[bytes] = []
        if needs_utf8:
            options.append(b"SMTPUTF8")
        if eight_bit and not content.isascii():
            options.append(b"BODY=8BITMIME")
        if self.capabilities.get("size", "").strip().isdigit():
            options.append(f"SIZE={len(content)}".encode("ascii"))
        encoding = "utf-8" if needs_utf8 else "ascii"
        try:
            from_arg = b"FROM:" + quote_address(sender).encode(encoding)
        except (ValueError, UnicodeError) as exc:
            self.fail(diag.bad_address(Stage.MAIL, sender, str(exc)))
        response = await protocol.execute_command(b"MAIL", from_arg, *options)
        if response.code != 250:
            self.fail(self._reply_diagnosis(response.code, response.message))
        self.finish(Stage.MAIL, started, f"{response.code}")

        started = self.begin(Stage.RCPT)
        if not self.recipients:
            self.fail(diag.bad_address(Stage.RCPT, "", "no recipient given"))
        for recipient in self.recipients:
            try:
                to_arg = b"TO:" + quote_address(recipient).encode(encoding)
            except (ValueError, UnicodeError) as exc:
                self.fail(diag.bad_address(Stage.RCPT, recipient, str(exc)))
            response = await protocol.execute_command(b"RCPT", to_arg)
            if response.code not in (250, 251):
                self.fail(self._reply_diagnosis(response.code, response.message))
        self.finish(Stage.RCPT, started, f"{len(self.recipients)} accepted")

        started = self.begin(Stage.DATA)
        protocol.expect_body = True
        try:
            response = await protocol.execute_data_command(content)
        except SMTPDataError as exc:
            self.fail(self._reply_diagnosis(exc.code, exc.message))
        finally:
            protocol.expect_body = False
        self.finish(
            Stage.DATA, started, untrusted_text(f"{response.code} {response.message}", limit=120)
        )


async def run_smtp(
    settings: MailSettings,
    password: str | None,
    message: EmailMessage | None,
    recipients: list[str],
    *,
    stop_after: Stage | None = None,
    greeting_grace: float = GREETING_GRACE,
    addresses: list[str] | None = None,
    tls_context: ssl.SSLContext | None = None,
    renew_token: TokenRenewer | None = None,
) -> AsyncIterator[Event]:
    """Run one SMTP test, yielding events as they happen; the last is always an Outcome.

    ``message`` None climbs the ladder up to AUTH and sends nothing (``check``);
    ``stop_after`` stops after that stage (QUIT is still sent politely). Never
    raises for a delivery failure. ``addresses``: smtp.host's IP addresses when the
    caller resolved it (TLS still verifies the certificate against smtp.host);
    ``tls_context``: a context built by ``tls.build_context(settings.smtp)``, shared.
    """
    conversation = Conversation(
        settings,
        password,
        message,
        recipients,
        stop_after=stop_after,
        greeting_grace=greeting_grace,
        addresses=addresses,
        tls_context=tls_context,
        renew_token=renew_token,
    )
    task = asyncio.ensure_future(conversation.run())
    try:
        while True:
            event = await conversation.queue.get()
            if event is None:
                break
            yield event
        await task
    finally:
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
