"""An HTTP mail API's answer, diagnosed by ordered, named rules: the shape every HTTP driver shares.

The same shape as the SMTP replies' (:mod:`.replies`): what came back is one frozen
:class:`HttpReply` (the service, the HTTP status, the headers and body, the API's own
error code and text, the settings, the stage); a rule (:data:`HttpRule`) is a small
function of it that returns a :class:`Diagnosis` when the answer is its case and None
otherwise; each driver names a tuple of rules, tried in order, and the first that answers
wins (:func:`diagnose_http`). :func:`http_server_error` answers anything, so it ends every
table. The tables:

- :data:`HTTP_RULES` here: what a status means from any mail API (401/403 the credentials,
  429 a rate limit with its ``Retry-After``, a redirect not followed, another 4xx a refused
  message, anything else a server error);
- :data:`.mailgun.MAILGUN_RULES`: the shared rules with Mailgun's 404 and credentials hint;
- :data:`.ses.SES_RULES`: Amazon SES's error codes (sandbox, identities, throttling, quota,
  keys, signatures, IAM), then its 404 and its generic refusal;
- :data:`.graph.GRAPH_RULES`: Microsoft Graph's token, Send As, access policy, mailbox,
  throttling and recipient errors, then the shared redirect, 4xx and 5xx rules.

Why here, in the engine, and not beside each driver: the rules are pure functions of the
answer and need nothing of httpx or botocore, so they are tested one by one without a
server (``tests/unit/test_diagnosis_http.py``), and every explanation a user can read is in one
package, whatever the transport. The drivers build the :class:`HttpReply` from their
answer, name their table and report the diagnosis; the engine imports no driver (the
import-linter contracts), so a rule reads only the reply and the settings, never a client.

**Adding an HTTP driver's rules** (Postmark, say; :mod:`.graph` is a worked example):
decode the API's error document into ``code`` and ``message`` and build an
``HttpReply(service="Postmark", status=…, headers=…, body=…, code=…, message=…,
settings=…, auth_hint=…)`` (``drivers.http.HttpResponse.reply`` does it for an httpx
answer). Write each case as a small function of the reply, named for the case
(``postmark_inactive_recipient``), returning None when the reply is not its case, in
``engine/diagnosis/postmark.py``. Declare ``POSTMARK_RULES = (its own rules…, *HTTP_RULES)``:
the driver's own rules first, then the shared ones that still apply (leave out any the
driver's rules replace, as :data:`.graph.GRAPH_RULES` leaves out 401/403/429),
:func:`http_server_error` last. The driver's interpretation calls
``diagnose_http(reply, POSTMARK_RULES)`` and decides nothing itself. A rule that needs
more than the settings (SES's credential source, Graph's mailbox) takes a frozen subclass
of :class:`HttpReply` with those fields (:class:`.ses.SesReply`, :class:`.graph.GraphReply`),
which may also say how its evidence reads. Each rule gets a row in the parametrized tables
of ``tests/unit/test_diagnosis_http.py`` naming the rule that must answer (a test fails when a
rule of a table has none).

Also here: what a request that got no HTTP answer means (:func:`transport_diagnosis`, by
the error underneath: :data:`TRANSPORT_RULES`), and a proxy or an installation that cannot
make the request.
"""

from __future__ import annotations

import socket
import ssl
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import TypeVar
from urllib.parse import urlsplit

from tui_mailsetup.engine.diagnosis.rate_limits import retry_after_header
from tui_mailsetup.engine.events import Diagnosis, Stage
from tui_mailsetup.exitcodes import ExitCode
from tui_mailsetup.sanitize import untrusted_text
from tui_mailsetup.settings import MailSettings

BODY_LINES_SHOWN = 8
"""How many lines of an answer's body the transcript shows (the rest are counted)."""
EVIDENCE_LIMIT = 500
"""Characters of the body kept as evidence when the API named no error."""


def body_lines(body: bytes) -> list[str]:
    """An answer's body as the transcript shows it: sanitised, blank lines dropped, cut short."""
    text = untrusted_text(body.decode("utf-8", "replace"))
    lines = [line for line in text.splitlines() if line.strip()]
    if len(lines) > BODY_LINES_SHOWN:
        lines = [*lines[:BODY_LINES_SHOWN], f"… {len(lines) - BODY_LINES_SHOWN} more lines"]
    return lines


def header_value(headers: Mapping[str, str], name: str) -> str:
    """A header's value ("" when absent); names match in any case, as in HTTP."""
    wanted = name.lower()
    return next((v for k, v in headers.items() if k.lower() == wanted), "")


@dataclass(frozen=True, kw_only=True)
class HttpReply:
    """An HTTP mail API's error answer and what a rule needs to judge it."""

    service: str
    """How causes name the API: "Mailgun", "SES", "Microsoft Graph"."""
    status: int
    """The HTTP status (0: none is known, as when botocore gives none)."""
    settings: MailSettings
    code: str = ""
    """The API's own error code ("MessageRejected"), as it sent it; "" when it names none."""
    message: str = ""
    """The API's own error text, as it sent it; "" when it sent none."""
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    stage: Stage = Stage.SEND
    """Where the failure is reported unless a rule places it (SES's keys: AUTH)."""
    auth_hint: str = ""
    """What to check when the API refuses the credentials (the driver's words)."""
    now: float | None = None
    """The current Unix time for retry-after arithmetic (None: the clock)."""

    @cached_property
    def text(self) -> str:
        """The API's error text in lower case, for matching."""
        return self.message.lower()

    @cached_property
    def evidence(self) -> str:
        """The API's code and text, sanitised; else the start of the body."""
        if self.code or self.message:
            both = f"{self.code}: {self.message}" if self.code and self.message else ""
            return untrusted_text(both or self.code or self.message)
        return " ".join(body_lines(self.body))[:EVIDENCE_LIMIT]

    def header(self, name: str) -> str:
        return header_value(self.headers, name)

    def clock(self) -> float:
        return time.time() if self.now is None else self.now


_Judged = TypeVar("_Judged", bound=HttpReply)

HttpRule = Callable[[_Judged], Diagnosis | None]
"""A named rule: the diagnosis when the answer is its case, else None (the next rule judges)."""


# --------------------------------------------------------------------------- the shared rules


def http_credentials_refused(reply: HttpReply) -> Diagnosis | None:
    """401/403: the API does not accept these credentials (the driver's hint says what to check)."""
    if reply.status not in (401, 403):
        return None
    return Diagnosis(
        reply.stage,
        f"{reply.service} refused the credentials (HTTP {reply.status})",
        evidence=reply.evidence,
        explanation=reply.auth_hint,
        exit_code=ExitCode.NOPERM,
    )


def http_rate_limited(reply: HttpReply) -> Diagnosis | None:
    """429: wait, until the time ``Retry-After`` names (remembered)."""
    if reply.status != 429:
        return None
    return Diagnosis(
        reply.stage,
        f"{reply.service} is rate limiting this account (HTTP 429)",
        evidence=reply.evidence,
        exit_code=ExitCode.TEMPFAIL,
        retry_after=retry_after_header(reply.header("Retry-After"), now=reply.now),
    )


def http_redirect(reply: HttpReply) -> Diagnosis | None:
    """3xx: never followed (the key would go elsewhere); the base URL is not the API's."""
    if not 300 <= reply.status < 400:
        return None
    location = untrusted_text(reply.header("Location"))
    return Diagnosis(
        reply.stage,
        f"{reply.service} answered with a redirect (HTTP {reply.status}), which is not followed",
        evidence=f"Location: {location}" if location else reply.evidence,
        explanation="Redirects are not followed so that the API key never goes elsewhere; "
        "set the base URL to the API's own address.",
        exit_code=ExitCode.CONFIG,
    )


def http_client_error(reply: HttpReply) -> Diagnosis | None:
    """Another 4xx: the API refused this message."""
    if not 400 <= reply.status < 500:
        return None
    return Diagnosis(
        reply.stage,
        f"{reply.service} rejected the message (HTTP {reply.status})",
        evidence=reply.evidence,
        exit_code=ExitCode.DATAERR,
    )


def http_server_error(reply: HttpReply) -> Diagnosis:
    """Anything else (5xx, no status, a status that is no answer): temporary. Always answers."""
    return Diagnosis(
        reply.stage,
        f"{reply.service} had a server error (HTTP {reply.status}); try again later",
        evidence=reply.evidence,
        exit_code=ExitCode.TEMPFAIL,
    )


HTTP_RULES: tuple[HttpRule[HttpReply], ...] = (
    http_credentials_refused,
    http_rate_limited,
    http_redirect,
    http_client_error,
    http_server_error,
)
"""What an error status means from any mail API, in the order tried."""


def diagnose_http(reply: _Judged, rules: Sequence[HttpRule[_Judged]]) -> Diagnosis:
    """The first rule's diagnosis (:func:`http_server_error` when none answers)."""
    for rule in rules:
        diagnosis = rule(reply)
        if diagnosis is not None:
            return diagnosis
    return http_server_error(reply)


# --------------------------------------------------------------------------- no answer at all


def root_cause(error: BaseException) -> BaseException:
    """The OS or TLS error underneath httpx's, httpcore's and botocore's wrappers."""
    seen: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in seen:
        seen.append(current)
        if isinstance(current, BaseExceptionGroup) and current.exceptions:
            current = current.exceptions[0]
            continue
        if isinstance(current, OSError) and (
            current.errno is not None or type(current) is not OSError
        ):
            return current
        current = current.__cause__ or current.__context__
    text = str(error)
    if "CERTIFICATE_VERIFY_FAILED" in text:
        return ssl.SSLCertVerificationError(text)
    if "Name or service not known" in text or "nodename nor servname" in text:
        return socket.gaierror(text)
    if "Connection refused" in text:
        return ConnectionRefusedError(text)
    return error


TRANSPORT_RULES: tuple[
    tuple[type[BaseException] | tuple[type[BaseException], ...], str, ExitCode], ...
] = (
    # The most specific first: a certificate error is an SSLError too.
    (ssl.SSLCertVerificationError, "The certificate of {host} was rejected", ExitCode.PROTOCOL),
    (ssl.SSLError, "TLS with {host} failed", ExitCode.PROTOCOL),
    (socket.gaierror, "The name {host} does not resolve", ExitCode.UNAVAILABLE),
    ((TimeoutError, socket.timeout), "{host} did not answer in time", ExitCode.TEMPFAIL),
    (ConnectionRefusedError, "{host} refused the connection", ExitCode.UNAVAILABLE),
)
"""What a request that got no HTTP answer means, by the error underneath; the first match wins."""


def transport_diagnosis(reason: object, url: str) -> Diagnosis:
    """A request to ``url`` that got no HTTP answer, because of ``reason`` (its root cause)."""
    host = urlsplit(url).hostname or url
    cause, exit_code = "The request to {host} failed", ExitCode.UNAVAILABLE
    for kind, text, code in TRANSPORT_RULES:
        if isinstance(reason, kind):
            cause, exit_code = text, code
            break
    return Diagnosis(
        Stage.SEND,
        cause.format(host=host),
        evidence=untrusted_text(str(reason)),
        exit_code=exit_code,
    )


def cannot_send(cause: str, error: BaseException) -> Diagnosis:
    """Nothing was sent: this installation or environment cannot make the request."""
    return Diagnosis(
        Stage.SEND, cause, evidence=untrusted_text(str(error)), exit_code=ExitCode.CONFIG
    )


def proxy_failed(cause: str, error: BaseException) -> Diagnosis:
    """The proxy the environment names refused the request, or could not be reached."""
    return Diagnosis(
        Stage.SEND,
        cause,
        evidence=untrusted_text(str(error)),
        explanation="Check HTTPS_PROXY / HTTP_PROXY, or add the host to NO_PROXY.",
        exit_code=ExitCode.UNAVAILABLE,
    )
