"""One rule for the URLs the HTTP drivers send credentials to (issue 21, item 6).

Every driver's URL setting is walked through validation (what ``check --offline`` and the
TUI's fields show), ``check --offline`` itself, the driver's own check before sending, and
the exports: each must give the same answer. A URL validation passes must not be refused by
the driver, and one the driver refuses must already be an error in validation.
"""

from __future__ import annotations

from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from tests.support.cli_helpers import config_path, run_cli
from tui_mailsetup.drivers.graph import GraphDriver
from tui_mailsetup.drivers.mailgun import MailgunDriver
from tui_mailsetup.drivers.ses_api import SesApi
from tui_mailsetup.endpoints import URL_KEYS_BY_DRIVER, url_problem
from tui_mailsetup.engine.events import Outcome
from tui_mailsetup.export import ExportError, ExportOptions, render
from tui_mailsetup.findings import Severity
from tui_mailsetup.settings import MailSettings
from tui_mailsetup.validation import evaluate

SENDER = {"name": "Acme", "address": "alerts@acme.example"}
BASE = {
    "mailgun": {"domain": "mg.acme.example"},
    "ses": {"region": "eu-west-1", "access_key_id": "AKIAIOSFODNN7EXAMPLE"},
    "graph": {"mailbox": "alerts@acme.example"},
}
SECRETS = {
    "mailgun": "key-123",
    "ses": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "graph": "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.access-token",
}

GOOD = [
    "https://api.example.com",
    "https://api.eu.mailgun.net/v3",
    "https://api.example.com:8443/",
    "http://127.0.0.1:1",
    "http://[::1]:8080",
    "http://localhost:8025",
]
BAD = [
    "http://api.example.com",  # the key in clear text to another machine: the case
    "http://10.0.0.5",
    "ftp://api.example.com",
    "https://",
    "api.mailgun.net",
    "https://user:hunter2@api.example.com",
    "https://api.example.com/ v3",
    "https://api.example.com/?x=1",
    "https://api.example.com:99999",
]
DRIVER_URLS = [(driver, key) for driver, keys in URL_KEYS_BY_DRIVER.items() for key in keys]


def settings_data(driver: str, key: str, url: str) -> dict[str, Any]:
    section, name = key.split(".")
    data: dict[str, Any] = {"driver": driver, "sender": SENDER}
    data[section] = {**BASE.get(section, {}), name: url}
    return data


def url_errors(driver: str, key: str, url: str) -> list[str]:
    settings, findings = evaluate(settings_data(driver, key, url), secret_sources={})
    assert settings is not None, "a URL is a string: the settings load whatever it is"
    return [f.message for f in findings if f.severity is Severity.ERROR and f.field == key]


def driver_refuses(driver: str, url: str, settings: MailSettings) -> bool:
    """The driver's own check before it sends anything."""
    if driver == "mailgun":
        problem = MailgunDriver(settings, SECRETS[driver])._problem()
    elif driver == "ses":
        problem = SesApi(settings, SECRETS[driver])._settings_problem()
    else:
        problem = GraphDriver(settings, SECRETS[driver])._problem()
    return problem is not None and problem.exit_code == 78


def expected_refusal(driver: str, url: str) -> bool:
    """BAD everywhere; Graph also takes only its root URL (the driver appends /v1.0/…)."""
    if url in BAD:
        return True
    path = url.split("://", 1)[1].partition("/")[2].rstrip("/")
    return driver == "graph" and path not in ("", "v1.0")


@pytest.mark.parametrize(("driver", "key"), DRIVER_URLS)
@pytest.mark.parametrize("url", GOOD + BAD)
def test_validation_and_driver_agree(driver: str, key: str, url: str) -> None:
    settings = MailSettings.model_validate(settings_data(driver, key, url))
    errors = url_errors(driver, key, url)
    refused = driver_refuses(driver, url, settings)
    assert bool(errors) == refused, (errors, refused)
    assert refused == expected_refusal(driver, url)
    # The password inside a URL is never repeated in the message.
    assert not any("hunter2" in message for message in errors)


@pytest.mark.parametrize(("driver", "key"), DRIVER_URLS)
@pytest.mark.parametrize("url", ["http://api.example.com", "https://user:hunter2@api.example.com"])
async def test_the_driver_refuses_before_sending(driver: str, key: str, url: str) -> None:
    """The send itself ends with 78 before any connection (these hosts are never contacted)."""
    from tui_mailsetup.drivers import create_driver

    settings = MailSettings.model_validate(settings_data(driver, key, url))
    secret = SECRETS[driver]
    events = [
        event
        async for event in create_driver(settings, secret).send(EmailMessage(), ["bob@example.com"])
    ]
    outcome = events[-1]
    assert isinstance(outcome, Outcome) and not outcome.ok
    assert outcome.exit_code == 78
    assert "hunter2" not in repr(events)


@pytest.mark.parametrize(("driver", "key"), DRIVER_URLS)
@pytest.mark.parametrize(
    ("url", "code"), [("https://api.example.com", 0), ("http://api.example.com", 78)]
)
def test_check_offline_agrees(tmp_path: Path, driver: str, key: str, url: str, code: int) -> None:
    home = tmp_path / "home"
    path = config_path(home)
    path.parent.mkdir(parents=True)
    section, name = key.split(".")
    extra = "\n".join(f'{k} = "{v}"' for k, v in BASE.get(section, {}).items())
    # Graph's token comes from [oauth2]: an app registration complete enough to validate.
    oauth2 = (
        '[oauth2]\nprovider = "microsoft"\nflow = "client-credentials"\n'
        'tenant = "acme.example"\nclient_id = "11111111-2222-3333-4444-555555555555"\n'
        if driver == "graph"
        else ""
    )
    path.write_text(
        f'driver = "{driver}"\n[sender]\nname = "Acme"\naddress = "alerts@acme.example"\n'
        f'[{section}]\n{extra}\n{name} = "{url}"\n{oauth2}'
    )
    result = run_cli(
        "check",
        "--offline",
        home=home,
        env={
            "MAILSETUP_MAILGUN__API_KEY": "key-123",
            "MAILSETUP_SES__SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            "MAILSETUP_OAUTH2__CLIENT_SECRET": "app-secret-value",
        },
    )
    assert result.returncode == code, result.stdout + result.stderr
    if code:
        assert key in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("driver", "key", "fmt"),
    [
        (driver, key, fmt)
        for driver, key in DRIVER_URLS
        # Graph exports only what an application speaking Graph can use.
        for fmt in (("env", "json") if driver == "graph" else ("env", "django", "json"))
    ],
)
def test_exports_refuse_what_the_driver_refuses(driver: str, key: str, fmt: str) -> None:
    settings = MailSettings.model_validate(settings_data(driver, key, "http://api.example.com"))
    with pytest.raises(ExportError, match=key):
        render(fmt, settings, ExportOptions())


@pytest.mark.parametrize(
    ("base_url", "region", "api_url", "host"),
    [
        ("", "us", "https://api.mailgun.net/v3", "api.mailgun.net"),
        ("", "eu", "https://api.eu.mailgun.net/v3", "api.eu.mailgun.net"),
        ("https://api.eu.mailgun.net", "eu", "https://api.eu.mailgun.net/v3", "api.eu.mailgun.net"),
        (
            "https://api.eu.mailgun.net/v3/",
            "eu",
            "https://api.eu.mailgun.net/v3",
            "api.eu.mailgun.net",
        ),
        ("http://127.0.0.1:8025", "us", "http://127.0.0.1:8025/v3", "127.0.0.1:8025"),
    ],
)
def test_mailgun_exports_name_the_api_the_driver_calls(
    base_url: str, region: str, api_url: str, host: str
) -> None:
    """django-anymail wants the versioned URL, Laravel the host: both from the driver's root."""
    settings = MailSettings.model_validate(
        {
            "driver": "mailgun",
            "sender": SENDER,
            "mailgun": {"domain": "mg.acme.example", "base_url": base_url, "region": region},
        }
    )
    django = render("django", settings, ExportOptions())
    assert f"'MAILGUN_API_URL': '{api_url}'" in django
    env = render("env", settings, ExportOptions())
    assert f"MAILGUN_ENDPOINT={host}" in env


def test_url_rule_spells_out_each_problem() -> None:
    assert url_problem("https://api.example.com") is None
    plain = url_problem("http://api.example.com", carries="the Mailgun API key")
    assert plain is not None and plain.plaintext and "Mailgun API key" in plain.message
    userinfo = url_problem("https://bob:hunter2@api.example.com")
    assert userinfo is not None and "hunter2" not in userinfo.message


def test_plain_http_offers_https_as_the_fix() -> None:
    _, findings = evaluate(settings_data("mailgun", "mailgun.base_url", "http://api.example.com"))
    finding = next(f for f in findings if f.field == "mailgun.base_url")
    assert finding.fix is not None
    assert finding.fix.changes == {"mailgun.base_url": "https://api.example.com"}
