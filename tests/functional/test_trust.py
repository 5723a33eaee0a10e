"""Trust before action, and secrets never handed to another user (issue 19 items 1 and 2).

Another local user (``nobody``, through ``setpriv``) plants configurations, files and
symbolic links in a temporary sticky directory (a root-owned 1777 directory, as /tmp
is); the program, run as root, must neither run a planted ``password_command``, nor
connect anywhere, nor contact a token endpoint, nor change a (scratch) Postfix, nor
write a secret into a file or through a link that ``nobody`` owns. Each refusal names
the file or directory and the chown/chmod that fixes it; each case has a control that
shows the same input does act when it is trusted, so the refusal is what stopped it.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import stat
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.cli_helpers import Result, run_cli
from tests.support.postfix_instance import PostfixInstance, postfix_config, run_mta

__all__ = ["postfix_config"]

SECRET = "the-real-password-4711"


def _skip_reason() -> str | None:
    if os.geteuid() != 0:
        return "acting as another user needs root"
    if shutil.which("setpriv") is None:
        return "setpriv (util-linux) is not installed"
    try:
        pwd.getpwnam("nobody")
    except KeyError:
        return "there is no user nobody"
    return None


pytestmark = pytest.mark.skipif(_skip_reason() is not None, reason=str(_skip_reason()))

NOBODY = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]


def as_nobody(script: str, *, stdin: str | None = None, check: bool = True) -> int:
    """Run a shell script as nobody (no groups): what another local user can do."""
    completed = subprocess.run(
        [*NOBODY, "sh", "-c", script],
        input=stdin,
        text=True,
        capture_output=True,
        timeout=60,
        check=False,
    )
    if check:
        assert completed.returncode == 0, completed.stderr
    return completed.returncode


@pytest.fixture
def shared() -> Iterator[Path]:
    """A root-owned sticky directory everyone may write in, as /tmp is."""
    directory = Path(tempfile.mkdtemp(prefix="tui-mailsetup-shared-"))
    directory.chmod(0o1777)
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


class Listener:
    """A TCP listener on loopback that only counts who connects (SMTP or a token endpoint)."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                conn, _ = self.sock.accept()
                self.connections += 1
                conn.close()

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def listener() -> Iterator[Listener]:
    server = Listener()
    try:
        yield server
    finally:
        server.close()


def planted_text(marker: Path, port: int, *, oauth2: bool = False) -> str:
    lines = [
        "[smtp]",
        'host = "127.0.0.1"',
        f"port = {port}",
        'encryption = "none"',
        "allow_plaintext_auth = true",
        'username = "alice"',
        f"password_command = \"sh -c 'touch {marker}; echo {SECRET}'\"",
        "[sender]",
        'address = "alice@example.com"',
    ]
    if oauth2:
        lines[6] = 'auth = "xoauth2"'  # no password_command: the token endpoint is asked
        lines += [
            "[oauth2]",
            'provider = "custom"',
            'flow = "client-credentials"',
            'client_id = "app"',
            f'token_url = "https://127.0.0.1:{port}/token"',
        ]
    return "\n".join(lines) + "\n"


def cli(home: Path, *args: str, env: dict[str, str] | None = None) -> Result:
    return run_cli(*args, home=home, env=env, timeout=120)


SECRET_COMMANDS = [
    ("get-secret", "smtp.password"),
    ("show", "--include-secrets"),
    ("export", "--format", "msmtp", "--include-secrets"),
    ("send-test", "--to", "bob@example.com"),
    ("check",),
]


def _assert_refused(result: Result, place: Path) -> None:
    output = result.stdout + result.stderr
    assert result.returncode == 78, output
    assert "not trusted" in output, output
    fixes = (f"chown 0 {place}", f"chown -h 0 {place}", f"chmod go-w {place}")
    assert any(fix in output for fix in fixes), output
    assert SECRET not in output
    assert "Traceback" not in output


def _plant_cases(shared: Path, marker: Path, port: int) -> dict[str, tuple[Path, Path]]:
    """Configurations another user placed, with the file or directory the refusal names."""
    text = planted_text(marker, port)
    as_nobody(f"cat > {shared}/config.toml", stdin=text)
    as_nobody(f"mkdir -m 777 {shared}/open && cat > {shared}/open/config.toml", stdin=text)
    # A file root wrote (or copied), in a directory nobody owns: nobody can swap it.
    as_nobody(f"mkdir -m 755 {shared}/theirs")
    root_file = shared / "theirs" / "config.toml"
    root_file.write_text(text)
    # A link nobody owns, to a configuration root trusts.
    good = Path(tempfile.mkdtemp(prefix="tui-mailsetup-good-"))
    (good / "config.toml").write_text(text)
    as_nobody(f"ln -s {good}/config.toml {shared}/link.toml")
    return {
        "file owned by nobody": (shared / "config.toml", shared / "config.toml"),
        "world-writable directory": (shared / "open" / "config.toml", shared / "open"),
        "directory owned by nobody": (root_file, shared / "theirs"),
        "symlink owned by nobody": (shared / "link.toml", shared / "link.toml"),
    }


def test_a_planted_configuration_runs_nothing_and_sends_nothing(
    isolated_home: Path, shared: Path, listener: Listener, tmp_path: Path
) -> None:
    marker = tmp_path / "password_command-ran"
    cases = _plant_cases(shared, marker, listener.port)
    for name, (config, place) in cases.items():
        for command in SECRET_COMMANDS:
            result = cli(isolated_home, *command, "--config", str(config))
            _assert_refused(result, place)
            assert not marker.exists(), (name, command)
        # Selected by the environment instead of --config: the same.
        chosen = cli(
            isolated_home, "get-secret", "smtp.password", env={"MAILSETUP_CONFIG": str(config)}
        )
        _assert_refused(chosen, place)
    assert not marker.exists()
    assert listener.connections == 0
    # Nothing was written beside them either (no state file, no lock file).
    for directory in (shared / "open", shared / "theirs"):
        assert [p.name for p in directory.iterdir()] == ["config.toml"]

    # Control: the same configuration, trusted, does run its command.
    trusted = tmp_path / "mine" / "config.toml"
    trusted.parent.mkdir(mode=0o700)
    trusted.write_text(planted_text(marker, listener.port))
    ran = cli(isolated_home, "get-secret", "smtp.password", "--config", str(trusted))
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip() == SECRET and marker.exists()


def test_the_system_configuration_is_held_to_it_too(
    isolated_home: Path, shared: Path, listener: Listener, tmp_path: Path
) -> None:
    marker = tmp_path / "ran"
    as_nobody(
        f"mkdir -p {shared}/xdg/tui-mailsetup && cat > {shared}/xdg/tui-mailsetup/config.toml",
        stdin=planted_text(marker, listener.port),
    )
    result = cli(
        isolated_home,
        "--system",
        "get-secret",
        "smtp.password",
        env={"XDG_CONFIG_DIRS": f"{shared}/xdg"},
    )
    assert result.returncode == 78, result.stdout + result.stderr
    assert "not trusted" in result.stderr and str(shared / "xdg") in result.stderr
    assert not marker.exists()


def test_a_planted_oauth2_configuration_contacts_no_token_endpoint(
    isolated_home: Path, shared: Path, listener: Listener, tmp_path: Path
) -> None:
    marker = tmp_path / "ran"
    as_nobody(f"cat > {shared}/config.toml", stdin=planted_text(marker, listener.port, oauth2=True))
    env = {"MAILSETUP_OAUTH2__CLIENT_SECRET": SECRET}
    for command in (
        ("oauth2", "token"),
        ("oauth2", "login"),
        ("send-test", "--to", "b@example.com"),
    ):
        result = cli(isolated_home, *command, "--config", str(shared / "config.toml"), env=env)
        _assert_refused(result, shared / "config.toml")
    assert listener.connections == 0


class DatagramCounter:
    """A UDP socket on loopback that counts the DNS queries sent to it (and answers none)."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.queries = 0
        threading.Thread(target=self._count, daemon=True).start()

    def _count(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                self.sock.recv(4096)
                self.queries += 1

    def close(self) -> None:
        self.sock.close()  # ends the counting thread's recv


def test_a_planted_configuration_decides_no_dns_verdict(
    isolated_home: Path, shared: Path, tmp_path: Path
) -> None:
    """``dns``, ``dns spf`` and ``detect`` ask the name servers the configuration names: a
    planted one would have the verdict decided by a resolver of the other user's choosing
    (an SPF "pass", a DKIM key). Refused with 78, and no query leaves."""
    resolver = DatagramCounter()
    text = (
        f'[sender]\naddress = "alice@example.com"\n'
        f'[dns]\nnameservers = ["127.0.0.1:{resolver.port}"]\ntimeout = 1\nbudget = 3\n'
    )
    as_nobody(f"cat > {shared}/config.toml", stdin=text)
    planted = shared / "config.toml"
    for command in (
        ("dns", "example.com"),
        ("dns", "spf", "example.com", "--ip", "192.0.2.1"),
        ("detect", "alice@example.com"),
    ):
        result = cli(isolated_home, *command, "--config", str(planted))
        _assert_refused(result, planted)
        assert "nameservers" in result.stderr
    time.sleep(0.2)
    assert resolver.queries == 0

    # Control: the same configuration, trusted, is asked.
    trusted = tmp_path / "mine" / "config.toml"
    trusted.parent.mkdir(mode=0o700)
    trusted.write_text(text)
    asked = cli(
        isolated_home, "dns", "spf", "example.com", "--ip", "192.0.2.1", "--config", str(trusted)
    )
    assert asked.returncode != 78, asked.stdout + asked.stderr
    assert resolver.queries > 0
    resolver.close()


def test_a_root_owned_sticky_directory_is_a_safe_parent(
    isolated_home: Path, shared: Path, listener: Listener, tmp_path: Path
) -> None:
    marker = tmp_path / "ran"
    config = shared / "mine.toml"
    config.write_text(planted_text(marker, listener.port))  # root's own file in /tmp-like dir
    config.chmod(0o644)
    result = cli(isolated_home, "get-secret", "smtp.password", "--config", str(config))
    assert result.returncode == 0, result.stderr
    assert marker.exists()


# --------------------------------------------------------------------------- mta apply


def _relay_config(path: Path) -> None:
    path.write_text(
        '[smtp]\nhost = "relay.attacker.example"\nport = 25\nencryption = "none"\n'
        '[sender]\naddress = "cron@example.test"\n'
    )


def _mta(home: Path, config: Path, instance: PostfixInstance, *args: str) -> Result:
    return run_mta(home, config, instance, *args, password=SECRET)


def test_mta_apply_never_applies_a_planted_configuration(
    isolated_home: Path, shared: Path, postfix_config: PostfixInstance, tmp_path: Path
) -> None:
    etc = postfix_config.config_dir
    before = {p.name: p.read_bytes() for p in etc.iterdir()}
    _relay_config(tmp_path / "relay.toml")
    as_nobody(f"cat > {shared}/config.toml", stdin=(tmp_path / "relay.toml").read_text())
    planted = shared / "config.toml"
    for args in (("apply", "--dry-run"), ("apply",)):
        result = _mta(isolated_home, planted, postfix_config, *args)
        _assert_refused(result, planted)
        assert "relay.attacker.example" not in result.stdout
    assert {p.name: p.read_bytes() for p in etc.iterdir()} == before  # no backup dir either

    # Control: the same settings from root's own file are applied.
    mine = tmp_path / "relay.toml"
    dry = _mta(isolated_home, mine, postfix_config, "apply", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "relay.attacker.example" in dry.stdout


def test_mta_apply_and_revert_refuse_mta_files_another_user_could_change(
    isolated_home: Path, postfix_config: PostfixInstance, tmp_path: Path
) -> None:
    config = tmp_path / "relay.toml"
    _relay_config(config)
    main_cf = postfix_config.config_dir / "main.cf"
    before = main_cf.read_bytes()
    os.chown(main_cf, 65534, 65534)  # as if nobody owned it
    for args in (("apply",), ("revert",)):
        result = _mta(isolated_home, config, postfix_config, *args)
        _assert_refused(result, main_cf)
    assert main_cf.read_bytes() == before
    os.chown(main_cf, 0, 0)
    # A backup directory another user could change is not restored from.
    from tui_mailsetup.mta.backup import backup_root

    root = backup_root(postfix_config.config_dir, "postfix")
    root.mkdir(parents=True, mode=0o700)
    os.chown(root, 65534, 65534)
    reverted = _mta(isolated_home, config, postfix_config, "revert")
    _assert_refused(reverted, root)
    assert main_cf.read_bytes() == before


# --------------------------------------------------------------------------- secret-bearing writes


def _export(home: Path, target: Path) -> Result:
    config = home / "c.toml"
    if not config.exists():
        config.write_text('[smtp]\nhost = "smtp.example.com"\nusername = "alice"\n')
    return cli(
        home,
        "export",
        "--format",
        "msmtp",
        "--include-secrets",
        "--config",
        str(config),
        "-o",
        str(target),
        env={"MAILSETUP_SMTP__PASSWORD": SECRET},
    )


def _nobody_reads(path: Path) -> bool:
    return as_nobody(f"cat {path} > /dev/null 2>&1", check=False) == 0


def test_an_export_never_lands_in_a_file_another_user_owns_or_links(
    isolated_home: Path, shared: Path
) -> None:
    as_nobody(f"touch {shared}/out.rc && chmod 666 {shared}/out.rc")
    as_nobody(
        f"mkdir -m 755 {shared}/nd && touch {shared}/nd/target && chmod 666 {shared}/nd/target"
    )
    as_nobody(f"ln -s {shared}/nd/target {shared}/link.rc")
    as_nobody(f"mkdir -m 777 {shared}/wide")
    for target, named in (
        (shared / "out.rc", shared / "out.rc"),
        (shared / "link.rc", shared / "link.rc"),
        (shared / "nd" / "fresh.rc", shared / "nd"),
        (shared / "wide" / "fresh.rc", shared / "wide"),
    ):
        result = _export(isolated_home, target)
        assert result.returncode == 78, (target, result.stdout, result.stderr)
        assert str(named) in result.stderr
        assert SECRET not in result.stdout + result.stderr
    for planted in (shared / "out.rc", shared / "nd" / "target"):
        assert planted.read_text() == ""
        assert planted.stat().st_uid == 65534
    assert not (shared / "nd" / "fresh.rc").exists()
    assert not (shared / "wide" / "fresh.rc").exists()

    # A new name in the sticky directory: written, root's, 0600, unreadable by nobody.
    fresh = shared / "fresh.rc"
    written = _export(isolated_home, fresh)
    assert written.returncode == 0, written.stderr
    assert SECRET in fresh.read_text()
    info = fresh.stat()
    assert (info.st_uid, stat.S_IMODE(info.st_mode)) == (0, 0o600)
    assert not _nobody_reads(fresh)


def test_the_backup_copy_never_follows_a_link_planted_at_its_temporary_name(
    shared: Path,
) -> None:
    """``export --force`` keeps the file it replaces as ``.bak``, copied by a rename. In a
    sticky directory, another user who plants a link where that copy is made must not get
    the old secret (or have root write through the link): the name is unguessable and the
    copy is created with O_EXCL | O_NOFOLLOW."""
    from tui_mailsetup.files import atomic_write

    target = shared / "secret.env"
    atomic_write(target, f"PASSWORD={SECRET}\n".encode(), mode=0o600, secret=True)
    as_nobody(f"mkdir -m 755 {shared}/nd && touch {shared}/nd/loot && chmod 666 {shared}/nd/loot")
    # Every name a pid-and-thread scheme would choose for this process.
    for name in (
        f".secret.env.bak.{os.getpid()}.tmp",
        f".secret.env.bak.{os.getpid()}.{threading.get_ident()}.tmp",
    ):
        as_nobody(f"ln -s {shared}/nd/loot {shared}/{name}")

    atomic_write(target, b"PASSWORD=new\n", mode=0o600, backup=True, secret=True)

    assert (shared / "nd" / "loot").read_text() == ""
    backup = shared / "secret.env.bak"
    assert backup.read_text() == f"PASSWORD={SECRET}\n"
    info = backup.lstat()
    assert stat.S_ISREG(info.st_mode)
    assert (info.st_uid, stat.S_IMODE(info.st_mode)) == (0, 0o600)
    assert not _nobody_reads(backup)
    assert target.read_text() == "PASSWORD=new\n"


def test_a_plain_write_never_follows_another_users_link(isolated_home: Path, shared: Path) -> None:
    as_nobody(f"mkdir -m 755 {shared}/nd && touch {shared}/nd/target")
    as_nobody(f"ln -s {shared}/nd/target {shared}/plain.env")
    config = isolated_home / "c.toml"
    config.write_text('[smtp]\nhost = "smtp.example.com"\n')
    result = cli(
        isolated_home,
        "export",
        "--format",
        "env",
        "--config",
        str(config),
        "-o",
        str(shared / "plain.env"),
    )
    assert result.returncode == 73, result.stdout + result.stderr
    assert "symbolic link owned by another user" in result.stderr
    assert (shared / "nd" / "target").read_text() == ""


def test_the_credentials_file_is_never_written_through_another_users_link(
    isolated_home: Path, shared: Path, tmp_path: Path
) -> None:
    as_nobody(f"mkdir -m 755 {shared}/nd && touch {shared}/nd/stolen")
    directory = tmp_path / "cfg"
    directory.mkdir(mode=0o700)
    config = directory / "config.toml"
    config.write_text('[smtp]\nhost = "smtp.example.com"\n')
    credentials = directory / "credentials.toml"
    credentials.symlink_to(shared / "nd" / "stolen")
    os.lchown(credentials, 65534, 65534)  # as if nobody had planted it
    result = run_cli(
        "set-secret", "smtp.password", "--config", str(config), home=isolated_home, stdin=SECRET
    )
    assert result.returncode == 78, result.stdout + result.stderr
    assert str(credentials) in result.stderr
    assert (shared / "nd" / "stolen").read_text() == ""
    # A credentials file another user owns is not rewritten (nor its owner kept) either.
    credentials.unlink()
    credentials.write_text("")
    credentials.chmod(0o600)
    os.chown(credentials, 65534, 65534)
    owned = run_cli(
        "set-secret", "smtp.password", "--config", str(config), home=isolated_home, stdin=SECRET
    )
    assert owned.returncode == 78, owned.stdout + owned.stderr
    assert SECRET not in credentials.read_text()


def test_sasl_passwd_is_never_written_through_another_users_link(
    isolated_home: Path, shared: Path, postfix_config: PostfixInstance, tmp_path: Path
) -> None:
    as_nobody(f"mkdir -m 755 {shared}/nd && touch {shared}/nd/stolen")
    sasl = postfix_config.config_dir / "sasl_passwd"
    sasl.symlink_to(shared / "nd" / "stolen")
    os.lchown(sasl, 65534, 65534)
    config = tmp_path / "relay.toml"
    config.write_text(
        '[smtp]\nhost = "localhost"\nport = 587\nusername = "relay-user"\n'
        '[sender]\naddress = "cron@example.test"\n'
    )
    main_cf = (postfix_config.config_dir / "main.cf").read_bytes()
    result = _mta(isolated_home, config, postfix_config, "apply")
    # Refused before anything ran (a write through the link followed by postmap's failure
    # and a restore would leave the file empty too, after the secret had been in it).
    _assert_refused(result, sasl)
    assert "postmap" not in result.stderr
    assert (shared / "nd" / "stolen").read_text() == ""
    assert (postfix_config.config_dir / "main.cf").read_bytes() == main_cf
