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
from typing import Any

from tui_mailsetup.errors import CantCreateError, ConfigurationError, file_error

BACKUP_SUFFIX = ".bak"
LOCK_SUFFIX = ".lock"


class UnsafePermissionsError(ConfigurationError):
    """A file or directory that holds secrets, or that secrets are used with, can be read or
    changed by others (78)."""

    def __init__(self, message: str, *, path: Path | None = None) -> None:
        super().__init__(message)
        self.path = None if path is None else str(path)

    def details(self) -> dict[str, Any]:
        return {"path": self.path} if self.path else {}


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
            # Never through a link: another user's would have root create or open any file.
            flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
            fd = os.open(path, flags, 0o600)
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
    secret: bool = False,
) -> None:
    """Replace ``path`` with ``data`` so that a crash leaves the old or the new file, never half.

    The temporary file is created with ``mode`` from the start (a secret is
    never readable by others, not even for a moment), fsynced, renamed over
    the target, and the directory fsynced. With ``keep_mode`` an existing
    file keeps its mode; its owner and group are kept where this process may
    set them, unless the data is a ``secret``: then the file is the caller's
    and :func:`secret_write_target`'s rule holds (another user's file, link or
    directory is refused). A symlink is written through to its target, unless
    another user owns the link. With ``backup`` the previous version is kept
    as ``<name>.bak``.

    Raises errors.CantCreateError (73) or errors.WriteError (74) naming the path,
    UnsafePermissionsError (78) when a secret would be handed to another user.
    """
    if secret:
        target = secret_write_target(path)
    else:
        _refuse_foreign_link(path, CantCreateError)
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
            if (
                not secret
                and current is not None
                and (current.st_uid, current.st_gid) != (os.getuid(), os.getgid())
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
    """Copy ``source`` to ``destination`` by a rename, never through a planted file.

    The temporary copy is created with ``O_EXCL | O_NOFOLLOW`` under a name nobody can
    guess: in a directory another user may write (a sticky /tmp), a link planted at a
    predictable name would otherwise have root copy a secret to where it points."""
    import secrets

    tmp = destination.with_name(f".{destination.name}.{secrets.token_hex(8)}.tmp")
    mode = stat.S_IMODE(os.stat(source).st_mode)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(tmp, flags, mode & 0o600)
    try:
        with os.fdopen(fd, "wb") as copy, open(source, "rb") as original:
            shutil.copyfileobj(original, copy)
            os.fchmod(copy.fileno(), mode)
            copy.flush()
            os.fsync(copy.fileno())
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


# --------------------------------------------------------------------------- trust before action

_MAX_LINKS = 40
"""Symbolic links followed while checking one path (the kernel's own limit)."""


def _owner_name(uid: int) -> str:
    import pwd

    try:
        return f"uid {uid}, {pwd.getpwuid(uid).pw_name}"
    except KeyError:
        return f"uid {uid}"


def _trusted_owner(uid: int) -> bool:
    """The caller (its effective user: under sudo, root) and root may own what is trusted."""
    return uid in {os.geteuid(), 0}


def check_trusted(path: Path, *, purpose: str) -> None:
    """Trust before action (PRODUCT.md): refuse ``path`` unless it, every directory above it
    and every symbolic link on the way are owned by the caller or root, and none can be
    changed by group or others. A directory others may write is safe only when it is
    sticky (``/tmp``): no one can then replace an entry they do not own.

    ``purpose`` says what is not done, for the refusal ("its password_command is not
    run"). The one check every path uses before a configuration makes the program run,
    send, contact or change anything, and before a secret is written into a directory;
    the part of ``path`` that does not exist yet is skipped (nothing there to trust).

    Raises UnsafePermissionsError (78) naming the file or directory, its owner and mode,
    and the ``chown``/``chmod`` that fixes it.
    """
    subject = Path(path)
    pending = list(Path.cwd().joinpath(subject).parts)
    current = Path(pending.pop(0))  # the root directory
    _check_entry(current, os.lstat(current), subject, purpose, last=not pending)
    links = 0
    while pending:
        name = pending.pop(0)
        if name in {"", "."}:
            continue
        if name == "..":
            current = current.parent  # no links in current: a lexical step is the kernel's
            continue
        candidate = current / name
        try:
            info = os.lstat(candidate)
        except (FileNotFoundError, NotADirectoryError):
            return
        except OSError as exc:
            raise UnsafePermissionsError(
                f"{candidate} cannot be checked ({exc.strerror or exc}), so {subject} is not "
                f"trusted: {purpose}"
            ) from exc
        if stat.S_ISLNK(info.st_mode):
            _check_entry(candidate, info, subject, purpose, last=False)
            links += 1
            if links > _MAX_LINKS:
                raise UnsafePermissionsError(
                    f"{subject}: too many symbolic links on the way; {purpose}"
                )
            pending[:0] = Path(os.readlink(candidate)).parts
            if pending and pending[0] == os.sep:
                current = Path(pending.pop(0))
            continue
        _check_entry(candidate, info, subject, purpose, last=not pending)
        current = candidate


def _check_entry(
    place: Path, info: os.stat_result, subject: Path, purpose: str, *, last: bool
) -> None:
    if stat.S_ISLNK(info.st_mode):
        role = "a symbolic link on the way to it"
    elif place == subject or last:
        role = "the file itself" if not stat.S_ISDIR(info.st_mode) else "the directory itself"
    else:
        role = "a directory above it"
    mode = stat.S_IMODE(info.st_mode)
    about = f"{place} ({role}; owner {_owner_name(info.st_uid)}, mode {mode:04o})"
    if not _trusted_owner(info.st_uid):
        chown = "chown -h" if stat.S_ISLNK(info.st_mode) else "chown"
        raise UnsafePermissionsError(
            f"{subject} is not trusted: {about} belongs to another user, who could change "
            f"what it says; {purpose}. Fix it with: {chown} {os.geteuid()} {place} "
            "(or move the file somewhere only you can write)",
            path=place,
        )
    if stat.S_ISLNK(info.st_mode):
        return  # a link's own mode means nothing; its owner and directory were checked
    shared = info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
    if shared and not (stat.S_ISDIR(info.st_mode) and info.st_mode & stat.S_ISVTX):
        raise UnsafePermissionsError(
            f"{subject} is not trusted: {about} can be changed by group or others; "
            f"{purpose}. Fix it with: chmod go-w {place}",
            path=place,
        )


def check_trusted_config(config_path: Path) -> None:
    """check_trusted for a configuration about to be used with a secret (kept for callers
    that only ask whether the file is trusted)."""
    check_trusted(
        config_path,
        purpose="it is not used with a secret, nor to run a command, send or change anything",
    )


# --------------------------------------------------------------------------- secret-bearing writes


def _refuse_foreign_link(
    path: Path, error: type[UnsafePermissionsError] | type[CantCreateError]
) -> None:
    """A write never follows a symbolic link another user owns (root's are trusted): they
    could point it at any file, and this program may run as root."""
    try:
        link = os.lstat(path)
    except OSError:
        return  # missing, or unreachable: the write itself says so
    if stat.S_ISLNK(link.st_mode) and not _trusted_owner(link.st_uid):
        raise error(
            f"{path} is a symbolic link owned by another user ({_owner_name(link.st_uid)}); "
            "it is not followed, and nothing was written. Remove the link "
            f"(rm {path}) or choose another file",
            path=path,
        )


def secret_write_target(path: Path) -> Path:
    """The file a write of a secret to ``path`` replaces, after the one rule for every
    secret-bearing write (PRODUCT.md): the secret never goes to another user. A symbolic
    link another user owns is never followed, an existing file another user owns is
    never written to (nor its ownership kept: :func:`atomic_write` with ``secret``
    creates a new file owned by the caller), and the directory it lands in, with every
    directory above, passes :func:`check_trusted`.

    Raises UnsafePermissionsError (78) naming the file and what to do.
    """
    _refuse_foreign_link(path, UnsafePermissionsError)
    target = write_target(path)
    try:
        info: os.stat_result | None = os.lstat(target)
    except FileNotFoundError:
        info = None
    except OSError as exc:
        raise file_error(exc, target) from exc
    if info is not None:
        _refuse_special(target, info)
        if not _trusted_owner(info.st_uid):
            raise UnsafePermissionsError(
                f"{target} belongs to another user ({_owner_name(info.st_uid)}); a secret is "
                f"never written into a file someone else owns. Nothing was written. Remove it "
                f"(rm {target}) or choose another file",
                path=target,
            )
    check_trusted(target.parent, purpose="a secret is not written there; nothing was written")
    return target
