"""What the HTTP-API drivers (Mailgun, SES) share: one request, reported as events.

The request runs in a worker thread (stdlib ``urllib``: no new dependency)
while the caller's event loop stays free. Credentials travel only in the
``Authorization`` header, which the transcript shows as a placeholder; plain
``http://`` is refused except towards the loopback interface (local test
servers and compatible services running on this machine).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

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

BODY_LINES_SHOWN = 8
MAX_RESPONSE = 256 * 1024


@dataclass(frozen=True)
class HttpRequest:
    method: str
    url: str
    headers: Mapping[str, str]
    body: bytes = b""
    shown_headers: tuple[str, ...] = ()
    """Transcript lines for the headers, secrets already replaced by placeholders."""
    summary: str = ""
    """What the body is, for the transcript ("message/rfc822, 812 bytes")."""


@dataclass(frozen=True)
class HttpResponse:
    status: int
    reason: str
    headers: Mapping[str, str]
    body: bytes


class TransportError(Exception):
    """The request did not get an HTTP answer; carries the diagnosis to report."""

    def __init__(self, diagnosis: Diagnosis) -> None:
        super().__init__(diagnosis.cause)
        self.diagnosis = diagnosis


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_url(url: str, what: str) -> Diagnosis | None:
    """None when ``url`` may carry credentials; else why not (before anything is sent)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return Diagnosis(
            Stage.SEND,
            f"{what} is not an http(s) URL",
            evidence=untrusted_text(url),
            exit_code=ExitCode.CONFIG,
        )
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        return Diagnosis(
            Stage.SEND,
            f"{what} uses plain http to another machine: the API key would travel unencrypted",
            evidence=untrusted_text(url),
            explanation="Only a server on this machine (127.0.0.1, ::1) may be reached over http.",
            exit_code=ExitCode.CONFIG,
        )
    return None


def _perform(request: HttpRequest, timeout: float) -> HttpResponse:
    prepared = urllib.request.Request(
        request.url, data=request.body or None, headers=dict(request.headers), method=request.method
    )
    # No redirects: a redirect could carry the Authorization header elsewhere.
    opener = urllib.request.build_opener(
        _NoRedirect, urllib.request.HTTPSHandler(context=ssl.create_default_context())
    )
    try:
        with opener.open(prepared, timeout=timeout) as answer:
            return HttpResponse(
                answer.status, answer.reason, dict(answer.headers), answer.read(MAX_RESPONSE)
            )
    except urllib.error.HTTPError as exc:
        body = exc.read(MAX_RESPONSE) if exc.fp is not None else b""
        return HttpResponse(exc.code, str(exc.reason), dict(exc.headers or {}), body)
    except urllib.error.URLError as exc:
        raise TransportError(_transport_diagnosis(exc.reason, request.url)) from exc
    except (TimeoutError, OSError) as exc:
        raise TransportError(_transport_diagnosis(exc, request.url)) from exc


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def _transport_diagnosis(reason: object, url: str) -> Diagnosis:
    host = urlsplit(url).hostname or url
    evidence = untrusted_text(str(reason))
    if isinstance(reason, ssl.SSLCertVerificationError):
        return Diagnosis(
            Stage.SEND,
            f"The certificate of {host} was rejected",
            evidence=evidence,
            exit_code=ExitCode.PROTOCOL,
        )
    if isinstance(reason, ssl.SSLError):
        return Diagnosis(
            Stage.SEND, f"TLS with {host} failed", evidence=evidence, exit_code=ExitCode.PROTOCOL
        )
    if isinstance(reason, socket.gaierror):
        return Diagnosis(
            Stage.SEND,
            f"The name {host} does not resolve",
            evidence=evidence,
            exit_code=ExitCode.UNAVAILABLE,
        )
    if isinstance(reason, TimeoutError | socket.timeout):
        return Diagnosis(
            Stage.SEND,
            f"{host} did not answer in time",
            evidence=evidence,
            exit_code=ExitCode.TEMPFAIL,
        )
    if isinstance(reason, ConnectionRefusedError):
        return Diagnosis(
            Stage.SEND,
            f"{host} refused the connection",
            evidence=evidence,
            exit_code=ExitCode.UNAVAILABLE,
        )
    return Diagnosis(
        Stage.SEND,
        f"The request to {host} failed",
        evidence=evidence,
        exit_code=ExitCode.UNAVAILABLE,
    )


def body_lines(body: bytes) -> list[str]:
    text = untrusted_text(body.decode("utf-8", "replace"))
    lines = [line for line in text.splitlines() if line.strip()]
    if len(lines) > BODY_LINES_SHOWN:
        lines = [*lines[:BODY_LINES_SHOWN], f"… {len(lines) - BODY_LINES_SHOWN} more lines"]
    return lines


Interpret = Callable[[HttpResponse], "tuple[bool, str, Diagnosis | None]"]
"""``(ok, detail, diagnosis)`` from an HTTP answer."""


async def run_request(
    request: HttpRequest,
    *,
    seconds: float,
    interpret: Interpret,
    message_id: str,
    recipients: list[str],
) -> AsyncIterator[Event]:
    """Perform one request as a single SEND stage: transcript, then the Outcome."""
    started = time.monotonic()
    yield StageStarted(Stage.SEND)
    yield TranscriptLine(Direction.SENT, f"{request.method} {untrusted_text(request.url)}", True)
    for line in request.shown_headers:
        yield TranscriptLine(Direction.SENT, line, True)
    if request.summary:
        yield TranscriptLine(Direction.NOTE, request.summary, True)
    try:
        response = await asyncio.to_thread(_perform, request, seconds)
    except TransportError as exc:
        elapsed = time.monotonic() - started
        yield StageFinished(Stage.SEND, False, elapsed, exc.diagnosis.cause)
        yield Outcome(False, Stage.SEND, elapsed, exc.diagnosis, "", tuple(recipients))
        return
    yield TranscriptLine(
        Direction.RECEIVED, f"HTTP {response.status} {untrusted_text(response.reason)}", True
    )
    for line in body_lines(response.body):
        yield TranscriptLine(Direction.RECEIVED, line, True)
    ok, detail, diagnosis = interpret(response)
    elapsed = time.monotonic() - started
    yield StageFinished(Stage.SEND, ok, elapsed, detail)
    yield Outcome(ok, Stage.SEND, elapsed, diagnosis, message_id if ok else "", tuple(recipients))


def status_diagnosis(
    response: HttpResponse, service: str, *, auth_hint: str, evidence: str = ""
) -> Diagnosis:
    """The usual meaning of an HTTP error status from a mail API."""
    status = response.status
    evidence = evidence or " ".join(body_lines(response.body))[:500]
    if status in (401, 403):
        return Diagnosis(
            Stage.SEND,
            f"{service} refused the credentials (HTTP {status})",
            evidence=evidence,
            explanation=auth_hint,
            exit_code=ExitCode.NOPERM,
        )
    if status == 429:
        retry = response.headers.get("Retry-After", "")
        retry_after = time.time() + float(retry) if retry.isdigit() else None
        return Diagnosis(
            Stage.SEND,
            f"{service} is rate limiting this account (HTTP 429)",
            evidence=evidence,
            exit_code=ExitCode.TEMPFAIL,
            retry_after=retry_after,
        )
    if 300 <= status < 400:
        location = untrusted_text(response.headers.get("Location", ""))
        return Diagnosis(
            Stage.SEND,
            f"{service} answered with a redirect (HTTP {status}), which is not followed",
            evidence=f"Location: {location}" if location else evidence,
            explanation="Redirects are not followed so that the API key never goes elsewhere; "
            "set the base URL to the API's own address.",
            exit_code=ExitCode.CONFIG,
        )
    if status == 404:
        return Diagnosis(
            Stage.SEND,
            f"{service} does not know this domain or endpoint (HTTP 404)",
            evidence=evidence,
            explanation="Check the domain, the region and the base URL.",
            exit_code=ExitCode.CONFIG,
        )
    if 400 <= status < 500:
        return Diagnosis(
            Stage.SEND,
            f"{service} rejected the message (HTTP {status})",
            evidence=evidence,
            exit_code=ExitCode.DATAERR,
        )
    return Diagnosis(
        Stage.SEND,
        f"{service} had a server error (HTTP {status}); try again later",
        evidence=evidence,
        exit_code=ExitCode.TEMPFAIL,
    )


async def refuse(diagnosis: Diagnosis, recipients: list[str]) -> AsyncIterator[Event]:
    """The events of a send stopped before any request: the settings cannot work."""
    yield StageStarted(Stage.SEND)
    yield StageFinished(Stage.SEND, False, 0.0, diagnosis.cause)
    yield Outcome(False, Stage.SEND, 0.0, diagnosis, "", tuple(recipients))


def multipart(fields: list[tuple[str, str | tuple[str, str, bytes]]]) -> tuple[bytes, str]:
    """multipart/form-data: plain fields, or (filename, content type, data) files."""
    import secrets

    boundary = f"tui-mailsetup-{secrets.token_hex(12)}"
    chunks: list[bytes] = []
    for name, value in fields:
        chunks.append(f"--{boundary}\r\n".encode())
        if isinstance(value, tuple):
            filename, content_type, data = value
            chunks.append(
                f'Content-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
                f"Content-Type: {content_type}\r\n\r\n".encode()
            )
            chunks.append(data)
        else:
            chunks.append(f'Content-Disposition: form-data; name="{name}"\r\n\r\n'.encode())
            chunks.append(value.encode("utf-8"))
        chunks.append(b"\r\n")
    chunks.append(f"--{boundary}--\r\n".encode())
    return b"".join(chunks), f"multipart/form-data; boundary={boundary}"
