"""Drivers: one module each, one small interface (:class:`base.MailDriver`).

:func:`create_driver` is the one place that maps ``settings.driver`` to its
class; the command line and the TUI both build drivers through it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from tui_mailsetup.settings import SECRET_KEY_FOR_DRIVER, Driver, MailSettings

if TYPE_CHECKING:
    from tui_mailsetup.config_file import LoadedConfig
    from tui_mailsetup.drivers.base import MailDriver

# Each driver's module and class, imported only when that driver is used.
_DRIVER_CLASSES: dict[Driver, tuple[str, str]] = {
    Driver.SMTP: ("tui_mailsetup.drivers.smtp", "SmtpDriver"),
    Driver.SENDMAIL: ("tui_mailsetup.drivers.sendmail", "SendmailDriver"),
    Driver.MAILGUN: ("tui_mailsetup.drivers.mailgun", "MailgunDriver"),
    Driver.SES: ("tui_mailsetup.drivers.ses", "SesDriver"),
    Driver.GRAPH: ("tui_mailsetup.drivers.graph", "GraphDriver"),
}
__all__ = [
    "SECRET_KEY_FOR_DRIVER",
    "create_driver",
    "driver_from_config",
    "resolve_driver_secret",
    "secret_key_for",
]


def secret_key_for(settings: MailSettings) -> str | None:
    """The secret a send with ``settings`` needs, or None (no username: no SMTP AUTH)."""
    if settings.driver is Driver.SMTP and not settings.smtp.username:
        return None
    return SECRET_KEY_FOR_DRIVER.get(settings.driver)


def create_driver(settings: MailSettings, secret: str | None) -> MailDriver:
    module_name, class_name = _DRIVER_CLASSES[settings.driver]
    driver: MailDriver = getattr(importlib.import_module(module_name), class_name)(settings, secret)
    return driver


def resolve_driver_secret(loaded: LoadedConfig) -> str | None:
    """The secret a send with ``loaded`` needs, obtained now, or None when it needs none.

    Raises secrets.SecretError; an OAuth2 failure (oauth2.errors.OAuth2Error) is one
    that also carries its cause, fix and exit code (77: sign in again).
    """
    key = secret_key_for(loaded.settings)
    if key is None:
        return None
    # Only now, and only when needed: password_command may prompt or be slow.
    if loaded.settings.driver is Driver.GRAPH:
        # The [oauth2] token, asked for with Graph's scopes; none (and no request) while
        # validation finds the settings incomplete: the runner then reports its finding.
        from tui_mailsetup.drivers.graph_auth import graph_access_token, incomplete

        return None if incomplete(loaded) else graph_access_token(loaded)
    from tui_mailsetup.oauth2 import uses_token_store

    if uses_token_store(loaded.settings):
        # auth = xoauth2 without password_command: `oauth2 login`'s token store.
        from tui_mailsetup.oauth2.access import access_token

        return access_token(loaded)
    from tui_mailsetup.secrets import resolve_secret

    return resolve_secret(loaded, key).value


def driver_from_config(loaded: LoadedConfig) -> MailDriver:
    """The configured driver with its secret resolved. Raises secrets.SecretError."""
    return create_driver(loaded.settings, resolve_driver_secret(loaded))
