"""``oauth2 login|status|token|logout``: obtain, show, print and forget OAuth2 tokens.

``token`` is what msmtp's ``passwordeval`` (and any other program) runs: it prints
a valid access token and nothing else, refreshing it first when it is near
expiry. When a person has to sign in again it exits 77 and says so on stderr.
The OAuth2 libraries are imported only when a token endpoint is called.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import TYPE_CHECKING, Any

from tui_mailsetup.cli.output import error, print_json
from tui_mailsetup.exitcodes import ExitCode

if TYPE_CHECKING:
    from tui_mailsetup.config_file import LoadedConfig
    from tui_mailsetup.oauth2.flows import DevicePrompt


def register(subparsers: Any, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "oauth2",
        parents=[common],
        help="obtain, show, print (for passwordeval) and forget OAuth2 tokens for XOAUTH2",
        description=(
            "OAuth2 for smtp.auth = xoauth2 (Microsoft 365, Outlook.com, Google, or a custom "
            "provider), configured in the [oauth2] section. Exit 77 when a new sign-in is needed."
        ),
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    login = actions.add_parser(
        "login",
        parents=[common],
        help="run the configured flow (device code: shows a URL and a code to enter on any device)",
    )
    login.set_defaults(handler=run_login)
    status = actions.add_parser(
        "status",
        parents=[common],
        help="account, scopes and expiry (never the token)",
        description="Exit 0 when signed in (or an unattended flow is configured), 77 when "
        "`oauth2 login` is needed, 78 when the [oauth2] settings are incomplete.",
    )
    status.set_defaults(handler=run_status)
    token = actions.add_parser(
        "token",
        parents=[common],
        help="print a valid access token (refreshed when near expiry), for msmtp's passwordeval",
    )
    token.add_argument(
        "--refresh",
        action="store_true",
        help="renew the token now, even when the stored one looks valid (the server refused it)",
    )
    token.set_defaults(handler=run_token)
    logout = actions.add_parser("logout", parents=[common], help="forget the stored tokens")
    logout.set_defaults(handler=run_logout)
    parser.set_defaults(handler=lambda args: parser.error("an action is required"))


def _load(args: argparse.Namespace) -> LoadedConfig | int:
    from tui_mailsetup.cli.config_cmds import load_or_report
    from tui_mailsetup.drivers.graph_auth import token_view

    loaded = load_or_report(args)
    # driver = graph: sign in (and show, and print tokens) with Graph's scopes.
    return loaded if isinstance(loaded, int) else token_view(loaded)


def _failure(exc: Exception, as_json: bool) -> int:
    code = int(getattr(exc, "exit_code", ExitCode.CONFIG))
    if as_json:
        cause = getattr(exc, "cause", str(exc))
        fix = getattr(exc, "fix", "")
        print_json(
            {
                "ok": False,
                # The one failure shape (schemas/failure.json), and this command's own keys.
                "stage": "oauth2",
                "elapsed": 0.0,
                "diagnosis": {"stage": "oauth2", "cause": cause, "fix": fix or None},
                "error": getattr(exc, "error", "") or "secret",
                "cause": cause,
                "fix": fix,
                "exit_code": code,
            }
        )
    error(str(exc))
    return code


def _expiry(expires_at: float) -> dict[str, Any]:
    import datetime as dt

    remaining = expires_at - time.time()
    # The store's times are checked when read (store._timestamp); 0 means "expired, unknown".
    return {
        "expires_at": dt.datetime.fromtimestamp(max(0.0, expires_at), dt.UTC).isoformat(
            timespec="seconds"
        ),
        "expires_in": max(0, round(remaining)),
    }


def _minutes(seconds: float) -> str:
    seconds = max(0, round(seconds))
    return f"{seconds // 60} min {seconds % 60:02d} s" if seconds >= 60 else f"{seconds} s"


def run_login(args: argparse.Namespace) -> int:
    from tui_mailsetup.oauth2.access import login
    from tui_mailsetup.secrets import SecretError

    loaded = _load(args)
    if isinstance(loaded, int):
        return loaded
    as_json = bool(args.json)
    # The prompt is for the person; with --json, stdout carries only the document.
    out = sys.stderr if as_json else sys.stdout

    def on_prompt(prompt: DevicePrompt) -> None:
        left = _minutes(prompt.expires_at - time.time())
        print(
            f"To sign in, open {prompt.verification_uri} in a browser on any device\n"
            f"and enter the code:  {prompt.user_code}\n"
            f"(the code expires in {left}; Ctrl+C cancels)",
            file=out,
            flush=True,
        )
        if prompt.verification_uri_complete:
            print(f"Or open: {prompt.verification_uri_complete}", file=out, flush=True)
        print("Waiting for the sign-in…", file=out, flush=True)

    try:
        tokens = login(loaded, on_prompt)
    except SecretError as exc:
        return _failure(exc, as_json)
    document = {
        "ok": True,
        "flow": tokens.flow,
        "account": tokens.account,
        "scopes": tokens.scopes,
        "refresh_token": bool(tokens.refresh_token),
        **_expiry(tokens.expires_at),
    }
    if as_json:
        print_json(document)
    else:
        who = f" as {tokens.account}" if tokens.account else ""
        print(
            f"Signed in{who}; access token valid for {_minutes(tokens.expires_at - time.time())}"
            f"{', renewed automatically' if tokens.refresh_token or tokens.flow != 'device-code' else ''}."
        )
        print(f"Scopes: {' '.join(tokens.scopes)}")
        print("Tokens are stored with the other secrets (mode 0600), never in the config file.")
    return ExitCode.OK


def run_status(args: argparse.Namespace) -> int:
    from tui_mailsetup.oauth2 import uses_token_store
    from tui_mailsetup.oauth2.access import credential_changed, stale_reason
    from tui_mailsetup.oauth2.providers import configuration_problems, endpoints
    from tui_mailsetup.oauth2.store import load_tokens
    from tui_mailsetup.secrets import SecretError

    loaded = _load(args)
    if isinstance(loaded, int):
        return loaded
    oauth2 = loaded.settings.oauth2
    try:
        tokens, source = load_tokens(loaded)
        changed = tokens is not None and credential_changed(loaded, tokens)
    except SecretError as exc:
        return _failure(exc, bool(args.json))
    problems = configuration_problems(oauth2, username=loaded.settings.smtp.username)
    stale = stale_reason(loaded, tokens) if tokens is not None else None
    unattended = oauth2.flow.value != "device-code"
    signed_in = tokens is not None and stale is None and (bool(tokens.refresh_token) or unattended)
    login_needed = not problems and not unattended and not signed_in
    document: dict[str, Any] = {
        "provider": oauth2.provider.value,
        "flow": oauth2.flow.value,
        "used_for_smtp": uses_token_store(loaded.settings),
        "token_url": endpoints(oauth2).token_url,
        "configured": not problems,
        "problems": [{"key": k, "message": m} for k, m in problems],
        "signed_in": signed_in,
        "login_needed": login_needed,
        "stale": stale,
        "source": source,
    }
    if tokens is not None:
        document.update(
            account=tokens.account,
            scopes=tokens.scopes,
            refresh_token=bool(tokens.refresh_token),
            access_token_valid=tokens.valid_for(0),
            # The client secret, certificate or key is not the one the tokens were had with:
            # the next use renews them with the configured one (and fails if it is wrong).
            credential_changed=changed,
            **_expiry(tokens.expires_at),
        )
    code = ExitCode.CONFIG if problems else ExitCode.NOPERM if login_needed else ExitCode.OK
    if args.json:
        from tui_mailsetup.cli.output import with_verdict

        cause = (
            "; ".join(f"{k}: {m}" for k, m in problems)
            if problems
            else "not signed in: run `tui-mailsetup oauth2 login`"
        )
        print_json(with_verdict(document, code, stage="oauth2", cause=cause))
        return code
    print(f"provider: {oauth2.provider.value}, flow: {oauth2.flow.value}")
    for key, message in problems:
        print(f"error   {key}: {message}")
    if tokens is None:
        print(
            "not signed in: run `tui-mailsetup oauth2 login`"
            if not unattended
            else "no token cached yet (one is fetched when needed)"
        )
    else:
        if tokens.account:
            print(f"account: {tokens.account}")
        print(f"scopes:  {' '.join(tokens.scopes)}")
        left = tokens.expires_at - time.time()
        print(
            f"access token: {'valid for ' + _minutes(left) if left > 0 else 'expired'}"
            f" (until {document['expires_at']})"
        )
        print(f"refresh token: {'stored' if tokens.refresh_token else 'none'} (source: {source})")
        if stale:
            print(f"warning: {stale}: run `tui-mailsetup oauth2 login`")
        elif document["credential_changed"]:
            print(
                "note: the configured client secret, certificate or key is not the one these "
                "tokens were obtained with; the next use renews them with it"
            )
    if not uses_token_store(loaded.settings):
        print("note: SMTP does not use these tokens (set smtp.auth = xoauth2, no password_command)")
    return code


def run_token(args: argparse.Namespace) -> int:
    from tui_mailsetup.oauth2.access import access_token
    from tui_mailsetup.secrets import SecretError

    loaded = _load(args)
    if isinstance(loaded, int):
        return loaded
    try:
        token = access_token(loaded, renew=bool(getattr(args, "refresh", False)))
    except SecretError as exc:
        return _failure(exc, bool(args.json))
    if args.json:
        print_json({"ok": True, "access_token": token})
    else:
        print(token, flush=True)
    return ExitCode.OK


def run_logout(args: argparse.Namespace) -> int:
    from tui_mailsetup.oauth2.store import forget_tokens
    from tui_mailsetup.secrets import SecretError

    loaded = _load(args)
    if isinstance(loaded, int):
        return loaded
    try:
        removed = forget_tokens(loaded)
    except (SecretError, OSError) as exc:
        return _failure(exc, bool(args.json))
    if args.json:
        print_json({"ok": True, "removed": removed})
    else:
        print(
            "Signed out: the stored tokens were removed."
            if removed
            else "No tokens were stored for this configuration."
        )
    return ExitCode.OK
