"""Reading and writing the TOML configuration file, and layering the sources.

A file that does not parse or validate is reported with its path, line and
key (exit 78) and is never overwritten: every write holds the configuration's
lock (files.locked), re-reads the file and refuses to touch one that fails to
load, except to correct the very keys that are wrong.

Reading (every command) parses with the standard library's tomllib; tomlkit, which
keeps comments and order but costs about 8 ms to import and is slower to parse, is
loaded only to write (``set``, the TUI's save) and when tomllib refuses a file: then
tomlkit decides, as it always has, so what loads and how an error is worded (with
its line) do not change. (tomlkit also reads TOML 1.1, e.g. an inline table over
several lines, which the Python 3.11 tomllib refuses.)
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

from tui_mailsetup import files, paths
from tui_mailsetup.errors import ConfigurationError, DataError, UsageError
from tui_mailsetup.exitcodes import ExitCode
from tui_mailsetup.findings import Finding, Severity
from tui_mailsetup.sanitize import PARSE_LIMIT, deep_line, untrusted_text
from tui_mailsetup.settings import (
    ENV_NESTED_DELIMITER,
    ENV_PREFIX,
    LIST_FORMS,
    BaseSettings,
    MailSettings,
    PydanticBaseSettingsSource,
    environment_source,
    field_keys,
    is_secret_key,
    list_keys,
    parse_list_text,
    secrets_dir_source,
)

if TYPE_CHECKING:
    import tomlkit


class ValueSource(StrEnum):
    """Where a value came from: the one vocabulary of ``show``, ``show --json`` ("sources")
    and the TUI's field labels. The values are the JSON strings of the contract."""

    DEFAULT = "default"
    FILE = "file"
    SECRETS_DIR = "secrets-dir"
    ENV = "env"
    CLI = "cli"
    # Secrets only (secrets.py): where a secret the settings do not hold is found.
    PASSWORD_COMMAND = "password_command"
    CREDENTIALS_FILE = "credentials-file"
    KEYRING = "keyring"
    UNSET = "unset"
    """A secret no source supplies."""

    @property
    def phrase(self) -> str:
        """In a sentence: "from the environment", "from the system keyring"."""
        return _SOURCE_PHRASES[self]


_SOURCE_PHRASES = {
    ValueSource.DEFAULT: "the default",
    ValueSource.FILE: "the configuration file",
    ValueSource.SECRETS_DIR: "the secrets directory",
    ValueSource.ENV: "the environment",
    ValueSource.CLI: "the command line",
    ValueSource.PASSWORD_COMMAND: "password_command",
    ValueSource.CREDENTIALS_FILE: "the credentials file",
    ValueSource.KEYRING: "the system keyring",
    ValueSource.UNSET: "nowhere",
}


SECTION_NAMES = tuple(
    name
    for name, info in MailSettings.model_fields.items()
    if isinstance(info.annotation, type) and issubclass(info.annotation, BaseModel)
)


@dataclass(frozen=True)
class ConfigProblem:
    key: str
    message: str
    origin: str
    """Where the bad value came from: "config.toml:7", "MAILSETUP_SMTP__PORT", …"""
    line: int | None = None

    def __str__(self) -> str:
        # Key names and messages can come from a hand-edited file: neutralised.
        text = (
            f"{self.origin}: {self.key}: {self.message}"
            if self.key
            else f"{self.origin}: {self.message}"
        )
        return untrusted_text(text)


class ConfigError(ConfigurationError):
    """The configuration cannot be loaded. Exit 78; the file is left as it is."""

    exit_code = ExitCode.CONFIG

    def __init__(self, path: Path, problems: list[ConfigProblem]) -> None:
        self.path = path
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))

    def to_json(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "problems": [
                {
                    "key": untrusted_text(p.key),
                    "message": untrusted_text(p.message),
                    "origin": untrusted_text(p.origin),
                    "line": p.line,
                }
                for p in self.problems
            ],
        }

    def details(self) -> dict[str, Any]:
        return self.to_json()


class InvalidValueError(DataError):
    """A value given to be written is invalid on its own (65); nothing was written."""

    def __init__(self, key: str, message: str) -> None:
        self.key = key
        super().__init__(
            untrusted_text(f"invalid value for {key}: {message}. Nothing was changed.")
        )

    def details(self) -> dict[str, Any]:
        return {"key": self.key}


@dataclass
class LoadedConfig:
    settings: MailSettings
    sources: dict[str, str]
    """For every key, the layer its value came from (a :class:`ValueSource`): default, file,
    secrets-dir, env or cli."""
    path: Path
    exists: bool
    warnings: list[Finding] = field(default_factory=list)
    """Problems that did not stop loading (a secret found in the main file, …)."""


# --------------------------------------------------------------------------- reading


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            path, [ConfigProblem("", f"not UTF-8 text ({exc.reason})", str(path))]
        ) from exc
    except OSError as exc:
        raise ConfigError(
            path, [ConfigProblem("", f"cannot read: {exc.strerror}", str(path))]
        ) from exc


def read_data(path: Path) -> tuple[str, dict[str, Any]]:
    """The file's text and its values (plain dicts), for reading only; ConfigError with
    the line when it does not parse, worded as :func:`read_document` words it."""
    import tomllib

    text = _read_text(path)
    if deep_line(text, PARSE_LIMIT) is not None:
        raise _too_deep(path, text)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        # tomlkit's verdict, as before: its error (with the line), or its values.
        data = _parse_document(path, text).unwrap()
    except RecursionError:
        raise _too_deep(path, text) from None
    check_depth(path, text, data)
    return text, data


MAX_DEPTH = 16
"""Tables and lists nested deeper than this are refused: the deepest key is three levels
down, and everything that walks the values (merging the layers, validation) recurses."""


def check_depth(path: Path, text: str, data: Mapping[str, Any]) -> None:
    """ConfigError (78, with the line) when ``data`` nests deeper than MAX_DEPTH. Iterative:
    it must not itself run out of stack on what it refuses."""
    stack: list[tuple[Any, int]] = [(data, 0)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise _too_deep(path, text)
        if isinstance(value, Mapping):
            stack.extend((child, depth + 1) for child in value.values())
        elif isinstance(value, list):
            stack.extend((child, depth + 1) for child in value)


def _too_deep(path: Path, text: str) -> ConfigError:
    line = deep_line(text, MAX_DEPTH)
    origin = f"{path}:{line}" if line else str(path)
    return ConfigError(
        path,
        [
            ConfigProblem(
                "",
                f"tables or lists are nested more than {MAX_DEPTH} deep; no setting is "
                "nested like that (check this line)",
                origin,
                line,
            )
        ],
    )


def read_document(path: Path) -> tuple[str, tomlkit.TOMLDocument]:
    """The file's text and its tomlkit document (for writing: it keeps comments and
    order); ConfigError with the line when it does not parse."""
    text = _read_text(path)
    if deep_line(text, PARSE_LIMIT) is not None:
        raise _too_deep(path, text)
    return text, _parse_document(path, text)


def _parse_document(path: Path, text: str) -> tomlkit.TOMLDocument:
    import tomlkit
    import tomlkit.exceptions

    try:
        document = tomlkit.parse(text)
        check_depth(path, text, document.unwrap())  # a key set twice shows only here
    except RecursionError:
        raise _too_deep(path, text) from None
    except tomlkit.exceptions.ParseError as exc:
        message = str(exc).split(" at line ")[0]
        origin = f"{path}:{exc.line}"
        raise ConfigError(
            path, [ConfigProblem("", f"{message} (column {exc.col})", origin, exc.line)]
        ) from exc
    except (tomlkit.exceptions.TOMLKitError, ValueError, TypeError, KeyError) as exc:
        line = _duplicate_key_line(text)
        origin = f"{path}:{line}" if line else str(path)
        raise ConfigError(path, [ConfigProblem("", str(exc), origin, line)]) from exc
    return document


def _duplicate_key_line(text: str) -> int | None:
    """The line of the first key that is set a second time in the same table."""
    seen: set[str] = set()
    table = ""
    for number, line in enumerate(text.splitlines(), start=1):
        if match := _TABLE.match(line):
            table = match.group(1).replace(" ", "").replace('"', "")
            continue
        if match := _KEY.match(line):
            name = match.group(1).replace(" ", "").replace('"', "").replace("'", "")
            dotted = f"{table}.{name}" if table else name
            if dotted in seen:
                return number
            seen.add(dotted)
    return None


def _flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(_flatten(value, dotted + "."))
        else:
            flat[dotted] = value
    return flat


def _nest(flat: Mapping[str, Any]) -> dict[str, Any]:
    nested: dict[str, Any] = {}
    for key, value in flat.items():
        section = nested
        *parents, name = key.split(".")
        for part in parents:
            section = section.setdefault(part, {})
        section[name] = value
    return nested


def _deep_merge(base: dict[str, Any], update: Mapping[str, Any]) -> None:
    for key, value in update.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            _deep_merge(base[key], value)
        elif isinstance(value, Mapping):
            base[key] = {}
            _deep_merge(base[key], value)
        else:
            base[key] = value


_TABLE = re.compile(r"^\s*\[\s*([^\[\]#]+?)\s*\]\s*(#.*)?$")
_KEY = re.compile(r"^\s*([A-Za-z0-9_.\-\"' ]+?)\s*=")


def locate_key(text: str, key: str) -> int | None:
    """1-based line where ``key`` (``smtp.port``) is set in TOML ``text``, else its table's line."""
    table = ""
    table_line: int | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        if match := _TABLE.match(line):
            table = match.group(1).replace(" ", "").replace('"', "")
            if key.startswith(table + ".") and table_line is None:
                table_line = number
            continue
        if match := _KEY.match(line):
            name = match.group(1).replace(" ", "").replace('"', "").replace("'", "")
            if (f"{table}.{name}" if table else name) == key:
                return number
    return table_line


def check_sections(path: Path, text: str, data: Mapping[str, Any]) -> None:
    """A section that is not a table (``smtp = "hello"``) is an error whatever the
    environment holds: merged with MAILSETUP_SMTP__* it would silently vanish."""
    problems = []
    for name in SECTION_NAMES:
        if name in data and not isinstance(data[name], Mapping):
            line = locate_key(text, name)
            origin = f"{path}:{line}" if line else str(path)
            kind = type(data[name]).__name__
            problems.append(
                ConfigProblem(
                    name,
                    f"must be a table ([{name}] with keys under it), not a {kind}",
                    origin,
                    line,
                )
            )
    if problems:
        raise ConfigError(path, problems)


def _exists(path: Path) -> bool:
    """Whether the file is there; ConfigError (78) when that cannot even be known."""
    try:
        return path.exists()
    except OSError as exc:
        raise ConfigError(
            path, [ConfigProblem("", f"cannot read: {exc.strerror or exc}", str(path))]
        ) from exc


class TomlFileSource(PydanticBaseSettingsSource):
    """The configuration file as a pydantic-settings source (secrets are never taken from it)."""

    def __init__(self, settings_cls: type[BaseSettings], path: Path) -> None:
        super().__init__(settings_cls)
        self.path = path
        self.text = ""
        self.data: dict[str, Any] = {}
        self.ignored_secrets: list[str] = []
        if _exists(path):
            self.text, self.data = read_data(path)
            check_sections(path, self.text, self.data)
            for key in MailSettings.SECRET_KEYS:
                section, name = key.split(".")
                if isinstance(self.data.get(section), dict) and name in self.data[section]:
                    del self.data[section][name]
                    self.ignored_secrets.append(key)

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return self.data.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return self.data


# --------------------------------------------------------------------------- loading


def load_config(
    path: str | os.PathLike[str] | None = None,
    *,
    system: bool = False,
    overrides: Mapping[str, Any] | None = None,
) -> LoadedConfig:
    """The effective settings: overrides > environment > secrets directories > file > defaults."""
    config_path = paths.resolve_config_path(path, system=system)
    file_source = TomlFileSource(MailSettings, config_path)
    layers: list[tuple[ValueSource, dict[str, Any]]] = [
        (ValueSource.FILE, file_source()),
        (ValueSource.SECRETS_DIR, _read_layer(config_path, ValueSource.SECRETS_DIR)),
        (ValueSource.ENV, _read_layer(config_path, ValueSource.ENV)),
        (ValueSource.CLI, _nest(overrides or {})),
    ]
    merged: dict[str, Any] = {}
    sources: dict[str, str] = dict.fromkeys(field_keys(), ValueSource.DEFAULT)
    for name, layer in layers:
        _deep_merge(merged, layer)
        for key in _flatten(layer):
            sources[key] = name
    try:
        settings = MailSettings.model_validate(merged)
    except ValidationError as exc:
        raise ConfigError(
            config_path, _problems(exc, sources, config_path, file_source.text)
        ) from exc

    warnings = [
        Finding(
            Severity.WARNING,
            key,
            f"{config_path} contains {key}, which is ignored: secrets never live in the main "
            f"configuration file. Move it with: tui-mailsetup set-secret {key}",
            code="secret-in-config-file",
        )
        for key in file_source.ignored_secrets
    ]
    return LoadedConfig(settings, sources, config_path, config_path.exists(), warnings)


def _read_layer(config_path: Path, layer: ValueSource) -> dict[str, Any]:
    """The environment's or the secrets directories' values; ConfigError (78) naming the
    variable (or file) whose value is not the JSON its key takes (a list, a table)."""
    from pydantic_settings import SettingsError

    source = environment_source() if layer is ValueSource.ENV else secrets_dir_source()
    try:
        values: dict[str, Any] = source()
        check_depth(config_path, "", values)
    except (SettingsError, RecursionError, ConfigError) as exc:
        raise ConfigError(config_path, [_layer_problem(layer)]) from exc
    return values


def _layer_problem(layer: ValueSource) -> ConfigProblem:
    """Which variable (or secrets-directory file) holds a value that is not valid JSON."""
    import json

    candidates: dict[str, str] = {}
    if layer is ValueSource.ENV:
        candidates = {name: value for name, value in os.environ.items()}
    else:
        for directory in paths.secrets_dirs():
            with contextlib.suppress(OSError):
                for entry in directory.iterdir():
                    with contextlib.suppress(OSError, UnicodeDecodeError):
                        if entry.is_file() and entry.stat().st_size < 65536:
                            candidates[entry.name] = entry.read_text(encoding="utf-8")
    sections = set(SECTION_NAMES)
    lists = {key for key in field_keys() if _is_list(key)}
    for name, value in sorted(candidates.items()):
        if not name.upper().startswith(ENV_PREFIX):
            continue
        key = name[len(ENV_PREFIX) :].lower().replace(ENV_NESTED_DELIMITER, ".")
        if key not in sections and key not in lists:
            continue
        try:
            check_depth(Path(name), "", {"": json.loads(value)})
        except (ValueError, RecursionError, ConfigError):
            pass
        else:
            continue
        form = (
            f'a JSON list, e.g. {name}=\'["a", "b"]\''
            if key in lists
            else f'a JSON table, e.g. {name}=\'{{"key": "value"}}\', or one variable per '
            f"key ({name}{ENV_NESTED_DELIMITER}KEY)"
        )
        origin = (
            f"environment variable {name}"
            if layer is ValueSource.ENV
            else f"secrets directory file {name}"
        )
        return ConfigProblem(
            key, f"is not valid JSON (or nests too deep): it must be {form}", origin
        )
    where = "the environment" if layer is ValueSource.ENV else "a secrets directory"
    return ConfigProblem(
        "",
        f"a {ENV_PREFIX}* value in {where} cannot be read: lists and tables are written as "
        'JSON, e.g. \'["a", "b"]\'',
        where,
    )


def _is_list(key: str) -> bool:
    import typing

    section, _, name = key.rpartition(".")
    model: type[BaseModel] = MailSettings
    if section:
        annotation = MailSettings.model_fields[section].annotation
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return False
        model = annotation
    info = model.model_fields.get(name)
    return info is not None and typing.get_origin(info.annotation) is list


def parse_overrides(pairs: list[str]) -> dict[str, Any]:
    """``--override smtp.port=2525`` pairs as dotted keys; errors.UsageError (a ValueError,
    64) naming the bad one. Secrets are refused: a command line shows in ``ps`` and in the
    shell's history. Messages name the key, never the value (it may be a secret)."""
    keys = field_keys()
    lists = list_keys()
    overrides: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        shown = untrusted_text(key, limit=80)
        if not sep:
            raise UsageError(f"--override {shown!r}: expected KEY=VALUE, e.g. smtp.port=2525")
        if is_secret_key(key):
            raise UsageError(
                f"--override {key}=…: secrets are not accepted on the command line, where "
                f"`ps` and the shell history show them. Store it with "
                f"`tui-mailsetup set-secret {key}` or pass it in the environment variable "
                f"{env_var_name(key)}"
            )
        if key not in keys:
            close = similar_keys(key, n=1)
            raise UsageError(
                f"--override {shown!r}: unknown key" + (f"; did you mean {close}?" if close else "")
            )
        if key in lists:
            try:
                overrides[key] = parse_list_text(value)
            except ValueError as exc:
                raise UsageError(f"--override {key}=…: the value {exc}") from None
            continue
        overrides[key] = value
    return overrides


def similar_keys(key: str, *, n: int = 3) -> str:
    """The ``n`` setting keys closest to a misspelt ``key``, as "smtp.port or smtp.host",
    or "" (the one "did you mean" of the command line)."""
    import difflib

    return " or ".join(difflib.get_close_matches(key, field_keys(), n=n))


def env_var_name(key: str) -> str:
    return ENV_PREFIX + key.upper().replace(".", ENV_NESTED_DELIMITER)


def _problems(
    exc: ValidationError, sources: Mapping[str, str], path: Path, text: str
) -> list[ConfigProblem]:
    problems = []
    for error in exc.errors():
        key = ".".join(str(part) for part in error["loc"])
        source = _source_of(sources, key)
        line = None
        if source == ValueSource.FILE:
            line = locate_key(text, key)
            origin = f"{path}:{line}" if line else str(path)
        elif source == ValueSource.ENV:
            origin = f"environment variable {env_var_name(key)}"
        elif source == ValueSource.SECRETS_DIR:
            origin = f"secrets directory file {env_var_name(key).lower()}"
        else:
            origin = "command line"
        problems.append(ConfigProblem(key, describe_error(error, key), origin, line))
    return problems


def _source_of(sources: Mapping[str, str], key: str) -> str:
    """Where ``key`` came from; for an item of a list (dns.nameservers.1), where the list did."""
    parts = key.split(".")
    while parts:
        if (source := sources.get(".".join(parts))) is not None:
            return source
        parts.pop()
    return ValueSource.FILE


def _number(value: Any) -> Any:
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _in_our_words(error: Mapping[str, Any]) -> str | None:
    """The product's wording for pydantic's common error types (None: keep its message,
    which for our own field rules is already ours)."""
    kind = str(error["type"])
    context = error.get("ctx") or {}
    if kind in {"int_parsing", "int_type", "int_from_float"}:
        return "must be a whole number, e.g. 587"
    if kind in {"float_parsing", "float_type"}:
        return "must be a number, e.g. 30"
    if kind in {"bool_parsing", "bool_type"}:
        return "must be true or false (yes/no, on/off and 1/0 are understood too)"
    if kind == "greater_than":
        return f"must be more than {_number(context.get('gt'))}"
    if kind == "greater_than_equal":
        return f"must be at least {_number(context.get('ge'))}"
    if kind == "less_than":
        return f"must be less than {_number(context.get('lt'))}"
    if kind == "less_than_equal":
        return f"must be at most {_number(context.get('le'))}"
    if kind in {"enum", "literal_error"} and "expected" in context:
        return f"must be one of {context['expected']}"
    if kind in {"string_type", "list_type", "dict_type", "model_type", "model_attributes_type"}:
        wanted = {"string_type": "text", "list_type": f"a list, {LIST_FORMS}"}.get(
            kind, "a section of settings"
        )
        return f"must be {wanted}"
    if kind == "string_too_long":
        return f"must be at most {context.get('max_length')} characters"
    return None


def describe_error(error: Mapping[str, Any], key: str) -> str:
    """A pydantic error as a person reads it, in the product's words; the bad value is
    quoted unless it is a secret."""
    message = _in_our_words(error) or str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        return "unknown key (check the spelling; `tui-mailsetup show` lists every key)"
    quoted = isinstance(error.get("input"), str) and f"'{error['input']}'" in message
    if (
        not is_secret_key(key)
        and not quoted
        and "input" in error
        and not isinstance(error["input"], dict)
    ):
        shown = repr(error["input"])
        if len(shown) > 60:
            shown = shown[:57] + "..."
        message += f" (got {shown})"
    return message


# --------------------------------------------------------------------------- writing


def plain_value(value: Any) -> Any:
    # 30.0 reads better as 30 in a hand-edited file.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _document_for_update(path: Path) -> tuple[str, tomlkit.TOMLDocument]:
    """The existing document (text and tomlkit), which must parse: a broken file is never
    overwritten. A new file starts with a comment."""
    import tomlkit

    files.check_writable_kind(path)  # before reading: a FIFO would block
    target = files.write_target(path)
    if not target.exists():
        document = tomlkit.document()
        document.add(
            tomlkit.comment("tui-mailsetup configuration; secrets live in credentials.toml")
        )
        return "", document
    text, document = read_document(target)
    check_sections(path, text, document.unwrap())
    return text, document


def _without_secrets(data: dict[str, Any]) -> dict[str, Any]:
    for key in MailSettings.SECRET_KEYS:
        section, name = key.split(".")
        if isinstance(data.get(section), dict):
            data[section].pop(name, None)
    return data


def write_values(
    path: Path, values: Mapping[str, Any], *, append: Iterable[str] = ()
) -> MailSettings:
    """Set dotted keys in the file, keeping its comments, order, mode and owner; returns the
    file's settings. Holds the configuration's lock for the whole read-modify-write. The
    list keys named in ``append`` get their new items added after the file's own (an item
    already there is not doubled), read under the same lock.

    Raises InvalidValueError (65: a new value is invalid on its own; nothing written),
    ConfigError (78: the file does not load for another reason; untouched), UsageError
    (a secret key) or errors.FileError (73/74: the file cannot be written).
    """
    for key in values:
        if is_secret_key(key):
            raise UsageError(f"{key} is a secret: use set-secret, it never goes in the main file")
    import tomlkit

    files.check_writable_kind(path)  # before the lock file is made beside it
    with files.locked(path):
        text, document = _document_for_update(path)
        candidate = _without_secrets(document.unwrap())
        values = _appended(candidate, values, frozenset(append))
        _deep_merge(candidate, _nest(values))
        try:
            file_settings = MailSettings.model_validate(candidate)
        except ValidationError as exc:
            _raise_for(exc, path, text, values)
            raise  # pragma: no cover (_raise_for always raises)
        # Store what the value means, not how it was typed: port 465, not "465"; "tls", not "SSL".
        normalised = _flatten(file_settings.model_dump(mode="json"))
        for key in values:
            *parents, name = key.split(".")
            container: Any = document
            for part in parents:
                if part not in container:
                    container.add(part, tomlkit.table())
                container = container[part]
            container[name] = plain_value(normalised[key])
        files.ensure_dir(path.parent, private=True)
        files.remove_stale_temporaries(path)
        files.atomic_write(
            path,
            tomlkit.dumps(document).encode("utf-8"),
            mode=0o644,
            backup=True,
            keep_mode=True,
        )
    return file_settings


def _appended(
    current: Mapping[str, Any], values: Mapping[str, Any], append: frozenset[str]
) -> dict[str, Any]:
    flat = _flatten(current)
    result = dict(values)
    for key in append & values.keys():
        existing = flat.get(key, [])
        if not isinstance(existing, list):
            existing = []  # validation reports the file's own value
        result[key] = existing + [item for item in values[key] if item not in existing]
    return result


def _raise_for(exc: ValidationError, path: Path, text: str, values: Mapping[str, Any]) -> None:
    """A new value's own error is the caller's (65); any other is the file's (78)."""
    for error in exc.errors():
        key = ".".join(str(part) for part in error["loc"])
        for named in values:
            if key == named or key.startswith(named + ".") or named.startswith(key + "."):
                raise InvalidValueError(named, describe_error(error, named)) from exc
    sources = dict.fromkeys(field_keys(), ValueSource.FILE)
    raise ConfigError(path, _problems(exc, sources, path, text)) from exc


def save_settings(path: Path, settings: MailSettings, keys: Iterable[str] | None = None) -> None:
    """Write ``settings`` to the file: the given keys, or every key that is not at its default
    or is already in the file. Secrets are never written here (see secrets.store_secret)."""
    current = settings.model_dump(mode="json")
    flat = _flatten(current)
    with files.locked(path):
        if keys is None:
            defaults = _flatten(MailSettings().model_dump(mode="json"))
            in_file: set[str] = set()
            if path.exists():
                in_file = set(_flatten(read_data(path)[1]))
            keys = [k for k in flat if flat[k] != defaults.get(k) or k in in_file]
        write_values(path, {k: flat[k] for k in keys if not is_secret_key(k)})


def file_values(path: Path) -> dict[str, Any]:
    """The values the file itself holds, by dotted key, secrets left out ({} when there is
    no file). What a writer compares to learn which keys changed on disk since it read them."""
    if not _exists(path):
        return {}
    return {k: v for k, v in _flatten(read_data(path)[1]).items() if not is_secret_key(k)}


def flatten(data: Mapping[str, Any]) -> dict[str, Any]:
    """Nested settings (``model_dump``, a TOML table) by dotted key: ``{"smtp.port": 587}``."""
    return _flatten(data)
