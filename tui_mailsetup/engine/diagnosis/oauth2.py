"""OAuth2 (XOAUTH2, OAUTHBEARER): a bearer token refused at AUTH, with the provider's fix."""

from __future__ import annotations

import re

from tui_mailsetup.engine.diagnosis.common import evidence_of
from tui_mailsetup.engine.diagnosis.providers import _microsoft
from tui_mailsetup.engine.diagnosis.providers import code as provider_code
from tui_mailsetup.engine.diagnosis.replies import from_reply
from tui_mailsetup.engine.events import Diagnosis, Stage
from tui_mailsetup.exitcodes import ExitCode
from tui_mailsetup.fixes import Fix
from tui_mailsetup.sanitize import untrusted_text
from tui_mailsetup.settings import MailSettings, OAuth2Flow

_LOGIN_AGAIN = "run `tui-mailsetup oauth2 login` (a new sign-in), then test again"


def bearer_refused(
    code: int,
    message: str,
    settings: MailSettings,
    *,
    mechanism: str,
    server_error: dict[str, str] | None = None,
) -> Diagnosis:
    """An OAuth2 access token refused at AUTH (XOAUTH2/OAUTHBEARER), with the provider's fix."""
    stage = Stage.AUTH
    evidence = evidence_of(code, message)
    if server_error:
        evidence += " / decoded: " + ", ".join(f"{k}={v}" for k, v in server_error.items())
    text = message.lower()
    user = untrusted_text(settings.smtp.username)
    app_only = settings.oauth2.flow.value == "client-credentials"
    status = (server_error or {}).get("status", "")
    from tui_mailsetup.oauth2.providers import provider_facts

    gmail_scope = " ".join(provider_facts("google").default_scopes(OAuth2Flow.SERVICE_ACCOUNT))

    def refused(cause: str, explanation: str, fix: Fix | None = None) -> Diagnosis:
        return Diagnosis(
            stage=stage,
            cause=cause,
            evidence=evidence,
            explanation=explanation,
            fix=fix,
            exit_code=ExitCode.NOPERM,
        )

    smtp_auth_disabled = provider_code("microsoft", "smtp_auth_disabled")
    basic_auth_refused = provider_code("microsoft", "basic_auth_refused")
    token_refused = provider_code("microsoft", "token_refused")
    bad_credentials = provider_code("google", "bad_credentials")
    stronger_sign_in = provider_code("google", "stronger_sign_in")
    # Advice names the provider that is configured: a custom provider's 535 5.7.8 is not
    # Google's, and gets no Admin console or Exchange advice.
    provider = settings.oauth2.provider.value
    microsoft = provider == "microsoft"
    google = provider == "google"
    if microsoft and smtp_auth_disabled in text:
        return refused(
            "Microsoft 365 has SMTP AUTH disabled for this mailbox or tenant "
            f"(535 {smtp_auth_disabled})",
            "OAuth2 still needs SMTP AUTH switched on: Microsoft 365 admin center → Active users → "
            f"{user} → Mail → Manage email apps → Authenticated SMTP, or Set-CASMailbox -Identity "
            f"{user} -SmtpClientAuthenticationDisabled $false (security defaults also block it).",
        )
    if microsoft and basic_auth_refused in text:
        return refused(
            f"Microsoft 365 refused the login as basic authentication (550 {basic_auth_refused})",
            "The server did not take the credentials as an OAuth2 token. Check that smtp.auth is "
            "xoauth2 and that the token comes from `tui-mailsetup oauth2 token`.",
        )
    if microsoft and re.search(rf"\b{re.escape(token_refused)}\b", text):
        if app_only:
            return refused(
                f"Exchange Online refused the app-only token (535 {token_refused})",
                "The token is valid but Exchange does not let this app send as "
                f"{user}. Register the app's service principal in Exchange Online "
                "(New-ServicePrincipal -AppId CLIENT_ID -ObjectId ENTERPRISE_APP_OBJECT_ID), give "
                f"it the mailbox (Add-MailboxPermission -Identity {user} -User SERVICE_PRINCIPAL_ID "
                "-AccessRights FullAccess), grant SMTP.SendAsApp with admin consent, and make "
                "smtp.username the mailbox's address.",
            )
        return refused(
            f"Microsoft 365 refused the OAuth2 token (535 {token_refused} Authentication unsuccessful)",
            "Usual causes: the token expired or was revoked, smtp.username is not the mailbox "
            f"the token was issued for (sign in as {user}), the token lacks the SMTP.Send scope "
            f"(oauth2.scopes empty gives {' '.join(_microsoft().default_scopes(OAuth2Flow.DEVICE_CODE))}), or "
            f"SMTP AUTH is disabled for the mailbox. Fix: {_LOGIN_AGAIN}.",
        )
    if google and ((bad_credentials in text and code == 535) or "badcredentials" in text):
        return refused(
            f"Google refused the OAuth2 token (535-{bad_credentials})",
            f"The token has expired or was revoked, lacks the {gmail_scope} scope, or "
            f"was issued for another account than {user}. For a service account, the Admin "
            f"console must authorise its client ID for {gmail_scope} (domain-wide "
            f"delegation) and oauth2.user must be a mailbox in the domain. Otherwise: {_LOGIN_AGAIN}.",
        )
    if google and stronger_sign_in in text and code == 534:
        return refused(
            f"Google wants a stronger sign-in for this account (534-{stronger_sign_in})",
            "Google asks for an app password or OAuth2 here; with OAuth2 the token must be for "
            f"{user} with the {gmail_scope} scope. {_LOGIN_AGAIN}.",
        )
    if code == 535 or status in {"400", "401"}:
        scope = (server_error or {}).get("scope", "")
        unattended = settings.oauth2.flow is not OAuth2Flow.DEVICE_CODE
        return refused(
            "The server refused the OAuth2 access token"
            + (f" (status {status})" if status else f" ({code})"),
            "The token has expired or was revoked, or it lacks the scope the server wants"
            + (f" ({untrusted_text(scope)})" if scope else "")
            + f", or it was issued for another account than {user}. "
            + (
                f"Check with the {provider} provider that the app may send as {user} "
                "(its permissions and oauth2.scopes)."
                if unattended
                else f"Fix: {_LOGIN_AGAIN}."
            ),
        )
    return from_reply(stage, code, message, settings, mechanism=mechanism)
