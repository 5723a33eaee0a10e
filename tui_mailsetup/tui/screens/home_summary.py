"""The settings screen's home: what sends the mail, who logs in, how the last test went.

Drawn from the form's session and the services (the screen passes them down), by
:class:`~tui_mailsetup.tui.widgets.home.HomePanel`.
"""

from __future__ import annotations

from rich.text import Text

from tui_mailsetup.findings import Severity
from tui_mailsetup.tui.form import DRIVER_LABELS, FIELDS, FORM_SECRET_KEYS
from tui_mailsetup.tui.form_session import FormSession, source_words
from tui_mailsetup.tui.services import TuiServices
from tui_mailsetup.tui.widgets.home import HomeRow

SERVER_LABELS = {
    "smtp": "Server",
    "sendmail": "Program",
    "mailgun": "Mailgun",
    "ses": "SES",
    "graph": "Mailbox",
}
"""The home screen's second line, by driver."""


def home_skeleton(driver: str) -> list[HomeRow]:
    """The home screen's lines before the configuration is loaded: labels, no values yet.

    The same lines as :func:`home_rows` (a Problems line may follow once validated),
    so that filling the values in moves nothing.
    """
    rows = [HomeRow("d", "Send with", Text(), "driver")]
    rows.append(HomeRow("s", SERVER_LABELS.get(driver, "Server"), Text(), "server"))
    if any(spec.kind == "secret" and spec.applies_to(driver) for spec in FIELDS.values()):
        rows.append(HomeRow("c", "Login", Text(), "credentials"))
    rows.append(HomeRow("n", "Sender", Text(), "sender"))
    rows.append(HomeRow("t", "Last test", Text(), "review"))
    rows.append(HomeRow("", "DNS", Text()))
    return rows


def home_rows(session: FormSession, services: TuiServices, dns_status: str | None) -> list[HomeRow]:
    """What a returning user needs first: what sends, who logs in, how the last test went."""
    from tui_mailsetup.drivers import SECRET_KEY_FOR_DRIVER
    from tui_mailsetup.secrets import credentials_problem
    from tui_mailsetup.settings import Driver

    settings = session.settings or services.config.loaded.settings
    state = session.state
    driver = state.driver
    rows = [HomeRow("d", "Send with", Text(DRIVER_LABELS[driver]), "driver")]
    if driver is Driver.SMTP:
        smtp = settings.smtp
        server = Text(f"{smtp.host or '(no host)'}:{smtp.port}  {smtp.encryption.value.upper()}")
        if not smtp.verify:
            server.append("  certificate NOT verified", style="bold red")
        elif smtp.fingerprint:
            server.append("  certificate pinned")
        elif smtp.ca_file:
            server.append(f"  CA file {smtp.ca_file}")
        rows.append(HomeRow("s", SERVER_LABELS[driver], server, "server"))
    elif driver is Driver.SENDMAIL:
        rows.append(HomeRow("s", SERVER_LABELS[driver], Text(settings.sendmail.path), "server"))
    elif driver is Driver.MAILGUN:
        domain = f"{settings.mailgun.domain} ({settings.mailgun.region.value})"
        rows.append(HomeRow("s", SERVER_LABELS[driver], Text(domain), "server"))
    elif driver is Driver.GRAPH:
        mailbox = settings.graph.mailbox or settings.sender.address or "(not set)"
        rows.append(HomeRow("s", SERVER_LABELS[driver], Text(mailbox), "server"))
    else:
        rows.append(HomeRow("s", SERVER_LABELS[driver], Text(settings.ses.region), "server"))
    # Graph's token comes from [oauth2]: the secret typed here is the app's.
    secret_key = FORM_SECRET_KEYS.get(driver) or SECRET_KEY_FOR_DRIVER.get(driver)
    if secret_key is not None:
        login = Text()
        if driver is Driver.SMTP:
            user = settings.smtp.username
            login.append(user if user else "none (no authentication)")
        if session.uses_oauth2:
            # OAuth2 logs in with a sign-in, not a password: say whose, not "password not set".
            login.append(oauth2_login_words(session, services))
        elif driver is not Driver.SMTP or settings.smtp.username:
            label = FIELDS[secret_key].label.lower()
            if state.secrets.get(secret_key):
                login.append(f"; {label} typed, not saved yet")
            elif secret_key == "smtp.password" and settings.smtp.password_command.strip():
                login.append(f"; {label} from password_command")
            elif source := state.known_secrets.get(secret_key):
                login.append(f"; {label} from {source_words(source)}")
            else:
                login.append(f"; {label} not set", style="bold red")
                problem = credentials_problem(services.config_path)
                if problem:
                    login.append(f"\n{'':17}{problem}", style="bold red")
        rows.append(HomeRow("c", "Login", login, "credentials"))
    sender = settings.sender
    shown = f"{sender.name} <{sender.address}>" if sender.name else sender.address
    rows.append(HomeRow("n", "Sender", Text(shown or "(not set)"), "sender"))
    last = services.history.last_result_text()
    rows.append(HomeRow("t", "Last test", last[len("Last test: ") :], "review"))
    dns_text = Text(dns_status) if dns_status is not None else None
    rows.append(HomeRow("", "DNS", dns_text or Text("not checked yet (f3 checks it)", style="dim")))
    errors = [f for f in session.findings if f.severity is Severity.ERROR]
    if errors:
        to_fix = Text(f"{len(errors)} to fix: ", style="bold red")
        to_fix.append(f"{errors[0].field}: {errors[0].message}")
        rows.append(HomeRow("", "Problems", to_fix))
    return rows


def oauth2_login_words(session: FormSession, services: TuiServices) -> Text:
    """The home screen's login line with xoauth2: the provider and who is signed in."""
    import dataclasses

    from tui_mailsetup.settings import OAuth2Provider
    from tui_mailsetup.tui.widgets.oauth2_signin import PROVIDER_NAMES, signed_in_as

    loaded = services.config.loaded
    settings = session.settings or loaded.settings
    # The form's provider: it may have followed the host since the settings were validated.
    provider = str(session.state.base.get("oauth2", {}).get("provider") or "microsoft")
    text = Text(f"; OAuth2 with {PROVIDER_NAMES.get(provider, provider)}")
    try:
        oauth2 = settings.oauth2.model_copy(update={"provider": OAuth2Provider(provider)})
    except ValueError:
        oauth2 = settings.oauth2
    settings = settings.model_copy(update={"oauth2": oauth2})
    who = signed_in_as(dataclasses.replace(loaded, settings=settings))
    if who is not None:
        text.append(f", signed in as {who}")
    else:
        text.append(", not signed in yet (c: Sign in)", style="bold red")
    return text


def home_footer(recipients: list[str]) -> Text:
    to = recipients[0] if recipients else "the sender address"
    text = Text("ctrl+t", style="bold")
    text.append(f" sends a test to {to}.  ")
    text.append("d s c n t", style="bold")
    text.append(" open a section; ")
    text.append("pgdn", style="bold")
    text.append(" walks through them.")
    return text
