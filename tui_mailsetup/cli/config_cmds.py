"""The configuration commands: show, set, set-secret, check."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from tui_mailsetup import files
from tui_mailsetup.cli import load_from_args
from tui_mailsetup.cli.output import (
    paint,
    print_findings,
    print_json,
    report_error,
    with_verdict,
)
from tui_mailsetup.errors import DataError, UsageError
from tui_mailsetup.exitcodes import ExitCode
from tui_mailsetup.findings import Finding, Severity, has_errors
from tui_mailsetup.sanitize import untrusted_text
from tui_mailsetup.startup.lazy import LazySequence

# The settings model, pydantic and the files are imported by the commands that use
# them: `--help` and argument errors must not pay for them (tests/functional/test_import_hygiene.py).
if TYPE_CHECKING:
    from pathlib import Path

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
    set_.add_argument("key", nargs="?", help="dotted key, e.g. smtp.port")
    set_.add_argument(
        "value",
        nargs="?",
        help='the value; a list (dns.nameservers, oauth2.scopes, …) comma-separated ("a,b") '
        'or as JSON (\'["a", "b"]\')',
    )
    set_.add_argument(
        "--append",
        action="store_true",
        help="for a list key: add the items after the ones already set (none doubled)",
    )
    set_.add_argument(
        "--preset",
        metavar="NAME",
        help="apply a provider's preset instead of one key: host, port, encryption, and the "
        "username or OAuth2 sign-in the provider requires (e.g. --preset microsoft-365; "
        "--preset list shows them)",
    )
    set_.set_defaults(handler=run_set, parser=set_)

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


# The help's key lists read settings.py's source (startup/declared.py) when a help is printed.
def _settable_keys_epilog() -> str:
    from tui_mailsetup.startup.declared import settable_keys

    return "keys: " + ", ".join(settable_keys())


def _secret_keys_epilog() -> str:
    from tui_mailsetup.startup.declared import declared

    return "keys: " + ", ".join(declared().secret_keys)


def _check_stages() -> tuple[str, ...]:
    """check's stages, resolve to rcpt: it never sends a message, so never DATA. The order
    lives in engine/events.py (Stage), asked only when argparse needs the names (``check
    --quit-after``, ``check --help``): ``show`` and ``set`` register ``check`` too."""
    from tui_mailsetup.engine.events import Stage

    return tuple(stage.value for stage in Stage.between(Stage.RESOLVE, Stage.RCPT))


CHECK_STAGES: Sequence[str] = LazySequence(_check_stages)


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


def load_trusted_or_report(args: argparse.Namespace, *, purpose: str) -> LoadedConfig | int:
    """:func:`load_or_report` for a command that acts on what the configuration says
    (contacts its name servers, writes back to it): trust before action
    (files.check_trusted), refused with 78 naming the file and its fix. ``purpose`` says
    what was not done."""
    loaded = load_or_report(args)
    if isinstance(loaded, int):
        return loaded
    try:
        files.check_trusted(loaded.path, purpose=purpose)
    except files.UnsafePermissionsError as exc:
        return report_error(exc, as_json=bool(args.json))
    return loaded


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
                "ok": True,
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


def run_set(args: argparse.Namespace) -> int:
    """Refuse a value invalid on its own (65, the key named, the file untouched), write it
    under the lock, then print the findings about it that depend on other keys."""
    # Usage first, through argparse's own report: a usage error loads no settings model.
    if args.preset is not None:
        if args.key is not None or args.append:
            args.parser.error("set --preset NAME takes no KEY VALUE and no --append")
        return _run_set_preset(args)
    if args.key is None or args.value is None:
        args.parser.error("set needs KEY VALUE (e.g. set smtp.port 465), or --preset NAME")
    from tui_mailsetup.config_file import (
        InvalidValueError,
        similar_keys,
        write_values,
    )
    from tui_mailsetup.paths import resolve_config_path
    from tui_mailsetup.settings import field_keys, is_secret_key, list_keys, parse_list_text

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
    if key in list_keys():
        try:
            value = parse_list_text(args.value)
        except ValueError as exc:
            raise InvalidValueError(key, str(exc)) from None
    elif args.append:
        raise UsageError(f"--append is for list keys; {key} holds one value")
    # Only the path: the file is read (and validated) under the lock by write_values;
    # an invalid environment variable does not stop correcting the file.
    config_path = resolve_config_path(args.config, system=args.system)
    file_settings = write_values(config_path, {key: value}, append=[key] if args.append else [])
    return _report_written(args, config_path, file_settings, [key])


def _report_written(
    args: argparse.Namespace, config_path: Path, file_settings: Any, keys: list[str]
) -> int:
    """What set wrote, and the findings about it that depend on other keys (human or --json)."""
    from tui_mailsetup.config_file import ConfigError, ValueSource, env_var_name, plain_value
    from tui_mailsetup.secrets import secret_sources
    from tui_mailsetup.validation import validate

    dumped = file_settings.model_dump(mode="json")
    written: dict[str, Any] = {}
    for key in keys:
        stored = dumped
        for part in key.split("."):
            stored = stored[part]
        written[key] = plain_value(stored)
    notes: list[str] = []
    related: list[Finding] = []
    try:
        after = load_from_args(args)
    except (ValueError, ConfigError) as exc:
        # Written; what else is wrong (the environment, --override) does not undo that.
        notes.append(f"the effective configuration does not load:\n{exc}")
    else:
        notes += [
            f"the environment variable {env_var_name(key)} overrides this value"
            for key in keys
            if after.sources.get(key) == ValueSource.ENV
        ]
        related = [
            f
            for f in validate(after.settings, secret_sources=secret_sources(after))
            if set(keys) & set(f.fields)
        ]
    if args.json:
        print_json(
            {
                "ok": True,
                "path": str(config_path),
                "written": written,
                "notes": notes,
                "findings": [f.to_json() for f in related],
            }
        )
        return ExitCode.OK
    for key, value in written.items():
        shown = json.dumps(value, ensure_ascii=False)
        print(untrusted_text(f"{key} = {shown}  (written to {config_path})"))
    for note in notes:
        print(untrusted_text(f"note: {note}"))
    print_findings(related)
    return ExitCode.OK


def _run_set_preset(args: argparse.Namespace) -> int:
    """set --preset NAME: the preset's settings written in one locked write."""
    from tui_mailsetup.config_file import ConfigError, read_data, write_values
    from tui_mailsetup.paths import resolve_config_path
    from tui_mailsetup.presets import get_preset, load_presets

    name = str(args.preset).strip().lower()
    if name == "list":
        presets = load_presets()
        if args.json:
            print_json(
                {
                    "ok": True,
                    "presets": [{"id": p.id, "name": p.name, "host": p.host} for p in presets],
                }
            )
        else:
            for each in presets:
                print(untrusted_text(f"{each.id:<24} {each.name:<28} {each.host}"))
        return ExitCode.OK
    preset = get_preset(name)
    if preset is None:
        ids = ", ".join(p.id for p in load_presets())
        raise UsageError(
            f"unknown preset {untrusted_text(args.preset, limit=40)!r}; presets: {ids}"
        )
    config_path = resolve_config_path(args.config, system=args.system)
    changes = preset.settings_changes()
    if "smtp.username" not in changes and preset.username_format:
        # As the TUI's preset picker does: the login the provider expects for the sender
        # address already set, when no username is set yet.
        data: dict[str, Any] = {}
        with contextlib.suppress(OSError, ValueError, ConfigError):
            if config_path.exists():
                _, data = read_data(config_path)
        address = str(data.get("sender", {}).get("address", ""))
        has_username = bool(str(data.get("smtp", {}).get("username", "")).strip())
        if address and not has_username and (username := preset.username_for(address)):
            changes["smtp.username"] = username
    file_settings = write_values(config_path, changes)
    if not args.json:
        print(untrusted_text(f"preset {preset.id} ({preset.name}):"))
    code = _report_written(args, config_path, file_settings, list(changes))
    if preset.notes and not args.json:
        print(untrusted_text(f"note: {preset.notes}"))
    return code


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
        if args.json:
            print_json({"ok": True, "key": key, "removed": removed})
        else:
            print(f"{key} {'removed' if removed else 'was not stored'}")
        return ExitCode.OK
    value = _read_secret(key)  # DataError (65) when there is no usable value
    path = store_secret(config_path, key, value)
    where = _shadowing_source(args, key)
    if args.json:
        document = {"ok": True, "key": key, "stored": str(path), "mode": "0600"}
        print_json(document | ({"shadowed_by": where} if where else {}))
    else:
        print(untrusted_text(f"{key} stored in {path} (mode 0600)"))
    if where is not None:
        message = (
            f"{key} is also supplied by {where}, which comes first in the lookup order: the "
            "value just stored is not used until that one is removed"
        )
        print(f"tui-mailsetup: warning: {untrusted_text(message)}", file=sys.stderr)
    return ExitCode.OK


def _shadowing_source(args: argparse.Namespace, key: str) -> str | None:
    """A secret stored where a source earlier in the lookup order wins is not used: where
    that source is, to say so now, not at the next failed login (a forgotten
    MAILSETUP_SMTP__PASSWORD, say)."""
    from tui_mailsetup.errors import MailSetupError
    from tui_mailsetup.secrets import shadowing_source

    try:
        return shadowing_source(load_from_args(args), key)
    except MailSetupError:
        return None  # a configuration that does not load says so itself at its next use


def _read_secret(key: str) -> str:
    if sys.stdin is None:
        raise DataError("no standard input to read the secret from")
    if sys.stdin.isatty():
        import getpass

        first = getpass.getpass(f"{key} (not echoed): ")
        second = getpass.getpass(f"{key} again: ")
        if first != second:
            raise DataError("the two entries differ; nothing was stored")
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
        raise DataError(f"{key}: the secret is empty; nothing was stored")
    if "\n" in value or "\r" in value:
        raise DataError(f"{key}: the secret spans several lines; nothing was stored")
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
                    "exit_code": int(ExitCode.CONFIG if failed else ExitCode.OK),
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
    events: list[Any] = []
    outcome = smtp_cmds.run_ladder(
        loaded,
        recipients=[],
        stop_after=stop_after,
        human=not args.json,
        report_warnings=False,
        collect=events,
        verbose=bool(args.verbose),
    )
    from tui_mailsetup.cli.dns_cmds import check_dns_section

    dns_section = check_dns_section(args, loaded.settings)
    if args.json:
        document = smtp_cmds.outcome_document(outcome, events)
        document["findings"] = [f.to_json() for f in findings]
        document["dns"] = dns_section.to_json()
    code = dns_section.exit_code(int(outcome.exit_code))
    if args.json:
        # --strict: a DNS record in error fails a ladder that passed (65).
        cause = "a DNS record of the sender domain is in error (--strict)"
        print_json(with_verdict(document, code, stage="dns", cause=cause))
    return code
