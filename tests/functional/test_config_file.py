"""Loading and saving: layers, line numbers, atomic writes, round trips."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tui_mailsetup import paths
from tui_mailsetup.config_file import (
    ConfigError,
    load_config,
    locate_key,
    save_settings,
    write_values,
)
from tui_mailsetup.secrets import SecretError, read_credentials, resolve_secret, store_secret
from tui_mailsetup.settings import AuthMechanism, Driver, Encryption, MailgunRegion, MailSettings

_safe_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cc", "Cs", "Cf", "Zl", "Zp")),
    max_size=40,
).filter(lambda s: not any(0x80 <= ord(c) <= 0x9F for c in s))

valid_settings = st.builds(
    lambda driver, host, port, encryption, username, auth, timeout, verify, name, nameservers, region: (
        MailSettings.model_validate(
            {
                "driver": driver,
                "smtp": {
                    "host": host,
                    "port": port,
                    "encryption": encryption,
                    "username": username,
                    "auth": auth,
                    "timeout": timeout,
                    "verify": verify,
                },
                "sender": {"name": name},
                "mailgun": {"region": region},
                "dns": {"nameservers": nameservers},
            }
        )
    ),
    st.sampled_from(list(Driver)),
    st.sampled_from(["", "smtp.example.com", "127.0.0.1", "[::1]", "smtp.bücher.de"]),
    st.integers(1, 65535),
    st.sampled_from(list(Encryption)),
    _safe_text,
    st.sampled_from(list(AuthMechanism)),
    st.one_of(st.integers(1, 3600).map(float), st.floats(0.5, 3600, allow_nan=False)),
    st.booleans(),
    _safe_text.filter(lambda s: len(s) <= 64 and not ("=?" in s and "?=" in s)),
    st.lists(st.sampled_from(["127.0.0.1:5353", "[::1]:53", "192.0.2.53"]), max_size=3),
    st.sampled_from(list(MailgunRegion)),
)


@settings(
    max_examples=100,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(original=valid_settings)
def test_any_valid_settings_saved_and_loaded_come_back_equal(
    tmp_path: Path, original: MailSettings
) -> None:
    path = tmp_path / "round" / "config.toml"
    if path.exists():
        path.unlink()
    save_settings(path, original)
    assert load_config(path).settings == original


def test_layers_and_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[smtp]\nhost = "file.example.com"\nport = 2525\nusername = "file-user"\n')
    secrets_dir = tmp_path / "secrets"
    secrets_dir.mkdir()
    (secrets_dir / "MAILSETUP_SMTP__USERNAME").write_text("dir-user")
    monkeypatch.setenv("MAILSETUP_SMTP__PORT", "587")
    with paths.override(secrets_dirs=(secrets_dir,)):
        loaded = load_config(path, overrides={"smtp.host": "cli.example.com"})
    assert loaded.settings.smtp.host == "cli.example.com"
    assert loaded.settings.smtp.port == 587
    assert loaded.settings.smtp.username == "dir-user"
    assert loaded.sources["smtp.host"] == "cli"
    assert loaded.sources["smtp.port"] == "env"
    assert loaded.sources["smtp.username"] == "secrets-dir"
    assert loaded.sources["smtp.timeout"] == "default"


def test_a_secret_in_the_main_file_is_ignored_with_a_warning(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[smtp]\nhost = "h.example.com"\npassword = "oops"\n')
    loaded = load_config(path)
    assert loaded.settings.smtp.password is None
    assert [w.code for w in loaded.warnings] == ["secret-in-config-file"]
    assert "oops" not in loaded.warnings[0].message


def test_parse_error_reports_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[smtp]\n\nhost = "unterminated\n')
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.problems[0].line == 3
    assert str(path) + ":3" in str(caught.value)


@pytest.mark.parametrize(
    "text",
    [
        '[smtp]\n\nhost = "unterminated\n',
        "[smtp]\nport = 1\nport = 2\n",
        "[smtp]\nport = 1\n[sender]\n[smtp]\nhost = 'a'\n",
        '[sender]\nname = "a\x7fb"\n',
        "[smtp]\nport = 01\n",
        "driver =\n",
    ],
    ids=["unterminated", "key twice", "table twice", "control character", "number", "no value"],
)
def test_reading_and_writing_word_a_parse_error_alike(tmp_path: Path, text: str) -> None:
    """Reading parses with tomllib, writing with tomlkit: one message, one line, for both."""
    path = tmp_path / "config.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as read:
        load_config(path)
    with pytest.raises(ConfigError) as written:
        write_values(path, {"smtp.host": "x.example.com"})
    assert str(read.value) == str(written.value)
    assert read.value.problems[0].line == written.value.problems[0].line
    assert read.value.problems[0].line is not None
    assert path.read_text() == text


def test_toml_1_1_that_tomlkit_reads_still_loads(tmp_path: Path) -> None:
    """An inline table over several lines (TOML 1.1): the Python 3.11 tomllib refuses it,
    tomlkit, which always read these files, takes it."""
    path = tmp_path / "conf" / "config.toml"
    path.parent.mkdir(mode=0o700)
    path.write_text(
        'sender = {\n  name = "Acme",\n  address = "alerts@example.com",\n}\n'
        '[smtp]\nhost = "smtp.example.com"\n'
    )
    loaded = load_config(path)
    assert (loaded.settings.sender.name, loaded.settings.sender.address) == (
        "Acme",
        "alerts@example.com",
    )
    assert loaded.sources["sender.address"] == "file"
    credentials = store_secret(path, "smtp.password", "first")
    credentials.write_text('smtp = {\n  password = "second",\n}\n')
    assert read_credentials(path) == {"smtp.password": "second"}


def test_a_broken_credentials_file_names_its_line_not_its_secret(tmp_path: Path) -> None:
    config = tmp_path / "conf" / "config.toml"
    credentials = store_secret(config, "smtp.password", "first")
    credentials.write_text('[smtp]\npassword = "s3cret-unterminated\n')
    with pytest.raises(SecretError) as caught:
        read_credentials(config)
    assert str(caught.value) == f"{credentials}:2: the credentials file cannot be read as TOML"


def test_writing_refuses_a_file_that_does_not_load(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("[smtp]\nport = 0\n")
    with pytest.raises(ConfigError):
        write_values(path, {"smtp.host": "x.example.com"})
    assert path.read_text() == "[smtp]\nport = 0\n"


def test_locate_key_handles_tables_dotted_keys_and_quotes() -> None:
    text = 'driver = "smtp"\n[smtp]\n"host" = "a"\n  port=1\n[sender]\nname = "n"\n'
    assert locate_key(text, "driver") == 1
    assert locate_key(text, "smtp.host") == 3
    assert locate_key(text, "smtp.port") == 4
    assert locate_key(text, "sender.name") == 6
    assert locate_key(text, "sender.address") == 5  # the table, when the key is absent
    assert locate_key("smtp.port = 5\n", "smtp.port") == 1


def test_credentials_file_modes_and_refusal(tmp_path: Path) -> None:
    config = tmp_path / "conf" / "config.toml"
    path = store_secret(config, "smtp.password", "pässword")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert read_credentials(config) == {"smtp.password": "pässword"}
    path.chmod(0o604)
    with pytest.raises(SecretError, match="chmod 600"):
        read_credentials(config)
    # Storing again rewrites the file owner-only.
    store_secret(config, "mailgun.api_key", "key-1")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert read_credentials(config) == {"smtp.password": "pässword", "mailgun.api_key": "key-1"}


@pytest.mark.parametrize("mode", [0o777, 0o755, 0o710])
def test_secrets_are_only_stored_in_a_private_directory(tmp_path: Path, mode: int) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(mode)
    with pytest.raises(SecretError, match="chmod 700"):
        store_secret(shared / "config.toml", "smtp.password", "x")
    assert not (shared / "credentials.toml").exists()


def test_resolve_order_environment_then_command_then_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "config.toml"
    store_secret(config, "smtp.password", "from-file")
    assert resolve_secret(load_config(config), "smtp.password").source == "credentials-file"
    write_values(config, {"smtp.password_command": "echo from-command"})
    resolved = resolve_secret(load_config(config), "smtp.password")
    assert (resolved.value, resolved.source) == ("from-command", "password_command")
    monkeypatch.setenv("MAILSETUP_SMTP__PASSWORD", "from-env")
    resolved = resolve_secret(load_config(config), "smtp.password")
    assert (resolved.value, resolved.source) == ("from-env", "env")


@pytest.mark.parametrize(
    ("command", "message"),
    [
        ("/nonexistent/helper", "not found"),
        ("sh -c 'echo denied >&2; exit 3'", "exited with status 3: denied"),
        ("true", "printed nothing"),
    ],
)
def test_password_command_failures_are_clear(tmp_path: Path, command: str, message: str) -> None:
    config = tmp_path / "config.toml"
    write_values(config, {"smtp.password_command": command})
    with pytest.raises(SecretError, match=message):
        resolve_secret(load_config(config), "smtp.password")


def test_password_command_timeout_is_reported() -> None:
    from tui_mailsetup.secrets import run_password_command

    with pytest.raises(SecretError, match=r"did not finish within 0\.2 s"):
        run_password_command("sleep 5", timeout=0.2)


def test_save_writes_only_changed_keys_and_never_secrets(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    settings: Any = MailSettings.model_validate(
        {
            "smtp": {"host": "h.example.com", "password": "secret!"},
            "sender": {"address": "a@b.example"},
        }
    )
    save_settings(path, settings)
    text = path.read_text()
    assert "secret!" not in text
    assert 'host = "h.example.com"' in text
    assert "timeout" not in text
