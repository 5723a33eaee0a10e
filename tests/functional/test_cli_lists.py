"""List settings wherever a single value works: the environment, --override, set and
set --append; and set --preset (issue 22 items 3 and 5)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.cli_helpers import config_path, run_cli
from tui_mailsetup.settings import list_keys, parse_list_text


def _shown(home: Path, *args: str, env: dict[str, str] | None = None) -> object:
    return run_cli(*args, "--json", "show", home=home, env=env)


@pytest.mark.parametrize(
    "text",
    ["127.0.0.1:5353,9.9.9.9", " 127.0.0.1:5353 , 9.9.9.9 ,", '["127.0.0.1:5353", "9.9.9.9"]'],
)
def test_a_list_from_the_environment_and_from_override(isolated_home: Path, text: str) -> None:
    wanted = ["127.0.0.1:5353", "9.9.9.9"]
    from_env = _shown(isolated_home, env={"MAILSETUP_DNS__NAMESERVERS": text})
    assert from_env.returncode == 0, from_env.stderr  # type: ignore[attr-defined]
    document = from_env.json()  # type: ignore[attr-defined]
    assert document["settings"]["dns"]["nameservers"] == wanted
    assert document["sources"]["dns.nameservers"] == "env"
    from_cli = _shown(isolated_home, "--override", f"dns.nameservers={text}")
    assert from_cli.returncode == 0, from_cli.stderr  # type: ignore[attr-defined]
    assert from_cli.json()["settings"]["dns"]["nameservers"] == wanted  # type: ignore[attr-defined]


@pytest.mark.parametrize("text", ["[9.9.9.9", "[1, 2]", '{"a": 1}'])
def test_an_unusable_list_is_refused_naming_where_and_the_forms(
    isolated_home: Path, text: str
) -> None:
    env = run_cli("show", home=isolated_home, env={"MAILSETUP_DNS__NAMESERVERS": text})
    assert env.returncode == 78, env.stderr
    assert "environment variable MAILSETUP_DNS__NAMESERVERS" in env.stderr
    # Not a list at all: the forms are named; a list of one bad item: the item's rule.
    assert ("comma-separated" if text.startswith("[") else "resolver address") in env.stderr
    assert "Traceback" not in env.stderr
    override = run_cli("--override", f"dns.nameservers={text}", "show", home=isolated_home)
    # --override: a list it cannot read is a usage error (64); one it reads, with an
    # item that is not an address, is refused like the environment's (78).
    assert override.returncode == (64 if text.startswith("[") else 78), override.stderr
    assert "dns.nameservers" in override.stderr and "Traceback" not in override.stderr
    if text.startswith("["):
        setting = run_cli("set", "oauth2.scopes", text, home=isolated_home)
        assert setting.returncode == 65, setting.stderr
        assert "oauth2.scopes" in setting.stderr and "comma-separated" in setting.stderr
        assert not config_path(isolated_home).exists()


def test_set_and_append_every_list_key(isolated_home: Path) -> None:
    assert {"dns.nameservers", "oauth2.scopes", "detect.autoconfig_urls"} <= list_keys()
    first = run_cli("set", "dns.nameservers", "127.0.0.1:5353,9.9.9.9", home=isolated_home)
    assert first.returncode == 0, first.stderr
    appended = run_cli(
        "--json", "set", "--append", "dns.nameservers", "9.9.9.9,1.1.1.1", home=isolated_home
    )
    assert appended.returncode == 0, appended.stderr
    assert appended.json()["written"] == {
        "dns.nameservers": ["127.0.0.1:5353", "9.9.9.9", "1.1.1.1"]
    }
    scopes = run_cli("set", "oauth2.scopes", '["a,b", "c"]', home=isolated_home)
    assert scopes.returncode == 0, scopes.stderr
    text = config_path(isolated_home).read_text()
    assert 'nameservers = ["127.0.0.1:5353", "9.9.9.9", "1.1.1.1"]' in text
    assert 'scopes = ["a,b", "c"]' in text  # JSON keeps a comma inside a scope
    wrong = run_cli("set", "--append", "smtp.port", "25", home=isolated_home)
    assert wrong.returncode == 64 and "list" in wrong.stderr


def test_parse_list_text_forms() -> None:
    assert parse_list_text("") == []
    assert parse_list_text("a, b,,c") == ["a", "b", "c"]
    assert parse_list_text(' ["a,b"] ') == ["a,b"]  # JSON keeps a comma inside an item
    for bad in ("[", "[[]]", "[null]", "[" * 5000):
        with pytest.raises(ValueError, match="comma-separated"):
            parse_list_text(bad)


def test_set_preset_applies_the_providers_settings(isolated_home: Path) -> None:
    applied = run_cli("--json", "set", "--preset", "microsoft-365", home=isolated_home)
    assert applied.returncode == 0, applied.stderr
    assert applied.json()["written"] == {
        "smtp.host": "smtp.office365.com",
        "smtp.port": 587,
        "smtp.encryption": "starttls",
        "smtp.auth": "xoauth2",
        "oauth2.provider": "microsoft",
    }
    human = run_cli("set", "--preset", "SendGrid", home=isolated_home)
    assert human.returncode == 0, human.stderr
    assert 'smtp.username = "apikey"' in human.stdout
    shown = run_cli("--json", "show", home=isolated_home).json()
    assert shown["settings"]["smtp"]["host"] == "smtp.sendgrid.net"
    listed = run_cli("set", "--preset", "list", home=isolated_home)
    assert "microsoft-365" in listed.stdout and "sendgrid" in listed.stdout
    unknown = run_cli("set", "--preset", "nope", home=isolated_home)
    assert unknown.returncode == 64 and "gmail" in unknown.stderr
    both = run_cli("set", "--preset", "gmail", "smtp.port", "25", home=isolated_home)
    assert both.returncode == 64


@pytest.mark.parametrize(
    ("scope", "named"),
    [
        ("https://outlook.office.com/SMTP.Send offline_access", "a space"),
        ('mail"send', "'\"'"),
        ("mail\\send", "'\\\\'"),
        ("courrier.envoyé", "'é'"),
    ],
)
def test_a_scope_rfc_6749_forbids_is_refused_where_it_enters(
    isolated_home: Path, scope: str, named: str
) -> None:
    """Scopes are sent joined by spaces: a space inside one silently asked the provider for
    two, and a quote, a backslash or a non-ASCII character is no scope at all (RFC 6749
    §3.3); the provider's invalid_scope came only after the first sign-in."""
    setting = run_cli("set", "oauth2.scopes", json.dumps([scope]), home=isolated_home)
    assert setting.returncode == 65, setting.stderr
    assert "RFC 6749" in setting.stderr and named in setting.stderr, setting.stderr
    assert not config_path(isolated_home).exists()
    config_path(isolated_home).parent.mkdir(parents=True, exist_ok=True)
    config_path(isolated_home).write_text(
        "[oauth2]\nscopes = [" + '"' + scope.replace("\\", "\\\\").replace('"', '\\"') + '"]\n'
    )
    checked = run_cli("check", "--offline", home=isolated_home)
    assert checked.returncode == 78, checked.stdout + checked.stderr
    assert "RFC 6749" in checked.stdout + checked.stderr
    # Each scope as its own item is what was meant, and is accepted.
    config_path(isolated_home).unlink()
    split = run_cli(
        "set",
        "oauth2.scopes",
        "https://outlook.office.com/SMTP.Send,offline_access",
        home=isolated_home,
    )
    assert split.returncode == 0, split.stderr
