"""Which program provides ``/usr/sbin/sendmail``: Postfix, Exim, msmtp-mta, nullmailer, OpenSMTPD.

Debian installs each as a package that provides ``mail-transport-agent``;
the binary is either the MTA's own ``sendmail`` or a symbolic link to its
main program. The link's target names the program; for a real file the
package database says who owns it.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from tui_mailsetup.mta import MtaError, run_tool

SYSTEM_SENDMAIL = Path("/usr/sbin/sendmail")

MTAS: dict[str, tuple[str, str]] = {
    # name: (what people call it, the Debian package that provides sendmail)
    "postfix": ("Postfix", "postfix"),
    "exim": ("Exim", "exim4-daemon-light"),
    "msmtp": ("msmtp", "msmtp-mta"),
    "nullmailer": ("nullmailer", "nullmailer"),
    "opensmtpd": ("OpenSMTPD", "opensmtpd"),
    "sendmail": ("Sendmail", "sendmail-bin"),
    "tui-mailsetup": ("tui-mailsetup sendmail", "tui-mailsetup"),
}
APPLICABLE = ("postfix", "msmtp")
"""The MTAs ``mta apply`` can configure."""

_BY_PROGRAM = {
    "msmtp": "msmtp",
    "exim": "exim",
    "exim4": "exim",
    "smtpctl": "opensmtpd",
    "nullmailer-inject": "nullmailer",
    "sendmail.postfix": "postfix",
    "sendmail.sendmail": "sendmail",
    "tui-mailsetup": "tui-mailsetup",  # mta apply --mta tui-mailsetup (mta/own.py)
}
_BY_PACKAGE_PREFIX = (
    ("postfix", "postfix"),
    ("exim4", "exim"),
    ("msmtp", "msmtp"),
    ("nullmailer", "nullmailer"),
    ("opensmtpd", "opensmtpd"),
    ("sendmail", "sendmail"),
)


@dataclass(frozen=True)
class Provider:
    name: str | None
    """One of :data:`MTAS`, or None when nothing provides sendmail."""
    sendmail: Path
    resolved: Path | None
    """Where the sendmail binary really is (links followed), None when missing."""
    package: str | None = None
    """The Debian package that owns it, when the package database knows."""

    @property
    def label(self) -> str:
        return MTAS[self.name][0] if self.name else "none"

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "label": self.label,
            "sendmail": str(self.sendmail),
            "resolved": str(self.resolved) if self.resolved else None,
            "package": self.package,
        }


def _owning_package(path: Path) -> str | None:
    if shutil.which("dpkg-query") is None:
        return None
    try:
        result = run_tool(["dpkg-query", "-S", str(path)], timeout=10)
    except MtaError:
        return None
    if not result.ok or ":" not in result.stdout:
        return None
    # "postfix: /usr/sbin/sendmail" (or "diversion by …" lines first).
    for line in result.stdout.splitlines():
        package, _, owned = line.partition(": ")
        if owned.strip() == str(path) and " " not in package:
            return package.split(":")[0]
    return None


def detect(sendmail: Path = SYSTEM_SENDMAIL) -> Provider:
    """The provider of ``sendmail`` (default: the system's)."""
    if not os.path.lexists(sendmail):
        return Provider(None, sendmail, None)
    resolved = Path(os.path.realpath(sendmail))
    if not resolved.exists():
        return Provider(None, sendmail, None)
    name = _BY_PROGRAM.get(resolved.name)
    package = _owning_package(resolved) or _owning_package(sendmail)
    if name is None and package:
        for prefix, mta in _BY_PACKAGE_PREFIX:
            if package.startswith(prefix):
                name = mta
                break
    if name is None:
        # No package database: the MTAs' own companion tools tell them apart.
        for tool, mta in (("postconf", "postfix"), ("exim", "exim"), ("smtpctl", "opensmtpd")):
            if shutil.which(tool, path="/usr/sbin:/usr/bin:/sbin:/bin"):
                name = mta
                break
    return Provider(name, sendmail, resolved, package)
