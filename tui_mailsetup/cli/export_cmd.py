"""``export`` (the settings for msmtp, Postfix, Laravel, Django, …) and the hidden ``get-secret``.

``get-secret KEY`` prints one secret, and nothing else, on stdout. It exists
for the programs an export configures: msmtp's ``passwordeval`` calls it, so
the password stays in tui-mailsetup's own secret sources instead of being
copied into another file.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from tui_mailsetup.exitcodes import ExitCode
from tui_mailsetup.startup.lazy import LazySequence


def register(subparsers: Any, common: argparse.ArgumentParser) -> None:
    # Nothing that loads the settings model here: `--help` must not pay for it.
    from tui_mailsetup.startup.declared import declared

    export = subparsers.add_parser(
        "export",
        parents=[common],
        help="write the configuration for another program (msmtp, postfix, env, django, json)",
        description=(
            "Write the current settings in the form another program reads. Secrets are left "
            "out unless --include-secrets is given; msmtp then asks tui-mailsetup for the "
            "password at send time (passwordeval), Postfix gets a placeholder in its "
            "sasl_passwd line."
        ),
        epilog=(
            "formats: msmtp (an msmtprc account), postfix (main.cf relay settings), "
            "postfix-sasl (the sasl_passwd line), env (Laravel's MAIL_* names), "
            "django (settings.py), json. A file that holds secrets is written mode 0600."
        ),
    )
    export.add_argument(
        "--format",
        "-f",
        required=True,
        metavar="FORMAT",
        help="one of the formats listed below",
    )
    export.add_argument(
        "--output",
        "-o",
        metavar="PATH",
        help="write to PATH (atomically; a secret-bearing file is created 0600); - or none: "
        "stdout. An existing file that tui-mailsetup did not write is refused (73) unless "
        "--force; for msmtp only this program's own account is added or replaced in it",
    )
    export.add_argument(
        "--force",
        action="store_true",
        help="replace an existing file tui-mailsetup did not write, keeping it as PATH.bak",
    )
    export.add_argument(
        "--account",
        metavar="NAME",
        default="tui-mailsetup",
        help="msmtp: the account's name (default: tui-mailsetup); other accounts in the file "
        "are kept byte for byte, and it becomes the default account only when there is none",
    )
    export.add_argument(
        "--include-secrets",
        action="store_true",
        help="include passwords and API keys in the output (the file is then created 0600)",
    )
    export.set_defaults(handler=run_export)

    get_secret = subparsers.add_parser(
        "get-secret",
        parents=[common],
        help="print one secret on stdout, for the programs export configures (msmtp's passwordeval)",
        description=(
            "Print one secret (smtp.password, mailgun.api_key, ses.secret_access_key) on "
            "standard output, and nothing else. For programs configured by export, such as "
            "msmtp's passwordeval."
        ),
    )
    get_secret.add_argument(
        "key", metavar="KEY", choices=LazySequence(lambda: declared().secret_keys)
    )
    get_secret.set_defaults(handler=run_get_secret)


class _LazySecrets(Mapping[str, "str | None"]):
    """Resolves a secret only when an exporter asks for it, so that exporting msmtp
    does not run a Mailgun key's password_command, for instance."""

    def __init__(self, loaded: Any) -> None:
        from tui_mailsetup.settings import MailSettings

        self._loaded = loaded
        self._keys = MailSettings.SECRET_KEYS
        self._cache: dict[str, str | None] = {}

    def __getitem__(self, key: str) -> str | None:
        from tui_mailsetup.secrets import resolve_secret

        if key not in self._keys:
            raise KeyError(key)
        if key not in self._cache:
            self._cache[key] = resolve_secret(self._loaded, key).value
        return self._cache[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)


def _as_error(exc: Exception) -> Exception:
    """ExportError as the one error model (main() prints it, in JSON too under --json)."""
    from tui_mailsetup.errors import ConfigurationError, UsageError
    from tui_mailsetup.export import ExportError

    if isinstance(exc, ExportError):
        kind = UsageError if exc.exit_code == ExitCode.USAGE else ConfigurationError
        return kind(str(exc), exit_code=exc.exit_code)
    return exc


def run_export(args: argparse.Namespace) -> int:
    from tui_mailsetup.cli.config_cmds import load_or_report
    from tui_mailsetup.export import (
        ExportError,
        ExportOptions,
        canonical_format,
        output_mode,
        render,
        write_export,
    )
    from tui_mailsetup.export_target import check_account_name, plan_write

    try:
        fmt = canonical_format(args.format)
    except ExportError as exc:
        raise _as_error(exc) from exc
    account = check_account_name(args.account)
    loaded = load_or_report(args)
    if isinstance(loaded, int):
        return loaded
    try:
        options = ExportOptions(
            secrets=_LazySecrets(loaded) if args.include_secrets else None,
            config_path=loaded.path.resolve(),
            account=account,
        )
        text = render(fmt, loaded.settings, options)
    except ExportError as exc:
        raise _as_error(exc) from exc

    if not args.output or args.output == "-":
        if args.json:
            import json

            print(json.dumps({"ok": True, "format": fmt, "output": None, "text": text}))
        else:
            sys.stdout.write(text)
            sys.stdout.flush()
        return ExitCode.OK

    path = Path(args.output).expanduser()
    mode = output_mode(fmt, include_secrets=args.include_secrets)
    # 73 when it would replace a file this program did not write (without --force).
    plan = plan_write(path, fmt, text, mode=mode, force=args.force, account=account)
    write_export(path, plan.text, mode=plan.mode, backup=plan.backup)
    backup = f"{path}.bak" if plan.backup else None
    if args.json:
        import json

        document = {
            "ok": True,
            "format": fmt,
            "output": str(path),
            "mode": f"{plan.mode:04o}",
            "merged": plan.merged,
            "backup": backup,
        }
        print(json.dumps(document))
    elif not args.quiet:
        what = f"account {account} in " if plan.merged else ""
        kept = f"; the previous file is kept as {backup}" if backup else ""
        print(f"wrote {what}{path} ({fmt}, mode {plan.mode:04o}){kept}", file=sys.stderr)
    return ExitCode.OK


def run_get_secret(args: argparse.Namespace) -> int:
    from tui_mailsetup.cli.config_cmds import load_or_report
    from tui_mailsetup.errors import ConfigurationError
    from tui_mailsetup.secrets import resolve_secret

    loaded = load_or_report(args)
    if isinstance(loaded, int):
        return loaded
    resolved = resolve_secret(loaded, args.key)  # SecretError: 78, reported by main()
    if resolved.value is None:
        hint = f"store one with: tui-mailsetup set-secret {args.key}"
        raise ConfigurationError(f"no value is set for {args.key} ({hint})")
    if args.json:
        import json

        print(json.dumps({"ok": True, "key": args.key, "value": resolved.value}))
        return ExitCode.OK
    sys.stdout.write(resolved.value + "\n")
    sys.stdout.flush()
    return ExitCode.OK
