"""The driver contract: one test body per rule, run against every driver.

Each driver gets a real counterpart on 127.0.0.1: SMTP an aiosmtpd sandbox
(STARTTLS + AUTH), Sendmail a fake binary that records what it was given,
Mailgun and SES the local HTTP fake of test_drivers_http, Graph the HTTPS Graph stand-in
and token endpoint of tests/oauth2_server.py. The rules:

* "configured" means the same to validation and to the driver: what validation
  accepts, the runner sends; what validation refuses for missing credentials,
  the runner refuses with the same cause, and the driver on its own refuses too;
* every failure found before the driver runs is an Outcome, and nothing is contacted;
* ``check`` (a ladder that stops early) never delivers a message.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.aws_servers import ses_json
from tests.support.http_servers import Reply, ScriptedHttp, Seen
from tests.support.oauth2_server import AuthServer, GraphApi
from tests.support.smtp_servers import LocalCA
from tui_mailsetup.config_file import LoadedConfig, load_config, write_values
from tui_mailsetup.drivers import create_driver
from tui_mailsetup.engine.events import Event, Outcome, Stage
from tui_mailsetup.exitcodes import ExitCode
from tui_mailsetup.findings import Severity
from tui_mailsetup.message import build_test_message
from tui_mailsetup.runner import run_test
from tui_mailsetup.sandbox import Sandbox
from tui_mailsetup.secrets import delete_secret, secret_sources, store_secret
from tui_mailsetup.validation import validate

DRIVERS = ["smtp", "sendmail", "mailgun", "ses", "graph"]
SENDER = {"sender.name": "Contract", "sender.address": "ops@acme.com"}
RECIPIENT = "dev@acme.com"
SECRET = "s3cret-Contract-value"

FAKE_SENDMAIL = """#!{python}
import json, sys
data = sys.stdin.buffer.read()
with open({record!r}, "a") as out:
    out.write(json.dumps({{"argv": sys.argv[1:], "size": len(data)}}) + "\\n")
"""


@dataclass
class Rig:
    """One driver, configured completely, and its counterpart."""

    driver: str
    config: Path
    deliveries: Callable[[], int]
    """Messages the counterpart received."""
    contacts: Callable[[], int]
    """Times the counterpart was contacted at all."""
    unconfigure: Callable[[], object]
    """Take away what the driver needs (its credentials; for Sendmail, its binary)."""

    def load(self) -> LoadedConfig:
        return load_config(self.config)


@pytest.fixture(params=DRIVERS)
def rig(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    http_api: ScriptedHttp,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Rig]:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    directory = tmp_path / "conf"
    directory.mkdir(mode=0o700)
    config = directory / "config.toml"
    driver: str = request.param
    if driver == "smtp":
        with Sandbox(mode="starttls", password=SECRET) as box:
            smtp = {f"smtp.{k}": v for k, v in box.smtp_settings().items()}
            write_values(config, {"driver": "smtp", **smtp, "smtp.timeout": 10, **SENDER})
            store_secret(config, "smtp.password", SECRET)
            yield Rig(
                driver,
                config,
                lambda: len(box.messages),
                lambda: len(box.auth_attempts) + len(box.messages),
                lambda: delete_secret(config, "smtp.password"),
            )
        return
    if driver == "sendmail":
        record = tmp_path / "sendmail.jsonl"
        binary = tmp_path / "sendmail"
        binary.write_text(FAKE_SENDMAIL.format(python=sys.executable, record=str(record)))
        binary.chmod(0o755)
        write_values(config, {"driver": "sendmail", "sendmail.path": str(binary), **SENDER})

        def runs() -> int:
            return len(record.read_text().splitlines()) if record.exists() else 0

        yield Rig(driver, config, runs, runs, binary.unlink)
        return
    if driver == "graph":
        ca = LocalCA(tmp_path)
        monkeypatch.setenv("SSL_CERT_FILE", str(ca.ca_path))
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(ca.ca_path))
        auth = AuthServer(ca, app_subject=SENDER["sender.address"]).start()
        graph = GraphApi(auth, ca, {SENDER["sender.address"]}).start()
        write_values(
            config,
            {
                "driver": "graph",
                "graph.endpoint": graph.url,
                "smtp.timeout": 10,
                "oauth2.flow": "client-credentials",
                "oauth2.tenant": "acme.com",
                "oauth2.client_id": auth.client_id,
                "oauth2.token_url": auth.token_url,
                **SENDER,
            },
        )
        store_secret(config, "oauth2.client_secret", auth.client_secret)
        try:
            yield Rig(
                driver,
                config,
                lambda: len(graph.sent),
                lambda: len(graph.requests) + len(auth.grants),
                lambda: delete_secret(config, "oauth2.client_secret"),
            )
        finally:
            graph.stop()
            auth.stop()
        return
    if driver == "mailgun":
        http_api.reply = (200, {}, b'{"id": "<1@mg>", "message": "Queued"}')
        write_values(
            config,
            {
                "driver": "mailgun",
                "mailgun.domain": "mg.acme.com",
                "mailgun.base_url": http_api.url,
                **SENDER,
            },
        )
        store_secret(config, "mailgun.api_key", "key-" + SECRET)
        key = "mailgun.api_key"
    else:
        http_api.answer = _ses_api
        write_values(
            config,
            {
                "driver": "ses",
                "ses.region": "eu-west-1",
                "ses.endpoint_url": http_api.url,
                "ses.access_key_id": "AKIDEXAMPLE",
                **SENDER,
            },
        )
        store_secret(config, "ses.secret_access_key", SECRET)
        key = "ses.secret_access_key"

    def deliveries() -> int:
        return sum(1 for seen in http_api.seen if seen.method == "POST")

    yield Rig(
        driver,
        config,
        deliveries,
        lambda: len(http_api.seen),
        lambda: delete_secret(config, key),
    )


def _ses_api(seen: Seen) -> Reply:
    """SES v2 as documented: the account and the sender's identity (read by check), sends."""
    if seen.path == "/v2/email/account":
        return ses_json(
            {
                "SendingEnabled": True,
                "ProductionAccessEnabled": True,
                "SendQuota": {"Max24HourSend": 50000.0, "MaxSendRate": 14.0, "SentLast24Hours": 0},
            }
        )
    if seen.path.startswith("/v2/email/identities/"):
        return ses_json({"IdentityType": "DOMAIN", "VerifiedForSendingStatus": True})
    return ses_json({"MessageId": "0102-abc"})


async def _run(rig: Rig, recipients: list[str] | None = None, **options: object) -> list[Event]:
    events: list[Event] = []
    await run_test(rig.load(), recipients, on_event=events.append, **options)  # type: ignore[arg-type]
    return events


def _outcome(events: list[Event]) -> Outcome:
    assert isinstance(events[-1], Outcome)
    return events[-1]


# --------------------------------------------------------------------------- the contracts


async def test_what_validation_accepts_the_runner_sends(rig: Rig) -> None:
    loaded = rig.load()
    errors = [
        f
        for f in validate(loaded.settings, secret_sources=secret_sources(loaded))
        if f.severity is Severity.ERROR
    ]
    assert errors == []
    outcome = _outcome(await _run(rig, [RECIPIENT]))
    assert outcome.ok and outcome.exit_code == ExitCode.OK, outcome.diagnosis
    assert rig.deliveries() == 1
    state = json.loads((rig.config.parent / "state.json").read_text())
    assert state["last_test"]["ok"] is True


async def test_missing_credentials_get_one_verdict(rig: Rig) -> None:
    rig.unconfigure()
    loaded = rig.load()
    findings = validate(loaded.settings, secret_sources=secret_sources(loaded))
    errors = [f for f in findings if f.severity is Severity.ERROR]
    assert errors, "validation must say what the driver lacks"
    first = errors[0]
    # The runner: the same verdict, the same cause, before any contact.
    outcome = _outcome(await _run(rig, [RECIPIENT]))
    assert outcome.exit_code == ExitCode.CONFIG and outcome.stage == Stage.CONFIG
    assert outcome.diagnosis is not None
    assert outcome.diagnosis.cause == f"{first.field}: {first.message}"
    assert rig.contacts() == 0
    # The driver on its own (no runner in front) refuses as well: it agrees on "configured".
    driver = create_driver(loaded.settings, None)
    message = build_test_message(loaded.settings, [RECIPIENT])
    alone = [event async for event in driver.send(message, [RECIPIENT])]
    assert not _outcome(alone).ok and _outcome(alone).exit_code == ExitCode.CONFIG
    assert rig.deliveries() == 0


async def test_a_bad_recipient_is_refused_before_the_driver(rig: Rig) -> None:
    outcome = _outcome(await _run(rig, ["alice @acme.com"]))
    assert outcome.exit_code == ExitCode.DATAERR and outcome.stage == Stage.RCPT
    assert outcome.diagnosis is not None and "never repaired" in outcome.diagnosis.explanation
    assert rig.contacts() == 0


async def test_check_never_delivers(rig: Rig) -> None:
    outcome = _outcome(await _run(rig, None, stop_after=Stage.AUTH, kind="check"))
    assert outcome.ok, outcome.diagnosis
    assert rig.deliveries() == 0


async def test_ses_credentials_from_the_aws_environment_agree(
    http_api: ScriptedHttp,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY: the driver sends with them, so validation
    (and `check --offline`, and the TUI) must not call the credentials missing."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    http_api.reply = (200, {}, b'{"MessageId": "0102-abc"}')
    config = tmp_path / "conf" / "config.toml"
    write_values(
        config,
        {"driver": "ses", "ses.region": "eu-west-1", "ses.endpoint_url": http_api.url, **SENDER},
    )
    loaded = load_config(config)
    findings = validate(loaded.settings, secret_sources=secret_sources(loaded))
    assert not [f for f in findings if f.severity is Severity.ERROR]
    events: list[Event] = []
    outcome = await run_test(loaded, [RECIPIENT], on_event=events.append)
    assert outcome.ok, outcome.diagnosis
    assert [seen.method for seen in http_api.seen] == ["POST"]


def test_check_offline_accepts_ses_credentials_from_the_aws_environment(tmp_path: Path) -> None:
    from tests.support.cli_helpers import run_cli

    config = tmp_path / "conf" / "config.toml"
    write_values(config, {"driver": "ses", "ses.region": "eu-west-1", **SENDER})
    aws = {"AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": SECRET}
    unset = {"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": ""}
    without = run_cli("--config", str(config), "check", "--offline", home=tmp_path, env=unset)
    # (conftest disables the EC2 metadata service, so nothing else could supply them)
    assert without.returncode == 78, without.stdout + without.stderr
    with_env = run_cli("--config", str(config), "check", "--offline", home=tmp_path, env=aws)
    assert with_env.returncode == 0, with_env.stdout + with_env.stderr
    assert SECRET not in with_env.stdout + with_env.stderr
