"""Atomic, permission-aware file writes."""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
from pathlib import Path

BACKUP_SUFFIX = ".bak"


class UnsafePermissionsError(Exception):
    """A file or directory that holds secrets is readable or writable by others."""


def ensure_dir(path: Path, *, private: bool = False) -> None:
    """Create ``path`` (and parents) if missing; new directories are 0700 when ``private``."""
    if path.is_dir():
        return
    path.mkdir(parents=True, mode=0o700 if private else 0o755, exist_ok=True)
    if private:
        # mkdir's mode is filtered by the umask; be exact.
        os.chmod(path, 0o700)


def atomic_write(path: Path, data: bytes, *, mode: int = 0o644, backup: bool = False) -> None:
    """Replace ``path`` with ``data`` so that a crash leaves the old or the new file, never half.

    The temporary file is created with ``mode`` from the start (a secret is
    never readable by others, not even for a moment), fsynced, renamed over
    the target, and the directory fsynced. With ``backup`` the previous
    version is kept as ``<name>.bak``.
    """
    directory = path.parent
    tmp = directory / f".{path.name}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), mode)
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), mode)
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if backup and path.exists():
            backup_path = path.with_name(path.name + BACKUP_SUFFIX)
            shutil.copy2(path, backup_path)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_dir(directory)


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def check_private(path: Path) -> None:
    """Refuse a secrets file that group or others can read or write (as ssh and msmtp do)."""
    info = path.stat()
    if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise UnsafePermissionsError(
            f"{path} is accessible by group or others (mode {stat.S_IMODE(info.st_mode):04o}); "
            f"it holds secrets, so it is ignored. Fix it with: chmod 600 {path}"
        )
    if hasattr(os, "getuid") and info.st_uid != os.getuid():
        raise UnsafePermissionsError(
            f"{path} belongs to another user (uid {info.st_uid}); it holds secrets, so it is ignored. "
            f"Fix it with: chown {os.getuid()} {path}"
        )


def check_private_dir(directory: Path) -> None:
    """Refuse to keep secrets in a directory that group or others can enter (PRODUCT.md: 0600
    files in a 0700 directory); writable would let them swap the file, readable list it."""
    info = directory.stat()
    if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise UnsafePermissionsError(
            f"{directory} is accessible by group or others (mode {stat.S_IMODE(info.st_mode):04o}); "
            f"secrets are only stored in a private directory. Fix it with: chmod 700 {directory}"
        )
