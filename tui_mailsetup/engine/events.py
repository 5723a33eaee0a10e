"""What a driver reports while it works: typed events, in the order they happen.

The command line prints them, the TUI's diagnostics pane renders them, and
``--json`` serialises them. All text in them that came from a server has
already been through :func:`tui_mailsetup.sanitize.untrusted_text`, and no
secret (raw or base64) ever appears in them.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

from tui_mailsetup.exitcodes import ExitCode
from tui_mailsetup.fixes import Fix


class Stage(StrEnum):
    """The diagnostics ladder, in order."""

    CONFIG = "config"
    """A setting that cannot be used, found before any network I/O."""
    RESOLVE = "resolve"
    CONNECT = "connect"
    TLS = "tls"
    """The implicit-TLS handshake (encryption = tls), right after connect."""
    GREETING = "greeting"
    EHLO = "ehlo"
    STARTTLS = "starttls"
    EHLO_AGAIN = "ehlo-again"
    AUTH = "auth"
    MAIL = "mail"
    RCPT = "rcpt"
    DATA = "data"
    QUIT = "quit"
    # Drivers that are not SMTP report a single stage.
    SEND = "send"

    @property
    def label(self) -> str:
        return _LABELS[self]


_LABELS = {
    Stage.CONFIG: "Configuration",
    Stage.RESOLVE: "Resolve",
    Stage.CONNECT: "Connect",
    Stage.TLS: "TLS handshake",
    Stage.GREETING: "Greeting",
    Stage.EHLO: "EHLO",
    Stage.STARTTLS: "STARTTLS",
    Stage.EHLO_AGAIN: "EHLO again",
    Stage.AUTH: "AUTH",
    Stage.MAIL: "MAIL FROM",
    Stage.RCPT: "RCPT TO",
    Stage.DATA: "DATA",
    Stage.QUIT: "QUIT",
    Stage.SEND: "Send",
}


class Direction(StrEnum):
    SENT = "sent"
    RECEIVED = "received"
    NOTE = "note"
    """A line the engine adds for the reader (a TLS boundary, a redaction)."""


@dataclass(frozen=True)
class StageStarted:
    stage: Stage
    at: float = field(default_factory=time.monotonic)


@dataclass(frozen=True)
class StageFinished:
    stage: Stage
    ok: bool
    elapsed: float
    """Seconds the stage took."""
    detail: str = ""
    """A short summary: "93.184.216.34", "TLSv1.3", "PLAIN as alice"."""


@dataclass(frozen=True)
class TranscriptLine:
    direction: Direction
    text: str
    """Sanitised; credentials replaced by a placeholder."""
    encrypted: bool
    """Whether the line travelled inside TLS."""
    at: float = field(default_factory=time.monotonic)


@dataclass(frozen=True)
class TlsDetails:
    version: str
    cipher: str
    subject: str
    issuer: str
    sans: tuple[str, ...]
    not_before: str
    """ISO 8601, UTC."""
    not_after: str
    fingerprint_sha256: str
    """Colon-separated upper-case hex, as ``openssl x509 -fingerprint -sha256`` prints it."""
    verified: bool
    verify_message: str = ""
    """Why verification failed, or how trust was decided ("pinned fingerprint")."""
    chain: tuple[str, ...] = ()
    """Subjects of the certificates the server sent, leaf first, where known."""


@dataclass(frozen=True)
class ServerCapabilities:
    extensions: tuple[str, ...]
    """Every EHLO keyword, upper case (STARTTLS, PIPELINING, …)."""
    auth_mechanisms: tuple[str, ...] = ()
    size_limit: int | None = None
    starttls: bool = False
    smtputf8: bool = False
    eightbitmime: bool = False
    pipelining: bool = False
    encrypted: bool = False
    """Whether this EHLO answer came over TLS (the second EHLO after STARTTLS)."""


@dataclass(frozen=True)
class Diagnosis:
    stage: Stage
    cause: str
    """One line a person reads first: "The server does not offer STARTTLS"."""
    evidence: str = ""
    """The server's reply or the error, sanitised."""
    explanation: str = ""
    """A few sentences on what this usually means."""
    fix: Fix | None = None
    exit_code: ExitCode = ExitCode.TEMPFAIL
    retry_after: float | None = None
    """For rate limits: Unix time before which another attempt is pointless."""

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["stage"] = self.stage.value
        data["exit_code"] = int(self.exit_code)
        data["fix"] = self.fix.to_json() if self.fix else None
        return data


@dataclass(frozen=True)
class Outcome:
    """Always the last event."""

    ok: bool
    stage: Stage
    """The last stage reached, or the one that failed."""
    elapsed: float
    diagnosis: Diagnosis | None = None
    message_id: str = ""
    recipients: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    """Things that went wrong without changing the verdict (QUIT unanswered after 250)."""
    driver_details: Mapping[str, Any] = field(default_factory=dict)
    """Facts a driver's check learned (the SES account and sender identity), JSON-ready."""

    @property
    def exit_code(self) -> ExitCode:
        if self.ok:
            return ExitCode.OK
        return self.diagnosis.exit_code if self.diagnosis else ExitCode.TEMPFAIL

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "stage": self.stage.value,
            "elapsed": round(self.elapsed, 3),
            "message_id": self.message_id,
            "recipients": list(self.recipients),
            "diagnosis": self.diagnosis.to_json() if self.diagnosis else None,
            "exit_code": int(self.exit_code),
            "warnings": list(self.warnings),
            **({"driver_details": dict(self.driver_details)} if self.driver_details else {}),
        }


Event = StageStarted | StageFinished | TranscriptLine | TlsDetails | ServerCapabilities | Outcome


def event_to_json(event: Event) -> dict[str, Any]:
    if isinstance(event, Outcome):
        return {"type": "outcome", **event.to_json()}
    data = asdict(event)
    for key, value in data.items():
        if isinstance(value, StrEnum):
            data[key] = value.value
    return {"type": type(event).__name__, **data}
