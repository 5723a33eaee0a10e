"""Provider-specific reply rules: Microsoft 365 (5.7.57, 5.7.139, 5.7.30), Amazon SES's SMTP
interface and Gmail (5.7.8, 5.7.9). They come before the generic rules, which would read
these replies as a plain authentication failure or refusal.

The codes themselves, and which hosts are SES's, are provider facts: they live in the
presets data (``[replies.*]``, ``[ses]``), read through :mod:`tui_mailsetup.presets`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tui_mailsetup.engine.diagnosis.common import Reply
from tui_mailsetup.engine.events import Diagnosis, Stage
from tui_mailsetup.exitcodes import ExitCode
from tui_mailsetup.fixes import Fix
from tui_mailsetup.settings import MailSettings

if TYPE_CHECKING:
    from tui_mailsetup.oauth2.providers import ProviderFacts


def _microsoft() -> ProviderFacts:
    # The provider facts live in the presets data; read only when an OAuth2 rule fires.
    from tui_mailsetup.oauth2.providers import provider_facts

    return provider_facts("microsoft")


def code(provider: str, meaning: str) -> str:
    """The provider's enhanced status code for ``meaning`` (the presets data, read on first use)."""
    from tui_mailsetup.presets import reply_code

    return reply_code(provider, meaning)


def microsoft_not_authenticated(stage: Stage, evidence: str, settings: MailSettings) -> Diagnosis:
    """Microsoft's 530 5.7.57: a message was offered without a successful AUTH."""
    return Diagnosis(
        stage=stage,
        cause="Microsoft 365 accepts mail on this port only after authentication "
        f"({code('microsoft', 'not_authenticated')})",
        evidence=evidence,
        explanation=(
            "smtp.office365.com is a submission service: every message needs AUTH first. Set "
            "smtp.username to the mailbox and sign in with OAuth2 (auth = xoauth2, "
            "`tui-mailsetup oauth2 login`); to send without authentication use a connector and "
            "the tenant's MX endpoint (…mail.protection.outlook.com, port 25) instead."
            if not settings.smtp.username
            else "The AUTH step did not succeed or was skipped; run `tui-mailsetup check` to see it."
        ),
        exit_code=ExitCode.NOPERM,
    )


def microsoft_auth_required(reply: Reply) -> Diagnosis | None:
    """Microsoft 5.7.57 (530): mail offered without a successful AUTH."""
    if code("microsoft", "not_authenticated") not in reply.text:
        return None
    return microsoft_not_authenticated(reply.stage, reply.evidence, reply.settings)


def microsoft_smtp_auth_disabled(reply: Reply) -> Diagnosis | None:
    """Microsoft 5.7.139: SMTP AUTH switched off for the tenant or mailbox."""
    if code("microsoft", "smtp_auth_disabled") not in reply.text:
        return None
    return Diagnosis(
        stage=reply.stage,
        cause="Microsoft 365 has SMTP AUTH disabled for this tenant or mailbox",
        evidence=reply.evidence,
        explanation=(
            "Microsoft 365 turns authenticated SMTP off by default. An administrator enables it "
            "for the mailbox (Microsoft 365 admin center: Active users → Mail → Manage email "
            "apps → Authenticated SMTP) or tenant-wide (Set-TransportConfig "
            "-SmtpClientAuthenticationDisabled $false); security defaults also block it. "
            "Where it must stay off, send through Microsoft Graph instead: driver = graph, "
            "with an app registration holding the Mail.Send application permission."
        ),
        exit_code=ExitCode.NOPERM,
    )


def microsoft_basic_auth_refused(reply: Reply) -> Diagnosis | None:
    """Microsoft 5.7.30: basic authentication (a password) is not accepted."""
    if code("microsoft", "basic_auth_refused") not in reply.text:
        return None
    return Diagnosis(
        stage=reply.stage,
        cause="Microsoft 365 does not accept basic authentication here",
        evidence=reply.evidence,
        explanation=(
            "Basic authentication (username and password) is disabled for this tenant (and "
            f"for every tenant from the end of {_microsoft().basic_auth_cutoff}); sign in with OAuth2: set "
            "auth = xoauth2 and oauth2.client_id, then run `tui-mailsetup oauth2 login` "
            "(or use a relay connector)."
        ),
        fix=Fix(
            "authenticate with OAuth2 (auth = xoauth2), then run tui-mailsetup oauth2 login",
            {"smtp.auth": "xoauth2", "oauth2.provider": "microsoft"},
        ),
        exit_code=ExitCode.NOPERM,
    )


def _is_ses_smtp_host(host: str) -> bool:
    from tui_mailsetup.presets import is_ses_smtp_host

    return is_ses_smtp_host(host)


def ses_smtp_credentials(reply: Reply) -> Diagnosis | None:
    """535 from Amazon SES's SMTP interface: IAM keys used where SMTP credentials belong."""
    if not (reply.stage == Stage.AUTH and reply.code == 535 and _is_ses_smtp_host(reply.smtp.host)):
        return None
    return Diagnosis(
        stage=reply.stage,
        cause="Amazon SES refused the SMTP credentials",
        evidence=reply.evidence,
        explanation=(
            "The SES SMTP interface needs SMTP credentials (created in the SES console "
            "for this region: a username like an access key ID and a 44-character "
            "password), not the IAM access key and secret key; SMTP credentials made "
            "for another region fail too. Create SMTP credentials for this region, or "
            "use the IAM keys with the API: tui-mailsetup set driver ses."
        ),
        exit_code=ExitCode.NOPERM,
    )


def gmail_app_password(reply: Reply) -> Diagnosis | None:
    """Gmail 535-5.7.8 (BadCredentials) or 534-5.7.9: the account password, not an app password."""
    text = reply.text
    if reply.stage != Stage.AUTH or not (
        (
            code("google", "bad_credentials") in text
            and ("google" in text or "gmail" in text or "badcredentials" in text)
        )
        or (reply.code == 534 and code("google", "stronger_sign_in") in text)
    ):
        return None
    return Diagnosis(
        stage=reply.stage,
        cause="Gmail rejected the password: an app password is needed",
        evidence=reply.evidence,
        explanation=(
            "Google accounts do not accept the normal account password over SMTP. Turn on "
            "2-Step Verification, create an app password (Google Account → Security → App "
            "passwords) and store it with: tui-mailsetup set-secret smtp.password"
        ),
        exit_code=ExitCode.NOPERM,
    )
