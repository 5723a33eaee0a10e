"""The fixes an operator is given for the providers' OAuth2 replies and token-endpoint errors.

The reply texts are the providers' own; a loopback server cannot be Microsoft or Google,
so the pure diagnosis functions are called with them directly.
"""

from __future__ import annotations

import pytest

from tui_mailsetup.engine import diagnosis as diag
from tui_mailsetup.engine.events import Stage
from tui_mailsetup.engine.smtp import decode_bearer_error, describe_bearer_error, oauthbearer_encode
from tui_mailsetup.exitcodes import ExitCode
from tui_mailsetup.oauth2.errors import LoginRequired, token_endpoint_error
from tui_mailsetup.oauth2.providers import configuration_problems, endpoints
from tui_mailsetup.settings import MailSettings

USER = "alice@contoso.test"


def settings(**oauth2: object) -> MailSettings:
    return MailSettings(
        smtp={"host": "smtp.office365.com", "username": USER, "auth": "xoauth2"}, oauth2=oauth2
    )


@pytest.mark.parametrize(
    ("code", "message", "flow", "expected"),
    [
        (
            535,
            "5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Mailbox.",
            "device-code",
            "Set-CASMailbox",
        ),
        (
            535,
            "5.7.3 Authentication unsuccessful [SN4PR0601CA0002.namprd06.prod.outlook.com]",
            "device-code",
            "SMTP.Send",
        ),
        (
            535,
            "5.7.3 Authentication unsuccessful [SN4PR0601CA0002.namprd06.prod.outlook.com]",
            "client-credentials",
            "New-ServicePrincipal",
        ),
        (
            550,
            "5.7.30 Basic authentication is not supported for Client Submission.",
            "device-code",
            "oauth2 token",
        ),
        (
            535,
            "5.7.8 Username and Password not accepted. For more information, go to\n5.7.8  https://support.google.com/mail/?p=BadCredentials",
            "service-account",
            "Domain-wide delegation".lower(),
        ),
        (
            534,
            "5.7.9 Application-specific password required.",
            "device-code",
            "https://mail.google.com/",
        ),
    ],
)
def test_provider_replies_to_a_bearer_token(
    code: int, message: str, flow: str, expected: str
) -> None:
    provider = "google" if "5.7.8" in message or "5.7.9" in message else "microsoft"
    result = diag.bearer_refused(
        code, message, settings(flow=flow, provider=provider), mechanism="XOAUTH2"
    )
    assert result.stage is Stage.AUTH
    assert result.exit_code is ExitCode.NOPERM
    assert expected.lower() in (result.cause + " " + result.explanation).lower()
    assert message.split()[0] in result.evidence


@pytest.mark.parametrize(
    "message",
    [
        "5.7.8 Username and Password not accepted. For more information, go to\n5.7.8  "
        "https://support.google.com/mail/?p=BadCredentials",
        "5.7.3 Authentication unsuccessful [SN4PR0601CA0002.namprd06.prod.outlook.com]",
    ],
)
def test_a_custom_providers_refusal_gets_no_google_or_microsoft_advice(message: str) -> None:
    configured = settings(
        provider="custom", flow="client-credentials", client_id="c", scopes=["smtp"]
    )
    result = diag.bearer_refused(535, message, configured, mechanism="XOAUTH2")
    said = result.cause + " " + result.explanation
    for other in ("Google", "Microsoft", "Admin console", "Exchange", "Set-CASMailbox"):
        assert other not in said
    assert "custom" in said and result.exit_code is ExitCode.NOPERM


def test_microsoft_5_7_57_says_to_authenticate() -> None:
    result = diag.from_reply(
        Stage.MAIL,
        530,
        "5.7.57 Client not authenticated to send mail. Error: 535 5.7.139",
        MailSettings(smtp={"host": "smtp.office365.com"}),
    )
    assert "5.7.57" in result.cause
    assert "oauth2 login" in result.explanation
    assert result.exit_code is ExitCode.NOPERM


def test_password_refused_with_5_7_30_offers_oauth2() -> None:
    result = diag.from_reply(
        Stage.AUTH,
        550,
        "5.7.30 Basic authentication is not supported for Client Submission.",
        MailSettings(smtp={"host": "smtp.office365.com", "username": USER}),
        mechanism="LOGIN",
    )
    assert result.fix is not None
    assert result.fix.changes["smtp.auth"] == "xoauth2"
    assert "December 2026" in result.explanation


@pytest.mark.parametrize(
    ("error", "description", "expected", "exit_code", "login"),
    [
        (
            "invalid_client",
            "AADSTS7000215: Invalid client secret provided.",
            "set-secret oauth2.client_secret",
            ExitCode.NOPERM,
            False,
        ),
        (
            "invalid_client",
            "AADSTS7000222: The provided client secret keys are expired.",
            "create a new secret",
            ExitCode.NOPERM,
            False,
        ),
        (
            "unauthorized_client",
            "AADSTS700016: Application with identifier 'x' was not found",
            "oauth2.client_id",
            ExitCode.CONFIG,
            False,
        ),
        (
            "invalid_grant",
            "AADSTS65001: The user or administrator has not consented",
            "admin consent",
            ExitCode.NOPERM,
            False,
        ),
        (
            "invalid_grant",
            "AADSTS70008: The refresh token has expired due to inactivity.",
            "oauth2 login",
            ExitCode.NOPERM,
            True,
        ),
        ("consent_required", "", "consent", ExitCode.NOPERM, False),
        ("unauthorized_client", "", "Allow public client flows", ExitCode.CONFIG, False),
        ("invalid_client", "", "oauth2.client_id", ExitCode.NOPERM, False),
    ],
)
def test_token_endpoint_errors(
    error: str, description: str, expected: str, exit_code: ExitCode, login: bool
) -> None:
    failure = token_endpoint_error(error, description)
    assert expected in failure.fix
    assert failure.exit_code is exit_code
    assert isinstance(failure, LoginRequired) is login


def test_app_only_errors_explain_the_exchange_side() -> None:
    failure = token_endpoint_error("unauthorized_client", "", app_only=True)
    assert "Add-MailboxPermission" in failure.fix


def test_a_custom_providers_token_errors_get_no_vendor_advice() -> None:
    for error, description in (
        ("invalid_client", "AADSTS7000215: Invalid client secret provided."),
        ("unauthorized_client", ""),
        ("consent_required", ""),
    ):
        failure = token_endpoint_error(error, description, app_only=True, provider="custom")
        for vendor in ("Microsoft", "Google", "Exchange", "Entra", "Add-MailboxPermission"):
            assert vendor not in failure.cause.split(" — the server said")[0] + failure.fix
    assert "Exchange" in token_endpoint_error("consent_required", "", app_only=True).fix


def test_server_text_in_token_errors_is_neutralised() -> None:
    failure = token_endpoint_error("invalid_request", "bad\x1b[2Jthing\nnext")
    assert "\x1b" not in str(failure) and "\n" not in str(failure)


def test_bearer_error_challenge_is_decoded_and_oauthbearer_is_rfc7628() -> None:
    import base64

    challenge = base64.b64encode(b'{"status":"401","schemes":"bearer","scope":"s"}').decode()
    decoded = decode_bearer_error(challenge)
    assert decoded == {"status": "401", "schemes": "bearer", "scope": "s"}
    assert "status=401" in describe_bearer_error("XOAUTH2", decoded)
    assert "raw" in decode_bearer_error("not base64!")
    blob = base64.b64decode(oauthbearer_encode("a,b=c@x", "mail.test", 587, "TOKEN"))
    assert blob == b"n,a=a=2Cb=3Dc@x,\x01host=mail.test\x01port=587\x01auth=Bearer TOKEN\x01\x01"


def test_provider_defaults_per_flow() -> None:
    microsoft = endpoints(settings().oauth2)
    assert microsoft.scopes == ["https://outlook.office.com/SMTP.Send", "offline_access"]
    assert microsoft.token_url.endswith("/organizations/oauth2/v2.0/token")
    app = endpoints(settings(flow="client-credentials", tenant="contoso.test").oauth2)
    assert app.scopes == ["https://outlook.office365.com/.default"]
    assert "/contoso.test/" in app.token_url
    google = endpoints(settings(provider="google", flow="service-account").oauth2)
    assert google.scopes == ["https://mail.google.com/"]
    custom = settings(provider="custom", client_id="c", token_url="https://127.0.0.1/t").oauth2
    keys = [key for key, _ in configuration_problems(custom)]
    assert "oauth2.device_authorization_url" in keys and "oauth2.scopes" in keys
    needs_tenant = settings(flow="client-credentials", client_id="c").oauth2
    assert "oauth2.tenant" in [key for key, _ in configuration_problems(needs_tenant)]
