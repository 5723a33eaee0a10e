"""``export`` (the settings for msmtp, Postfix, Laravel, Django, …) and the hidden ``get-secret``.

``get-secret KEY`` prints one secret, and nothing else, on stdout. It exists
for the programs an export configures: msmtp's ``passwordeval`` calls it, so
the password stays in tui-mailsetup's own secret sources instead of being
copied into another file.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from tui_mailsetup.exitcodes import ExitCode


def register(subparsers: Any, common: argparse.ArgumentParser) -> None:
    # Nothing that loads the settings model here: `--help` must not pay for it.
    from tui_mailsetup.settings_source import declared

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
        help="write to PATH (atomically; a secret-bearing file is created 0600); - or none: stdout",
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
        description=(
            "Print one secret (smtp.password, mailgun.api_key, ses.secret_access_key) on "
            "standard output, and nothing else. For programs configured by export, such as "
            "msmtp's passwordeval."
        ),
    )
    get_secret.add_argument(
        "key", metavar="KEY", choices=_LazyChoices(lambda: declared().secret_keys)
    )
    get_secret.set_defaults(handler=run_get_secret)
    _hide(subparsers, "get-secret")


class _LazyChoices:
    """argparse choices computed on first use, when this command's argument is parsed."""

    def __init__(self, make: Callable[[], Sequence[str]]) -> None:
        self._make = make

    def __contains__(self, value: object) -> bool:
        return value in self._make()

    def __iter__(self) -> Iterator[str]:
        return iter(self._make())


def _hide(subparsers: Any, name: str) -> None:
    """Keep a plumbing command out of the command list in ``--help`` (it still works)."""
    actions = getattr(subparsers, "_choices_actions", None)
    if isinstance(actions, list):
        actions[:] = [action for action in actions if getattr(action, "dest", None) != name]


def _error(message: str) -> None:
    print(f"tui-mailsetup: error: {message}", file=sys.stderr)


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
    from tui_mailsetup.secrets import SecretError

    try:
        fmt = canonical_format(args.format)
    except ExportError as exc:
        _error(str(exc))
        return exc.exit_code
    loaded = load_or_report(args)
    if isinstance(loaded, int):
        return loaded
    try:
        options = ExportOptions(
            secrets=_LazySecrets(loaded) if args.include_secrets else None,
            config_path=loaded.path.resolve(),
        )
        text = render(fmt, loaded.settings, options)
    except SecretError as exc:
        _error(str(exc))
        return ExitCode.CONFIG
    except ExportError as exc:
        _error(str(exc))
        return exc.exit_code

    if not args.output or args.output == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
        return ExitCode.OK

    path = Path(args.output).expanduser()
    mode = output_mode(fmt, include_secrets=args.include_secrets)
    try:
        write_export(path, text, mode=mode)
    except OSError as exc:  # 73 (cannot create) or 74 (write failed), naming the path
        from tui_mailsetup.errors import file_error

        failure = file_error(exc, path)
        _error(str(failure))
        return int(failure.exit_code)
    if args.json:
        import json

        document = {"ok": True, "format": fmt, "output": str(path), "mode": f"{mode:04o}"}
        print(json.dumps(document))
    else:
        print(f"wrote {path} ({fmt}, mode {mode:04o})", file=sys.stderr)
    return ExitCode.OK


def run_get_secret(args: argparse.Namespace) -> int:
    from tui_mailsetup.cli.config_cmds import load_or_report
    from tui_mailsetup.secrets import SecretError, resolve_secret

    loaded = load_or_report(args)
    if isinstance(loaded, int):
        return loaded
    try:
        resolved = resolve_secret(loaded, args.key)
    except SecretError as exc:
        _error(str(exc))
        return ExitCode.CONFIG
    if resolved.value is None:
        hint = f"store one with: tui-mailsetup set-secret {args.key}"
        _error(f"no value is set for {args.key} ({hint})")
        return ExitCode.CONFIG
    sys.stdout.write(resolved.value + "\n")
    sys.stdout.flush()
    return ExitCode.OK
