"""Every way a test can fail, mapped to a stage, a cause, the evidence and a fix.

Pure functions: they take what happened (a reply, an exception, the
settings) and return a :class:`Diagnosis`. The engine calls them; tests call
them directly for the cases a loopback server cannot produce (a firewall that
drops packets, SELinux). Evidence is always server text passed through
:func:`untrusted_text`; the engine's redactor runs over the result as well.

By concern:

- :mod:`.replies` — an unexpected reply (:func:`from_reply`): the ordered, named
  rules in :data:`REPLY_RULES` (a plain 535 is ``credentials_rejected``);
- :mod:`.providers` — Microsoft 365, Gmail and SES SMTP reply rules;
- :mod:`.oauth2` — a bearer token refused at AUTH (:func:`bearer_refused`);
- :mod:`.rate_limits` — rate-limit replies and retry-after times (SMTP and HTTP);
- :mod:`.transport` — resolving, connecting, greeting, timeouts, hang-ups;
- :mod:`.tls` — STARTTLS, handshakes, certificates, pins;
- :mod:`.auth` — authentication before a reply, and envelope addresses;
- :mod:`.context` — what only the runner knows, added to any driver's diagnosis.

The HTTP APIs' answers have the same shape (a frozen reply, ordered named rules, the
first that answers wins), one table per driver; these modules are imported by the
driver that uses them, not from here, so an SMTP run never loads them:

- :mod:`.http_api` — :class:`~.http_api.HttpReply`, the shared :data:`~.http_api.HTTP_RULES`
  (401/403, 429 with ``Retry-After``, redirects, 4xx, 5xx), :func:`~.http_api.diagnose_http`,
  and what a request without an answer means; how a new HTTP driver adds its rules;
- :mod:`.mailgun` — :data:`~.mailgun.MAILGUN_RULES`;
- :mod:`.graph` — :data:`~.graph.GRAPH_RULES` for Microsoft Graph's sendMail;
- :mod:`.ses` — :data:`~.ses.SES_RULES` for Amazon SES's API (its SMTP interface's
  replies are in :mod:`.providers`), and botocore's failures without an answer.
"""

from __future__ import annotations

from tui_mailsetup.engine.diagnosis.auth import (
    auth_exchange_endless,
    auth_not_offered,
    bad_address,
    mechanism_unavailable,
    needs_smtputf8,
    no_password,
    no_sender,
    plaintext_auth_refused,
)
from tui_mailsetup.engine.diagnosis.common import Reply, ReplyRule, evidence_of
from tui_mailsetup.engine.diagnosis.oauth2 import bearer_refused
from tui_mailsetup.engine.diagnosis.providers import microsoft_not_authenticated
from tui_mailsetup.engine.diagnosis.rate_limits import (
    DEFAULT_BACKOFF,
    MAX_BACKOFF,
    RATE_LIMIT_CODES,
    explicit_retry_after,
    is_rate_limit,
    retry_after_from,
    retry_after_header,
)
from tui_mailsetup.engine.diagnosis.replies import REPLY_RULES, diagnose_reply, from_reply
from tui_mailsetup.engine.diagnosis.tls import (
    bad_fingerprint,
    certificate_rejected,
    pin_mismatch,
    starttls_not_offered,
    tls_dropped,
    tls_failed,
)
from tui_mailsetup.engine.diagnosis.transport import (
    bad_host,
    connect_failed,
    connect_timeout,
    dropped,
    malformed_reply,
    no_greeting,
    out_of_step,
    port_speaks_plain,
    port_speaks_tls,
    resolve_failed,
    resolve_timeout,
    timed_out,
    unexpected_greeting,
)

__all__ = [
    "DEFAULT_BACKOFF",
    "MAX_BACKOFF",
    "RATE_LIMIT_CODES",
    "REPLY_RULES",
    "Reply",
    "ReplyRule",
    "auth_exchange_endless",
    "auth_not_offered",
    "bad_address",
    "bad_fingerprint",
    "bad_host",
    "bearer_refused",
    "certificate_rejected",
    "connect_failed",
    "connect_timeout",
    "diagnose_reply",
    "dropped",
    "evidence_of",
    "explicit_retry_after",
    "from_reply",
    "is_rate_limit",
    "malformed_reply",
    "mechanism_unavailable",
    "microsoft_not_authenticated",
    "needs_smtputf8",
    "no_greeting",
    "no_password",
    "no_sender",
    "out_of_step",
    "pin_mismatch",
    "plaintext_auth_refused",
    "port_speaks_plain",
    "port_speaks_tls",
    "resolve_failed",
    "resolve_timeout",
    "retry_after_from",
    "retry_after_header",
    "starttls_not_offered",
    "timed_out",
    "tls_dropped",
    "tls_failed",
    "unexpected_greeting",
]
