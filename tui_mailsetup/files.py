"""Atomic, locked, permission-aware file writes.

Every read-modify-write of the configuration or the credentials holds
:func:`locked` (an exclusive ``flock`` on a lock file beside the
configuration), so concurrent writers never lose each other's updates;
:func:`atomic_write` leaves the old or the new file, never a half-written
one, keeps the mode and owner of the file it replaces and writes through a
symlink to its target. Failures are :class:`errors.FileError` (73 or 74)
naming the path.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

from tui_mailsetup.errors import CantCreateError, ConfigurationError, file_error

BACKUP_SUFFIX = ".bak"
LOCK_SUFFIX = ".lock"


class UnsafePermissionsError(ConfigurationError):
    """A file or directory that holds secrets, or that secrets are used with, can be read or
    changed by others (78)."""


def ensure_dir(path: Path, *, private: bool = False) -> None:
    """Create ``path`` (and parents) if missing; new directories are 0700 when ``private``."""
    if path.is_dir():
        return
    try:
        path.mkdir(parents=True, mode=0o700 if private else 0o755, exist_ok=True)
        if private:
            # mkdir's mode is filtered by the umask; be exact.
            os.chmod(path, 0o700)
    except OSError as exc:
        raise file_error(exc, path, "create the directory") from exc


def check_writable_kind(path: Path) -> None:
    """CantCreateError when ``path`` (or its symlink's target) exists and is not a regular
    file: a write never replaces a device, a FIFO or a directory (``--config /dev/null``)."""
    target = write_target(path)
    try:
        info = target.stat()
    except OSError:
        return
    _refuse_special(target, info)


def _refuse_special(target: Path, info: os.stat_result) -> None:
    if not stat.S_ISREG(info.st_mode):
        raise CantCreateError(
            f"cannot write {target}: it is not a regular file; nothing was changed "
            "(choose a file with --config)",
            path=target,
        )


def write_target(path: Path) -> Path:
    """The file a write to ``path`` changes: the target when ``path`` is a symlink."""
    if path.is_symlink():
        return Path(os.path.realpath(path))
    return path


# --------------------------------------------------------------------------- locking

_held: dict[str, tuple[int, int]] = {}
"""Lock file path -> (descriptor, depth): the lock is re-entrant within this process."""
_held_guard = threading.RLock()


def lock_path(config_path: Path) -> Path:
    """``.config.toml.lock`` beside the configuration; it guards the credentials file too."""
    return config_path.with_name(f".{config_path.name}{LOCK_SUFFIX}")


@contextlib.contextmanager
def locked(config_path: Path) -> Iterator[None]:
    """Hold the exclusive lock for ``config_path`` (and its credentials) for a read-modify-write.

    Re-entrant in one process; other processes wait. The directory is created
    (0700) when missing. The kernel drops the lock when the process dies.
    """
    import fcntl

    path = lock_path(config_path)
    key = str(path.absolute())
    with _held_guard:
        if key in _held:
            fd, depth = _held[key]
            _held[key] = (fd, depth + 1)
            try:
                yield
            finally:
                fd, depth = _held[key]
                _held[key] = (fd, depth - 1)
            return
        ensure_dir(path.parent, private=True)
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o600)
        except OSError as exc:
            raise file_error(exc, path, "create the lock file") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            _held[key] = (fd, 1)
            try:
                yield
            finally:
                del _held[key]
        finally:
            os.close(fd)  # closing releases the lock


# --------------------------------------------------------------------------- writing


def atomic_write(
    path: Path,
    data: bytes,
    *,
    mode: int = 0o644,
    backup: bool = False,
    keep_mode: bool = False,
) -> None:
    """Replace ``path`` with ``data`` so that a crash leaves the old or the new file, never half.

    The temporary file is created with ``mode`` from the start (a secret is
    never readable by others, not even for a moment), fsynced, renamed over
    the target, and the directory fsynced. With ``keep_mode`` an existing
    file keeps its mode; its owner and group are always kept where this
    process may set them. A symlink is written through to its target. With
    ``backup`` the previous version is kept as ``<name>.bak``.

    Raises errors.CantCreateError (73) or errors.WriteError (74) naming the path.
    """
    target = write_target(path)
    directory = target.parent
    try:
        current: os.stat_result | None = target.stat()
    except OSError:
        current = None
    if current is not None:
        _refuse_special(target, current)
    if current is not None and keep_mode:
        mode = stat.S_IMODE(current.st_mode)
    tmp = directory / f".{target.name}.{os.getpid()}.{threading.get_ident()}.tmp"
    try:
        fd = os.open(
            tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), mode & 0o600
        )
    except OSError as exc:
        raise file_error(exc, target) from exc
    try:
        with os.fdopen(fd, "wb") as handle:
            if current is not None and (current.st_uid, current.st_gid) != (
                os.getuid(),
                os.getgid(),
            ):
                with contextlib.suppress(OSError):
                    os.fchown(handle.fileno(), current.st_uid, current.st_gid)
            os.fchmod(handle.fileno(), mode)
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if backup and current is not None:
            backup_path = target.with_name(target.name + BACKUP_SUFFIX)
            _copy_atomically(target, backup_path)
        os.replace(tmp, target)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise file_error(exc, target) from exc
        raise
    _fsync_dir(directory)


def remove_stale_temporaries(path: Path) -> None:
    """Remove the temporary files a killed writer left beside ``path``. Call it holding
    the lock: then no live writer has one open."""
    target = write_target(path)
    for stale in target.parent.glob(f".{target.name}.*.tmp"):
        with contextlib.suppress(OSError):
            stale.unlink()


def _copy_atomically(source: Path, destination: Path) -> None:
    tmp = destination.with_name(f".{destination.name}.{os.getpid()}.tmp")
    try:
        shutil.copy2(source, tmp)
        os.replace(tmp, destination)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def fsync_dir(directory: Path) -> None:
    """Make a rename or an unlink in ``directory`` durable (best effort)."""
    _fsync_dir(directory)


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


# --------------------------------------------------------------------------- permissions


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
    """Refuse to keep secrets in a directory that group or others can enter (README, "Security": 0600
    files in a 0700 directory); writable would let them swap the file, readable list it."""
    info = directory.stat()
    if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise UnsafePermissionsError(
            f"{directory} is accessible by group or others (mode {stat.S_IMODE(info.st_mode):04o}); "
            f"secrets are only stored in a private directory. Fix it with: chmod 700 {directory}"
        )


def _check_not_writable_by_others(path: Path, what: str) -> None:
    info = path.stat()
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        kind = "chmod go-w"
        raise UnsafePermissionsError(
            f"{path} ({what}) can be changed by group or others (mode "
            f"{stat.S_IMODE(info.st_mode):04o}), so anyone could point the stored secrets at "
            f"their own server; it is not used with a secret. Fix it with: {kind} {path}"
        )
    uid = os.getuid()
    if info.st_uid not in {uid, 0}:
        raise UnsafePermissionsError(
            f"{path} ({what}) belongs to another user (uid {info.st_uid}), who could point the "
            f"stored secrets at their own server; it is not used with a secret. "
            f"Fix it with: chown {uid} {path}"
        )


def check_trusted_config(config_path: Path) -> None:
    """Refuse, as ssh does, a configuration that someone else could have written: the file or
    its directory writable by group or others, or owned by another user (root is trusted).

    Called before a secret is used with the configuration (the secret would go to
    whatever server the file names). A missing file is fine; its directory is still checked.
    """
    places: list[tuple[Path, str]] = []
    if config_path.exists():
        places.append((config_path, "the configuration file"))
        target = write_target(config_path)
        if target != config_path:
            places.append((target.parent, "the configuration file's directory"))
    if config_path.parent.exists():
        places.append((config_path.parent, "the configuration directory"))
    for place, what in places:
        _check_not_writable_by_others(place, what)
