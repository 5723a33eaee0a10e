"""The configuration commands: show, set, set-secret, check."""

from __future__ import annotations

import argparse
import functools
import json
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, overload

from tui_mailsetup import files
from tui_mailsetup.cli import load_from_args
from tui_mailsetup.cli.output import error, paint, print_findings, print_json, report_error
from tui_mailsetup.errors import DataError, UsageError
from tui_mailsetup.exitcodes import ExitCode
from tui_mailsetup.findings import Finding, Severity, has_errors
from tui_mailsetup.sanitize import untrusted_text

# The settings model, pydantic and the files are imported by the commands that use
# them: `--help` and argument errors must not pay for them (tests/test_import_hygiene.py).
if TYPE_CHECKING:
    from tui_mailsetup.config_file import LoadedConfig


def register(subparsers: Any, common: argparse.ArgumentParser) -> None:
    show = subparsers.add_parser(
        "show",
        parents=[common],
        help="print the effective configuration and where each value came from",
        description="Print the effective configuration, secrets redacted, with the source of each value "
        "(default, file, secrets-dir, env, cli, password_command, credentials-file, keyring).",
    )
    show.add_argument(
        "--include-secrets",
        action="store_true",
        help="print secrets in clear (runs password_command)",
    )
    show.set_defaults(handler=run_show)

    set_ = subparsers.add_parser(
        "set",
        parents=[common],
        help="set one key in the configuration file",
        description="Set one key (e.g. `smtp.port 465`) in the configuration file. A value that "
        "is invalid on its own (an address, a sender name over 64 characters, an EHLO name, a "
        "host, a port) is refused with exit 65 and the file is not touched; findings that depend "
        "on other keys are printed after the write. The file keeps its comments, mode and owner, "
        "a symlink is written through, the write is atomic and locked against concurrent "
        "writers, and the previous version is kept as <file>.bak. Exit 73/74 when the file "
        "cannot be written (read-only directory, full disk).",
    )
    set_.epilog_factory = _settable_keys_epilog
    set_.add_argument("key", help="dotted key, e.g. smtp.port")
    set_.add_argument("value", help='the value; lists (dns.nameservers) as "a,b" or JSON')
    set_.set_defaults(handler=run_set)

    secret = subparsers.add_parser(
        "set-secret",
        parents=[common],
        help="store a secret (smtp.password, …) in the owner-only credentials file",
        description="Read a secret from standard input (or a no-echo prompt on a terminal) and store it "
        "in the credentials file beside the configuration (mode 0600, directory 0700, locked "
        "against concurrent writers). Input that is not UTF-8 text, or spans several lines, "
        "exits 65. Secrets are never accepted by --override (they would show in ps).",
    )
    secret.epilog_factory = _secret_keys_epilog
    secret.add_argument("key", help="smtp.password, mailgun.api_key or ses.secret_access_key")
    secret.add_argument("--delete", action="store_true", help="remove the secret instead")
    secret.set_defaults(handler=run_set_secret)

    check = subparsers.add_parser(
        "check",
        parents=[common],
        help="validate the configuration and test the connection up to AUTH",
        description="Validate the configuration, then run the diagnostics ladder up to AUTH "
        "without sending a message. Exit 78 when validation finds an error.",
    )
    check.add_argument("--offline", action="store_true", help="validate only; no network")
    check.add_argument(
        "--quit-after",
        metavar="STAGE",
        default="auth",
        type=str.lower,
        choices=CHECK_STAGES,
        help="stop after this stage: %(choices)s (default: auth). mail and rcpt ask whether "
        "the sender and the recipient (the sender address) would be accepted; no message is "
        "ever sent: use send-test for that",
    )
    from tui_mailsetup.cli.dns_cmds import add_check_options

    add_check_options(check)
    check.set_defaults(handler=run_check)


# The help's key lists read settings.py's source (settings_source.py) when a help is printed.
def _settable_keys_epilog() -> str:
    from tui_mailsetup.settings_source import settable_keys

    return "keys: " + ", ".join(settable_keys())


def _secret_keys_epilog() -> str:
    from tui_mailsetup.settings_source import declared

    return "keys: " + ", ".join(declared().secret_keys)


class _CheckStages(Sequence[str]):
    """check's stages, resolve to rcpt: it never sends a message, so never DATA.

    The order lives in engine/events.py (Stage); this asks it only when argparse needs
    the names (``check --quit-after``, ``check --help``): ``show`` and ``set`` register
    ``check`` too and must not import the engine for it."""

    @functools.cached_property
    def _names(self) -> tuple[str, ...]:
        from tui_mailsetup.engine.events import Stage

        return tuple(stage.value for stage in Stage.between(Stage.RESOLVE, Stage.RCPT))

    @overload
    def __getitem__(self, index: int) -> str: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[str]: ...
    def __getitem__(self, index: int | slice) -> str | Sequence[str]:
        return self._names[index]

    def __len__(self) -> int:
        return len(self._names)


CHECK_STAGES: Sequence[str] = _CheckStages()


def load_or_report(args: argparse.Namespace) -> LoadedConfig | int:
    """The configuration (with ``--override`` values), or the exit code after reporting why it does not load.

    Every command that needs the configuration loads it through here.
    """
    from tui_mailsetup.config_file import ConfigError

    try:
        return load_from_args(args)
    except (UsageError, ConfigError) as exc:
        return report_error(exc, as_json=bool(args.json))
    except ValueError as exc:
        return report_error(UsageError(str(exc)), as_json=bool(args.json))


def loaded_findings(loaded: LoadedConfig) -> list[Finding]:
    """What loading noticed: a secret in the main file, an unusable credentials file, a
    configuration that others could have written (nothing is run, sent or applied with it:
    trust before action, files.check_trusted)."""
    from tui_mailsetup.secrets import credentials_problem

    findings = list(loaded.warnings)
    if problem := credentials_problem(loaded.path):
        findings.append(
            Finding(Severity.ERROR, "smtp.password", problem, code="credentials-file-unsafe")
        )
    try:
        files.check_trusted_config(loaded.path)
    except files.UnsafePermissionsError as exc:
        findings.append(Finding(Severity.ERROR, "smtp.password", str(exc), code="config-unsafe"))
    return findings


# --------------------------------------------------------------------------- show


def run_show(args: argparse.Namespace) -> int:
    from tui_mailsetup.config_file import ValueSource, env_var_name, plain_value
    from tui_mailsetup.secrets import resolve_secret, secret_sources
    from tui_mailsetup.settings import MailSettings, field_keys, to_plain

    loaded = load_or_report(args)
    if isinstance(loaded, int):
        return loaded
    sources = dict(loaded.sources)
    sources.update({k: v or ValueSource.UNSET for k, v in secret_sources(loaded).items()})
    data = to_plain(loaded.settings)
    if args.include_secrets:
        for key in MailSettings.SECRET_KEYS:
            value = resolve_secret(loaded, key).value  # SecretError: 78, reported by main()
            section, name = key.split(".")
            data[section][name] = value
    else:
        for key in MailSettings.SECRET_KEYS:
            section, name = key.split(".")
            data[section][name] = None if sources[key] == ValueSource.UNSET else "**********"
    state = _state_summary(loaded)
    driver_notes = _driver_notes(loaded, sources)
    if args.json:
        print_json(
            {
                "settings": data,
                "sources": sources,
                "path": str(loaded.path),
                "exists": loaded.exists,
                "warnings": [w.to_json() for w in loaded_findings(loaded)],
                "state": state,
                **driver_notes,
            }
        )
        return ExitCode.OK
    where = "" if loaded.exists else "  (does not exist yet: defaults and environment only)"
    print(f"# {untrusted_text(str(loaded.path))}{where}")
    rows = []
    for key in field_keys():
        section, _, name = key.rpartition(".")
        value = data[section][name] if section else data[name]
        shown = "(unset)" if value is None else json.dumps(plain_value(value), ensure_ascii=False)
        origin = sources[key]
        if origin == ValueSource.ENV:
            origin = f"env {env_var_name(key)}"
        rows.append((key, shown, origin))
    key_width = max(len(r[0]) for r in rows)
    value_width = min(40, max(len(r[1]) for r in rows))
    for key, shown, origin in rows:
        print(f"{key:<{key_width}} = {shown:<{value_width}}  {paint(origin, 'dim')}")
    for key, value in {**state, **driver_notes}.items():
        # The state file can be edited by hand: neutralised like any local text.
        print(f"# {key.replace('_', ' ')}: {untrusted_text(value)}")
    print_findings(loaded_findings(loaded))
    return ExitCode.OK


def _driver_notes(loaded: LoadedConfig, sources: dict[str, str]) -> dict[str, str]:
    from tui_mailsetup.config_file import ValueSource

    """For SES: where the AWS credentials would come from (no secret, no network)."""
    if loaded.settings.driver.value != "ses":
        return {}
    from tui_mailsetup.drivers.ses import credential_hint

    present = sources.get("ses.secret_access_key", ValueSource.UNSET) != ValueSource.UNSET
    hint = credential_hint(loaded.settings, secret_present=present)
    return {"ses_credentials": hint.problem or hint.text}


def _state_summary(loaded: LoadedConfig) -> dict[str, str]:
    """The last test result and any rate limit, as the SMTP engine recorded them."""
    from tui_mailsetup.state import load_state

    return load_state(loaded.path).summary()


# --------------------------------------------------------------------------- set


def _parse_list(raw: str) -> list[str]:
    raw = raw.strip()
    if raw.startswith("["):
        try:
            value = json.loads(raw)
        except RecursionError:
            raise ValueError("the list is nested too deeply") from None
        if not isinstance(value, list):
            raise ValueError("expected a list")
        return [str(v) for v in value]
    return [part.strip() for part in raw.split(",") if part.strip()]


def run_set(args: argparse.Namespace) -> int:
    """Refuse a value invalid on its own (65, the key named, the file untouched), write it
    under the lock, then print the findings about it that depend on other keys."""
    from tui_mailsetup.config_file import (
        ConfigError,
        InvalidValueError,
        ValueSource,
        env_var_name,
        plain_value,
        similar_keys,
        write_values,
    )
    from tui_mailsetup.paths import resolve_config_path
    from tui_mailsetup.secrets import secret_sources
    from tui_mailsetup.settings import field_keys, is_secret_key

    key: str = args.key
    keys = field_keys()
    if is_secret_key(key):
        raise UsageError(
            f"{key} is a secret and never goes in the configuration file; use: "
            f"tui-mailsetup set-secret {key}"
        )
    if key not in keys:
        close = similar_keys(key)
        hint = f" Did you mean {close}?" if close else " `tui-mailsetup set --help` lists the keys."
        raise UsageError(f"unknown key '{untrusted_text(key, limit=80)}'.{hint}")
    value: Any = args.value
    if key == "dns.nameservers":
        try:
            value = _parse_list(args.value)
        except ValueError as exc:
            raise InvalidValueError(key, str(exc)) from None
    # Only the path: the file is read (and validated) under the lock by write_values;
    # an invalid environment variable does not stop correcting the file.
    config_path = resolve_config_path(args.config, system=args.system)
    file_settings = write_values(config_path, {key: value})
    stored = file_settings.model_dump(mode="json")
    for part in key.split("."):
        stored = stored[part]
    shown = json.dumps(plain_value(stored), ensure_ascii=False)
    print(untrusted_text(f"{key} = {shown}  (written to {config_path})"))
    try:
        after = load_from_args(args)
    except (ValueError, ConfigError) as exc:
        # Written; what else is wrong (the environment, --override) does not undo that.
        print(f"note: the effective configuration does not load:\n{untrusted_text(str(exc))}")
        return ExitCode.OK
    if after.sources.get(key) == ValueSource.ENV:
        print(f"note: the environment variable {env_var_name(key)} overrides this value")
    from tui_mailsetup.validation import validate

    related = [
        f for f in validate(after.settings, secret_sources=secret_sources(after)) if key in f.fields
    ]
    print_findings(related)
    return ExitCode.OK


# --------------------------------------------------------------------------- set-secret


def run_set_secret(args: argparse.Namespace) -> int:
    from tui_mailsetup.paths import resolve_config_path
    from tui_mailsetup.secrets import delete_secret, store_secret
    from tui_mailsetup.settings import MailSettings, is_secret_key

    key: str = args.key
    if not is_secret_key(key):
        raise UsageError(
            f"'{untrusted_text(key, limit=80)}' is not a secret key; secrets are: "
            + ", ".join(MailSettings.SECRET_KEYS)
        )
    # Only the path: a broken main file must not stop storing a secret, which lives elsewhere.
    config_path = resolve_config_path(args.config, system=args.system)
    # SecretError (78), DataError (65) and FileError (73/74) are reported by main().
    if args.delete:
        removed = delete_secret(config_path, key)
        print(f"{key} {'removed' if removed else 'was not stored'}")
        return ExitCode.OK
    value = _read_secret(key)
    if value is None:
        return ExitCode.DATAERR
    path = store_secret(config_path, key, value)
    print(untrusted_text(f"{key} stored in {path} (mode 0600)"))
    _warn_if_shadowed(args, key)
    return ExitCode.OK


def _warn_if_shadowed(args: argparse.Namespace, key: str) -> None:
    """A secret stored where a source earlier in the lookup order wins is not used: say so
    now, not at the next failed login (a forgotten MAILSETUP_SMTP__PASSWORD, say)."""
    from tui_mailsetup.errors import MailSetupError
    from tui_mailsetup.secrets import shadowing_source

    try:
        where = shadowing_source(load_from_args(args), key)
    except MailSetupError:
        return  # a configuration that does not load says so itself at its next use
    if where is not None:
        message = (
            f"{key} is also supplied by {where}, which comes first in the lookup order: the "
            "value just stored is not used until that one is removed"
        )
        print(f"tui-mailsetup: warning: {untrusted_text(message)}", file=sys.stderr)


def _read_secret(key: str) -> str | None:
    if sys.stdin is None:
        error("no standard input to read the secret from")
        return None
    if sys.stdin.isatty():
        import getpass

        first = getpass.getpass(f"{key} (not echoed): ")
        second = getpass.getpass(f"{key} again: ")
        if first != second:
            error("the two entries differ; nothing was stored")
            return None
        value = first
    else:
        data = sys.stdin.buffer.read() if hasattr(sys.stdin, "buffer") else sys.stdin.read()
        if isinstance(data, bytes):
            try:
                value = data.decode("utf-8")
            except UnicodeDecodeError:
                raise DataError(
                    f"{key}: standard input is not UTF-8 text; nothing was stored"
                ) from None
        else:
            value = data
        # One trailing newline is what `echo` and here-documents add; anything else is kept.
        value = value.removesuffix("\n").removesuffix("\r")
    if not value:
        error(f"{key}: the secret is empty; nothing was stored")
        return None
    if "\n" in value or "\r" in value:
        error(f"{key}: the secret spans several lines; nothing was stored")
        return None
    return value


# --------------------------------------------------------------------------- check


def run_check(args: argparse.Namespace) -> int:
    from tui_mailsetup.secrets import secret_sources
    from tui_mailsetup.validation import validate

    loaded = load_or_report(args)
    if isinstance(loaded, int):
        return loaded
    findings = loaded_findings(loaded) + validate(
        loaded.settings, secret_sources=secret_sources(loaded)
    )
    failed = has_errors(findings)
    if args.offline or failed:
        if args.json:
            print_json(
                {
                    "ok": not failed,
                    "stage": "validate",
                    "elapsed": 0.0,
                    "offline": bool(args.offline),
                    "findings": [f.to_json() for f in findings],
                    "diagnosis": _findings_diagnosis(findings) if failed else None,
                }
            )
        else:
            print_findings(findings)
            if failed:
                print(
                    paint("configuration has errors", "red")
                    + ("" if args.offline else "; no connection attempted")
                )
            else:
                print(
                    paint("configuration valid", "green") + (" (offline: no connection attempted)")
                )
        return ExitCode.CONFIG if failed else ExitCode.OK
    if not args.json:
        print_findings(findings)
    return _check_online(args, loaded, findings)


def _findings_diagnosis(findings: list[Any]) -> dict[str, Any]:
    first = next(f for f in findings if f.severity.value == "error")
    return {
        "stage": "validate",
        "cause": first.message,
        "field": first.field,
        "fix": first.fix.to_json() if first.fix else None,
    }


def _check_online(args: argparse.Namespace, loaded: LoadedConfig, findings: list[Any]) -> int:
    from tui_mailsetup.cli import smtp_cmds
    from tui_mailsetup.engine.events import Stage

    stop_after = Stage(args.quit_after)
    # The findings were shown above: the runner validates again (one verdict) quietly.
    outcome = smtp_cmds.run_ladder(
        loaded, recipients=[], stop_after=stop_after, human=not args.json, report_warnings=False
    )
    from tui_mailsetup.cli.dns_cmds import check_dns_section

    dns_section = check_dns_section(args, loaded.settings)
    if args.json:
        document = smtp_cmds.outcome_document(outcome)
        document["findings"] = [f.to_json() for f in findings]
        document["dns"] = dns_section.to_json()
        print_json(document)
    return dns_section.exit_code(int(outcome.exit_code))
