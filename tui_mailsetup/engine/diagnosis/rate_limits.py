"""Rate limits and retry-after: when a reply is a rate limit and when to try again.

The one home of retry-after times for SMTP replies (:func:`explicit_retry_after`,
:func:`retry_after_from`) and HTTP ``Retry-After`` headers (:func:`retry_after_header`).
"""

from __future__ import annotations

import datetime as dt
import re
import time
from email.utils import parsedate_to_datetime

RATE_LIMIT_CODES = frozenset({421, 450, 451, 452})
DEFAULT_BACKOFF = 300.0
"""Seconds to wait after a rate limit whose reply names no time."""
MAX_BACKOFF = 24 * 3600.0
"""The longest wait a server can ask for; a later time is not believed."""

_RATE_TEXT = re.compile(
    r"\b(?:rate|rate[- ]limit(?:ed|ing)?|limit(?:ed|s)?|too many|throttl\w*|quota|exceeded"
    r"|try again later)\b",
    re.IGNORECASE,
)
"""Words that make a 4xx reply a rate limit (whole words: "generate" is not "rate")."""
_RATE_ONLY_TEXT = re.compile(
    r"\b(?:rate|rate[- ]limit(?:ed|ing)?|limit(?:ed|s)?|too many|throttl\w*|quota|exceeded)\b",
    re.IGNORECASE,
)
_DURATION = re.compile(
    # A number that stands alone ("in 10 minutes", "90s"), never the tail of a
    # token such as a queue id ("9f3e2a4h-77") or a status code ("4.7.1").
    r"(?<![\w.:-])(\d+(?:\.\d+)?)\s*(seconds?|secs?|s|minutes?|mins?|m|hours?|hrs?|h)(?![\w-])",
    re.IGNORECASE,
)


def explicit_retry_after(message: str, *, now: float | None = None) -> float | None:
    """Unix time the reply names (a timestamp, or "in 10 minutes"); None when it names none."""
    now = time.time() if now is None else now
    stamp = re.search(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2})?(Z|[+-]\d{2}:?\d{2})?", message)
    if stamp:
        try:
            moment = dt.datetime.fromisoformat(
                stamp.group().replace(" ", "T").replace("Z", "+00:00")
            )
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=dt.UTC)
            value = moment.timestamp()
            if now < value <= now + MAX_BACKOFF:
                return value
        except ValueError:
            pass
    duration = _DURATION.search(message)
    if duration:
        amount = float(duration.group(1))
        unit = duration.group(2).lower()
        factor = 3600.0 if unit.startswith("h") else 60.0 if unit.startswith("m") else 1.0
        seconds = amount * factor
        if 0 < seconds <= MAX_BACKOFF:
            return now + seconds
    return None


def retry_after_from(message: str, *, now: float | None = None) -> float:
    """Unix time before which another attempt is pointless: the reply's, else a back-off."""
    now = time.time() if now is None else now
    explicit = explicit_retry_after(message, now=now)
    return explicit if explicit is not None else now + DEFAULT_BACKOFF


def is_rate_limit(code: int, message: str) -> bool:
    """A rate-limit code (421, 450, 451, 452), or another 4xx that says it is one."""
    return code in RATE_LIMIT_CODES or (400 <= code < 500 and bool(_RATE_TEXT.search(message)))


def retry_after_header(value: str, *, now: float | None = None) -> float | None:
    """Unix time an HTTP ``Retry-After`` header names, or None when it names none.

    Both forms of RFC 9110 10.2.3: delay-seconds (``120``) and an HTTP-date
    (``Wed, 21 Oct 2026 07:28:00 GMT``). As for SMTP replies, a wait longer than
    :data:`MAX_BACKOFF` is cut to it and a date in the past asks for no wait.
    """
    now = time.time() if now is None else now
    value = value.strip()
    if value.isdigit():
        return now + min(float(value), MAX_BACKOFF)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    stamp = moment.timestamp()
    return min(stamp, now + MAX_BACKOFF) if stamp > now else None
