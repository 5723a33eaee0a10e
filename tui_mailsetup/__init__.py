"""Get a server's outbound email configured, tested and explained."""

# The version's one home: pyproject.toml reads it from here (hatch's version source).
__version__ = "0.1.0"

# Kept to syntax every Python 3 parses, so that an older interpreter (a checkout run
# with PYTHONPATH, a venv made by an old python3) reaches this message instead of a
# SyntaxError or an ImportError from deep inside (tomllib is 3.11+). pip already refuses
# to install on one older than requires-python.
import sys as _sys

MINIMUM_PYTHON = (3, 11)
# The exit code for it: 69, sysexits' EX_UNAVAILABLE ("a support program does not exist").
UNSUPPORTED_PYTHON_EXIT = 69


def unsupported_python_message(version_info: "tuple[int, int]") -> "str | None":
    """The refusal for an interpreter older than MINIMUM_PYTHON, or None when it is new enough."""
    if version_info >= MINIMUM_PYTHON:
        return None
    # str.format, not an f-string: this must parse on the Pythons it refuses.
    template = (
        "tui-mailsetup: error: Python {}.{} is too old; tui-mailsetup needs Python {}.{} or "
        "newer (Debian 12 and Ubuntu 24.04's python3 are). Install it with that python3: "
        "python3 -m venv .venv && .venv/bin/pip install -e .\n"
    )
    return template.format(version_info[0], version_info[1], *MINIMUM_PYTHON)


_refusal = unsupported_python_message((_sys.version_info[0], _sys.version_info[1]))
if _refusal is not None:
    _sys.stderr.write(_refusal)
    raise SystemExit(UNSUPPORTED_PYTHON_EXIT)
