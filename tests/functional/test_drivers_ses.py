"""The Amazon SES driver on botocore, against moto's server and scripted SES answers on 127.0.0.1.

moto (server mode, a child process) answers the sends, the identities, the
quota and, with IAM authentication switched on, unknown keys, wrong secrets
and missing permissions. What moto does not emulate is answered by a small
local HTTP server in SES v2's documented shape: the sandbox (a recipient that
is not verified), throttling, GetAccount (sandbox, sending enabled, quota) and
a request signed for another region than the endpoint's.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.aws_servers import MotoServer, moto_server, ses_error, ses_json
from tests.support.cli_helpers import config_path, run_cli
from tests.support.events import outcome_of, transcript
from tests.support.http_servers import ScriptedHttp, Seen, scripted_http
from tui_mailsetup.drivers.base import ChecksAccount
from tui_mailsetup.drivers.ses import SesDriver
from tui_mailsetup.drivers.ses_credentials import credential_hint, looks_like_smtp_password
from tui_mailsetup.engine.events import Event, Stage, StageFinished
from tui_mailsetup.findings import Severity
from tui_mailsetup.message import build_test_message
from tui_mailsetup.settings import MailSettings
from tui_mailsetup.validation import validate

pytest.importorskip("botocore", reason="the aws extra (botocore) is not installed")

SENDER = "licensing@acme.example"
RECIPIENT = "bob@example.com"
ENV_SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
# An SES SMTP password has 44 characters and starts with "B" (version byte 4).
SMTP_PASSWORD = "BKmaXr4yRjwS2PZs+1RmI1bO7f0ky8ZsM4mDnQ1qJ1uE"


@pytest.fixture(scope="module")
def moto_process() -> Iterator[MotoServer]:
    with moto_server() as server:
        yield server


@pytest.fixture
def moto(moto_process: MotoServer) -> Iterator[MotoServer]:
    moto_process.reset()
    yield moto_process
    moto_process.iam_auth(False)


@pytest.fixture(autouse=True)
def aws_env(monkeypatch: pytest.MonkeyPatch, isolated_home: Path) -> Path:
    """No AWS variable from outside; never instance metadata (169.254.169.254 is not loopback)."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    return isolated_home


def settings_for(endpoint_url: str, region: str = "eu-west-1", **ses: Any) -> MailSettings:
    return MailSettings.model_validate(
        {
            "driver": "ses",
            "ses": {"region": region, "endpoint_url": endpoint_url, **ses},
            "sender": {"name": "Acme", "address": SENDER},
        }
    )


async def run(
    settings: MailSettings,
    secret: str | None = None,
    *,
    to: str = RECIPIENT,
    check: bool = False,
) -> tuple[list[Event], SesDriver]:
    driver = SesDriver(settings, secret)
    message = build_test_message(settings, [to])
    events = [e async for e in driver.send(message, [to], stop_after=Stage.AUTH if check else None)]
    return events, driver


def text_of(events: list[Event]) -> str:
    return "\n".join(line.text for line in transcript(events))


def env_credentials(monkeypatch: pytest.MonkeyPatch, key: str, secret: str) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)


# --------------------------------------------------------------------------- the credential chain


async def test_send_with_credentials_from_the_environment(
    moto: MotoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    moto.verify("acme.example")
    env_credentials(monkeypatch, "AKIAENVIRONMENT0001", ENV_SECRET)
    events, _ = await run(settings_for(moto.url))
    outcome = outcome_of(events)
    assert outcome.ok, outcome
    assert moto.sent() > 0
    text = text_of(events)
    assert (
        "credentials: the environment (AWS_ACCESS_KEY_ID), access key AKIAENVIRONMENT0001" in text
    )
    assert "POST " + moto.url + "/v2/email/outbound-emails" in text
    assert "Signature=[redacted]" in text
    assert ENV_SECRET not in text


async def test_send_with_a_named_profile_over_the_environment(
    moto: MotoServer, monkeypatch: pytest.MonkeyPatch, aws_env: Path
) -> None:
    moto.verify("acme.example")
    key, secret = moto.iam_user("mailer", allow=["ses:*"])
    aws = aws_env / ".aws"
    aws.mkdir()
    (aws / "credentials").write_text(
        f"[mailer]\naws_access_key_id = {key}\naws_secret_access_key = {secret}\n"
    )
    # The environment has other keys, which moto does not know: ses.profile
    # must win over them (as --profile does), or IAM authentication fails.
    env_credentials(monkeypatch, "AKIAUNKNOWNKEY000001", ENV_SECRET)
    moto.iam_auth(True)
    settings = settings_for(moto.url, profile="mailer")
    events, _ = await run(settings)
    outcome = outcome_of(events)
    assert outcome.ok, outcome
    text = text_of(events)
    assert f"credentials: profile mailer (credentials file), access key {key}" in text
    assert secret not in text
    assert credential_hint(settings, secret_present=False).text == (
        "profile mailer (credentials file)"
    )
    moto.iam_auth(False)
    assert moto.sent() > 0


async def test_send_with_container_credentials(
    moto: MotoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    moto.verify(SENDER)
    with scripted_http() as agent:
        agent.reply = ses_json(
            {
                "AccessKeyId": "ASIACONTAINER0000001",
                "SecretAccessKey": "container-secret-value-0123456789abcdefgh",
                "Token": "container-session-token",
                "Expiration": "2099-01-01T00:00:00Z",
            }
        )
        monkeypatch.setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", agent.url + "/v2/credentials/abc")
        monkeypatch.setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "agent-token")
        events, _ = await run(settings_for(moto.url))
    outcome = outcome_of(events)
    assert outcome.ok, outcome
    [request] = agent.seen
    assert request.path == "/v2/credentials/abc"
    assert request.headers["Authorization"] == "agent-token"
    text = text_of(events)
    assert "the container credentials endpoint (ECS/EKS role)" in text
    assert "access key ASIACONTAINER0000001" in text
    assert "X-Amz-Security-Token: [redacted]" in text
    for secret in ("container-secret-value", "container-session-token", "agent-token"):
        assert secret not in text
    assert moto.sent() > 0


async def test_explicit_keys_in_the_settings_still_work(moto: MotoServer) -> None:
    moto.verify("acme.example")
    key, secret = moto.iam_user("explicit", allow=["ses:SendEmail", "ses:SendRawEmail"])
    moto.iam_auth(True)
    events, _ = await run(settings_for(moto.url, access_key_id=key), secret)
    outcome = outcome_of(events)
    assert outcome.ok, outcome
    assert "ses.access_key_id and ses.secret_access_key" in text_of(events)


async def test_no_credentials_anywhere_is_a_configuration_error(moto: MotoServer) -> None:
    events, _ = await run(settings_for(moto.url))
    outcome = outcome_of(events)
    assert int(outcome.exit_code) == 78
    assert outcome.diagnosis is not None
    assert outcome.diagnosis.cause == "No AWS credentials were found"
    # validation says the same thing before anything is sent
    findings = validate(settings_for(moto.url), secret_sources={"ses.secret_access_key": None})
    assert "ses-credentials-none" in {f.code for f in findings if f.severity is Severity.ERROR}


async def test_a_missing_profile_is_a_configuration_error(moto: MotoServer) -> None:
    settings = settings_for(moto.url, profile="nosuch")
    outcome = outcome_of((await run(settings))[0])
    assert int(outcome.exit_code) == 78
    assert outcome.diagnosis is not None and "'nosuch' does not exist" in outcome.diagnosis.cause
    findings = validate(settings, secret_sources={"ses.secret_access_key": None})
    assert [f.field for f in findings if f.severity is Severity.ERROR] == ["ses.profile"]


# --------------------------------------------------------------------------- diagnoses (moto)


async def test_unverified_sender(moto: MotoServer, monkeypatch: pytest.MonkeyPatch) -> None:
    env_credentials(monkeypatch, "AKIAENVIRONMENT0001", ENV_SECRET)
    outcome = outcome_of((await run(settings_for(moto.url)))[0])
    assert not outcome.ok
    assert int(outcome.exit_code) == 77
    diagnosis = outcome.diagnosis
    assert diagnosis is not None
    assert diagnosis.cause == f"The sender {SENDER} is not a verified identity in SES (eu-west-1)"
    assert "create-email-identity --email-identity acme.example --region eu-west-1" in (
        diagnosis.explanation
    )


async def test_sender_verified_in_another_region(
    moto: MotoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    moto.verify("acme.example", region="us-west-2")
    env_credentials(monkeypatch, "AKIAENVIRONMENT0001", ENV_SECRET)
    outcome = outcome_of((await run(settings_for(moto.url)))[0])
    assert int(outcome.exit_code) == 78
    diagnosis = outcome.diagnosis
    assert diagnosis is not None
    assert diagnosis.cause == f"The sender {SENDER} is verified in us-west-2, not in eu-west-1"
    assert diagnosis.fix is not None and diagnosis.fix.changes == {"ses.region": "us-west-2"}


async def test_unknown_access_key(moto: MotoServer, monkeypatch: pytest.MonkeyPatch) -> None:
    moto.verify("acme.example")
    moto.iam_auth(True)
    env_credentials(monkeypatch, "AKIAUNKNOWNKEY000001", ENV_SECRET)
    outcome = outcome_of((await run(settings_for(moto.url)))[0])
    assert int(outcome.exit_code) == 77
    assert outcome.diagnosis is not None
    assert outcome.diagnosis.cause == "AWS rejected the credentials: the access key ID is not valid"
    assert "InvalidClientTokenId" in outcome.diagnosis.evidence
    assert "AKIAUNKNOWNKEY000001" in outcome.diagnosis.explanation


async def test_wrong_secret_is_a_signature_mismatch(
    moto: MotoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    moto.verify("acme.example")
    key, _secret = moto.iam_user("mailer", allow=["ses:*"])
    moto.iam_auth(True)
    env_credentials(monkeypatch, key, ENV_SECRET)
    outcome = outcome_of((await run(settings_for(moto.url)))[0])
    assert int(outcome.exit_code) == 77
    assert outcome.diagnosis is not None
    assert outcome.diagnosis.cause == "AWS rejected the signature: the secret access key is wrong"
    assert "SignatureDoesNotMatch" in outcome.diagnosis.evidence


async def test_smtp_password_given_as_the_secret_key(
    moto: MotoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    moto.verify("acme.example")
    key, _secret = moto.iam_user("mailer", allow=["ses:*"])
    moto.iam_auth(True)
    settings = settings_for(moto.url, access_key_id=key, secret_access_key=SMTP_PASSWORD)
    outcome = outcome_of((await run(settings, SMTP_PASSWORD))[0])
    assert int(outcome.exit_code) == 77
    assert outcome.diagnosis is not None
    assert "SES SMTP password" in outcome.diagnosis.explanation
    assert "ses-smtp-password" in {f.code for f in validate(settings)}
    assert looks_like_smtp_password(SMTP_PASSWORD) and not looks_like_smtp_password(ENV_SECRET)


async def test_missing_permission(moto: MotoServer, monkeypatch: pytest.MonkeyPatch) -> None:
    moto.verify("acme.example")
    key, secret = moto.iam_user("reader", allow=["ses:GetAccount"])
    moto.iam_auth(True)
    env_credentials(monkeypatch, key, secret)
    outcome = outcome_of((await run(settings_for(moto.url)))[0])
    assert int(outcome.exit_code) == 77
    diagnosis = outcome.diagnosis
    assert diagnosis is not None
    assert diagnosis.cause.startswith("The IAM identity is not allowed to send with SES")
    assert "ses:SendRawEmail" in diagnosis.explanation


# --------------------------------------------------------------------------- diagnoses (scripted SES answers)


@pytest.fixture
def ses_api(monkeypatch: pytest.MonkeyPatch, http_api: ScriptedHttp) -> ScriptedHttp:
    env_credentials(monkeypatch, "AKIAENVIRONMENT0001", ENV_SECRET)
    return http_api


async def test_sandbox_recipient(ses_api: ScriptedHttp) -> None:
    ses_api.reply = ses_error(
        400,
        "MessageRejected",
        "Email address is not verified. The following identities failed the check in region "
        f"EU-WEST-1: {RECIPIENT}",
    )
    outcome = outcome_of((await run(settings_for(ses_api.url)))[0])
    assert int(outcome.exit_code) == 67
    diagnosis = outcome.diagnosis
    assert diagnosis is not None
    assert diagnosis.cause == (
        f"The SES account is in the sandbox (eu-west-1): the recipient {RECIPIENT} is not verified"
    )
    assert "request production access" in diagnosis.explanation


async def test_a_secret_key_quoted_back_is_masked(ses_api: ScriptedHttp) -> None:
    """An endpoint (or a proxy in front of it) that quotes the secret key or a prefix of it:
    neither the transcript nor the verdict shows it."""
    ses_api.reply = ses_error(
        403,
        "SignatureDoesNotMatch",
        f"The request signature we calculated does not match. Secret used: {ENV_SECRET}; "
        f"prefix {ENV_SECRET[:16]}",
    )
    events, _ = await run(settings_for(ses_api.url))
    outcome = outcome_of(events)
    assert not outcome.ok
    assert outcome.diagnosis is not None
    shown = "\n".join(
        [
            text_of(events),
            outcome.diagnosis.cause,
            outcome.diagnosis.evidence,
            outcome.diagnosis.explanation,
        ]
    )
    assert "Secret used: ********" in shown
    assert ENV_SECRET not in shown and ENV_SECRET[:16] not in shown


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("TooManyRequestsException", "Maximum sending rate exceeded."),
        ("ThrottlingException", "Rate exceeded"),
    ],
)
async def test_throttling(ses_api: ScriptedHttp, code: str, message: str) -> None:
    ses_api.reply = ses_error(429, code, message)
    outcome = outcome_of((await run(settings_for(ses_api.url)))[0])
    assert int(outcome.exit_code) == 75
    assert outcome.diagnosis is not None and "maximum send rate" in outcome.diagnosis.cause
    assert outcome.diagnosis.retry_after is not None
    assert len(ses_api.seen) == 1  # no retries behind the user's back


async def test_region_scoped_signature(ses_api: ScriptedHttp) -> None:
    ses_api.reply = ses_error(
        403,
        "InvalidSignatureException",
        "Credential should be scoped to a valid region, not 'eu-west-1'. Expecting 'us-east-2'",
    )
    outcome = outcome_of((await run(settings_for(ses_api.url)))[0])
    assert int(outcome.exit_code) == 78
    assert outcome.diagnosis is not None and outcome.diagnosis.fix is not None
    assert outcome.diagnosis.fix.changes == {"ses.region": "us-east-2"}


async def test_expired_token(ses_api: ScriptedHttp) -> None:
    ses_api.reply = ses_error(
        403, "ExpiredTokenException", "The security token included in the request is expired"
    )
    outcome = outcome_of((await run(settings_for(ses_api.url)))[0])
    assert int(outcome.exit_code) == 77
    assert outcome.diagnosis is not None and "expired" in outcome.diagnosis.cause


# --------------------------------------------------------------------------- check


def _account_and_identity(seen: Seen) -> tuple[int, dict[str, str], bytes]:
    if seen.path == "/v2/email/account":
        return ses_json(
            {
                "SendingEnabled": True,
                "ProductionAccessEnabled": False,
                "EnforcementStatus": "HEALTHY",
                "SendQuota": {"Max24HourSend": 200.0, "MaxSendRate": 1.0, "SentLast24Hours": 3.0},
            }
        )
    if seen.path == "/v2/email/identities/acme.example":
        return ses_json(
            {
                "IdentityType": "DOMAIN",
                "VerifiedForSendingStatus": True,
                "DkimAttributes": {"SigningEnabled": True, "Status": "SUCCESS"},
            }
        )
    return ses_error(404, "NotFoundException", "identity not found")


async def test_check_reports_account_and_identity(ses_api: ScriptedHttp) -> None:
    ses_api.answer = _account_and_identity
    events, driver = await run(settings_for(ses_api.url), check=True)
    outcome = outcome_of(events)
    assert outcome.ok, outcome
    assert all(s.method == "GET" for s in ses_api.seen)  # nothing is sent
    text = text_of(events)
    assert "account: sandbox: only verified recipients" in text
    assert "sending enabled, sent 3 of 200 in the last 24 h, at most 1 per second" in text
    assert "identity: acme.example verified for sending, DKIM SUCCESS" in text
    assert driver.check_details["account"]["production"] is False
    assert driver.check_details["identity"] == {
        "identity": "acme.example",
        "type": "DOMAIN",
        "verified": True,
        "dkim": "SUCCESS",
        "dkim_signing": True,
    }
    [finished] = [e for e in events if isinstance(e, StageFinished)]
    assert "sandbox" in finished.detail
    assert isinstance(driver, ChecksAccount)


async def test_check_sending_disabled(ses_api: ScriptedHttp) -> None:
    ses_api.answer = lambda seen: (
        ses_json({"SendingEnabled": False, "ProductionAccessEnabled": True, "SendQuota": {}})
        if seen.path == "/v2/email/account"
        else _account_and_identity(seen)
    )
    outcome = outcome_of((await run(settings_for(ses_api.url), check=True))[0])
    assert int(outcome.exit_code) == 77
    assert outcome.diagnosis is not None and "disabled" in outcome.diagnosis.cause


async def test_check_against_moto(moto: MotoServer, monkeypatch: pytest.MonkeyPatch) -> None:
    # moto has no GetAccount: the check falls back on SES v1's GetSendQuota.
    moto.verify(SENDER)
    env_credentials(monkeypatch, "AKIAENVIRONMENT0001", ENV_SECRET)
    events, driver = await run(settings_for(moto.url), check=True)
    outcome = outcome_of(events)
    assert outcome.ok, outcome
    text = text_of(events)
    assert "sent 0 of 200 in the last 24 h" in text
    assert f"identity: {SENDER} verified for sending" in text
    assert driver.check_details["account"]["api"] == "ses GetSendQuota"
    assert moto.sent() == 0


async def test_check_hints_at_the_region_where_the_sender_is_verified(
    moto: MotoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    moto.verify("acme.example", region="ap-southeast-2")
    env_credentials(monkeypatch, "AKIAENVIRONMENT0001", ENV_SECRET)
    events, driver = await run(settings_for(moto.url), check=True)
    outcome = outcome_of(events)
    assert int(outcome.exit_code) == 78
    assert outcome.diagnosis is not None and outcome.diagnosis.fix is not None
    assert outcome.diagnosis.fix.changes == {"ses.region": "ap-southeast-2"}
    assert driver.check_details["identity"]["verified_in_other_regions"] == ["ap-southeast-2"]


# --------------------------------------------------------------------------- the command line


def _write_config(home: Path, endpoint_url: str, **ses: str) -> Path:
    from tui_mailsetup.config_file import write_values

    path = config_path(home)
    write_values(
        path,
        {
            "driver": "ses",
            "ses.region": "eu-west-1",
            "ses.endpoint_url": endpoint_url,
            "sender.address": SENDER,
            **{f"ses.{k}": v for k, v in ses.items()},
        },
    )
    return path


def test_send_test_and_show_from_the_command_line(
    moto: MotoServer, aws_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    moto.verify("acme.example")
    _write_config(aws_env, moto.url)
    env = {"AWS_ACCESS_KEY_ID": "AKIAENVIRONMENT0001", "AWS_SECRET_ACCESS_KEY": ENV_SECRET}
    sent = run_cli("send-test", "--to", RECIPIENT, home=aws_env, env=env)
    assert sent.returncode == 0, sent.stdout + sent.stderr
    assert "credentials: the environment (AWS_ACCESS_KEY_ID)" in sent.stdout
    assert ENV_SECRET not in sent.stdout + sent.stderr
    shown = run_cli("show", "--json", home=aws_env, env=env)
    assert shown.returncode == 0, shown.stderr
    assert shown.json()["ses_credentials"] == "the environment (AWS_ACCESS_KEY_ID)"
    human = run_cli("show", home=aws_env, env=env)
    assert "# ses credentials: the environment (AWS_ACCESS_KEY_ID)" in human.stdout
    failed = run_cli("send-test", "--json", home=aws_env, env={"AWS_ACCESS_KEY_ID": "AKIAX"})
    document = json.loads(failed.stdout)
    assert failed.returncode == 78 and document["ok"] is False


def test_without_botocore_the_message_names_the_extra(aws_env: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "block"
    (blocker / "botocore").mkdir(parents=True)
    (blocker / "botocore" / "__init__.py").write_text(
        'raise ImportError("No module named botocore (blocked by the test)")\n'
    )
    _write_config(aws_env, "http://127.0.0.1:9")
    paths = [str(blocker), os.environ.get("PYTHONPATH", "")]
    env = {
        "PYTHONPATH": os.pathsep.join(p for p in paths if p),
        "AWS_ACCESS_KEY_ID": "AKIAENVIRONMENT0001",
        "AWS_SECRET_ACCESS_KEY": ENV_SECRET,
    }
    result = run_cli("send-test", home=aws_env, env=env)
    assert result.returncode == 78, result.stdout + result.stderr
    assert "pip install 'tui-mailsetup[aws]'" in result.stderr  # the verdict
    assert "Traceback" not in result.stdout + result.stderr


def test_new_libraries_are_imported_only_by_their_driver() -> None:
    import subprocess

    script = """
import asyncio, sys
from tui_mailsetup.drivers import create_driver
from tui_mailsetup.settings import MailSettings
from tui_mailsetup.validation import validate
from tui_mailsetup.message import build_test_message
heavy = ("botocore", "boto3", "httpx")
def loaded():
    return sorted(m for m in heavy if m in sys.modules)
for driver in ("smtp", "sendmail", "mailgun", "ses"):
    settings = MailSettings.model_validate({"driver": driver, "sender": {"address": "a@example.com"}})
    validate(settings)
    create_driver(settings, "secret")
print("after building every driver:", loaded())
settings = MailSettings.model_validate({"driver": "mailgun", "mailgun": {"domain": "mg.example.com",
    "base_url": "http://127.0.0.1:9"}, "sender": {"address": "a@example.com"}})
driver = create_driver(settings, "key")
async def go():
    async for _ in driver.send(build_test_message(settings, ["b@example.com"]), ["b@example.com"]):
        pass
asyncio.run(go())
print("after a Mailgun send:", loaded())
"""
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "after building every driver: []",
        "after a Mailgun send: ['httpx']",
    ]


# --------------------------------------------------------------------------- more of the chain


def _instance_metadata(seen: Seen) -> tuple[int, dict[str, str], bytes]:
    """IMDSv2 as EC2 documents it: a token first, then the role and its credentials."""
    if seen.method == "PUT" and seen.path == "/latest/api/token":
        return (200, {"x-aws-ec2-metadata-token-ttl-seconds": "21600"}, b"imds-token")
    if seen.headers.get("x-aws-ec2-metadata-token") != "imds-token":
        return (401, {}, b"")
    if seen.path == "/latest/meta-data/iam/security-credentials/":
        return (200, {}, b"mail-role")
    if seen.path == "/latest/meta-data/iam/security-credentials/mail-role":
        return ses_json(
            {
                "Code": "Success",
                "AccessKeyId": "ASIAINSTANCEROLE0001",
                "SecretAccessKey": "instance-secret-0123456789abcdefghijklmn",
                "Token": "instance-session-token",
                "Expiration": "2099-01-01T00:00:00Z",
            }
        )
    return (404, {}, b"")


async def test_send_with_the_instance_role(
    moto: MotoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    moto.verify("acme.example")
    with scripted_http() as imds:
        imds.answer = _instance_metadata
        monkeypatch.delenv("AWS_EC2_METADATA_DISABLED")
        monkeypatch.setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", imds.url + "/")
        settings = settings_for(moto.url)
        # Offline, nothing else is found: the instance role is what is left.
        assert credential_hint(settings, secret_present=False).source == "instance-role"
        events, _ = await run(settings)
    outcome = outcome_of(events)
    assert outcome.ok, outcome
    text = text_of(events)
    assert (
        "credentials: the EC2 instance role (instance metadata), access key ASIAINSTANCEROLE0001"
        in text
    )
    assert "instance-secret" not in text and "instance-session-token" not in text
    assert moto.sent() > 0


def _write_sso_profile(home: Path, start_url: str, token_expires: str) -> None:
    import hashlib

    aws = home / ".aws"
    (aws / "sso" / "cache").mkdir(parents=True)
    (aws / "config").write_text(
        "[profile dev]\n"
        f"sso_start_url = {start_url}\n"
        "sso_region = eu-west-1\n"
        "sso_account_id = 123456789012\n"
        "sso_role_name = Mailer\n"
    )
    cache = aws / "sso" / "cache" / (hashlib.sha1(start_url.encode()).hexdigest() + ".json")
    cache.write_text(
        json.dumps(
            {
                "startUrl": start_url,
                "region": "eu-west-1",
                "accessToken": "sso-access-token",
                "expiresAt": token_expires,
            }
        )
    )


# botocore reads its SSO token cache directory from HOME once, when it is imported:
# the SSO tests run the command in a process of its own, as a user would.


def test_send_with_an_sso_profile(moto: MotoServer, aws_env: Path) -> None:
    moto.verify("acme.example")
    _write_sso_profile(aws_env, "https://acme.awsapps.example/start", "2099-01-01T00:00:00Z")
    _write_config(aws_env, moto.url, profile="dev")
    with scripted_http() as portal:
        # The SSO portal's GetRoleCredentials, as its API documents it.
        portal.reply = ses_json(
            {
                "roleCredentials": {
                    "accessKeyId": "ASIASSOROLE000000001",
                    "secretAccessKey": "sso-secret-0123456789abcdefghijklmnopq",
                    "sessionToken": "sso-session-token",
                    "expiration": 4102444800000,
                }
            }
        )
        result = run_cli("send-test", home=aws_env, env={"AWS_ENDPOINT_URL_SSO": portal.url})
    assert result.returncode == 0, result.stdout + result.stderr
    [request] = portal.seen
    assert request.path.startswith("/federation/credentials")
    assert request.headers["x-amz-sso_bearer_token"] == "sso-access-token"
    assert "credentials: SSO (profile dev), access key ASIASSOROLE000000001" in result.stdout
    for secret in ("sso-access-token", "sso-secret", "sso-session-token"):
        assert secret not in result.stdout + result.stderr
    shown = run_cli("show", "--json", home=aws_env)
    assert shown.json()["ses_credentials"] == "SSO (profile dev)"


def test_an_expired_sso_session_says_to_sign_in(moto: MotoServer, aws_env: Path) -> None:
    _write_sso_profile(aws_env, "https://acme.awsapps.example/start", "2001-01-01T00:00:00Z")
    _write_config(aws_env, moto.url, profile="dev")
    result = run_cli("send-test", "--json", home=aws_env)
    assert result.returncode == 77, result.stdout + result.stderr
    diagnosis = result.json()["diagnosis"]
    assert "SSO session of profile 'dev'" in diagnosis["cause"]
    assert "expired" in diagnosis["evidence"].lower()
    assert "aws sso login --profile dev" in diagnosis["explanation"]


@pytest.mark.parametrize(
    ("config", "credentials", "env", "expected"),
    [
        (
            "[profile ops]\nrole_arn = arn:aws:iam::1:role/x\nsource_profile = base\n",
            "",
            {},
            "assume-role",
        ),
        ("[profile ops]\ncredential_process = /bin/true\n", "", {}, "process"),
        (
            "[profile ops]\naws_access_key_id = AKIA1\naws_secret_access_key = s\n",
            "",
            {},
            "profile",
        ),
        ("", "[ops]\naws_access_key_id = AKIA1\naws_secret_access_key = s\n", {}, "profile"),
        ("", "[ops]\n", {"AWS_WEB_IDENTITY_TOKEN_FILE": "/t", "AWS_ROLE_ARN": "a"}, "web-identity"),
        ("", "[ops]\n", {"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "/v2/x"}, "container"),
    ],
)
def test_offline_hint_follows_the_chain(
    aws_env: Path, config: str, credentials: str, env: dict[str, str], expected: str
) -> None:
    aws = aws_env / ".aws"
    aws.mkdir()
    (aws / "config").write_text(config)
    (aws / "credentials").write_text(credentials)
    settings = settings_for("", profile="ops")
    environ = {"HOME": str(aws_env), "AWS_EC2_METADATA_DISABLED": "true", **env}
    hint = credential_hint(settings, secret_present=False, environ=environ)
    assert (hint.source, hint.problem) == (expected, "")


@pytest.mark.parametrize(
    ("ses", "secret", "env", "works"),
    [
        ({}, None, {}, False),
        ({"access_key_id": "AKIAEXPLICIT0000001"}, None, {}, False),
        ({}, ENV_SECRET, {}, False),
        ({"profile": "nosuch"}, None, {}, False),
        ({}, None, {"AWS_ACCESS_KEY_ID": "AKIAENV1", "AWS_SECRET_ACCESS_KEY": ENV_SECRET}, True),
        ({"access_key_id": "AKIAEXPLICIT0000001"}, ENV_SECRET, {}, True),
        ({}, ENV_SECRET, {"AWS_ACCESS_KEY_ID": "AKIAENV1"}, True),
    ],
)
async def test_validation_and_the_driver_agree_on_configured(
    moto: MotoServer,
    monkeypatch: pytest.MonkeyPatch,
    ses: dict[str, str],
    secret: str | None,
    env: dict[str, str],
    works: bool,
) -> None:
    moto.verify("acme.example")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = settings_for(moto.url, **ses)
    sources = {"ses.secret_access_key": "credentials-file" if secret else None}
    errors = [f for f in validate(settings, secret_sources=sources) if f.severity is Severity.ERROR]
    outcome = outcome_of((await run(settings, secret))[0])
    assert (not errors) is works, errors
    assert outcome.ok is works, outcome
    if not works:
        assert int(outcome.exit_code) == 78


def test_check_from_the_command_line(moto: MotoServer, aws_env: Path) -> None:
    moto.verify(SENDER)
    _write_config(aws_env, moto.url)
    env = {"AWS_ACCESS_KEY_ID": "AKIAENVIRONMENT0001", "AWS_SECRET_ACCESS_KEY": ENV_SECRET}
    result = run_cli("check", "--no-dns", home=aws_env, env=env)
    if "unrecognized arguments: --no-dns" in result.stderr:
        result = run_cli("check", home=aws_env, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "account: sandbox status unknown" in result.stdout  # moto has no GetAccount
    assert "sent 0 of 200 in the last 24 h" in result.stdout
    assert f"identity: {SENDER} verified for sending" in result.stdout
    assert "no message was sent" in result.stdout
    assert moto.sent() == 0
    as_json = run_cli("check", "--no-dns", "--json", home=aws_env, env=env)
    assert as_json.returncode == 0, as_json.stdout + as_json.stderr
    details = as_json.json()["driver_details"]  # what check learned, for scripts
    assert details["region"] == "eu-west-1"
    assert details["account"]["max_24_hour_send"] == 200.0
    assert details["identity"]["identity"] == SENDER and details["identity"]["verified"] is True
    assert moto.sent() == 0
    _write_config(aws_env, moto.url, region="us-east-1")
    moved = run_cli("check", "--json", home=aws_env, env=env)
    assert moved.returncode == 78, moved.stdout + moved.stderr
    diagnosis = moved.json()["diagnosis"]
    assert diagnosis["cause"] == f"The sender {SENDER} is verified in eu-west-1, not in us-east-1"
    assert diagnosis["fix_commands"] == ["tui-mailsetup set ses.region eu-west-1"]


def test_iam_keys_given_to_the_ses_smtp_interface() -> None:
    # The reverse mistake: the SMTP driver on SES's SMTP endpoint with IAM keys.
    # (A diagnosis from the reply alone: SES's host name cannot be served on loopback.)
    from tui_mailsetup.engine.diagnosis import from_reply

    settings = MailSettings.model_validate(
        {
            "smtp": {"host": "email-smtp.eu-west-1.amazonaws.com", "username": "AKIAEXAMPLE"},
            "sender": {"address": SENDER},
        }
    )
    diagnosis = from_reply(Stage.AUTH, 535, "Authentication Credentials Invalid", settings)
    assert diagnosis.cause == "Amazon SES refused the SMTP credentials"
    assert "not the IAM access key and secret key" in diagnosis.explanation
    assert int(diagnosis.exit_code) == 77
