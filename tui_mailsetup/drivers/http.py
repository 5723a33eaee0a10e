"""What the HTTP-API drivers share: one request with httpx, reported as events.

httpx (imported only when such a driver runs) performs the request on the
caller's event loop with explicit timeouts: connecting, reading and writing
each within ``seconds``, and the whole request too. The proxy variables
(``HTTPS_PROXY``, ``HTTP_PROXY``, ``ALL_PROXY``, ``NO_PROXY``) are honoured,
and the transcript says which proxy carried the request. Credentials travel
only in the ``Authorization`` header, which the transcript shows as a
placeholder; plain ``http://`` is refused except towards the loopback
interface (local test servers and compatible services on this machine), and
a request to the loopback interface never goes through a proxy on another
machine (which could not reach this machine's loopback, and would see the key).

What an answer (or its absence) means is not decided here: a driver turns its
answer into an ``HttpReply`` (:meth:`HttpResponse.reply`) and runs its table of
rules over it; those rules, and what a failed request means, live in
:mod:`tui_mailsetup.engine.diagnosis.http_api`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import ipaddress
import os
import ssl
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from tui_mailsetup.endpoints import url_problem
from tui_mailsetup.engine.diagnosis.http_api import (
    HttpReply,
    body_lines,
    cannot_send,
    header_value,
    proxy_failed,
    root_cause,
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
from tui_mailsetup.names import is_loopback
from tui_mailsetup.sanitize import Masker, untrusted_text
from tui_mailsetup.settings import MailSettings

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
    response_headers: tuple[str, ...] = ()
    """Response headers shown in the transcript when present (a request ID, Retry-After)."""
    masked: tuple[str, ...] = field(default=(), repr=False)
    """Secrets sent (a bearer token, an API key): masked in every form (:class:`Masker`)
    wherever an answer quotes them back."""


@dataclass(frozen=True)
class HttpResponse:
    status: int
    reason: str
    headers: Mapping[str, str]
    body: bytes

    def header(self, name: str) -> str:
        """A response header's value ("" when absent); names match in any case, as in HTTP."""
        return header_value(self.headers, name)

    def reply(
        self,
        service: str,
        settings: MailSettings,
        *,
        code: str = "",
        message: str = "",
        auth_hint: str = "",
    ) -> HttpReply:
        """This answer as the diagnosis rules judge it (:mod:`.engine.diagnosis.http_api`),
        with the API's error ``code`` and ``message`` as the driver decoded them."""
        return HttpReply(
            service=service,
            status=self.status,
            settings=settings,
            code=code,
            message=message,
            headers=self.headers,
            body=self.body,
            auth_hint=auth_hint,
        )


class TransportError(Exception):
    """The request did not get an HTTP answer; carries the diagnosis to report."""

    def __init__(self, diagnosis: Diagnosis) -> None:
        super().__init__(diagnosis.cause)
        self.diagnosis = diagnosis


def check_url(url: str, what: str, *, root_only: bool = False) -> Diagnosis | None:
    """None when ``url`` may carry credentials; else why not (before anything is sent).

    The rule is :func:`tui_mailsetup.endpoints.url_problem`, the one validation applies."""
    problem = url_problem(url, root_only=root_only)
    if problem is None:
        return None
    return Diagnosis(
        Stage.SEND,
        f"{what} {problem.message}",
        evidence=untrusted_text(_without_password(url)),
        exit_code=ExitCode.CONFIG,
    )


def _without_password(url: str) -> str:
    """The URL for the transcript, a password inside it (user:password@) replaced."""
    head, sep, rest = url.partition("://")
    userinfo, at, host = rest.partition("@")
    if sep and at and "/" not in userinfo:
        return f"{head}://***@{host}"
    return url


@dataclass(frozen=True)
class ProxyChoice:
    url: str | None
    """The proxy to use, or None for a direct connection."""
    note: str = ""
    """What the transcript says about it (no credentials of the proxy)."""


def _shown_proxy(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}"


def choose_proxy(url: str, environ: Mapping[str, str] | None = None) -> ProxyChoice:
    """The proxy the environment asks for (as curl and httpx read it), or None.

    A target on the loopback interface goes through a proxy only when the
    proxy is on this machine too.
    """
    env = os.environ if environ is None else environ
    parts = urlsplit(url)
    host = parts.hostname or ""
    names = {"http": ("http_proxy", "HTTP_PROXY"), "https": ("https_proxy", "HTTPS_PROXY")}
    candidates = [*names.get(parts.scheme, ()), "all_proxy", "ALL_PROXY"]
    variable, proxy = next(((n, env[n]) for n in candidates if env.get(n)), ("", ""))
    if not proxy:
        return ProxyChoice(None)
    no_proxy = env.get("no_proxy") or env.get("NO_PROXY") or ""
    if no_proxy and _bypassed(host, no_proxy):
        return ProxyChoice(None, f"no proxy for {host} (NO_PROXY)")
    if "://" not in proxy:
        proxy = f"http://{proxy}"
    if is_loopback(host) and not is_loopback(urlsplit(proxy).hostname or ""):
        return ProxyChoice(
            None, f"{variable} ignored: {host} is this machine, the proxy is another one"
        )
    return ProxyChoice(proxy, f"via the proxy {_shown_proxy(proxy)} ({variable})")


def _bypassed(host: str, no_proxy: str) -> bool:
    """Whether NO_PROXY (names, .suffixes, addresses, networks, ``*``) covers ``host``."""
    host = host.lower().strip("[]")
    for entry in (e.strip().lower() for e in no_proxy.split(",")):
        if not entry:
            continue
        if entry == "*":
            return True
        try:
            if ipaddress.ip_address(host) in ipaddress.ip_network(entry.strip("[]"), strict=False):
                return True
            continue
        except ValueError:
            pass
        name = entry.lstrip(".").split(":")[0]
        if host == name or host.endswith("." + name):
            return True
    return False


def _ssl_context() -> ssl.SSLContext:
    # The system's trust store, plus SSL_CERT_FILE / SSL_CERT_DIR as OpenSSL reads them.
    return ssl.create_default_context(
        cafile=os.environ.get("SSL_CERT_FILE") or None,
        capath=os.environ.get("SSL_CERT_DIR") or None,
    )


async def _perform(request: HttpRequest, seconds: float, proxy: ProxyChoice) -> HttpResponse:
    try:
        import httpx
    except ImportError as exc:  # a runtime dependency: only a broken installation lacks it
        raise TransportError(
            cannot_send(
                "httpx is not installed (a dependency of tui-mailsetup): pip install httpx", exc
            )
        ) from exc
    try:
        async with (
            asyncio.timeout(seconds),
            httpx.AsyncClient(
                timeout=httpx.Timeout(seconds),
                # No redirects: a redirect could carry the Authorization header elsewhere.
                follow_redirects=False,
                # The proxy was chosen from the environment above; nothing else is read from it.
                trust_env=False,
                proxy=proxy.url,
                verify=_ssl_context(),
            ) as client,
            client.stream(
                request.method,
                request.url,
                headers=dict(request.headers),
                content=request.body or None,
            ) as answer,
        ):
            body = b""
            async for chunk in answer.aiter_bytes():
                body += chunk
                if len(body) >= MAX_RESPONSE:
                    body = body[:MAX_RESPONSE]
                    break
            return HttpResponse(
                answer.status_code, answer.reason_phrase, dict(answer.headers), body
            )
    except TimeoutError as exc:
        raise TransportError(transport_diagnosis(exc, request.url)) from exc
    except httpx.TimeoutException as exc:
        raise TransportError(transport_diagnosis(TimeoutError(str(exc)), request.url)) from exc
    except httpx.ProxyError as exc:
        raise TransportError(
            proxy_failed(
                f"The proxy {_shown_proxy(proxy.url or '')} refused or failed the request", exc
            )
        ) from exc
    except httpx.ConnectError as exc:
        if proxy.url:  # the connection that failed is the one to the proxy
            raise TransportError(
                proxy_failed(
                    f"Could not connect to the proxy {_shown_proxy(proxy.url)}", root_cause(exc)
                )
            ) from exc
        raise TransportError(transport_diagnosis(root_cause(exc), request.url)) from exc
    except httpx.HTTPError as exc:
        raise TransportError(transport_diagnosis(root_cause(exc), request.url)) from exc
    except (ImportError, ValueError) as exc:  # a socks:// proxy without socksio, a bad proxy URL
        raise TransportError(
            cannot_send("The proxy in the environment cannot be used", exc)
        ) from exc


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
    proxy = choose_proxy(request.url)
    if proxy.note:
        yield TranscriptLine(Direction.NOTE, untrusted_text(proxy.note), True)
    try:
        response = await _perform(request, seconds, proxy)
    except TransportError as exc:
        elapsed = time.monotonic() - started
        for event in send_finished(False, elapsed, exc.diagnosis.cause, exc.diagnosis, recipients):
            yield event
        return
    masker = Masker(request.masked)
    yield TranscriptLine(
        Direction.RECEIVED,
        masker(f"HTTP {response.status} {untrusted_text(response.reason)}"),
        True,
    )
    for name in request.response_headers:
        if value := response.header(name):
            shown = untrusted_text(f"{name}: {value}", limit=300)
            yield TranscriptLine(Direction.RECEIVED, masker(shown), True)
    for line in body_lines(response.body):
        yield TranscriptLine(Direction.RECEIVED, masker(line), True)
    ok, detail, diagnosis = interpret(response)
    detail = masker(detail)
    if diagnosis is not None and masker:
        diagnosis = dataclasses.replace(
            diagnosis,
            cause=masker(diagnosis.cause),
            evidence=masker(diagnosis.evidence),
            explanation=masker(diagnosis.explanation),
        )
    elapsed = time.monotonic() - started
    for event in send_finished(ok, elapsed, detail, diagnosis, recipients, message_id):
        yield event


def send_finished(
    ok: bool,
    elapsed: float,
    detail: str,
    diagnosis: Diagnosis | None,
    recipients: list[str],
    message_id: str = "",
    *,
    stage: Stage = Stage.SEND,
) -> tuple[StageFinished, Outcome]:
    """How an API driver's single SEND stage ends: the stage's result, then the Outcome
    (at ``stage``, where it failed; the message ID only when the message was accepted)."""
    return (
        StageFinished(Stage.SEND, ok, elapsed, detail),
        Outcome(ok, stage, elapsed, diagnosis, message_id if ok else "", tuple(recipients)),
    )


async def refuse(diagnosis: Diagnosis, recipients: list[str]) -> AsyncIterator[Event]:
    """The events of a send stopped before any request: the settings cannot work."""
    yield StageStarted(Stage.SEND)
    for event in send_finished(False, 0.0, diagnosis.cause, diagnosis, recipients):
        yield event


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
