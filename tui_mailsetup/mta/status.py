"""What the command line and the TUI both show: the provider's handler, the status
document, queue entries as JSON with their diagnosis. No printing here."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tui_mailsetup.engine.events import Diagnosis
from tui_mailsetup.exitcodes import ExitCode
from tui_mailsetup.mta import MtaError, others
from tui_mailsetup.mta.detect import MTAS, SYSTEM_SENDMAIL, Provider, detect
from tui_mailsetup.mta.msmtp import Msmtp
from tui_mailsetup.mta.postfix import Postfix, QueueEntry
from tui_mailsetup.mta.reasons import postfix_reason
from tui_mailsetup.settings import MailSettings

if TYPE_CHECKING:
    from tui_mailsetup.config_file import LoadedConfig

Backend = Postfix | Msmtp


def provider_for(mta: str | None, sendmail: Path | None = None) -> Provider:
    """The provider named (``--mta``), else the one detected behind ``sendmail``."""
    path = sendmail or SYSTEM_SENDMAIL
    if mta:
        return Provider(mta, path, path if path.exists() else None)
    return detect(path)


def backend_for(name: str | None, config_dir: Path | None, *, action: str = "this") -> Backend:
    """The Postfix or msmtp handler; MtaError when the MTA is neither or is not installed."""
    if name == "postfix":
        return Postfix(config_dir)
    if name == "msmtp":
        return Msmtp(config_dir)
    if name is None:
        raise MtaError(
            "no mail system provides sendmail on this machine: install postfix or msmtp-mta "
            "(or give --mta)",
            ExitCode.UNAVAILABLE,
        )
    raise MtaError(
        f"sendmail is provided by {MTAS[name][0]}; {action} handles Postfix and msmtp-mta "
        "only (give --mta postfix|msmtp to use one of them)",
        ExitCode.UNAVAILABLE,
    )


def diagnose(entry: QueueEntry, settings: MailSettings | None) -> Diagnosis | None:
    if not entry.reason:
        return None
    return postfix_reason(entry.reason, settings or MailSettings())


def entry_json(entry: QueueEntry, settings: MailSettings | None, now: float) -> dict[str, Any]:
    diagnosis = diagnose(entry, settings)
    return {
        "queue_id": entry.queue_id,
        "queue": entry.queue,
        "arrival": entry.arrival,
        "age": round(entry.age(now), 1),
        "size": entry.size,
        "sender": entry.sender,
        "recipients": [{"address": a, "reason": r} for a, r in entry.recipients],
        "reason": entry.reason,
        "diagnosis": diagnosis.to_json() if diagnosis else None,
    }


def age_text(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    if seconds < 172800:
        return f"{seconds // 3600}h{(seconds % 3600) // 60:02d}m"
    return f"{seconds // 86400}d{(seconds % 86400) // 3600}h"


def _size_only(size: int | None) -> dict[str, Any] | None:
    if size is None:
        return None
    return {"size": size, "deferred": None, "held": None, "oldest_deferred": None}


def _postfix_queue(
    postfix: Postfix, settings: MailSettings | None, notes: list[str]
) -> dict[str, Any] | None:
    try:
        entries = postfix.queue()
    except MtaError as exc:
        notes.append(str(exc))
        return None
    deferred = sorted((e for e in entries if e.queue == "deferred"), key=lambda e: e.arrival)
    return {
        "size": len(entries),
        "deferred": len(deferred),
        "held": sum(1 for e in entries if e.queue == "hold"),
        "oldest_deferred": entry_json(deferred[0], settings, time.time()) if deferred else None,
    }


def _spool_queue() -> dict[str, Any]:
    """This program's own spool (mta/own.py makes it the machine's sendmail)."""
    import time

    from tui_mailsetup.spool import Spool

    spool = Spool()
    queued = spool.entries()
    oldest: dict[str, Any] | None = None
    if queued:
        entry, now = queued[0], time.time()
        envelope = entry.envelope
        # The shape of entry_json's (a Postfix queue entry), so one printer reads both.
        oldest = entry.to_json(now) | {
            "queue_id": entry.id,
            "queue": "spool",
            "arrival": envelope.created,
            "recipients": [{"address": a, "reason": envelope.reason} for a in envelope.recipients],
            "diagnosis": None,
        }
    return {
        "size": len(queued),
        "deferred": len(queued),
        "held": len(spool.entries("failed")),
        "oldest_deferred": oldest,
    }


def machine_status(
    provider: Provider, config_dir: Path | None, settings: MailSettings | None
) -> dict[str, Any]:
    """``mta status --json``: never raises for what it cannot read, says so in ``notes``."""
    notes: list[str] = []
    document: dict[str, Any] = {
        "ok": True,
        "mta": provider.to_json(),
        "installed": provider.name is not None,
        "config_dir": None,
        "version": None,
        "relay": {},
        "matches": None,
        "differences": [],
        "queue": None,
        "notes": notes,
    }
    if settings is None:
        notes.append("this program's configuration does not load: no comparison made")
    try:
        if provider.name in ("postfix", "msmtp"):
            backend = backend_for(provider.name, config_dir)
            document["config_dir"] = str(backend.config_dir)
            if isinstance(backend, Postfix):
                document["version"] = backend.version()
            try:
                document["relay"] = backend.relay_settings()
                if settings is not None and settings.smtp.host:
                    differences = backend.differences(settings)
                    document["differences"] = differences
                    document["matches"] = not differences
                elif settings is not None:
                    notes.append("smtp.host is not set in this program's configuration")
            except MtaError as exc:
                notes.append(str(exc))
            if isinstance(backend, Postfix):
                document["queue"] = _postfix_queue(backend, settings, notes)
            else:
                document["queue"] = {"size": 0, "deferred": 0, "held": 0, "oldest_deferred": None}
                notes.append("msmtp delivers at once and keeps no queue")
        elif provider.name == "exim":
            document["relay"] = others.exim_relay()
            document["queue"] = _size_only(others.exim_queue_size())
        elif provider.name == "nullmailer":
            document["relay"] = others.nullmailer_relay()
            document["queue"] = _size_only(others.nullmailer_queue_size())
        elif provider.name == "tui-mailsetup":
            document["relay"] = {"driver": settings.driver.value} if settings is not None else {}
            document["queue"] = _spool_queue()
        elif provider.name == "opensmtpd":
            document["relay"] = others.opensmtpd_relay()
            document["queue"] = _size_only(others.opensmtpd_queue_size())
    except MtaError as exc:
        notes.append(str(exc))
    return document


def status_lines(document: dict[str, Any]) -> list[str]:
    """The status as text lines (the command line prints them, the TUI shows them)."""
    lines: list[str] = []
    mta = document["mta"]
    if not document["installed"]:
        lines.append(f"Mail system:  none ({mta['sendmail']} does not exist)")
        lines.append("              install postfix (or msmtp-mta) to give this machine a sendmail")
    else:
        version = f" {document['version']}" if document["version"] else ""
        package = f", package {mta['package']}" if mta["package"] else ""
        lines.append(f"Mail system:  {mta['label']}{version} (provides {mta['sendmail']}{package})")
    if document["config_dir"]:
        lines.append(f"Configuration: {document['config_dir']}")
    relay = document["relay"]
    if relay:
        lines.append("Relay settings:")
        lines += [f"  {key} = {value}" for key, value in relay.items()]
    elif document["installed"]:
        lines.append("Relay settings: none set (mail goes out directly, or nowhere)")
    if document["matches"] is True:
        lines.append("Matches this program's settings: yes")
    elif document["matches"] is False:
        lines.append("Matches this program's settings: no (mta apply would change:)")
        for diff in document["differences"]:
            name = diff.get("parameter") or diff.get("key")
            lines.append(
                f"  {name}: {diff['current'] or '(unset)'} -> {diff['wanted'] or '(removed)'}"
            )
    queue = document["queue"]
    if queue is not None:
        parts = [f"{queue['size']} message(s)"]
        if queue["deferred"] is not None:
            parts.append(f"{queue['deferred']} deferred, {queue['held']} held")
        lines.append(f"Queue:        {', '.join(parts)}")
        oldest = queue.get("oldest_deferred")
        if oldest:
            to = ", ".join(r["address"] for r in oldest["recipients"])
            lines.append(
                f"Oldest deferred: {oldest['queue_id']}, {age_text(oldest['age'])} old, to {to}"
            )
            if oldest.get("diagnosis"):
                lines.append(f"  cause: {oldest['diagnosis']['cause']}")
            lines.append(f"  reason: {oldest['reason']}")
    lines += [f"note: {note}" for note in document["notes"]]
    return lines


def queue_lines(entries: list[QueueEntry], settings: MailSettings | None) -> list[str]:
    now = time.time()
    lines: list[str] = []
    if not entries:
        lines.append("the queue is empty")
    for entry in sorted(entries, key=lambda e: e.arrival):
        to = ", ".join(address for address, _ in entry.recipients)
        lines.append(
            f"{entry.queue_id}  {entry.queue:<8} {age_text(entry.age(now)):>7}  "
            f"{entry.sender} -> {to}"
        )
        diagnosis = diagnose(entry, settings)
        if diagnosis is not None:
            lines.append(f"    cause: {diagnosis.cause}")
        if entry.reason:
            lines.append(f"    reason: {entry.reason}")
    return lines


def password_for(loaded: LoadedConfig) -> str | None:
    """smtp.password from this program's secret sources, when the relay needs a login."""
    from tui_mailsetup.secrets import SecretError, resolve_secret

    if not loaded.settings.smtp.username:
        return None
    try:
        return resolve_secret(loaded, "smtp.password").value
    except SecretError as exc:
        raise MtaError(str(exc), ExitCode.CONFIG) from exc
