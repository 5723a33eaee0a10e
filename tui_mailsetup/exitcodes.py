"""Exit codes: the sysexits values that sendmail and msmtp use (README, "Exit codes")."""

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    USAGE = 64
    DATAERR = 65
    NOUSER = 67
    UNAVAILABLE = 69
    SOFTWARE = 70
    """An internal error (a bug): reported without a traceback, never expected."""
    CANTCREAT = 73
    """A file cannot be created: read-only or unwritable directory."""
    IOERR = 74
    """A write failed: disk full, file too large, I/O error."""
    TEMPFAIL = 75
    PROTOCOL = 76
    NOPERM = 77
    CONFIG = 78
