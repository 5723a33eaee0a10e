"""Runtime state beside the configuration: the last test's result and "rate limited until".

A small JSON file (``state.json`` next to ``config.toml``). It holds no
secret. Reading a missing or damaged file gives an empty state, and a write
that fails (read-only directory, full disk) is ignored: remembering is a
convenience, never a reason for a test to fail.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tui_mailsetup import files, paths

# The engine's events are for recording an outcome; `show` only reads the state.
if TYPE_CHECKING:
    from tui_mailsetup.engine.events import Outcome

STATE_VERSION = 1


@dataclass(frozen=True)
class LastTest:
    ok: bool
    stage: str
    at: float
    """Unix time the test finished."""
    exit_code: int
    kind: str = "send-test"
    """send-test or check."""
    cause: str = ""
    host: str = ""
    port: int | None = None


@dataclass(frozen=True)
class MailState:
    last_test: LastTest | None = None
    rate_limited_until: float | None = None
    """Unix time before which the server asked not to be tried again."""

    def rate_limited(self, now: float | None = None) -> bool:
        moment = time.time() if now is None else now
        return self.rate_limited_until is not None and self.rate_limited_until > moment

    def summary(self, now: float | None = None) -> dict[str, str]:
        """Human one-liners for ``show``: ``last_test`` and, while in force, ``rate_limited_until``."""
        lines: dict[str, str] = {}
        last = self.last_test
        if last is not None:
            where = f" to {last.host}:{last.port}" if last.host and last.port else ""
            when = _utc(last.at)
            if last.ok:
                lines["last_test"] = f"ok ({last.kind}{where}) at {when}"
            else:
                cause = f": {last.cause}" if last.cause else ""
                lines["last_test"] = (
                    f"failed at {last.stage} (exit {last.exit_code}){cause} ({last.kind}{where}) at {when}"
                )
        if self.rate_limited(now) and self.rate_limited_until is not None:
            lines["rate_limited_until"] = _utc(self.rate_limited_until)
        return lines

    def to_json(self) -> dict[str, Any]:
        return {
            "version": STATE_VERSION,
            "last_test": asdict(self.last_test) if self.last_test else None,
            "rate_limited_until": self.rate_limited_until,
        }


def _utc(moment: float) -> str:
    try:
        return dt.datetime.fromtimestamp(moment, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    except (OverflowError, OSError, ValueError):
        # A hand-edited state file: say so rather than fail `show`.
        return f"an invalid time ({moment!r})"


def load_state(config_path: Path) -> MailState:
    path = paths.state_path(config_path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return MailState()
    if not isinstance(data, dict):
        return MailState()
    last: LastTest | None = None
    raw = data.get("last_test")
    if isinstance(raw, dict):
        # A hand-edited or older file: a missing or mistyped field means no last test.
        with contextlib.suppress(KeyError, TypeError, ValueError):
            last = LastTest(
                ok=bool(raw["ok"]),
                stage=str(raw["stage"]),
                at=float(raw["at"]),
                exit_code=int(raw["exit_code"]),
                kind=str(raw.get("kind", "send-test")),
                cause=str(raw.get("cause", "")),
                host=str(raw.get("host", "")),
                port=int(raw["port"]) if raw.get("port") is not None else None,
            )
    until = data.get("rate_limited_until")
    rate_limited_until = None
    if isinstance(until, int | float) and not isinstance(until, bool):
        with contextlib.suppress(OverflowError):
            rate_limited_until = float(until)
    return MailState(last, rate_limited_until)


def record_outcome(
    config_path: Path,
    outcome: Outcome,
    *,
    kind: str = "send-test",
    host: str = "",
    port: int | None = None,
    now: float | None = None,
) -> MailState:
    """Remember ``outcome``; returns the new state (also when it could not be written)."""
    from tui_mailsetup.engine.events import Stage

    # The stages an ok outcome ends at once a message was accepted (SEND: a non-SMTP driver).
    past_rcpt = Stage.between(Stage.DATA, Stage.SEND)
    moment = time.time() if now is None else now
    previous = load_state(config_path)
    diagnosis = outcome.diagnosis
    last = LastTest(
        ok=outcome.ok,
        stage=outcome.stage.value,
        at=moment,
        exit_code=int(outcome.exit_code),
        kind=kind,
        cause=diagnosis.cause if diagnosis else "",
        host=host,
        port=port,
    )
    if diagnosis is not None and diagnosis.retry_after is not None:
        until: float | None = diagnosis.retry_after
    elif outcome.ok and outcome.stage in past_rcpt:
        until = None  # the server took a message: whatever limit there was is over
    else:
        # A failure without a time, or a `check` that stopped before MAIL (limits
        # apply to sending, and a successful login says nothing about them).
        until = previous.rate_limited_until if previous.rate_limited(moment) else None
    state = MailState(last, until)
    path = paths.state_path(config_path)
    with contextlib.suppress(OSError):
        files.ensure_dir(path.parent, private=True)
        data = json.dumps(state.to_json(), indent=2).encode("utf-8") + b"\n"
        files.atomic_write(path, data, mode=0o600)
    return state
