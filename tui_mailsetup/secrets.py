"""Where secrets come from, and the owner-only credentials file.

Lookup order, first found wins (README, "Configuration"): command-line override, the
environment, a secrets directory (these three arrive through the settings
layers), ``password_command``, the credentials file beside the configuration,
the system keyring where a usable one exists.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tui_mailsetup import files, paths
from tui_mailsetup.config_file import LoadedConfig, ValueSource
from tui_mailsetup.errors import ConfigurationError
from tui_mailsetup.exitcodes import ExitCode
from tui_mailsetup.sanitize import (
    C0_C1,
    NOT_UTF8,
    PARSE_LIMIT,
    SURROGATES,
    deep_line,
    untrusted_text,
)
from tui_mailsetup.settings import MailSettings, get_value

KEYRING_SERVICE = "tui-mailsetup"
# A stored secret goes into SMTP commands and HTTP headers: UTF-8 text without controls.
_SECRET_UNSAFE = re.compile(f"[{C0_C1}{SURROGATES}]")
PASSWORD_COMMAND_TIMEOUT = 15.0


class SecretError(ConfigurationError):
    """A secret source exists but failed, or the configuration may not be used with a secret
    (78; its message never contains the secret)."""


@dataclass(frozen=True)
class ResolvedSecret:
    value: str | None
    source: str | None


def _check_key(key: str) -> None:
    if key not in MailSettings.SECRET_KEYS:
        raise SecretError(
            f"{key} is not a secret key; secrets are: {', '.join(MailSettings.SECRET_KEYS)}"
        )


# --------------------------------------------------------------------------- credentials file


def read_credentials(
    config_path: Path, *, check_permissions: bool = True, check_values: bool = True
) -> dict[str, str]:
    """The credentials file's secrets as dotted keys; {} when there is none. A stored
    value that cannot be a secret is a SecretError unless ``check_values`` is off (a
    rewrite, which may be replacing it)."""
    path = paths.credentials_path(config_path)
    if not path.exists():
        return {}
    if check_permissions:
        try:
            files.check_private(path)
        except files.UnsafePermissionsError as exc:
            raise SecretError(str(exc)) from exc
    # Read with the standard library's tomllib (show and check read this file; tomlkit,
    # slow to import, is for writing it). What tomllib refuses, tomlkit decides, as it
    # always has (see config_file.read_data).
    import tomllib

    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SecretError(f"{path}: the credentials file cannot be read as TOML") from exc
    if (line := deep_line(text, PARSE_LIMIT)) is not None:
        raise SecretError(f"{path}:{line}: the credentials file is nested too deep to be read")
    try:
        data = tomllib.loads(text)
    except (tomllib.TOMLDecodeError, RecursionError):
        data = _parse_with_tomlkit(path, text)
    flat: dict[str, str] = {}
    for section, values in data.items():
        if isinstance(values, dict):
            for name, value in values.items():
                if isinstance(value, str):
                    key = f"{section}.{name}"
                    if check_values and (problem := secret_problem(value)):
                        shown = untrusted_text(key, limit=80)
                        raise SecretError(f"{path}: {shown}: the stored secret {problem}")
                    flat[key] = value
    return flat


def _parse_with_tomlkit(path: Path, text: str) -> dict[str, Any]:
    import tomlkit
    import tomlkit.exceptions

    try:
        return tomlkit.parse(text).unwrap()
    except (tomlkit.exceptions.TOMLKitError, ValueError, RecursionError) as exc:
        # The parse error text could quote a secret: say only where it is.
        line = getattr(exc, "line", None)
        where = f"{path}:{line}" if line else str(path)
        raise SecretError(f"{where}: the credentials file cannot be read as TOML") from exc


def store_secret(config_path: Path, key: str, value: str) -> Path:
    """Write one secret into the credentials file (0600, atomically, in a 0700 directory)."""
    _check_key(key)
    if not value:
        raise SecretError(f"{key}: an empty secret is not stored (use delete_secret to remove one)")
    _check_value(key, value)
    path = paths.credentials_path(config_path)
    files.ensure_dir(path.parent, private=True)
    try:
        files.check_private_dir(path.parent)
    except files.UnsafePermissionsError as exc:
        raise SecretError(str(exc)) from exc
    files.check_writable_kind(path)
    with files.locked(config_path):
        # Rewriting replaces a file whose mode was too loose with a 0600 one.
        current = read_credentials(config_path, check_permissions=False, check_values=False)
        current[key] = value
        _write_credentials(path, current)
    return path


def secret_problem(value: str) -> str | None:
    """Why ``value`` cannot be a secret (it goes into SMTP commands and HTTP headers:
    UTF-8 text without control characters), or None. Never quotes the value."""
    match = _SECRET_UNSAFE.search(value)
    if match is None:
        return None
    if NOT_UTF8.match(match.group()):
        return "is not valid UTF-8 text"
    return f"contains the control character U+{ord(match.group()):04X}"


def _check_value(key: str, value: str) -> None:
    if problem := secret_problem(value):
        raise SecretError(
            f"{key}: the secret {problem}; nothing was stored", exit_code=ExitCode.DATAERR
        )


def delete_secret(config_path: Path, key: str) -> bool:
    _check_key(key)
    path = paths.credentials_path(config_path)
    with files.locked(config_path):
        current = read_credentials(config_path, check_permissions=False, check_values=False)
        if key not in current:
            return False
        del current[key]
        _write_credentials(path, current)
    return True


def _write_credentials(path: Path, secrets: dict[str, str]) -> None:
    import tomlkit

    document = tomlkit.document()
    document.add(tomlkit.comment("tui-mailsetup secrets: keep this file mode 0600"))
    for key, value in sorted(secrets.items()):
        section, name = key.split(".", 1)
        if section not in document:
            document.add(section, tomlkit.table())
        table: Any = document[section]
        table[name] = value
    files.remove_stale_temporaries(path)
    files.atomic_write(path, tomlkit.dumps(document).encode("utf-8"), mode=0o600, secret=True)


# --------------------------------------------------------------------------- keyring


def _keyring() -> Any | None:
    """The keyring module when a usable backend exists; a headless server has none."""
    try:
        import keyring
        import keyring.backends.fail
    except Exception:
        return None
    try:
        backend = keyring.get_keyring()
        if (
            isinstance(backend, keyring.backends.fail.Keyring)
            or getattr(backend, "priority", 0) <= 0
        ):
            return None
    except Exception:
        return None
    return keyring


def _keyring_get(key: str) -> str | None:
    module = _keyring()
    if module is None:
        return None
    try:
        value = module.get_password(KEYRING_SERVICE, key)
    except Exception:
        return None
    return value if isinstance(value, str) and value else None


# --------------------------------------------------------------------------- password_command


def run_password_command(command: str, *, timeout: float = PASSWORD_COMMAND_TIMEOUT) -> str:
    """Run ``command`` without a shell; its first output line is the secret."""
    # Imported here: show and check only ask whether there is a command, never run it.
    import shlex
    import subprocess

    try:
        argv = shlex.split(command)
    except ValueError as exc:
        raise SecretError(f"smtp.password_command cannot be parsed: {exc}") from exc
    if not argv:
        raise SecretError("smtp.password_command is empty")
    name = untrusted_text(argv[0], limit=200)
    try:
        result = subprocess.run(
            argv, capture_output=True, stdin=subprocess.DEVNULL, timeout=timeout, check=False
        )
    except FileNotFoundError as exc:
        raise SecretError(f"smtp.password_command: {name} not found") from exc
    except PermissionError as exc:
        raise SecretError(f"smtp.password_command: {name} is not executable") from exc
    except subprocess.TimeoutExpired as exc:
        raise SecretError(
            f"smtp.password_command: {name} did not finish within {timeout:g} s "
            "(does it wait for input, such as a passphrase prompt?)"
        ) from exc
    if result.returncode != 0:
        stderr = result.stderr.decode("utf-8", "replace").strip().splitlines()
        hint = f": {untrusted_text(stderr[-1], limit=200)}" if stderr else ""
        raise SecretError(
            f"smtp.password_command: {name} exited with status {result.returncode}{hint}"
        )
    try:
        output = result.stdout.decode("utf-8")
    except UnicodeDecodeError:
        raise SecretError(
            f"smtp.password_command: {name} printed bytes that are not UTF-8 text"
        ) from None
    secret = output.splitlines()[0] if output.strip() else ""
    if not secret:
        raise SecretError(f"smtp.password_command: {name} printed nothing")
    if problem := secret_problem(secret):
        raise SecretError(f"smtp.password_command: what {name} printed {problem}")
    return secret


# --------------------------------------------------------------------------- lookup


def credentials_problem(config_path: Path) -> str | None:
    """Why the credentials file cannot be used (too open, unreadable), or None."""
    try:
        read_credentials(config_path)
    except SecretError as exc:
        return str(exc)
    return None


def secret_sources(loaded: LoadedConfig) -> dict[str, str | None]:
    """Which source would supply each secret, without running password_command."""
    found: dict[str, str | None] = {}
    try:
        stored = read_credentials(loaded.path)
    except SecretError:
        stored = {}
    for key in MailSettings.SECRET_KEYS:
        if get_value(loaded.settings, key) is not None:
            found[key] = loaded.sources.get(key)
        elif key == "smtp.password" and loaded.settings.smtp.password_command.strip():
            found[key] = ValueSource.PASSWORD_COMMAND
        elif key in stored:
            found[key] = ValueSource.CREDENTIALS_FILE
        elif _keyring_get(key) is not None:
            found[key] = ValueSource.KEYRING
        else:
            found[key] = None
    return found


def describe_source(loaded: LoadedConfig, key: str, source: str | None) -> str:
    """Where a secret came from, precisely enough to go and change it: the variable's name,
    the file's path. ``source`` is a :class:`ValueSource` value (or the runner's "typed")."""
    from tui_mailsetup.config_file import env_var_name

    if source == ValueSource.ENV:
        return f"the environment variable {env_var_name(key)}"
    if source == ValueSource.SECRETS_DIR:
        name = env_var_name(key).lower()
        for directory in paths.secrets_dirs():
            if (directory / name).is_file():
                return f"the secrets directory file {directory / name}"
        return f"a secrets directory file named {name}"
    if source == ValueSource.PASSWORD_COMMAND:
        return "the output of smtp.password_command"
    if source == ValueSource.CREDENTIALS_FILE:
        return f"the credentials file {paths.credentials_path(loaded.path)}"
    if source == ValueSource.KEYRING:
        return "the system keyring"
    if source == ValueSource.CLI:
        return "the command line"
    if source == "typed":
        return "the value typed in the form"
    return "an unknown source"


def shadowing_source(loaded: LoadedConfig, key: str) -> str | None:
    """When a source earlier in the lookup order than the credentials file supplies ``key``
    (so a value stored with set-secret is not used), where that is; else None."""
    source = secret_sources(loaded).get(key)
    if source is None or source in (ValueSource.CREDENTIALS_FILE, ValueSource.KEYRING):
        return None
    return describe_source(loaded, key, source)


def check_config_trusted(loaded: LoadedConfig, *, purpose: str = "") -> None:
    """SecretError (78) when someone else could have written the configuration: a secret
    would go wherever they pointed it, their password_command would run (files.check_trusted,
    trust before action)."""
    try:
        files.check_trusted(
            loaded.path,
            purpose=purpose or "its password_command is not run and no secret is used with it",
        )
    except files.UnsafePermissionsError as exc:
        raise SecretError(str(exc)) from exc


def resolve_secret(loaded: LoadedConfig, key: str) -> ResolvedSecret:
    """The secret's value and where it came from; value None when no source has it.

    Raises SecretError when the configuration could have been written by another user
    (checked first: neither password_command nor any other source is asked then) or a
    source fails.
    """
    _check_key(key)
    check_config_trusted(loaded)
    return _resolve(loaded, key)


def _resolve(loaded: LoadedConfig, key: str) -> ResolvedSecret:
    direct = get_value(loaded.settings, key)
    if direct is not None:
        return ResolvedSecret(direct.get_secret_value(), loaded.sources.get(key))
    if key == "smtp.password" and loaded.settings.smtp.password_command.strip():
        return ResolvedSecret(
            run_password_command(loaded.settings.smtp.password_command),
            ValueSource.PASSWORD_COMMAND,
        )
    stored = read_credentials(loaded.path)
    if key in stored:
        return ResolvedSecret(stored[key], ValueSource.CREDENTIALS_FILE)
    if (value := _keyring_get(key)) is not None:
        return ResolvedSecret(value, ValueSource.KEYRING)
    return ResolvedSecret(None, None)
