"""This program as the machine's sendmail (``mta apply|revert --mta tui-mailsetup``).

``apply`` makes ``/usr/sbin/sendmail`` a symlink to the ``tui-mailsetup`` console script
(called as ``sendmail``, it runs its ``sendmail`` command), keeping what was there as
``/usr/sbin/sendmail.before-tui-mailsetup``, and installs ``/etc/cron.d/tui-mailsetup``,
which retries the spool every five minutes (its output goes to the system log through
``logger``, never to mail: mailing it would go through the very sendmail that cannot send).
``revert`` takes back exactly that: the symlink only while it still points at this
program, the saved sendmail back in its place, the cron file only while it is the one
written here; anything changed by hand since is kept and named.

The same by hand (or through ``update-alternatives`` where a distribution manages
sendmail that way)::

    ln -sf "$(command -v tui-mailsetup)" /usr/sbin/sendmail
    echo '*/5 * * * * root tui-mailsetup mta queue --mta tui-mailsetup --retry 2>&1 | logger -t tui-mailsetup' \\
        > /etc/cron.d/tui-mailsetup

or a systemd timer running ``tui-mailsetup mta queue --mta tui-mailsetup --retry``
(``OnUnitActiveSec=5min``).

``root`` (``--config-dir``) is the file system root these paths are under: ``/``, or a
directory in tests.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from tui_mailsetup.exitcodes import ExitCode
from tui_mailsetup.mta import MtaError
from tui_mailsetup.paths import installed_command

PROGRAM = "tui-mailsetup"
SAVED_SUFFIX = ".before-tui-mailsetup"


def cron_line(program: Path) -> str:
    return (
        f"*/5 * * * * root {program} mta queue --mta tui-mailsetup --retry 2>&1 "
        "| logger -t tui-mailsetup\n"
    )


def program_path() -> Path:
    """The console script to link to: the one running, else the one installed beside this
    interpreter (``python -m tui_mailsetup`` in a virtual environment), else PATH's. (A
    version manager's shim on PATH would dispatch on the link's name, ``sendmail``.)"""
    running = Path(sys.argv[0]) if sys.argv and sys.argv[0] else None
    if running is not None and running.name == PROGRAM and running.is_file():
        return running.resolve()
    found = installed_command(PROGRAM)
    if found is None:
        raise MtaError(
            f"no {PROGRAM} executable on PATH to make the machine's sendmail "
            "(install the package, not only the module)",
            ExitCode.UNAVAILABLE,
        )
    return found.resolve()


@dataclass(frozen=True)
class Paths:
    sendmail: Path
    saved: Path
    cron: Path

    @classmethod
    def under(cls, root: Path) -> Paths:
        sendmail = root / "usr" / "sbin" / "sendmail"
        return cls(
            sendmail,
            sendmail.with_name(sendmail.name + SAVED_SUFFIX),
            root / "etc" / "cron.d" / PROGRAM,
        )


def _ours(link: Path, program: Path | None = None) -> bool:
    if not link.is_symlink():
        return False
    target = Path(os.readlink(link))
    if program is not None:
        return target == program
    return target.name == PROGRAM


def plan(root: Path, program: Path) -> list[str]:
    """What apply would change, one line each (empty: already so)."""
    where = Paths.under(root)
    changes: list[str] = []
    if not _ours(where.sendmail, program):
        if where.sendmail.exists() or where.sendmail.is_symlink():
            changes.append(f"keep {where.sendmail} as {where.saved}")
        changes.append(f"link {where.sendmail} -> {program}")
    try:
        current = where.cron.read_text()
    except OSError:
        current = None
    if current != cron_line(program):
        changes.append(f"write {where.cron}: {cron_line(program).strip()}")
    return changes


def apply(root: Path, program: Path) -> list[str]:
    where = Paths.under(root)
    done: list[str] = []
    if not _ours(where.sendmail, program):
        present = where.sendmail.exists() or where.sendmail.is_symlink()
        if present and not _ours(where.sendmail):
            if where.saved.exists() or where.saved.is_symlink():
                raise MtaError(
                    f"{where.saved} exists already (an earlier apply's copy?): move it away "
                    "or run mta revert --mta tui-mailsetup first",
                    ExitCode.CANTCREAT,
                )
            os.rename(where.sendmail, where.saved)
            done.append(f"kept {where.sendmail} as {where.saved}")
        where.sendmail.parent.mkdir(parents=True, exist_ok=True)
        temporary = where.sendmail.with_name(f".sendmail.{os.getpid()}.tmp")
        os.symlink(program, temporary)
        os.replace(temporary, where.sendmail)
        done.append(f"linked {where.sendmail} -> {program}")
    from tui_mailsetup import files

    line = cron_line(program)
    try:
        current = where.cron.read_text()
    except OSError:
        current = None
    if current != line:
        where.cron.parent.mkdir(parents=True, exist_ok=True)
        files.atomic_write(where.cron, line.encode(), mode=0o644)
        done.append(f"wrote {where.cron} (retries the spool every 5 minutes)")
    return done


def revert(root: Path) -> list[str]:
    where = Paths.under(root)
    done: list[str] = []
    kept: list[str] = []
    if _ours(where.sendmail):
        where.sendmail.unlink()
        done.append(f"removed the link {where.sendmail}")
        if where.saved.exists() or where.saved.is_symlink():
            os.rename(where.saved, where.sendmail)
            done.append(f"restored {where.sendmail} from {where.saved}")
    elif where.saved.exists() or where.saved.is_symlink():
        kept.append(
            f"{where.sendmail} is no longer this program's link (changed since): kept, and "
            f"{where.saved} left where it is"
        )
    try:
        current = where.cron.read_text()
    except OSError:
        current = None
    if current is not None:
        if current.startswith("*/5 * * * * root ") and "mta queue --mta tui-mailsetup" in current:
            where.cron.unlink()
            done.append(f"removed {where.cron}")
        else:
            kept.append(f"{where.cron} was edited since: kept")
    if not done and not kept:
        raise MtaError(
            "tui-mailsetup is not this machine's sendmail: nothing to revert", ExitCode.DATAERR
        )
    return done + [f"note: {line}" for line in kept]
