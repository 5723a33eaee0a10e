"""No internal error (exit 70) and no traceback, whatever a configuration holds (issue 19 item 6).

Every command is run with a configuration nested 100,000 deep (lists, inline tables,
dotted table names), a credentials file nested as deep, and a malformed list in an
environment variable (``MAILSETUP_OAUTH2__SCOPES='[1,2'``). Each must end in the
product's own refusal: 78 naming the file and line, or the variable and the form its
value takes. Commands that change the machine get a scratch MTA directory, never /etc.
"""

from __future__ import annotations

import concurrent.futures
from pathlib import Path

import pytest

from tests.support.cli_helpers import Result, run_cli
from tui_mailsetup.cli import COMMAND_MODULES

DEPTH = 100_000


def _commands(scratch: Path) -> list[tuple[str, ...]]:
    mta = ("--mta", "postfix", "--config-dir", str(scratch))
    listed: list[tuple[str, ...]] = [
        ("show",),
        ("show", "--include-secrets"),
        ("show", "--json"),
        ("set", "smtp.port", "25"),
        ("set-secret", "smtp.password"),
        ("check", "--offline"),
        ("check", "--no-dns"),
        ("send-test", "--to", "bob@example.com"),
        ("detect", "example.com", "--no-probe"),
        ("dns", "example.com"),
        ("dns", "spf", "example.com", "--ip", "192.0.2.1"),
        ("export", "--format", "msmtp"),
        ("export", "--format", "json", "--include-secrets"),
        ("get-secret", "smtp.password"),
        ("oauth2", "status"),
        ("oauth2", "token"),
        ("oauth2", "login"),
        ("oauth2", "logout"),
        ("mta", "status", *mta),
        ("mta", "apply", "--dry-run", *mta),
        ("mta", "test", "--timeout", "5", *mta),
        ("mta", "queue", *mta),
    ]
    covered = {command[0] for command in listed} | {"tui", "demo"}  # both need a terminal
    # A command added later is swept too, with no arguments.
    listed += [(name,) for name in COMMAND_MODULES if name not in covered]
    return listed


def _deep_files(directory: Path) -> dict[str, Path]:
    texts = {
        "list": "x = " + "[" * DEPTH + "]" * DEPTH + "\n",
        "inline-table": '[smtp]\nhost = "a"\nextra = ' + "{a=" * DEPTH + "1" + "}" * DEPTH + "\n",
        "dotted-table": "# comment\n[" + ".".join(["a"] * DEPTH) + "]\nb = 1\n",
    }
    found = {}
    for name, text in texts.items():
        path = directory / name / "config.toml"
        path.parent.mkdir(mode=0o700)
        path.write_text(text)
        found[name] = path
    return found


def _assert_refused(result: Result, what: str) -> None:
    output = result.stdout + result.stderr
    assert result.returncode != 70, f"{what}: {output[-2000:]}"
    assert "Traceback" not in output, f"{what}: {output[-2000:]}"
    assert "internal error" not in output, f"{what}: {output[-2000:]}"


def _sweep(home: Path, cases: list[tuple[str, tuple[str, ...], dict[str, str]]]) -> list[Result]:
    def one(case: tuple[str, tuple[str, ...], dict[str, str]]) -> Result:
        _, args, env = case
        return run_cli(*args, home=home, env=env, stdin="not-a-secret\n", timeout=180)

    with concurrent.futures.ThreadPoolExecutor(max_workers=3) as pool:
        return list(pool.map(one, cases))


@pytest.mark.slow
def test_a_configuration_nested_100000_deep_is_refused_with_its_line(
    isolated_home: Path, tmp_path: Path
) -> None:
    scratch = tmp_path / "postfix"
    scratch.mkdir()
    (scratch / "main.cf").write_text("compatibility_level = 3.6\n")
    deep = _deep_files(tmp_path)
    before = {path: path.read_bytes() for path in deep.values()}
    cases: list[tuple[str, tuple[str, ...], dict[str, str]]] = [
        (f"{name}: {' '.join(command)}", (*command, "--config", str(path)), {})
        for name, path in deep.items()
        for command in _commands(scratch)
    ]
    for (what, args, _), result in zip(cases, _sweep(isolated_home, cases), strict=True):
        _assert_refused(result, what)
        if args[0] in {"show", "set", "check", "send-test", "export", "get-secret"}:
            assert result.returncode == 78, f"{what}: {result.stdout + result.stderr}"
            path = args[-1]
            assert f"{path}:" in result.stdout + result.stderr, what  # path:line
    # set (swept above) never rewrote a file it refused.
    assert {path: path.read_bytes() for path in deep.values()} == before


def test_a_credentials_file_nested_deep_is_refused(isolated_home: Path, tmp_path: Path) -> None:
    directory = tmp_path / "cfg"
    directory.mkdir(mode=0o700)
    config = directory / "config.toml"
    config.write_text('[smtp]\nhost = "127.0.0.1"\nusername = "alice"\n')
    credentials = directory / "credentials.toml"
    credentials.write_text("[smtp]\npassword = " + "[" * DEPTH + "]" * DEPTH + "\n")
    credentials.chmod(0o600)
    for command in (("get-secret", "smtp.password"), ("show",), ("check", "--offline")):
        result = run_cli(*command, "--config", str(config), home=isolated_home, timeout=120)
        _assert_refused(result, " ".join(command))


@pytest.mark.slow
@pytest.mark.parametrize(
    ("variable", "value", "form"),
    [
        # A list variable takes two forms; the refusal names both.
        ("MAILSETUP_OAUTH2__SCOPES", "[1,2", "comma-separated (a,b) or JSON"),
        ("MAILSETUP_DNS__NAMESERVERS", "[" * DEPTH, "comma-separated (a,b) or JSON"),
        (
            "MAILSETUP_DNS__NAMESERVERS",
            "[" * 200 + "]" * 200,
            "comma-separated (a,b) or JSON",
        ),
        ("MAILSETUP_OAUTH2", "{oops", "a JSON table"),
    ],
    ids=["malformed-list", "deep-unclosed", "deep-valid", "malformed-table"],
)
def test_a_malformed_value_in_the_environment_names_the_variable_and_its_form(
    isolated_home: Path, tmp_path: Path, variable: str, value: str, form: str
) -> None:
    scratch = tmp_path / "postfix"
    scratch.mkdir()
    (scratch / "main.cf").write_text("compatibility_level = 3.6\n")
    config = tmp_path / "none" / "config.toml"
    cases = [
        (" ".join(command), (*command, "--config", str(config)), {variable: value})
        for command in _commands(scratch)
    ]
    for (what, args, _), result in zip(cases, _sweep(isolated_home, cases), strict=True):
        _assert_refused(result, what)
        if args[0] in {"show", "check", "send-test", "export", "get-secret", "oauth2"}:
            output = result.stdout + result.stderr
            assert result.returncode == 78, f"{what}: {output}"
            assert variable in output and form in output, f"{what}: {output}"
