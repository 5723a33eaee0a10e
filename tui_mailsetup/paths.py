"""Where tui-mailsetup keeps its files.

Everything that touches the file system asks this module, so tests have one
seam to point elsewhere: :func:`override` (in-process) or the usual
``HOME``/``XDG_*`` variables (subprocesses).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

APP_NAME = "tui-mailsetup"
CONFIG_FILENAME = "config.toml"
CREDENTIALS_FILENAME = "credentials.toml"
STATE_FILENAME = "state.json"
ENV_PREFIX = "MAILSETUP_"
"""Every environment variable of ours starts so: ``MAILSETUP_CONFIG`` and the settings'."""
ENV_NESTED_DELIMITER = "__"
"""Between a section and its key in a variable's name: ``MAILSETUP_SMTP__HOST``."""


@dataclass(frozen=True)
class AppPaths:
    user_config_dir: Path
    site_config_dir: Path
    state_dir: Path
    secrets_dirs: tuple[Path, ...] = field(default_factory=tuple)


def _secrets_dirs_from_environment() -> tuple[Path, ...]:
    secrets: list[Path] = []
    if credentials_directory := os.environ.get("CREDENTIALS_DIRECTORY"):
        secrets.append(Path(credentials_directory))
    secrets.append(Path("/run/secrets"))
    return tuple(secrets)


def _from_platform() -> AppPaths:
    # Imported here: a configuration named by --config or MAILSETUP_CONFIG is loaded
    # without asking platformdirs anything (see secrets_dirs()).
    import platformdirs

    return AppPaths(
        user_config_dir=Path(platformdirs.user_config_dir(APP_NAME, appauthor=False)),
        site_config_dir=Path(platformdirs.site_config_dir(APP_NAME, appauthor=False)),
        state_dir=Path(platformdirs.user_state_dir(APP_NAME, appauthor=False)),
        secrets_dirs=_secrets_dirs_from_environment(),
    )


_override: AppPaths | None = None


def current() -> AppPaths:
    """The paths in force: the platform's, unless a test has overridden them."""
    return _override if _override is not None else _from_platform()


def secrets_dirs() -> tuple[Path, ...]:
    """``current().secrets_dirs``, without working out the other paths."""
    return _override.secrets_dirs if _override is not None else _secrets_dirs_from_environment()


@contextmanager
def override(**changes: object) -> Iterator[AppPaths]:
    """Point some or all paths elsewhere for the duration of a ``with`` block."""
    global _override
    previous = _override
    _override = replace(current(), **changes)  # type: ignore[arg-type]
    try:
        yield _override
    finally:
        _override = previous


def default_config_path(*, system: bool = False) -> Path:
    """The configuration file used when neither ``--config`` nor ``MAILSETUP_CONFIG`` is set."""
    paths = current()
    return (paths.site_config_dir if system else paths.user_config_dir) / CONFIG_FILENAME


def resolve_config_path(explicit: str | os.PathLike[str] | None, *, system: bool = False) -> Path:
    """``--config`` wins, then ``MAILSETUP_CONFIG``, then the platform default."""
    if explicit:
        return Path(explicit).expanduser()
    if from_env := os.environ.get("MAILSETUP_CONFIG"):
        return Path(from_env).expanduser()
    return default_config_path(system=system)


def credentials_path(config_path: Path) -> Path:
    """The owner-only secrets file lives beside the configuration it belongs to."""
    return config_path.with_name(CREDENTIALS_FILENAME)


SYSTEM_SPOOL = Path("/var/spool") / APP_NAME
"""The spool of ``tui-mailsetup sendmail`` run as root."""
SPOOL_ENV = "MAILSETUP_SPOOL"
"""Points the spool elsewhere (tests; a program's own user on a shared machine)."""


def spool_dir() -> Path:
    """Where ``sendmail`` keeps messages a temporary failure held back: $MAILSETUP_SPOOL,
    else /var/spool/tui-mailsetup for root, else the user's state directory's ``spool``."""
    if explicit := os.environ.get(SPOOL_ENV):
        return Path(explicit).expanduser()
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        return SYSTEM_SPOOL
    return current().state_dir / "spool"


def state_path(config_path: Path) -> Path:
    """Runtime state (last test result, rate limits) beside the configuration."""
    return config_path.with_name(STATE_FILENAME)


def ca_file_suggestion(host: str) -> Path:
    """Where to keep a private authority's certificate for ``host`` (offered as the fix when
    the relay's certificate is signed by a CA this machine does not trust): beside the
    user's configuration, or the system one for root."""
    paths = current()
    directory = paths.site_config_dir if os.geteuid() == 0 else paths.user_config_dir
    safe = "".join(ch if ch.isalnum() or ch in ".-" else "_" for ch in host) or "relay"
    return directory / f"{safe}-ca.pem"


def installed_command(name: str) -> Path | None:
    """The console script ``name`` installed beside this interpreter, else PATH's, else None.

    Beside the interpreter first: the README installs into a virtual environment that is
    not on PATH, and a version manager's shim on PATH may dispatch on the name it was
    called by (a ``sendmail`` link to it would run the wrong program)."""
    import shutil
    import sys

    beside = Path(sys.executable).parent / name
    if beside.is_file() and os.access(beside, os.X_OK):
        return beside
    found = shutil.which(name)
    return Path(found) if found is not None else None
