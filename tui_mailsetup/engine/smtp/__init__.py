"""The SMTP engine: one test conversation, streamed as typed events.

Built on aiosmtplib's protocol layer (``aiosmtplib.protocol.SMTPProtocol``:
reply parsing with size limits, dot-stuffing, command-injection checks, the
STARTTLS buffer flush against injection) rather than on its ``SMTP`` client
class, whose conveniences are exactly what a diagnostic client must not do:
upgrade or stay in plain text on its own, fall back from EHLO to HELO, or try
AUTH mechanism after mechanism. Every stage is driven here, one at a time.

Split by concern, in aiosmtplib's shape (each module's docstring says more):

- :mod:`.redaction`: :class:`Redactor`, the single exit every event passes through;
- :mod:`.protocol`: :class:`TranscriptProtocol`, every byte in and out a transcript line;
- :mod:`.connection`: resolving, happy eyeballs, sockets;
- :mod:`.probes`: the port-mismatch probes and the certificate re-inspection;
- :mod:`.auth`: the mechanism, the one AUTH exchange, XOAUTH2/OAUTHBEARER, the ``*`` cancel;
- :mod:`.session`: one run's state and how it ends (an Outcome, always);
- :mod:`.conversation`: the ladder (:class:`Conversation`) and :func:`run_smtp`;
- :mod:`.errors`: the exceptions the ladder raises and catches.

pyproject pins the aiosmtplib range it was tested with (>=5.1.2,<5.2), and
tests/unit/test_aiosmtplib_surface.py pins every name imported from it.

Security rules enforced here (README, "Security"): the configured encryption is the
encryption used; verification is never relaxed on a retry; credentials never
travel in plain text unless ``allow_plaintext_auth``; exactly one AUTH attempt;
no secret (raw or base64) in any event; server text always sanitised.
"""

from tui_mailsetup.engine.smtp.auth import (
    AUTO_PREFERENCE,
    BEARER_MECHANISMS,
    decode_bearer_error,
    describe_bearer_error,
    oauthbearer_encode,
)
from tui_mailsetup.engine.smtp.connection import HAPPY_EYEBALLS_DELAY
from tui_mailsetup.engine.smtp.conversation import Conversation, run_smtp
from tui_mailsetup.engine.smtp.errors import HandshakeDropped, RepliesOutOfStep
from tui_mailsetup.engine.smtp.probes import PROBE_READ_LIMIT
from tui_mailsetup.engine.smtp.protocol import (
    MAX_BODY_LINES,
    MAX_LINE_BYTES,
    MAX_LINES_PER_REPLY,
    StartTlsState,
    TranscriptProtocol,
)
from tui_mailsetup.engine.smtp.redaction import Redactor, server_text
from tui_mailsetup.engine.smtp.session import GREETING_GRACE, QUIT_GRACE, stage_index

__all__ = [
    "AUTO_PREFERENCE",
    "BEARER_MECHANISMS",
    "GREETING_GRACE",
    "HAPPY_EYEBALLS_DELAY",
    "MAX_BODY_LINES",
    "MAX_LINES_PER_REPLY",
    "MAX_LINE_BYTES",
    "PROBE_READ_LIMIT",
    "QUIT_GRACE",
    "Conversation",
    "HandshakeDropped",
    "Redactor",
    "RepliesOutOfStep",
    "StartTlsState",
    "TranscriptProtocol",
    "decode_bearer_error",
    "describe_bearer_error",
    "oauthbearer_encode",
    "run_smtp",
    "server_text",
    "stage_index",
]
