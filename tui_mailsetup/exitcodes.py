"""Exit codes: the sysexits values that sendmail and msmtp use (PRODUCT.md)."""

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    USAGE = 64
    DATAERR = 65
    NOUSER = 67
    UNAVAILABLE = 69
    TEMPFAIL = 75
    PROTOCOL = 76
    NOPERM = 77
    CONFIG = 78
