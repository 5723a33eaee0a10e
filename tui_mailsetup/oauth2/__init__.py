"""OAuth2 for XOAUTH2/OAUTHBEARER: flows, the token store, provider facts.

Importing this package is cheap: httpx and cryptography are imported only by
:mod:`tui_mailsetup.oauth2.transport` and :mod:`tui_mailsetup.oauth2.flows`, when a
token has to be fetched from a token endpoint. A cached access token that is still
valid is served without them.
"""

from __future__ import annotations

from tui_mailsetup.settings import AuthMechanism, Driver, MailSettings


def uses_token_store(settings: MailSettings) -> bool:
    """True when an SMTP send gets its XOAUTH2 token from ``oauth2 login``'s store.

    ``smtp.password_command`` (or a token given as smtp.password) still wins,
    as before this package existed.
    """
    smtp = settings.smtp
    return (
        settings.driver is Driver.SMTP
        and smtp.auth is AuthMechanism.XOAUTH2
        and not smtp.password_command.strip()
        and smtp.password is None
    )
