"""The MTA layer's pure parts: reasons diagnosed by the engine's rules, detection, refusals."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tui_mailsetup.cli import main
from tui_mailsetup.engine import diagnosis
from tui_mailsetup.engine.events import Stage
from tui_mailsetup.exitcodes import ExitCode
from tui_mailsetup.mta import MtaError, find_tool
from tui_mailsetup.mta.detect import detect
from tui_mailsetup.mta.reasons import msmtp_output, postfix_reason
from tui_mailsetup.settings import MailSettings

SETTINGS = MailSettings(
    smtp={"host": "smtp.example.com", "port": 587, "encryption": "starttls", "username": "alice"},
    sender={"address": "alice@example.com"},
)


@pytest.mark.parametrize(
    ("reason", "stage", "code"),
    [
        (
            "SASL authentication failed; server smtp.example.com[192.0.2.1] said: 535 5.7.8 "
            "Authentication credentials invalid",
            Stage.AUTH,
            535,
        ),
        (
            "host smtp.example.com[192.0.2.1] said: 550 5.1.1 <x@example.org>: no such user "
            "(in reply to RCPT TO command)",
            Stage.RCPT,
            550,
        ),
        (
            "host smtp.example.com[192.0.2.1] said: 451 4.7.1 Rate limit exceeded, try again "
            "in 10 minutes (in reply to end of DATA command)",
            Stage.DATA,
            451,
        ),
        (
            "host smtp.example.com[192.0.2.1] said: 554 5.7.1 Access denied (in reply to MAIL "
            "FROM command)",
            Stage.MAIL,
            554,
        ),
        (
            "host smtp.example.com[192.0.2.1] refused to talk to me: 554 5.7.1 blocked",
            Stage.GREETING,
            554,
        ),
    ],
)
def test_postfix_replies_are_diagnosed_exactly_as_the_engine_would(
    reason: str, stage: Stage, code: int
) -> None:
    ours = postfix_reason(reason, SETTINGS)
    reply = reason.split(f"{code} ", 1)[1].split(" (in reply to")[0]
    engine = diagnosis.from_reply(
        stage, code, reply, SETTINGS, authenticated=stage not in (Stage.AUTH, Stage.GREETING)
    )
    assert (ours.stage, ours.cause, ours.exit_code) == (
        engine.stage,
        engine.cause,
        engine.exit_code,
    )
    assert ours.evidence == engine.evidence


def test_postfix_reasons_without_a_reply() -> None:
    refused = postfix_reason(
        "connect to smtp.example.com[192.0.2.1]:587: Connection refused", SETTINGS
    )
    assert refused.stage is Stage.CONNECT and refused.exit_code is ExitCode.UNAVAILABLE
    assert "refused" in refused.cause
    timed_out = postfix_reason(
        "delivery temporarily suspended: connect to smtp.example.com[192.0.2.1]:25: "
        "Connection timed out",
        SETTINGS,
    )
    assert timed_out.exit_code is ExitCode.TEMPFAIL and "timed out" in timed_out.cause
    no_tls = postfix_reason(
        "TLS is required, but was not offered by host smtp.example.com[192.0.2.1]", SETTINGS
    )
    assert no_tls.stage is Stage.STARTTLS and no_tls.exit_code is ExitCode.PROTOCOL
    cert = postfix_reason("Server certificate not verified", SETTINGS)
    assert cert.exit_code is ExitCode.PROTOCOL and "certificate" in cert.cause
    mechanisms = postfix_reason(
        "SASL authentication failed; cannot authenticate to server smtp.example.com"
        "[192.0.2.1]: no mechanism available",
        SETTINGS,
    )
    assert "libsasl2-modules" in mechanisms.explanation
    dropped = postfix_reason(
        "lost connection with smtp.example.com[192.0.2.1] while receiving the initial server "
        "greeting",
        SETTINGS,
    )
    assert dropped.stage is Stage.GREETING and dropped.exit_code is ExitCode.TEMPFAIL
    hostile = postfix_reason("something new \x1b[31mred\x07", SETTINGS)
    assert "\x1b" not in hostile.evidence and "\x07" not in hostile.evidence


def test_msmtp_complaints_are_diagnosed() -> None:
    auth = msmtp_output(
        "msmtp: authentication failed (method PLAIN)\n"
        "msmtp: server message: 535 5.7.8 Authentication credentials invalid\n"
        "msmtp: could not send mail (account default from /etc/msmtprc)\n",
        77,
        SETTINGS,
    )
    assert auth.stage is Stage.AUTH and auth.exit_code is ExitCode.NOPERM
    assert auth.cause.startswith("Authentication failed")
    rcpt = msmtp_output(
        "msmtp: recipient address x@example.org not accepted by the server\n"
        "msmtp: server message: 550 5.1.1 no such user\n",
        65,
        SETTINGS,
    )
    assert rcpt.stage is Stage.RCPT and rcpt.exit_code is ExitCode.NOUSER
    refused = msmtp_output(
        "msmtp: cannot connect to smtp.example.com, port 587: Connection refused\n", 69, SETTINGS
    )
    assert refused.stage is Stage.CONNECT and refused.exit_code is ExitCode.UNAVAILABLE


def test_detect_names_the_program_behind_a_sendmail_link(tmp_path: Path) -> None:
    for program, expected in (("msmtp", "msmtp"), ("exim4", "exim"), ("smtpctl", "opensmtpd")):
        target = tmp_path / program
        target.write_text("#!/bin/sh\n")
        link = tmp_path / f"sendmail-{program}"
        link.symlink_to(target)
        provider = detect(link)
        assert provider.name == expected, program
        assert provider.resolved == target
    missing = detect(tmp_path / "no-sendmail")
    assert missing.name is None and missing.label == "none"


def test_a_missing_tool_names_the_debian_package() -> None:
    with pytest.raises(MtaError) as caught:
        find_tool("no-such-mta-tool-xyz", "some-package")
    assert "apt-get install some-package" in str(caught.value)
    assert caught.value.exit_code is ExitCode.UNAVAILABLE


def test_status_without_any_sendmail(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["mta", "status", "--json", "--sendmail", str(tmp_path / "nothing")])
    assert code == 0
    document = json.loads(capsys.readouterr().out)
    assert document["installed"] is False and document["mta"]["name"] is None


@pytest.mark.parametrize(
    "args",
    [
        ["mta", "apply", "--mta", "msmtp"],
        ["mta", "revert", "--mta", "msmtp"],
    ],
)
def test_changes_are_refused_when_not_root(
    args: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    if find_tool_or_none("msmtp") is None:
        pytest.skip("msmtp is not installed")
    config = tmp_path / "c.toml"
    config.write_text('[smtp]\nhost = "127.0.0.1"\nport = 2525\n[sender]\naddress = "a@b.test"\n')
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    code = main(["--config", str(config), *args, "--config-dir", str(tmp_path)])
    assert code == ExitCode.NOPERM
    assert "run it as root" in capsys.readouterr().err
    assert not (tmp_path / "msmtprc").exists()


def find_tool_or_none(name: str) -> str | None:
    try:
        return find_tool(name, name)
    except MtaError:
        return None


def test_other_mtas_relays_are_shown_without_their_credentials(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tui_mailsetup.mta import others

    remotes = tmp_path / "remotes"
    remotes.write_text(
        "# nullmailer\nsmtp.example.com smtp --port=587 --starttls --user=alice --pass=hunter2\n"
    )
    smtpd = tmp_path / "smtpd.conf"
    smtpd.write_text(
        'action "relay" relay host smtp+tls://alice:hunter2@smtp.example.com:587 auth <secrets>\n'
    )
    exim_conf = tmp_path / "update-exim4.conf.conf"
    exim_conf.write_text(
        "dc_eximconfig_configtype='satellite'\ndc_smarthost='smtp.example.com::587'\n"
    )
    monkeypatch.setattr(others, "NULLMAILER_REMOTES", remotes)
    monkeypatch.setattr(others, "SMTPD_CONF", smtpd)
    monkeypatch.setattr(others, "EXIM_DEBCONF", exim_conf)
    nullmailer = others.nullmailer_relay()
    assert "smtp.example.com" in nullmailer["remotes"] and "--user=alice" in nullmailer["remotes"]
    opensmtpd = others.opensmtpd_relay()
    assert "smtp.example.com:587" in opensmtpd["relay"]
    exim = others.exim_relay()
    assert exim["dc_eximconfig_configtype"] == "satellite"
    assert exim["dc_smarthost"] == "smtp.example.com::587"
    assert "hunter2" not in str(nullmailer) + str(opensmtpd)


def test_the_log_is_read_from_where_it_was_when_following_began(tmp_path: Path) -> None:
    from tui_mailsetup.mta.follow import LogSource

    log = tmp_path / "maillog"
    log.write_text("old line\n")
    source = LogSource(log)
    assert source.new_lines() == []
    with log.open("a") as handle:
        handle.write("first\nsecond half")
    assert source.new_lines() == ["first"]
    with log.open("a") as handle:
        handle.write(" done\n")
    assert source.new_lines() == ["second half done"]
    assert LogSource(None).available is False


# --------------------------------------------------------------------------- apply's record


def _record_with_pending_change(config_dir: Path) -> tuple[Path, bytes, bytes]:
    from tui_mailsetup.mta import backup

    old, new = b"relayhost = [a.example]:587\n", b"relayhost = [b.example]:587\n"
    (config_dir / "main.cf").write_bytes(old)
    root = backup.backup_root(config_dir, "postfix")
    with backup.exclusive(root):
        record = backup.create(root, "postfix", {"main.cf": (old, 0o644, 0)})
        record.parameters = {"relayhost": backup.Parameter(None, "[a.example]:587")}
        record.files["main.cf"].pending = backup.store_object(record, new)
        record.pending_parameters = {"relayhost": backup.Parameter(None, "[b.example]:587")}
        backup.write_manifest(record)
    return root, old, new


@pytest.mark.parametrize("killed_after_the_rename", [True, False])
def test_a_change_killed_half_way_is_settled_by_what_main_cf_is(
    tmp_path: Path, killed_after_the_rename: bool
) -> None:
    from tui_mailsetup.mta import backup

    root, old, new = _record_with_pending_change(tmp_path)
    if killed_after_the_rename:
        (tmp_path / "main.cf").write_bytes(new)
    record = backup.load(root, "postfix", frozenset({"main.cf"}), frozenset({"relayhost"}))
    assert record is not None
    entry = record.files["main.cf"]
    assert entry.pending is None and record.pending_parameters is None
    assert entry.after == backup.sha256(new if killed_after_the_rename else old)
    host = "b" if killed_after_the_rename else "a"
    assert record.parameters["relayhost"].after == f"[{host}.example]:587"
    assert backup.states(record, tmp_path)["main.cf"] == (
        backup.RESTORE if killed_after_the_rename else backup.SAME
    )


@pytest.mark.parametrize("problem", ["group-writable", "symlink", "foreign-owner"])
def test_a_backup_record_others_could_change_is_refused(tmp_path: Path, problem: str) -> None:
    from tui_mailsetup.mta import backup

    root, _, _ = _record_with_pending_change(tmp_path)
    manifest = root / backup.RECORD / backup.MANIFEST
    if problem == "group-writable":
        (root / backup.RECORD).chmod(0o770)
    elif problem == "symlink":
        target = tmp_path / "elsewhere.json"
        target.write_bytes(manifest.read_bytes())
        manifest.unlink()
        manifest.symlink_to(target)
    else:
        if os.geteuid() != 0:
            pytest.skip("giving a file to another user needs root")
        os.chown(manifest, 65534, 65534)
    with pytest.raises(MtaError) as caught:
        backup.load(root, "postfix", frozenset({"main.cf"}), frozenset({"relayhost"}))
    assert caught.value.exit_code is ExitCode.CONFIG
    assert "it is not used and nothing was changed" in str(caught.value)
    assert "fix it with:" in str(caught.value)


def test_revert_never_writes_through_a_symlink_out_of_the_configuration_directory(
    tmp_path: Path,
) -> None:
    from tui_mailsetup.mta import backup

    config_dir, elsewhere = tmp_path / "postfix", tmp_path / "elsewhere"
    config_dir.mkdir()
    elsewhere.mkdir()
    (elsewhere / "passwd").write_text("root:x:0:0::/root:/bin/sh\n")
    (config_dir / "sasl_passwd").symlink_to(elsewhere / "passwd")
    (config_dir / "main.cf").symlink_to(config_dir / "main.cf.real")
    assert backup.inside(config_dir, "main.cf") == config_dir / "main.cf"
    with pytest.raises(MtaError) as caught:
        backup.inside(config_dir, "sasl_passwd")
    assert caught.value.exit_code is ExitCode.CONFIG
    assert "outside" in str(caught.value) and "nothing was changed" in str(caught.value)
