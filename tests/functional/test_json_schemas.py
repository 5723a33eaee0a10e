"""Every command's --json output, success and failure, validated against the JSON Schema
files shipped in tui_mailsetup/schemas (issue 22 item 4): one document on stdout, one
failure shape (failure.json), TLS facts in check and send-test."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.cli_helpers import run_cli
from tests.support.schemas import SCHEMAS, jsonschema, valid
from tui_mailsetup.cli import COMMAND_MODULES
from tui_mailsetup.config_file import write_values
from tui_mailsetup.sandbox import Sandbox

PASSWORD = "schema-test-secret"


def test_the_schemas_are_valid_and_every_command_has_one() -> None:
    for path in SCHEMAS.glob("*.json"):
        jsonschema.Draft202012Validator.check_schema(json.loads(path.read_text()))
    names = {path.stem for path in SCHEMAS.glob("*.json")}
    for command in COMMAND_MODULES:
        if command == "tui":
            continue  # the screen; it prints no document
        assert command in names or any(n.startswith(f"{command}-") for n in names), command


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "conf" / "config.toml"
    write_values(
        path, {"smtp.host": "smtp.example.com", "smtp.username": "u", "sender.address": "a@b.test"}
    )
    return path


@pytest.fixture
def silent_dns() -> Iterator[str]:
    """A name server that never answers (every lookup fails: "unknown", 75)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    yield f"127.0.0.1:{sock.getsockname()[1]}"
    sock.close()


@pytest.mark.slow
def test_configuration_commands(config: Path, isolated_home: Path) -> None:
    c = ("--json", "--config", str(config))
    home = isolated_home
    shown = valid("show.json", run_cli(*c, "show", home=home), 0)
    assert shown["settings"]["smtp"]["host"] == "smtp.example.com"
    valid("set.json", run_cli(*c, "set", "smtp.port", "2525", home=home), 0)
    valid("set.json", run_cli(*c, "set", "--preset", "gmail", home=home), 0)
    valid("set.json", run_cli(*c, "set", "--preset", "list", home=home), 0)
    valid("set.json", run_cli(*c, "set", "sender.address", "not an address", home=home), 65)
    valid("set.json", run_cli(*c, "set", "--no-such-flag", home=home), 64)
    valid("set.json", run_cli(*c, "set", "smtp.nope", "1", home=home), 64)
    stored = run_cli(*c, "set-secret", "smtp.password", stdin=PASSWORD, home=home)
    assert valid("set-secret.json", stored, 0)["stored"].endswith("credentials.toml")
    valid("set-secret.json", run_cli(*c, "set-secret", "smtp.password", stdin="\n", home=home), 65)
    got = valid("get-secret.json", run_cli(*c, "get-secret", "smtp.password", home=home), 0)
    assert got["value"] == PASSWORD
    valid("set-secret.json", run_cli(*c, "set-secret", "--delete", "smtp.password", home=home), 0)
    valid("get-secret.json", run_cli(*c, "get-secret", "smtp.password", home=home), 78)
    valid("export.json", run_cli(*c, "export", "-f", "env", home=home), 0)
    target = isolated_home / "mail.env"
    valid("export.json", run_cli(*c, "export", "-f", "env", "-o", str(target), home=home), 0)
    target.write_text("SOMEONE_ELSES=1\n")
    valid("export.json", run_cli(*c, "export", "-f", "env", "-o", str(target), home=home), 73)
    valid("export.json", run_cli(*c, "export", "-f", "nope", home=home), 64)
    valid("completion.json", run_cli(*c, "completion", "fish", home=home), 0)
    config.write_text("[smtp\n")
    broken = valid("show.json", run_cli(*c, "show", home=home), 78)
    assert broken["stage"] == "config"


def test_check_and_send_test_carry_the_tls_facts(config: Path, isolated_home: Path) -> None:
    env = {"MAILSETUP_SMTP__PASSWORD": PASSWORD}
    with Sandbox(mode="starttls", password=PASSWORD) as box:
        write_values(config, {f"smtp.{k}": v for k, v in box.smtp_settings().items()})
        c = ("--json", "--config", str(config))
        checked = valid(
            "check.json", run_cli(*c, "check", "--no-dns", home=isolated_home, env=env), 0
        )
        sent = valid("send-test.json", run_cli(*c, "send-test", home=isolated_home, env=env), 0)
        for document in (checked, sent):
            tls = document["tls"]
            assert tls["version"].startswith("TLSv1") and tls["cipher"]
            assert "trustme" in tls["subject"] and "sandbox CA" in tls["issuer"]
            assert "DNS:localhost" in tls["sans"] and tls["not_after"].startswith("3000")
            assert tls["verified"] is True and len(tls["fingerprint_sha256"]) == 95
        wrong = {"MAILSETUP_SMTP__PASSWORD": "wrong"}
        failed = valid(
            "send-test.json", run_cli(*c, "send-test", home=isolated_home, env=wrong), 77
        )
        assert failed["stage"] == "auth" and failed["tls"]["verified"] is True
        valid("check.json", run_cli(*c, "check", "--no-dns", home=isolated_home, env=wrong), 77)
        valid("check.json", run_cli(*c, "check", "--offline", home=isolated_home, env=env), 0)
    valid(
        "send-test.json",
        run_cli(*c, "send-test", "--header", "Bcc: x@y.test", home=isolated_home),
        65,
    )
    write_values(config, {"smtp.port": 465, "smtp.encryption": "starttls"})
    valid("check.json", run_cli(*c, "check", "--offline", home=isolated_home, env=env), 78)


def test_network_lookups(config: Path, isolated_home: Path, silent_dns: str) -> None:
    c = ("--json", "--config", str(config))
    env = {"MAILSETUP_DNS__NAMESERVERS": silent_dns, "MAILSETUP_DNS__TIMEOUT": "1"}
    # A known mailbox domain decides at once, without the network.
    found = valid("detect.json", run_cli(*c, "detect", "bob@gmail.com", home=isolated_home), 0)
    assert found["smtp"] == {"host": "smtp.gmail.com", "port": 587, "encryption": "starttls"}
    valid("detect.json", run_cli(*c, "detect", "not a domain!", home=isolated_home), 65)
    unknown = run_cli(*c, "dns", "acme.example", home=isolated_home, env=env, timeout=120)
    assert valid("dns.json", unknown, 75)["diagnosis"]["cause"].startswith("a check could not")
    spf = run_cli(
        *c, "dns", "spf", "acme.example", "--ip", "192.0.2.1", home=isolated_home, env=env
    )
    assert valid("dns-spf.json", spf, 75)["result"] == "temperror"
    valid(
        "dns-spf.json",
        run_cli(*c, "dns", "spf", "acme.example", "--ip", "x", home=isolated_home),
        65,
    )


def test_demo_oauth2_and_mta(config: Path, isolated_home: Path) -> None:
    c = ("--json", "--config", str(config))
    valid("demo.json", run_cli("--json", "demo", "--headless", home=isolated_home, timeout=120), 0)
    valid("oauth2-status.json", run_cli(*c, "oauth2", "status", home=isolated_home), 78)
    valid("oauth2-token.json", run_cli(*c, "oauth2", "token", home=isolated_home), 78)
    valid("oauth2-logout.json", run_cli(*c, "oauth2", "logout", home=isolated_home), 0)
    status = run_cli(*c, "mta", "status", home=isolated_home)
    valid("mta-status.json", status, status.returncode)
    queue = run_cli(*c, "mta", "queue", home=isolated_home)
    valid("mta-queue.json", queue, queue.returncode)


def test_a_screen_asked_for_json_is_a_usage_error_document(isolated_home: Path) -> None:
    for argv in (("--json",), ("--json", "tui"), ("demo", "--json")):
        document = valid("failure.json", run_cli(*argv, home=isolated_home), 64)
        assert "prints no document" in document["diagnosis"]["cause"]
