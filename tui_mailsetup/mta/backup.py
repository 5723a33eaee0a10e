"""Backups of the files ``mta apply`` changes, restored byte for byte by ``mta revert``.

Each apply keeps one backup directory (mode 0700) holding a copy of every
file it is about to change and a manifest saying which files existed, with
their mode and owner; a file that did not exist is removed on revert.
Reverting restores the newest backup and drops it, so repeated reverts walk
back through successive applies.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from tui_mailsetup import files
from tui_mailsetup.exitcodes import ExitCode
from tui_mailsetup.mta import MtaError

BACKUP_DIR_NAME = ".tui-mailsetup-backups"
MANIFEST = "manifest.json"


def backup_root(config_dir: Path, mta: str) -> Path:
    return config_dir / BACKUP_DIR_NAME / mta


@dataclass(frozen=True)
class Restored:
    backup: Path
    restored: list[Path]
    removed: list[Path]


def save(root: Path, targets: list[Path]) -> Path:
    """Copy ``targets`` (those that exist) into a new backup directory under ``root``."""
    files.ensure_dir(root, private=True)
    os.chmod(root, 0o700)
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    directory = root / stamp
    serial = 1
    while directory.exists():
        serial += 1
        directory = root / f"{stamp}-{serial}"
    directory.mkdir(mode=0o700)
    entries = []
    for index, target in enumerate(targets):
        entry: dict[str, object] = {"path": str(target), "existed": target.exists()}
        if target.exists():
            info = target.stat()
            copy = directory / f"{index}-{target.name}"
            # The copy is private whatever the original's mode: it may hold a secret.
            fd = os.open(copy, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as handle, target.open("rb") as source:
                shutil.copyfileobj(source, handle)
            entry |= {
                "copy": copy.name,
                "mode": info.st_mode & 0o7777,
                "uid": info.st_uid,
                "gid": info.st_gid,
            }
        entries.append(entry)
    (directory / MANIFEST).write_text(json.dumps({"files": entries}, indent=2) + "\n")
    return directory


def latest(root: Path) -> Path | None:
    if not root.is_dir():
        return None
    candidates = sorted(p for p in root.iterdir() if (p / MANIFEST).is_file())
    return candidates[-1] if candidates else None


def restore(root: Path) -> Restored:
    """Put back the newest backup under ``root`` byte for byte (with mode and owner), then drop it."""
    directory = latest(root)
    if directory is None:
        raise MtaError(
            f"there is no backup to restore in {root} (mta apply keeps one each time it writes)",
            ExitCode.DATAERR,
        )
    try:
        manifest = json.loads((directory / MANIFEST).read_text())
        entries = list(manifest["files"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise MtaError(f"the backup {directory} is damaged: {exc}", ExitCode.DATAERR) from exc
    restored: list[Path] = []
    removed: list[Path] = []
    for entry in entries:
        target = Path(entry["path"])
        if entry["existed"]:
            data = (directory / entry["copy"]).read_bytes()
            mode = int(entry["mode"])
            files.atomic_write(target, data, mode=mode)
            if os.geteuid() == 0:
                os.chown(target, int(entry["uid"]), int(entry["gid"]))
            os.chmod(target, mode)
            restored.append(target)
        elif target.exists():
            target.unlink()
            removed.append(target)
    shutil.rmtree(directory)
    return Restored(directory, restored, removed)


@contextlib.contextmanager
def exclusive(root: Path) -> Iterator[None]:
    """One apply or revert at a time for this MTA: a second one waits for the first."""
    files.ensure_dir(root, private=True)
    fd = os.open(root / ".lock", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def revert(root: Path) -> list[str]:
    """Restore the newest backup under ``root`` (locked); what was done, for the reader."""
    with exclusive(root):
        restored = restore(root)
    done = [f"restored {path}" for path in restored.restored]
    done += [f"removed {path} (it did not exist before)" for path in restored.removed]
    return done


def changed_with_backup(
    root: Path, targets: list[Path], change: Callable[[], list[str]]
) -> list[str]:
    """Back ``targets`` up, then ``change()`` them; if it fails, put every file back first.

    Locked, so a concurrent apply or revert waits. Returns what was done, for the reader.
    """
    with exclusive(root):
        saved = save(root, targets)
        try:
            done = change()
        except BaseException as exc:
            restore(root)
            if isinstance(exc, MtaError):
                exc.args = (f"{exc}; the previous files were put back",)
            raise
    return [f"backup kept in {saved}", *done]
