"""One error model: every failure the program reports carries its exit code.

Code raises one of these (or a subclass such as config_file.ConfigError,
secrets.SecretError, files.UnsafePermissionsError); the command line maps it
to one message and one exit code in one place (``cli.main``), with one JSON
shape under ``--json`` (:meth:`MailSetupError.json_document`). Messages never
contain a secret.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Any

from tui_mailsetup.exitcodes import ExitCode


class MailSetupError(Exception):
    """A failure to report to the user: its message, its exit code, the stage it belongs to."""

    exit_code: ExitCode = ExitCode.SOFTWARE
    stage: str = "error"
    """Where it happened, for the JSON document ("config", "file", "usage", …)."""

    def __init__(self, message: str, *, exit_code: ExitCode | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else type(self).__name__

    def details(self) -> dict[str, Any]:
        """Extra keys for the JSON ``error`` object (a path, the problems, …)."""
        return {}

    def json_document(self) -> dict[str, Any]:
        """The one JSON shape of an error, for every command under ``--json``: the brief's
        outcome keys (``ok``, ``stage``, ``elapsed``, ``diagnosis`` with cause and fix), as
        send-test and check print them, plus the error's details."""
        return {
            "ok": False,
            "stage": self.stage,
            "elapsed": 0.0,
            "diagnosis": {"cause": self.message, "fix": None, "exit_code": int(self.exit_code)},
            "exit_code": int(self.exit_code),
            "error": {
                "kind": type(self).__name__,
                "message": self.message,
                "exit_code": int(self.exit_code),
                **self.details(),
            },
        }

    def __str__(self) -> str:
        return self.message


class UsageError(MailSetupError, ValueError):
    """The command line is wrong (64)."""

    exit_code = ExitCode.USAGE
    stage = "usage"


class DataError(MailSetupError, ValueError):
    """A value given is invalid on its own (65): an address, a name, a port."""

    exit_code = ExitCode.DATAERR
    stage = "input"


class ConfigurationError(MailSetupError):
    """The configuration (file, environment, credentials) cannot be used (78)."""

    exit_code = ExitCode.CONFIG
    stage = "config"


class FileError(MailSetupError, OSError):
    """A file could not be created or written; names the path. Also an OSError, so that
    code that tolerates a failed write (the state file) keeps tolerating it."""

    stage = "file"

    def __init__(
        self, message: str, *, path: Path | str | None = None, exit_code: ExitCode | None = None
    ) -> None:
        MailSetupError.__init__(self, message, exit_code=exit_code)
        self.path = None if path is None else str(path)

    def details(self) -> dict[str, Any]:
        return {"path": self.path}


class CantCreateError(FileError):
    """Read-only or unwritable directory (73, CANTCREAT)."""

    exit_code = ExitCode.CANTCREAT


class WriteError(FileError):
    """Disk full, file too large, an I/O error (74, IOERR)."""

    exit_code = ExitCode.IOERR


_CANT_CREATE = frozenset(
    {
        errno.EACCES,
        errno.EPERM,
        errno.EROFS,
        errno.ENOENT,
        errno.ENOTDIR,
        errno.EISDIR,
        errno.EEXIST,
        errno.ELOOP,
        errno.ENAMETOOLONG,
    }
)
_NO_SPACE = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})


def file_error(exc: OSError, path: Path | str, action: str = "write") -> FileError:
    """``exc`` as a FileError that names ``path``: 73 when the file cannot be created
    (read-only, permission, missing directory), 74 when the write itself failed."""
    if isinstance(exc, FileError):
        return exc
    reason = exc.strerror or os.strerror(exc.errno or 0) or type(exc).__name__
    if exc.errno in _NO_SPACE:
        return WriteError(
            f"cannot {action} {path}: {reason} (is the disk full?); nothing was changed",
            path=path,
        )
    if exc.errno in _CANT_CREATE:
        hint = ""
        if exc.errno in {errno.EACCES, errno.EPERM}:
            hint = " (no permission: check the directory's owner and mode, or use --config)"
        elif exc.errno == errno.EROFS:
            hint = " (read-only file system: use --config to choose a writable place)"
        return CantCreateError(
            f"cannot {action} {path}: {reason}{hint}; nothing was changed", path=path
        )
    return WriteError(f"cannot {action} {path}: {reason}; nothing was changed", path=path)
