"""Progress on stderr for the commands that wait on the network (dns, detect): which
check or candidate is still running, redrawn on one line while a person watches.

Only when stderr is a terminal (and not --quiet); nothing at all otherwise, so that
scripts and logs see exactly what they saw before. The engines are not told: what is
running is read from the event loop's own tasks (their coroutine's name, and for a
probe the candidate it holds), so they stay free of any front end.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Coroutine
from typing import Any, TypeVar

from tui_mailsetup.sanitize import untrusted_text

T = TypeVar("T")

# Coroutine names (their __qualname__'s last part) as a person reads them.
LABELS = {
    "_check_mx": "MX",
    "_check_spf": "SPF",
    "_check_dkim": "DKIM",
    "check_dmarc": "DMARC",
    "mta_sts": "MTA-STS",
    "check_tls_rpt": "TLS-RPT",
    "srv": "SRV records",
    "mx": "MX",
    "autoconfig": "autoconfig",
    "ispdb": "ISPDB",
    "guesses": "guessed hosts",
    "_probe": "probe",
}
_INTERVAL = 0.2
_WIDTH = 78


def wanted(args: Any) -> bool:
    """Progress is for a person: stderr a terminal, no --quiet."""
    if getattr(args, "quiet", False):
        return False
    isatty = getattr(sys.stderr, "isatty", None)
    return bool(isatty and isatty())


def _running(own: set[asyncio.Task[Any]]) -> list[str]:
    names: list[str] = []
    for task in asyncio.all_tasks():
        if task in own or task.done():
            continue
        coro = task.get_coro()
        name = getattr(coro, "__qualname__", "").rpartition(".")[2]
        label = LABELS.get(name)
        if label is None:
            continue
        if name == "_probe":
            frame = getattr(coro, "cr_frame", None)
            candidate = frame.f_locals.get("candidate") if frame is not None else None
            host, port = getattr(candidate, "host", ""), getattr(candidate, "port", "")
            label = f"probe {host}:{port}" if host else label
        if label not in names:
            names.append(label)
    return names


async def _with_progress(what: str, work: Coroutine[Any, Any, T]) -> T:
    started = time.monotonic()
    task = asyncio.ensure_future(work)
    own = {task}
    if (current := asyncio.current_task()) is not None:
        own.add(current)
    shown = False
    try:
        while not task.done():
            await asyncio.wait({task}, timeout=_INTERVAL)
            if task.done():
                break
            running = ", ".join(_running(own)) or "working"
            line = untrusted_text(f"{what}: {running} … {time.monotonic() - started:.1f} s")
            if len(line) > _WIDTH:
                line = line[: _WIDTH - 1] + "…"
            sys.stderr.write(f"\r\x1b[K{line}")
            sys.stderr.flush()
            shown = True
        return task.result()
    finally:
        if not task.done():
            task.cancel()
        if shown:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()


def run_with_progress(args: Any, what: str, work: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(work)``, with the progress line while a person watches."""
    if not wanted(args):
        return asyncio.run(work)
    return asyncio.run(_with_progress(what, work))
