"""Exim, nullmailer and OpenSMTPD: what ``mta status`` can tell about them (read only).

``mta apply`` configures Postfix and msmtp-mta only; for these the status
names the smarthost from each program's own configuration (credentials
never shown) and counts the queue with the program's own tool.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from tui_mailsetup.mta import MtaError, run_tool
from tui_mailsetup.sanitize import untrusted_text

EXIM_DEBCONF = Path("/etc/exim4/update-exim4.conf.conf")
NULLMAILER_REMOTES = Path("/etc/nullmailer/remotes")
NULLMAILER_QUEUE = Path("/var/spool/nullmailer/queue")
SMTPD_CONF = Path("/etc/smtpd.conf")
_CREDENTIALS_IN_URL = re.compile(r"//[^@/\s]+@")


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


def exim_relay() -> dict[str, str]:
    """Debian's debconf answers, and the smarthost router's route as ``exim -bP`` prints it."""
    found: dict[str, str] = {}
    for line in _read(EXIM_DEBCONF).splitlines():
        key, _, value = line.partition("=")
        if key.strip() in ("dc_eximconfig_configtype", "dc_smarthost"):
            found[key.strip()] = untrusted_text(value.strip().strip("'\""))
    exim = shutil.which("exim", path="/usr/sbin:/usr/bin") or shutil.which("exim4")
    if exim:
        try:
            result = run_tool([exim, "-bP", "router", "smarthost"], timeout=10)
        except MtaError:
            return found
        for line in result.stdout.splitlines() if result.ok else []:
            key, _, value = line.partition(" = ")
            if key.strip() in ("route_list", "transport"):
                found[f"smarthost.{key.strip()}"] = untrusted_text(value.strip())
    return found


def exim_queue_size() -> int | None:
    try:
        result = run_tool(["exim", "-bpc"], timeout=10)
    except MtaError:
        return None
    return int(result.stdout.strip()) if result.ok and result.stdout.strip().isdigit() else None


def nullmailer_relay() -> dict[str, str]:
    remotes = []
    for line in _read(NULLMAILER_REMOTES).splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            words = [w for w in line.split() if not w.startswith("--pass")]
            remotes.append(untrusted_text(" ".join(words)))
    return {"remotes": "; ".join(remotes)} if remotes else {}


def nullmailer_queue_size() -> int | None:
    try:
        return sum(1 for _ in NULLMAILER_QUEUE.iterdir())
    except OSError:
        return None


def opensmtpd_relay() -> dict[str, str]:
    relays = [
        untrusted_text(_CREDENTIALS_IN_URL.sub("//", line.strip()))
        for line in _read(SMTPD_CONF).splitlines()
        if " relay" in line and not line.lstrip().startswith("#")
    ]
    return {"relay": "; ".join(relays)} if relays else {}


def opensmtpd_queue_size() -> int | None:
    try:
        result = run_tool(["smtpctl", "show", "queue"], timeout=10)
    except MtaError:
        return None
    return len([line for line in result.stdout.splitlines() if line.strip()]) if result.ok else None
