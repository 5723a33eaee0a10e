"""Values refused at the door, files that never lose an update, one error model (issue 8).

The command line runs as a subprocess with its own HOME, as a user or a
provisioning script runs it. Read-only and full file systems are real:
a private mount namespace (``unshare -m``) with a read-only bind mount or
a tiny tmpfs, or a file-size limit, so nothing leaks into the machine.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from tests.support.cli_helpers import cli_environment, config_path, run_cli

ALLOWED_SET_CODES = {0, 64, 65, 73, 74, 78}


def _env(home: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    return cli_environment(home, extra)


def assert_no_traceback(output: str | bytes) -> None:
    text = output.decode("utf-8", "replace") if isinstance(output, bytes) else output
    assert "Traceback" not in text, text


def write_config(home: Path, text: str) -> Path:
    path = config_path(home)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.write_text(text)
    return path


# --------------------------------------------------------------------------- values at the door


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("sender.name", "x" * 65),
        ("sender.name", "y" * 100),
        ("sender.name", "=?utf-8?q?Bank?="),
        ("sender.address", "not an address"),
        ("sender.address", "alice @example.test"),
        ("sender.address", "alice@example.com (Alice)"),
        ("sender.address", "a" * 5000 + "@example.com"),
        ("smtp.ehlo_name", "bad ehlo name"),
        ("smtp.ehlo_name", "192.0.2.1"),
        ("smtp.host", "smtp.example.com:587"),
        ("smtp.host", "smtp://smtp.example.com"),
        ("smtp.port", "0"),
        ("smtp.fingerprint", "AB:CD"),
        ("smtp.password_command", 'pass show "mail'),
        ("dns.nameservers", "dns.example.com"),
    ],
)
def test_set_refuses_a_value_invalid_on_its_own_with_65_and_changes_nothing(
    isolated_home: Path, key: str, value: str
) -> None:
    assert run_cli("set", "smtp.host", "smtp.example.com", home=isolated_home).returncode == 0
    before = config_path(isolated_home).read_bytes()
    result = run_cli("set", key, value, home=isolated_home)
    assert result.returncode == 65, result.stderr
    assert key in result.stderr
    assert "Nothing was changed" in result.stderr
    assert config_path(isolated_home).read_bytes() == before
    assert_no_traceback(result.stderr)


def test_findings_that_depend_on_other_keys_are_printed_after_the_write(
    isolated_home: Path,
) -> None:
    result = run_cli("set", "smtp.username", "alice", home=isolated_home)
    assert result.returncode == 0, result.stderr
    assert 'username = "alice"' in config_path(isolated_home).read_text()
    assert "no password" in result.stdout  # reported, but not a reason to refuse the write


@pytest.mark.parametrize(
    "address", ["alerts@corp.local", "ops@example.test", "root@localhost", "ops@[192.0.2.1]"]
)
def test_internal_domains_are_stored_with_a_warning_and_pass_check(
    isolated_home: Path, address: str
) -> None:
    result = run_cli("set", "sender.address", address, home=isolated_home)
    assert result.returncode == 0, result.stderr
    assert "only works inside" in result.stdout
    run_cli("set", "smtp.host", "mail.corp.local", home=isolated_home)
    checked = run_cli("check", "--offline", "--json", home=isolated_home)
    assert checked.returncode == 0, checked.stdout
    codes = {f["code"]: f["severity"] for f in checked.json()["findings"]}
    assert codes["internal-domain"] == "warning"


def test_invalid_values_from_the_file_name_path_and_line(isolated_home: Path) -> None:
    path = write_config(
        isolated_home, '[smtp]\nhost = "smtp.example.com"\n\n[sender]\naddress = "not mail"\n'
    )
    result = run_cli("show", home=isolated_home)
    assert result.returncode == 78
    assert f"{path}:5: sender.address" in result.stderr
    # The wrong key itself can be corrected with set; another one cannot be set meanwhile.
    other = run_cli("set", "smtp.port", "2525", home=isolated_home)
    assert other.returncode == 78
    assert f"{path}:5" in other.stderr
    fixed = run_cli("set", "sender.address", "ops@acme.example", home=isolated_home)
    assert fixed.returncode == 0, fixed.stderr
    assert run_cli("show", home=isolated_home).returncode == 0


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("MAILSETUP_SENDER__ADDRESS", "alice @example.test"),
        ("MAILSETUP_SENDER__NAME", "z" * 65),
        ("MAILSETUP_SMTP__EHLO_NAME", "bad name"),
    ],
)
def test_invalid_values_from_the_environment_name_the_variable(
    isolated_home: Path, variable: str, value: str
) -> None:
    result = run_cli("check", "--offline", home=isolated_home, env={variable: value})
    assert result.returncode == 78
    assert f"environment variable {variable}" in result.stderr


def test_a_key_set_twice_is_78_with_path_and_line_for_every_command(isolated_home: Path) -> None:
    path = write_config(isolated_home, '[smtp]\nhost = "a.example.com"\nport = 25\nport = 26\n')
    before = path.read_bytes()
    for args in (("show",), ("check", "--offline"), ("set", "smtp.port", "587"), ("send-test",)):
        result = run_cli(*args, home=isolated_home)
        assert result.returncode == 78, (args, result.stderr)
        assert f"{path}:4" in result.stderr + result.stdout, args
        assert_no_traceback(result.stderr)
    assert path.read_bytes() == before


def test_a_wrongly_typed_section_is_78_whatever_the_environment_holds(isolated_home: Path) -> None:
    path = write_config(isolated_home, 'smtp = "hello"\n')
    for env in ({}, {"MAILSETUP_SMTP__HOST": "smtp.example.com"}):
        result = run_cli("show", home=isolated_home, env=env)
        assert result.returncode == 78, (env, result.stdout)
        assert f"{path}:1: smtp: must be a table" in result.stderr


# --------------------------------------------------------------------------- bytes that are not UTF-8


def test_non_utf8_bytes_in_a_set_argument_are_65(isolated_home: Path) -> None:
    for key in (b"sender.name", b"smtp.host", b"smtp.port"):
        result = run_cli("set", key, b"caf\xe9", home=isolated_home, raw=True)
        assert result.returncode == 65, result.stderr
        assert_no_traceback(result.stderr)
    result = run_cli("set", b"smtp.\xff", b"x", home=isolated_home, raw=True)
    assert result.returncode == 64
    assert_no_traceback(result.stderr)
    assert not config_path(isolated_home).exists()


def test_non_utf8_bytes_in_the_password_variable_are_78_naming_it(isolated_home: Path) -> None:
    result = run_cli(
        "show", home=isolated_home, raw=True, env_bytes={b"MAILSETUP_SMTP__PASSWORD": b"pa\xffss"}
    )
    assert result.returncode == 78
    assert b"MAILSETUP_SMTP__PASSWORD" in result.stderr
    assert b"pa" not in result.stderr.replace(b"password", b"").replace(b"PASSWORD", b"")
    assert_no_traceback(result.stderr)


@pytest.mark.parametrize("data", [b"\xff\xfepw\n", b"pw\x00x\n", b"pw\x1b[31m\n"])
def test_set_secret_refuses_input_that_is_not_text_with_65(
    isolated_home: Path, data: bytes
) -> None:
    result = run_cli("set-secret", "smtp.password", home=isolated_home, raw=True, stdin=data)
    assert result.returncode == 65, result.stderr
    assert_no_traceback(result.stderr)
    assert not config_path(isolated_home).with_name("credentials.toml").exists()


# --------------------------------------------------------------------------- secrets on the command line


def test_override_refuses_secret_keys_without_echoing_the_value(isolated_home: Path) -> None:
    for command in (("show",), ("check", "--offline"), ("send-test",)):
        result = run_cli(*command, "--override", "smtp.password=hunter2-secret", home=isolated_home)
        assert result.returncode == 64, (command, result.stderr)
        assert "set-secret smtp.password" in result.stderr
        assert "MAILSETUP_SMTP__PASSWORD" in result.stderr
        assert "hunter2" not in result.stderr + result.stdout


# --------------------------------------------------------------------------- modes, owners, symlinks


def test_set_keeps_the_files_mode(isolated_home: Path) -> None:
    path = write_config(isolated_home, '[smtp]\nhost = "a.example.com"\n')
    path.chmod(0o600)
    assert run_cli("set", "smtp.port", "2525", home=isolated_home).returncode == 0
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    path.chmod(0o640)
    assert run_cli("set", "smtp.port", "587", home=isolated_home).returncode == 0
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


@pytest.mark.skipif(os.geteuid() != 0, reason="changing a file's owner needs root")
def test_set_keeps_the_files_owner(isolated_home: Path) -> None:
    path = write_config(isolated_home, '[smtp]\nhost = "a.example.com"\n')
    os.chown(path, 0, 65534)
    assert run_cli("set", "smtp.port", "2525", home=isolated_home).returncode == 0
    assert (path.stat().st_uid, path.stat().st_gid) == (0, 65534)


def test_a_symlinked_configuration_is_written_through(isolated_home: Path, tmp_path: Path) -> None:
    real = tmp_path / "managed" / "mail.toml"
    real.parent.mkdir()
    real.write_text('# managed by hand\n[smtp]\nhost = "a.example.com"\n')
    link = config_path(isolated_home)
    link.parent.mkdir(parents=True)
    link.symlink_to(real)
    assert run_cli("set", "smtp.port", "2525", home=isolated_home).returncode == 0
    assert link.is_symlink()
    assert "port = 2525" in real.read_text()
    assert "# managed by hand" in real.read_text()


def test_a_configuration_path_that_is_not_a_regular_file_is_never_replaced(
    isolated_home: Path, tmp_path: Path
) -> None:
    fifo = tmp_path / "fifo.toml"
    os.mkfifo(fifo)
    # Refused before reading, too: a FIFO with no writer would block the read.
    result = run_cli(
        "set", "smtp.port", "25", "--config", str(fifo), home=isolated_home, timeout=20
    )
    assert result.returncode == 73, result.stderr
    assert "not a regular file" in result.stderr
    assert stat.S_ISFIFO(fifo.lstat().st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fifo.toml"]  # not even a lock file


def _planted(home: Path, tmp_path: Path, mode: int) -> Path:
    shared = tmp_path / "shared"
    shared.mkdir()
    config = shared / "config.toml"
    config.write_text(
        '[smtp]\nhost = "evil.example.net"\nport = 9\nusername = "alice"\n'
        '[sender]\naddress = "alice@example.com"\n'
    )
    shared.chmod(mode)
    return config


# 0o1777 (sticky, like /tmp) is a safe parent: no one can replace the caller's entry in it
# (tests/test_trust.py plants files there as another user).
@pytest.mark.parametrize("mode", [0o777, 0o775])
def test_a_configuration_others_could_write_is_not_used_with_a_secret(
    isolated_home: Path, tmp_path: Path, mode: int
) -> None:
    config = _planted(isolated_home, tmp_path, mode)
    env = {"MAILSETUP_SMTP__PASSWORD": "the-real-password"}
    for command in (("show", "--include-secrets"), ("get-secret", "smtp.password")):
        result = run_cli(*command, "--config", str(config), home=isolated_home, env=env)
        assert result.returncode == 78, (command, result.stdout, result.stderr)
        assert f"chmod go-w {config.parent}" in result.stderr
        assert "the-real-password" not in result.stdout + result.stderr
    # send-test refuses before connecting anywhere (nothing listens on port 9: that would be 69).
    config.write_text(config.read_text().replace("evil.example.net", "127.0.0.1"))
    sent = run_cli("send-test", "--config", str(config), home=isolated_home, env=env)
    assert sent.returncode == 78, sent.stdout + sent.stderr
    assert "chmod go-w" in sent.stdout + sent.stderr
    checked = run_cli("check", "--offline", "--config", str(config), home=isolated_home, env=env)
    assert checked.returncode == 78
    assert "chmod go-w" in checked.stdout
    # Without a secret to misuse, the same file is only read.
    assert run_cli("show", "--config", str(config), home=isolated_home).returncode == 0


def _show_secrets(home: Path, config: Path) -> Any:
    env = {"MAILSETUP_SMTP__PASSWORD": "pw-123456"}
    return run_cli("show", "--include-secrets", "--config", str(config), home=home, env=env)


def test_a_world_writable_configuration_file_is_refused_too(
    isolated_home: Path, tmp_path: Path
) -> None:
    config = _planted(isolated_home, tmp_path, 0o700)
    config.chmod(0o666)
    result = _show_secrets(isolated_home, config)
    assert result.returncode == 78
    assert f"chmod go-w {config}" in result.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="planting a file as another user needs root")
def test_a_configuration_owned_by_another_user_is_refused_with_the_chown(
    isolated_home: Path, tmp_path: Path
) -> None:
    config = _planted(isolated_home, tmp_path, 0o755)
    os.chown(config, 65534, 65534)
    result = _show_secrets(isolated_home, config)
    assert result.returncode == 78
    assert f"chown 0 {config}" in result.stderr


# --------------------------------------------------------------------------- unwritable and full


def _unshare() -> list[str]:
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("needs root and unshare(1) for a private read-only or tiny mount")
    probe = subprocess.run(
        ["unshare", "-m", "--propagation", "private", "true"], capture_output=True
    )
    if probe.returncode != 0:
        pytest.skip(f"cannot create a mount namespace here: {probe.stderr.decode().strip()}")
    return ["unshare", "-m", "--propagation", "private"]


def _in_mount(mount: str, command: list[str]) -> list[str]:
    import shlex

    return [
        *_unshare(),
        "sh",
        "-c",
        f"{mount} && exec {' '.join(shlex.quote(c) for c in command)}",
    ]


@pytest.mark.parametrize(
    "command", [("set", "smtp.host", "smtp.example.com"), ("set-secret", "smtp.password")]
)
def test_a_read_only_directory_is_73_naming_the_path(
    isolated_home: Path, command: tuple[str, ...]
) -> None:
    directory = config_path(isolated_home).parent
    directory.mkdir(parents=True, mode=0o700)
    d = str(directory)
    argv = _in_mount(
        f"mount --bind {d} {d} && mount -o remount,ro,bind {d}",
        [sys.executable, "-m", "tui_mailsetup", *command],
    )
    result = subprocess.run(
        argv, input=b"pw\n", capture_output=True, env=_env(isolated_home), timeout=60
    )
    assert result.returncode == 73, result.stderr
    assert d.encode() in result.stderr
    assert_no_traceback(result.stderr)
    assert list(directory.iterdir()) == []


@pytest.mark.parametrize(
    "command", [("set", "sender.name", "N" * 60), ("set-secret", "smtp.password")]
)
def test_a_full_disk_is_74_and_the_old_file_survives(
    isolated_home: Path, tmp_path: Path, command: tuple[str, ...]
) -> None:
    directory = tmp_path / "tiny"
    directory.mkdir(mode=0o700)
    config = directory / "config.toml"
    d = str(directory)
    # A 12 KiB tmpfs: the lock file and the current files fit, a new copy does not.
    filler = "dd if=/dev/zero of={d}/filler bs=1k count=64 2>/dev/null; true"
    seed = (
        f"printf '[smtp]\\nhost = \"a.example.com\"\\n' > {d}/config.toml && "
        f"printf '[smtp]\\npassword = \"old\"\\n' > {d}/credentials.toml && "
        f"chmod 600 {d}/credentials.toml && : > {d}/.config.toml.lock && " + filler.format(d=d)
    )
    argv = _in_mount(
        f"mount -t tmpfs -o size=12k,mode=700 tmpfs {d} && {seed} && "
        f"cat {d}/config.toml > {d}/../before.txt",
        [sys.executable, "-m", "tui_mailsetup", "--config", str(config), *command],
    )
    result = subprocess.run(
        argv, input=b"a-new-password\n", capture_output=True, env=_env(isolated_home), timeout=60
    )
    assert result.returncode == 74, (result.returncode, result.stderr)
    assert d.encode() in result.stderr
    assert b"disk" in result.stderr
    assert_no_traceback(result.stderr)


def test_a_file_size_limit_is_74_too(isolated_home: Path) -> None:
    import resource

    def limit() -> None:  # runs in the child before exec
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (16, 16))

    path = write_config(isolated_home, '[smtp]\nhost = "a.example.com"\n')
    before = path.read_bytes()
    result = run_cli(
        "set", "sender.name", "Acme Licensing", home=isolated_home, raw=True, preexec=limit
    )
    assert result.returncode == 74, result.stderr
    assert str(path).encode() in result.stderr
    assert path.read_bytes() == before
    assert_no_traceback(result.stderr)


# --------------------------------------------------------------------------- concurrency and kills

_KEYS_AND_VALUES = [
    ("smtp.host", "smtp.example.com"),
    ("smtp.port", "2525"),
    ("smtp.encryption", "tls"),
    ("smtp.username", "alice"),
    ("smtp.auth", "login"),
    ("smtp.password_command", "pass show mail"),
    ("smtp.ehlo_name", "web1.acme.example"),
    ("smtp.timeout", "12"),
    ("smtp.verify", "false"),
    ("smtp.ca_file", "/etc/ssl/private-ca.pem"),
    ("smtp.fingerprint", "ab" * 32),
    ("smtp.allow_plaintext_auth", "true"),
    ("sender.name", "Acme Licensing"),
    ("sender.address", "licensing@acme.example"),
    ("sendmail.path", "/usr/lib/sendmail"),
    ("mailgun.domain", "mg.acme.example"),
    ("mailgun.region", "eu"),
    ("mailgun.base_url", "http://127.0.0.1:9"),
    ("ses.region", "eu-west-1"),
    ("ses.endpoint_url", "http://127.0.0.1:8"),
    ("ses.access_key_id", "AKIAEXAMPLE"),
    ("dns.nameservers", "127.0.0.1:5353"),
    ("driver", "sendmail"),
]


def test_concurrent_set_commands_lose_no_update(isolated_home: Path) -> None:
    environment = _env(isolated_home)
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "tui_mailsetup", "set", key, value],
            env=environment,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for key, value in _KEYS_AND_VALUES
    ]
    failures = []
    for process in processes:
        _, stderr = process.communicate(timeout=120)
        if process.returncode != 0:
            failures.append(stderr.decode())
    assert failures == []
    shown = run_cli("show", "--json", home=isolated_home).json()
    sources = shown["sources"]
    lost = [key for key, _ in _KEYS_AND_VALUES if sources[key] != "file"]
    assert lost == []
    assert shown["settings"]["smtp"]["port"] == 2525
    assert shown["settings"]["dns"]["nameservers"] == ["127.0.0.1:5353"]


def test_concurrent_secret_writes_lose_no_update(isolated_home: Path) -> None:
    environment = _env(isolated_home)
    keys = ["smtp.password", "mailgun.api_key", "ses.secret_access_key"] * 2
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "tui_mailsetup", "set-secret", key],
            env=environment,
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for key in keys
    ]
    for process, key in zip(processes, keys, strict=True):
        _, stderr = process.communicate(f"value-of-{key}\n".encode(), timeout=120)
        assert process.returncode == 0, stderr
    text = config_path(isolated_home).with_name("credentials.toml").read_text()
    for key in set(keys):
        assert f"value-of-{key}" in text


_WRITER = textwrap.dedent(
    """
    import itertools, sys
    from pathlib import Path
    from tui_mailsetup.config_file import write_values
    path = Path(sys.argv[1])
    for n in itertools.count():
        write_values(path, {"sender.name": f"version {n % 2}", "smtp.ehlo_name": "a" * 60 + f".v{n % 2}"})
        print(n, flush=True)
    """
)


def test_killing_a_writer_at_random_moments_never_loses_or_truncates_the_file(
    tmp_path: Path,
) -> None:
    from tui_mailsetup.config_file import load_config

    path = tmp_path / "conf" / "config.toml"
    path.parent.mkdir(mode=0o700)
    padding = "".join(
        f"# comment line {n} keeps the file long enough to take a while\n" for n in range(400)
    )
    path.write_text(padding + '[smtp]\nhost = "smtp.example.com"\n')
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    rng = random.Random(8)
    names = set()
    kills = 0
    for _ in range(12):
        writer = subprocess.Popen(
            [sys.executable, "-c", _WRITER, str(path)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert writer.stdout is not None
        writer.stdout.readline()  # it is writing
        time.sleep(rng.uniform(0, 0.05))
        writer.send_signal(signal.SIGKILL)
        writer.wait()
        kills += 1
        loaded = load_config(path)  # always parses and validates: old or new, never half
        assert loaded.settings.smtp.host == "smtp.example.com"
        assert path.read_text().startswith(padding)
        names.add(loaded.settings.sender.name)
    assert kills == 12
    assert names <= {"version 0", "version 1"}
    # What the killed writers left behind is cleared by the next write.
    from tui_mailsetup.config_file import write_values

    write_values(path, {"smtp.port": 2525})
    assert sorted(p.name for p in path.parent.iterdir()) == [
        ".config.toml.lock",
        "config.toml",
        "config.toml.bak",
    ]


# --------------------------------------------------------------------------- control characters


def test_control_characters_in_key_names_of_the_file_never_reach_the_terminal(
    isolated_home: Path,
) -> None:
    write_config(isolated_home, '[smtp]\n"evil\\u001b[2Jkey\\u0085" = 1\n')
    for as_json in (False, True):
        result = run_cli("show", *(["--json"] if as_json else []), home=isolated_home)
        assert result.returncode == 78
        output = result.stdout + result.stderr
        assert "\x1b" not in output and "\x85" not in output
        assert "evil" in output
    document = json.loads(run_cli("show", "--json", home=isolated_home).stdout)
    assert document["ok"] is False and document["exit_code"] == 78
    assert "config.toml:" in document["error"]["problems"][0]["origin"]


def test_a_hand_edited_state_file_is_shown_neutralised(isolated_home: Path) -> None:
    write_config(isolated_home, '[smtp]\nhost = "smtp.example.com"\n')
    state = {
        "last_test": {
            "ok": False,
            "stage": "auth\x1b[2J",
            "at": 1700000000,
            "exit_code": 77,
            "cause": "bad\x1b]0;owned\x07 \u0085 \u202e",
            "host": "h\x1b[31m",
            "port": 25,
        }
    }
    config_path(isolated_home).with_name("state.json").write_text(json.dumps(state))
    for args in (("show",), ("show", "--json")):
        result = run_cli(*args, home=isolated_home)
        assert result.returncode == 0, result.stderr
        for char in ("\x1b", "\x07", "\x85", "\u202e"):
            assert char not in result.stdout, (args, char)


# --------------------------------------------------------------------------- the error model


def test_errors_under_json_are_one_document_with_the_exit_code(isolated_home: Path) -> None:
    result = run_cli("set", "sender.name", "x" * 70, "--json", home=isolated_home)
    assert result.returncode == 65
    document = result.json()
    assert document["ok"] is False
    assert document["exit_code"] == 65
    assert document["error"]["kind"] == "InvalidValueError"
    assert document["error"]["key"] == "sender.name"
    usage = run_cli("set", "smtp.nope", "1", "--json", home=isolated_home)
    assert usage.returncode == 64
    assert usage.json()["error"]["exit_code"] == 64


def test_an_unexpected_error_is_reported_without_a_traceback(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from tui_mailsetup import cli
    from tui_mailsetup.cli import config_cmds

    def broken(args: Any) -> int:
        raise RuntimeError("something unforeseen")

    monkeypatch.setattr(config_cmds, "run_show", broken)
    assert cli.main(["show"]) == 70
    captured = capsys.readouterr()
    assert "internal error (RuntimeError): something unforeseen" in captured.err
    assert "Traceback" not in captured.err


# --------------------------------------------------------------------------- property


def _settable_keys() -> list[str]:
    from tui_mailsetup.settings import field_keys, is_secret_key

    return [k for k in field_keys() if not is_secret_key(k)]


def test_set_with_arbitrary_text_and_bytes_exits_with_a_contract_code(
    isolated_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from tui_mailsetup import cli

    config = isolated_home / "prop" / "config.toml"
    as_argv = st.binary(max_size=40).map(lambda b: os.fsdecode(b))
    keys = st.one_of(st.sampled_from(_settable_keys()), st.text(max_size=20), as_argv)
    values = st.one_of(st.text(max_size=80), as_argv, st.sampled_from(["", "[", "[[[[", "65536"]))

    @settings(
        max_examples=250,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(key=keys, value=values, as_json=st.booleans())
    def check(key: str, value: str, as_json: bool) -> None:
        argv = ["--config", str(config), "set", key, value] + (["--json"] if as_json else [])
        try:
            code = cli.main(argv)
        except SystemExit as exc:  # argparse: a value that looks like an option
            code = int(exc.code or 0)
        captured = capsys.readouterr()
        assert code in ALLOWED_SET_CODES, (key, value, captured.err)
        assert "Traceback" not in captured.err + captured.out
        if as_json and code not in {0, 64}:
            assert json.loads(captured.out)["exit_code"] == code

    check()
    # Whatever was accepted left a file that loads.
    if config.exists():
        run = run_cli("show", "--config", str(config), home=isolated_home)
        assert run.returncode == 0, run.stderr


# --------------------------------------------------------------------------- secrets that are not text


def test_a_password_command_printing_bytes_that_are_not_text_is_78(
    isolated_home: Path, tmp_path: Path
) -> None:
    script = tmp_path / "pw.sh"
    script.write_text("#!/bin/sh\nprintf 'pa\\377ss\\n'\n")
    script.chmod(0o755)
    write_config(isolated_home, f'[smtp]\npassword_command = "{script}"\n')
    result = run_cli("show", "--include-secrets", home=isolated_home)
    assert result.returncode == 78
    assert "not UTF-8" in result.stderr
    assert_no_traceback(result.stderr)


def test_a_hand_edited_credentials_file_with_a_control_character_is_78_and_can_be_fixed(
    isolated_home: Path,
) -> None:
    assert run_cli("set-secret", "smtp.password", home=isolated_home, stdin="ok\n").returncode == 0
    credentials = config_path(isolated_home).with_name("credentials.toml")
    credentials.write_text('[smtp]\npassword = "bad\\u001b[2Jpw"\n')
    credentials.chmod(0o600)
    result = run_cli("show", "--include-secrets", home=isolated_home)
    assert result.returncode == 78
    assert "control character U+001B" in result.stderr
    assert "\x1b" not in result.stderr + result.stdout
    fixed = run_cli("set-secret", "smtp.password", home=isolated_home, stdin="good\n")
    assert fixed.returncode == 0, fixed.stderr
    shown = run_cli("show", "--json", "--include-secrets", home=isolated_home)
    assert shown.json()["settings"]["smtp"]["password"] == "good"


def test_export_to_a_read_only_directory_is_73(isolated_home: Path) -> None:
    write_config(isolated_home, '[smtp]\nhost = "smtp.example.com"\n')
    target = isolated_home / "out"
    target.mkdir()
    d = str(target)
    argv = _in_mount(
        f"mount --bind {d} {d} && mount -o remount,ro,bind {d}",
        [sys.executable, "-m", "tui_mailsetup", "export", "--format", "env", "-o", f"{d}/mail.env"],
    )
    result = subprocess.run(argv, capture_output=True, env=_env(isolated_home), timeout=60)
    assert result.returncode == 73, result.stderr
    assert f"{d}/mail.env".encode() in result.stderr
