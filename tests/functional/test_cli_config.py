"""The offline command line, run as a subprocess with a temporary HOME."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.cli_helpers import cli_environment, config_path, run_cli


def test_set_then_show_reports_file_values_and_their_source(isolated_home: Path) -> None:
    assert run_cli("set", "smtp.host", "smtp.example.com", home=isolated_home).returncode == 0
    assert run_cli("set", "smtp.port", "2525", home=isolated_home).returncode == 0
    shown = run_cli("show", "--json", home=isolated_home).json()
    assert shown["settings"]["smtp"]["host"] == "smtp.example.com"
    assert shown["settings"]["smtp"]["port"] == 2525
    assert shown["sources"]["smtp.host"] == "file"
    assert shown["sources"]["smtp.ehlo_name"] == "default"
    text = config_path(isolated_home).read_text()
    assert "port = 2525" in text  # stored as a number, not the string typed


def test_environment_overrides_the_file_and_is_reported_as_such(isolated_home: Path) -> None:
    run_cli("set", "smtp.host", "file.example.com", home=isolated_home)
    result = run_cli(
        "show", "--json", home=isolated_home, env={"MAILSETUP_SMTP__HOST": "env.example.com"}
    )
    assert result.json()["settings"]["smtp"]["host"] == "env.example.com"
    assert result.json()["sources"]["smtp.host"] == "env"
    human = run_cli("show", home=isolated_home, env={"MAILSETUP_SMTP__HOST": "env.example.com"})
    assert "env MAILSETUP_SMTP__HOST" in human.stdout


def test_ssl_is_accepted_and_stored_as_tls(isolated_home: Path) -> None:
    assert run_cli("set", "smtp.encryption", "SSL", home=isolated_home).returncode == 0
    assert 'encryption = "tls"' in config_path(isolated_home).read_text()


def test_invalid_value_exits_65_names_the_key_and_changes_nothing(isolated_home: Path) -> None:
    run_cli("set", "smtp.port", "587", home=isolated_home)
    before = config_path(isolated_home).read_bytes()
    result = run_cli("set", "smtp.port", "70000", home=isolated_home)
    assert result.returncode == 65
    assert "smtp.port" in result.stderr
    assert config_path(isolated_home).read_bytes() == before


def test_unknown_key_is_a_usage_error_with_a_suggestion(isolated_home: Path) -> None:
    result = run_cli("set", "smtp.prot", "25", home=isolated_home)
    assert result.returncode == 64
    assert "smtp.port" in result.stderr


def test_set_refuses_a_secret_key(isolated_home: Path) -> None:
    result = run_cli("set", "smtp.password", "hunter2", home=isolated_home)
    assert result.returncode == 64
    assert "set-secret" in result.stderr
    assert not config_path(isolated_home).exists()


def test_set_keeps_comments_and_order_of_a_hand_edited_file(isolated_home: Path) -> None:
    path = config_path(isolated_home)
    path.parent.mkdir(parents=True)
    path.write_text(
        '# our relay, ask ops before changing\n[smtp]\nhost = "relay.example.com"  # primary\nport = 587\n\n'
        '[sender]\n# shown to customers\nname = "Acme"\naddress = "noreply@acme.example"\n'
    )
    original = path.read_text()
    assert run_cli("set", "smtp.port", "2525", home=isolated_home).returncode == 0
    updated = path.read_text()
    assert updated == original.replace("port = 587", "port = 2525")
    backup = path.with_name("config.toml.bak")
    assert backup.read_text() == original


def test_corrupt_file_is_reported_with_line_and_left_untouched(isolated_home: Path) -> None:
    path = config_path(isolated_home)
    path.parent.mkdir(parents=True)
    path.write_text('[smtp]\nhost = "a.example.com"\nport = = 5\n')
    before = path.read_bytes()
    for args in (("show",), ("check", "--offline"), ("set", "smtp.port", "25")):
        result = run_cli(*args, home=isolated_home)
        assert result.returncode == 78, args
        assert f"{path}:3" in result.stderr
        assert path.read_bytes() == before


def test_invalid_value_in_file_names_path_line_and_key(isolated_home: Path) -> None:
    path = config_path(isolated_home)
    path.parent.mkdir(parents=True)
    path.write_text('[smtp]\nhost = "a.example.com"\n\nport = 99999\n[sender]\nnmae = "x"\n')
    result = run_cli("check", "--offline", home=isolated_home)
    assert result.returncode == 78
    assert f"{path}:4: smtp.port" in result.stderr
    assert f"{path}:6: sender.nmae: unknown key" in result.stderr


def test_invalid_environment_value_names_the_variable(isolated_home: Path) -> None:
    result = run_cli("show", home=isolated_home, env={"MAILSETUP_SMTP__PORT": "smtp"})
    assert result.returncode == 78
    assert "MAILSETUP_SMTP__PORT" in result.stderr


def test_set_secret_writes_an_owner_only_file_in_a_private_directory(isolated_home: Path) -> None:
    result = run_cli("set-secret", "smtp.password", home=isolated_home, stdin="s3cr3t-pässword\n")
    assert result.returncode == 0, result.stderr
    credentials = config_path(isolated_home).with_name("credentials.toml")
    assert stat.S_IMODE(credentials.stat().st_mode) == 0o600
    assert stat.S_IMODE(credentials.parent.stat().st_mode) == 0o700
    assert "s3cr3t-pässword" in credentials.read_text()
    assert (
        not config_path(isolated_home).exists()
        or "s3cr3t" not in config_path(isolated_home).read_text()
    )
    shown = run_cli("show", "--json", home=isolated_home)
    assert "s3cr3t" not in shown.stdout
    assert shown.json()["settings"]["smtp"]["password"] == "**********"
    assert shown.json()["sources"]["smtp.password"] == "credentials-file"
    revealed = run_cli("show", "--json", "--include-secrets", home=isolated_home)
    assert revealed.json()["settings"]["smtp"]["password"] == "s3cr3t-pässword"


def test_group_readable_credentials_file_is_refused_with_the_fix(isolated_home: Path) -> None:
    run_cli("set", "smtp.host", "smtp.example.com", home=isolated_home)
    run_cli("set", "smtp.username", "alice", home=isolated_home)
    run_cli("set", "sender.address", "alice@example.com", home=isolated_home)
    run_cli("set-secret", "smtp.password", home=isolated_home, stdin="pw\n")
    assert run_cli("check", "--offline", home=isolated_home).returncode == 0
    credentials = config_path(isolated_home).with_name("credentials.toml")
    os.chmod(credentials, 0o640)
    result = run_cli("check", "--offline", home=isolated_home)
    assert result.returncode == 78
    assert "chmod 600" in result.stdout
    assert "pw" not in result.stdout.replace("password", "")


def test_empty_secret_is_refused(isolated_home: Path) -> None:
    result = run_cli("set-secret", "smtp.password", home=isolated_home, stdin="")
    assert result.returncode == 65
    assert not config_path(isolated_home).with_name("credentials.toml").exists()


def test_secret_from_credentials_directory_wins_over_the_credentials_file(
    isolated_home: Path, tmp_path: Path
) -> None:
    run_cli("set-secret", "smtp.password", home=isolated_home, stdin="from-file\n")
    secrets_dir = tmp_path / "creds"
    secrets_dir.mkdir()
    (secrets_dir / "mailsetup_smtp__password").write_text("from-dir")
    result = run_cli(
        "show",
        "--json",
        "--include-secrets",
        home=isolated_home,
        env={"CREDENTIALS_DIRECTORY": str(secrets_dir)},
    )
    assert result.json()["settings"]["smtp"]["password"] == "from-dir"
    assert result.json()["sources"]["smtp.password"] == "secrets-dir"


def test_password_command_supplies_the_secret_and_its_failure_is_clear(isolated_home: Path) -> None:
    run_cli("set", "smtp.password_command", "printf 'from-cmd\\n'", home=isolated_home)
    result = run_cli("show", "--json", "--include-secrets", home=isolated_home)
    assert result.json()["settings"]["smtp"]["password"] == "from-cmd"
    assert result.json()["sources"]["smtp.password"] == "password_command"
    run_cli("set", "smtp.password_command", "false", home=isolated_home)
    failed = run_cli("show", "--include-secrets", home=isolated_home)
    assert failed.returncode == 78
    assert "password_command: false exited with status 1" in failed.stderr


def test_check_offline_exits_78_on_error_and_0_on_warnings(isolated_home: Path) -> None:
    run_cli("set", "smtp.host", "mail.example.com", home=isolated_home)
    run_cli("set", "sender.address", "ops@example.com", home=isolated_home)
    run_cli("set", "smtp.port", "465", home=isolated_home)
    failing = run_cli("check", "--offline", "--json", home=isolated_home)
    assert failing.returncode == 78
    document = failing.json()
    assert document["ok"] is False
    assert document["diagnosis"]["fix"]["changes"] == {"smtp.encryption": "tls"}
    run_cli("set", "smtp.encryption", "tls", home=isolated_home)
    run_cli("set", "smtp.port", "25", home=isolated_home)
    run_cli("set", "smtp.encryption", "starttls", home=isolated_home)
    warned = run_cli("check", "--offline", home=isolated_home)
    assert warned.returncode == 0
    assert "Port 25 is often blocked" in warned.stdout


def test_explicit_config_path_and_environment_variable(isolated_home: Path, tmp_path: Path) -> None:
    custom = tmp_path / "etc" / "mail.toml"
    assert (
        run_cli(
            "--config", str(custom), "set", "smtp.host", "a.example.com", home=isolated_home
        ).returncode
        == 0
    )
    assert (
        run_cli(
            "set", "smtp.host", "b.example.com", "--config", str(custom), home=isolated_home
        ).returncode
        == 0
    )
    assert 'host = "b.example.com"' in custom.read_text()
    via_env = run_cli("show", "--json", home=isolated_home, env={"MAILSETUP_CONFIG": str(custom)})
    assert via_env.json()["settings"]["smtp"]["host"] == "b.example.com"
    assert not config_path(isolated_home).exists()


@pytest.mark.parametrize(
    "command",
    ["show", "set", "set-secret", "check", "send-test", "export", "demo", "detect", "dns", "tui"],
)
def test_every_command_has_help(isolated_home: Path, command: str) -> None:
    result = run_cli(command, "--help", home=isolated_home)
    assert result.returncode == 0, result.stderr
    assert "usage: tui-mailsetup" in result.stdout


def test_usage_error_exits_64(isolated_home: Path) -> None:
    assert run_cli("show", "--frobnicate", home=isolated_home).returncode == 64


def test_override_applies_to_one_run_and_is_reported_as_cli(isolated_home: Path) -> None:
    run_cli("set", "smtp.port", "587", home=isolated_home)
    result = run_cli(
        "show",
        "--json",
        "--override",
        "smtp.port=2525",
        home=isolated_home,
        env={"MAILSETUP_SMTP__PORT": "25"},
    )
    assert result.json()["settings"]["smtp"]["port"] == 2525
    assert result.json()["sources"]["smtp.port"] == "cli"
    assert "port = 587" in config_path(isolated_home).read_text()
    bad = run_cli("show", "--override", "smtp.prot=1", home=isolated_home)
    assert bad.returncode == 64 and "smtp.port" in bad.stderr
    invalid = run_cli("show", "--override", "smtp.port=huge", home=isolated_home)
    assert invalid.returncode == 78 and "command line" in invalid.stderr


def test_check_never_goes_as_far_as_sending(isolated_home: Path) -> None:
    result = run_cli("check", "--quit-after", "data", home=isolated_home)
    assert result.returncode == 64
    assert "invalid choice" in result.stderr


@pytest.mark.parametrize(
    ("argv", "command"),
    [
        ([], "tui"),
        (["--config", "x.toml"], "tui"),
        (["--config", "show"], "tui"),  # "show" is the option's value here
        (["--json", "show"], "show"),
        (["--override", "smtp.port=1", "send-test", "--to", "a@b.example"], "send-test"),
        (["--help"], None),
        (["bogus"], None),
    ],
)
def test_only_the_requested_commands_module_is_imported(
    argv: list[str], command: str | None
) -> None:
    from tui_mailsetup.cli import COMMAND_MODULES
    from tui_mailsetup.startup.program import requested_command

    assert requested_command(argv, COMMAND_MODULES) == command


@pytest.mark.parametrize(
    "content",
    [
        "not json",
        '{"last_test": {"stage": "auth"}}',
        '{"last_test": {"ok": false, "stage": "auth", "at": 1e300, "exit_code": 77}, "rate_limited_until": 1e400}',
        '{"rate_limited_until": 99999999999999999999999999999999999999999999}',
    ],
)
def test_a_damaged_state_file_never_breaks_show(isolated_home: Path, content: str) -> None:
    run_cli("set", "smtp.host", "smtp.example.com", home=isolated_home)
    config_path(isolated_home).with_name("state.json").write_text(content)
    result = run_cli("show", "--json", home=isolated_home)
    assert result.returncode == 0, result.stderr
    assert isinstance(result.json()["state"], dict)


@pytest.mark.parametrize(
    ("key", "value", "said"),
    [
        ("smtp.port", "abc", "must be a whole number"),
        ("smtp.port", "70000", "must be at most 65535"),
        ("smtp.timeout", "-1", "must be more than 0 "),
        ("smtp.verify", "maybe", "must be true or false"),
        ("smtp.encryption", "ssl3", "must be one of 'none', 'starttls' or 'tls'"),
        ("detect.timeout", "soon", "must be a number"),
    ],
)
def test_refused_values_are_explained_in_the_products_words(
    isolated_home: Path, key: str, value: str, said: str
) -> None:
    """The same words reach `set`, a file's path:line and the TUI's finding (one describe_error)."""
    from tui_mailsetup.validation import evaluate

    result = run_cli("set", key, value, home=isolated_home)
    assert result.returncode == 65
    assert said in result.stderr and "Input should" not in result.stderr
    section, _, field = key.partition(".")
    findings = [f for f in evaluate({section: {field: value}})[1] if f.field == key]
    assert findings and said in findings[0].message


# The program (python -m, the console script) ends show, set, set-secret, check and
# send-test with os._exit once their output is flushed (cli.run): nothing printed may be lost, and
# every other command still exits the ordinary way (atexit handlers, the TUI's terminal).
_RUN_WITH_ATEXIT = """
import atexit, sys
atexit.register(lambda: sys.stderr.write("ordinary exit\\n"))
from tui_mailsetup.cli import run
run()
"""


@pytest.mark.parametrize(
    ("argv", "code", "quick"),
    [
        (["show", "--json"], 0, True),
        (["check", "--offline", "--json"], 0, True),
        (["set", "smtp.port", "2525"], 0, True),
        # Online: the engine's threads and event loop are done with. Nothing listens on
        # port 9 of 127.0.0.1.
        (["check", "--no-dns", "--json"], 69, True),
        (["send-test", "--json"], 69, True),
        (["export", "--format", "json"], 0, False),
        (["show", "--no-such-option"], 64, False),  # a usage error exits through argparse
    ],
    ids=lambda v: " ".join(v) if isinstance(v, list) else None,
)
def test_the_programs_quick_exit_loses_no_output(
    argv: list[str], code: int, quick: bool, isolated_home: Path, tmp_path: Path
) -> None:
    for key, value in (("smtp.host", "127.0.0.1"), ("smtp.port", "9"), ("smtp.timeout", "5")):
        assert run_cli("set", key, value, home=isolated_home).returncode == 0
    assert (
        run_cli("set", "sender.address", "alerts@example.com", home=isolated_home).returncode == 0
    )
    out = tmp_path / "out.txt"
    with out.open("wb") as stream:  # a file: block-buffered, written out only at the end
        completed = subprocess.run(
            [sys.executable, "-c", _RUN_WITH_ATEXIT, *argv],
            stdout=stream,
            stderr=subprocess.PIPE,
            text=True,
            env=cli_environment(isolated_home),
            stdin=subprocess.DEVNULL,
            timeout=60,
        )
    assert completed.returncode == code, completed.stderr
    assert ("ordinary exit" not in completed.stderr) is quick, completed.stderr
    printed = out.read_text(encoding="utf-8")
    if "--json" in argv or "json" in argv:
        assert json.loads(printed)  # one whole JSON document
    if argv[0] == "set":
        assert printed.startswith("smtp.port = 2525  (written to ")
        assert "port = 2525" in config_path(isolated_home).read_text()
