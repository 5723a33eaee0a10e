"""OAuth2 failures and what to do about them: token-endpoint errors (RFC 6749 §5.2,
RFC 8628 §3.5, Microsoft's AADSTS codes) mapped to a cause, an exit code and a fix."""

from __future__ import annotations

import re

from tui_mailsetup.exitcodes import ExitCode
from tui_mailsetup.sanitize import untrusted_text
from tui_mailsetup.secrets import SecretError

LOGIN_HINT = "run `tui-mailsetup oauth2 login`"


class OAuth2Error(SecretError):
    """The token could not be obtained. Never carries a token or a secret."""

    def __init__(
        self, cause: str, *, fix: str = "", exit_code: ExitCode = ExitCode.NOPERM, error: str = ""
    ) -> None:
        super().__init__(f"{cause}; {fix}" if fix else cause)
        self.cause = cause
        self.fix = fix
        self.exit_code = exit_code
        self.error = error


class LoginRequired(OAuth2Error):
    """No usable sign-in: a person has to run ``oauth2 login`` (exit 77)."""

    def __init__(self, cause: str) -> None:
        super().__init__(cause, fix=LOGIN_HINT, exit_code=ExitCode.NOPERM, error="login_required")


_AADSTS = re.compile(r"AADSTS(\d+)")

_EXCHANGE_APP_ONLY = (
    "For app-only SMTP, Exchange Online must also know the app: register its service principal "
    "(New-ServicePrincipal -AppId CLIENT_ID -ObjectId ENTERPRISE_APP_OBJECT_ID) and give it the "
    "mailbox (Add-MailboxPermission -Identity MAILBOX -User SERVICE_PRINCIPAL_ID -AccessRights "
    "FullAccess); the app needs the SMTP.SendAsApp application permission with admin consent."
)

# AADSTS code: (cause, fix, exit code). The codes an operator meets at the token endpoint.
_AADSTS_RULES: dict[str, tuple[str, str, ExitCode]] = {
    "7000215": (
        "Microsoft rejected the client secret (AADSTS7000215: wrong secret)",
        "copy the secret's Value (not its Secret ID) from Entra ID → App registrations → "
        "Certificates & secrets, then: tui-mailsetup set-secret oauth2.client_secret",
        ExitCode.NOPERM,
    ),
    "7000222": (
        "The client secret has expired (AADSTS7000222)",
        "create a new secret under App registrations → Certificates & secrets, then: "
        "tui-mailsetup set-secret oauth2.client_secret",
        ExitCode.NOPERM,
    ),
    "700016": (
        "The application was not found in the tenant (AADSTS700016)",
        "check oauth2.client_id (the Application (client) ID) and oauth2.tenant; a single-tenant "
        "app must be asked for in its own tenant",
        ExitCode.CONFIG,
    ),
    "65001": (
        "The user or an administrator has not consented to the app's permissions (AADSTS65001)",
        "grant admin consent for SMTP.Send (delegated) or SMTP.SendAsApp (app-only) under "
        "App registrations → API permissions, then run `tui-mailsetup oauth2 login` again",
        ExitCode.NOPERM,
    ),
    "7000218": (
        "The app is a confidential client but no secret was sent (AADSTS7000218)",
        "store the client secret (tui-mailsetup set-secret oauth2.client_secret), or turn on "
        "'Allow public client flows' for the device-code flow",
        ExitCode.CONFIG,
    ),
    "50059": (
        "No tenant was named and the account's cannot be guessed (AADSTS50059)",
        "set oauth2.tenant to the tenant ID or domain",
        ExitCode.CONFIG,
    ),
    "90002": (
        "The tenant does not exist (AADSTS90002)",
        "check oauth2.tenant (the tenant ID or a verified domain)",
        ExitCode.CONFIG,
    ),
    "70000": (
        "The sign-in is no longer valid (AADSTS70000: revoked or the grant is invalid)",
        LOGIN_HINT,
        ExitCode.NOPERM,
    ),
    "700082": (
        "The refresh token expired after a long time unused (AADSTS700082)",
        LOGIN_HINT,
        ExitCode.NOPERM,
    ),
}

# RFC 6749 §5.2 and RFC 8628 §3.5 error codes.
_ERROR_RULES: dict[str, tuple[str, str, ExitCode]] = {
    "invalid_client": (
        "The token endpoint rejected the client (invalid_client: unknown client ID, or a wrong "
        "or missing client secret)",
        "check oauth2.client_id and store the right secret: tui-mailsetup set-secret "
        "oauth2.client_secret",
        ExitCode.NOPERM,
    ),
    "invalid_grant": (
        "The sign-in is no longer valid (invalid_grant: the refresh token expired or was revoked, "
        "or the password changed)",
        LOGIN_HINT,
        ExitCode.NOPERM,
    ),
    "unauthorized_client": (
        "The app is not allowed to use this flow (unauthorized_client)",
        "enable the flow for the app registration (Microsoft: Authentication → Allow public "
        "client flows for device code; Google: a 'TVs and Limited Input devices' client), or "
        "change oauth2.flow",
        ExitCode.CONFIG,
    ),
    "consent_required": (
        "Consent is missing for the requested scopes (consent_required)",
        "an administrator grants consent for the app's SMTP permission, then run "
        "`tui-mailsetup oauth2 login` again",
        ExitCode.NOPERM,
    ),
    "interaction_required": (
        "The provider wants the person to sign in again (interaction_required: MFA or a "
        "policy change)",
        LOGIN_HINT,
        ExitCode.NOPERM,
    ),
    "invalid_scope": (
        "The provider refused the requested scopes (invalid_scope)",
        "check oauth2.scopes (empty means the provider's defaults for the flow)",
        ExitCode.CONFIG,
    ),
    "access_denied": (
        "The sign-in was declined (access_denied)",
        "run `tui-mailsetup oauth2 login` again and approve the request",
        ExitCode.NOPERM,
    ),
    "expired_token": (
        "The code was not entered in time (expired_token)",
        "run `tui-mailsetup oauth2 login` again and enter the code before it expires",
        ExitCode.TEMPFAIL,
    ),
    "unsupported_grant_type": (
        "The token endpoint does not support this flow (unsupported_grant_type)",
        "check oauth2.flow and oauth2.token_url",
        ExitCode.CONFIG,
    ),
    "invalid_request": (
        "The token endpoint refused the request as malformed (invalid_request)",
        "check oauth2.client_id, oauth2.tenant, oauth2.scopes and the endpoints",
        ExitCode.CONFIG,
    ),
    "temporarily_unavailable": (
        "The token endpoint is temporarily unavailable",
        "try again later",
        ExitCode.TEMPFAIL,
    ),
}


_VENDOR_NEUTRAL: dict[str, str] = {
    "unauthorized_client": "enable the flow for the app at the provider, or change oauth2.flow",
}
"""Fixes for a custom provider where the general rule names Microsoft's or Google's pages."""


def token_endpoint_error(
    error: str, description: str = "", *, app_only: bool = False, provider: str = ""
) -> OAuth2Error:
    """The OAuth2Error for an error response from a token or device-authorization endpoint.

    ``provider`` (oauth2.provider): a custom provider gets no Microsoft or Google advice,
    whatever its text says; "" when unknown (the text decides)."""
    code = untrusted_text(error or "unknown_error", limit=80)
    detail = untrusted_text(description or "", limit=300)
    custom = provider not in {"", "microsoft", "google"}
    match = None if custom or provider == "google" else _AADSTS.search(description or "")
    rule = _AADSTS_RULES.get(match.group(1)) if match else None
    if rule is None:
        rule = _ERROR_RULES.get(error)
        if rule is not None and custom and error in _VENDOR_NEUTRAL:
            rule = (rule[0], _VENDOR_NEUTRAL[error], rule[2])
    if rule is None:
        cause, fix, exit_code = (
            f"The token endpoint refused the request ({code})",
            "check the [oauth2] settings",
            ExitCode.NOPERM,
        )
    else:
        cause, fix, exit_code = rule
    if detail:
        cause += f" — the server said: {detail}"
    if (
        app_only
        and provider in {"", "microsoft"}
        and error in {"invalid_client", "unauthorized_client", "consent_required"}
    ):
        fix += ". " + _EXCHANGE_APP_ONLY
    if fix == LOGIN_HINT:
        failure: OAuth2Error = LoginRequired(cause)
    else:
        failure = OAuth2Error(cause, fix=fix, exit_code=exit_code, error=code)
    return failure


EXCHANGE_APP_ONLY_HELP = _EXCHANGE_APP_ONLY
