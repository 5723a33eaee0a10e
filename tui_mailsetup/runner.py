"""The one runner for "send a test" and "check": one configuration, one verdict.

``send-test``, ``check`` (its online part), the TUI's test send and the demo
(headless and in the TUI) all go through :func:`run_test`:

1. every recipient is judged by the one address rule (validation.recipient_findings),
   refused and never repaired;
2. the secret is obtained (``password_command`` may run: in a thread);
3. the settings are judged by the one validation function, knowing which
   secret was obtained, so "configured" means the same here, in ``check`` and
   in the TUI; warnings become notes in the transcript;
4. the test message is built;
5. the driver runs and its events stream to ``on_event``;
6. the outcome is recorded beside the configuration (state.py).

Every failure, including those before any connection (a secret command that
fails, an unusable sender, missing credentials, a bad recipient), becomes an
:class:`Outcome` with a stage, a cause, a fix where one exists and an exit
code, delivered through ``on_event`` like the driver's own. Nothing here
imports Textual; the CLI prints and the TUI renders the same Outcome.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Awaitable, Callable, Sequence
from email.message import EmailMessage
from typing import TYPE_CHECKING

from tui_mailsetup.drivers.base import ChecksAccount
from tui_mailsetup.engine.events import (
    Diagnosis,
    Direction,
    Event,
    Outcome,
    Stage,
    StageFinished,
    TranscriptLine,
)
from tui_mailsetup.exitcodes import ExitCode
from tui_mailsetup.sanitize import untrusted_text
from tui_mailsetup.settings import Driver, MailSettings

if TYPE_CHECKING:
    from tui_mailsetup.config_file import LoadedConfig
    from tui_mailsetup.drivers.base import MailDriver
    from tui_mailsetup.findings import Finding

DriverFactory = Callable[[MailSettings, "str | None"], "MailDriver"]
MessageBuilder = Callable[[MailSettings, list[str]], EmailMessage]
EventSink = Callable[[Event], None]

MESSAGE_STAGES = frozenset(Stage.between(Stage.MAIL, Stage.SEND))
"""Stages that need a message (and so a sender and a recipient)."""

TYPED_SECRET = "typed"
"""The source of a secret the caller passed in (the TUI's field)."""


def _default_driver(settings: MailSettings, secret: str | None) -> MailDriver:
    from tui_mailsetup.drivers import create_driver

    return create_driver(settings, secret)


def _default_message(settings: MailSettings, recipients: list[str]) -> EmailMessage:
    from tui_mailsetup.message import build_test_message

    return build_test_message(settings, recipients)


class _Early(Exception):
    """A failure found before the driver ran."""

    def __init__(self, diagnosis: Diagnosis) -> None:
        super().__init__(diagnosis.cause)
        self.diagnosis = diagnosis


class _Untrusted(_Early):
    """The configuration could have been written by another user: nothing is done with it,
    not even recording the outcome beside it (in a directory they may control)."""


def default_recipients(settings: MailSettings, stop_after: Stage | None) -> list[str]:
    """No recipient given: a test to yourself (the sender address), when one is needed."""
    if stop_after is not None and stop_after not in MESSAGE_STAGES:
        return []
    sender = settings.sender.address
    return [sender] if sender else []


def finding_diagnosis(finding: Finding, stage: Stage, exit_code: ExitCode) -> Diagnosis:
    """A validation error as the Outcome's diagnosis: the key named, its fix offered."""
    return Diagnosis(
        stage,
        f"{finding.field}: {finding.message}",
        explanation="Found before any connection was made: nothing was sent.",
        fix=finding.fix,
        exit_code=exit_code,
    )


async def run_test(
    loaded: LoadedConfig,
    recipients: Sequence[str] | None = None,
    *,
    settings: MailSettings | None = None,
    stop_after: Stage | None = None,
    on_event: EventSink | None = None,
    secret: str | None = None,
    driver_factory: DriverFactory | None = None,
    message_builder: MessageBuilder | None = None,
    kind: str = "send-test",
    record: bool = True,
    report_warnings: bool = True,
    prove_token: bool = True,
) -> Outcome:
    """Run one test (``stop_after`` None: send the message) and return its Outcome.

    ``settings`` replaces ``loaded.settings`` (the TUI's unsaved form);
    ``secret`` is a secret the caller already holds (typed in the TUI), else
    it is resolved from ``loaded``'s sources. ``recipients`` None or empty
    means the sender address. ``report_warnings`` False: the caller showed
    validation's warnings already (``check`` prints every finding first).
    ``prove_token``: an OAuth2 token from the store is renewed, never the cached one (a
    test proves the configuration); False serves a valid cached token (delivering mail).
    Never raises for a configuration, secret, message or delivery problem;
    cancellation propagates.
    """
    if settings is not None:
        loaded = dataclasses.replace(loaded, settings=settings)
    settings = loaded.settings
    started = time.monotonic()
    if settings.driver is Driver.SMTP and settings.smtp.encryption.value != "none":
        # The trust store loads (in C, off the GIL) while validation imports and runs.
        from tui_mailsetup.engine import tls

        tls.prewarm(settings.smtp)
    emit = on_event or (lambda event: None)
    targets = list(recipients or ()) or default_recipients(settings, stop_after)
    outcome: Outcome | None = None
    secret_where: tuple[str, str] | None = None
    try:
        # Given recipients are values at the door (65); the default one is the sender
        # address, which validation judges as configuration (78).
        _check_recipients(list(recipients or ()))
        _check_trusted(loaded)
        typed = bool(secret)
        token_store = secret is None and _uses_token_store(settings)
        if token_store:
            secret = await _obtain_token(loaded, emit, renew=prove_token)
        else:
            secret = await _obtain_secret(loaded, secret)
        lines, secret_where = _validate(loaded, secret, typed=typed)
        for line in lines:
            if report_warnings:
                emit(line)
        message = _build_message(settings, targets, stop_after, message_builder or _default_message)
        driver = _make_driver(settings, secret, driver_factory or _default_driver)
        if token_store and hasattr(driver, "renew_token"):
            driver.renew_token = _token_renewer(loaded)
    except _Early as early:
        record = record and not isinstance(early, _Untrusted)
        outcome = _early_outcome(early.diagnosis, started, targets)
        cause = outcome.diagnosis.cause if outcome.diagnosis else ""
        emit(StageFinished(outcome.stage, False, outcome.elapsed, cause))
        emit(outcome)
    if outcome is None:
        context = _RunContext(
            default_recipient=targets[0] if targets and not recipients else None,
            secret_where=secret_where,
        )
        outcome = await _drive(driver, message, targets, stop_after, emit, started, context)
    if record:
        _record(loaded, outcome, kind)
    return outcome


# --------------------------------------------------------------------------- the steps


def _check_recipients(recipients: list[str]) -> None:
    from tui_mailsetup.findings import Severity
    from tui_mailsetup.validation import recipient_findings

    for recipient in recipients:
        errors = [f for f in recipient_findings(recipient) if f.severity is Severity.ERROR]
        if errors:
            shown = recipient if len(recipient) <= 80 else f"{recipient[:60]}…"
            size = f" ({len(recipient)} characters)" if len(recipient) > 80 else ""
            raise _Early(
                Diagnosis(
                    Stage.RCPT,
                    f"The recipient {shown!r}{size} is not a valid address",
                    evidence=untrusted_text(errors[0].message, limit=400),
                    explanation=(
                        "Recipients are checked like the sender address, before any "
                        "connection; an address is refused, never repaired."
                    ),
                    exit_code=ExitCode.DATAERR,
                )
            )


def _check_trusted(loaded: LoadedConfig) -> None:
    """Trust before action: nothing is run, fetched or sent with a configuration that
    another user could have written (files.check_trusted)."""
    from tui_mailsetup.files import UnsafePermissionsError, check_trusted

    try:
        check_trusted(
            loaded.path,
            purpose="nothing is sent with it and its password_command is not run",
        )
    except UnsafePermissionsError as exc:
        raise _Untrusted(
            Diagnosis(
                Stage.CONFIG,
                str(exc),
                explanation="Checked before any command was run or connection made: "
                "nothing was sent.",
                exit_code=ExitCode.CONFIG,
            )
        ) from None


async def _obtain_secret(loaded: LoadedConfig, typed: str | None) -> str | None:
    from tui_mailsetup.drivers import resolve_driver_secret, secret_key_for

    key = secret_key_for(loaded.settings)
    if key is None or typed:
        return typed if key is not None else None
    from tui_mailsetup.secrets import SecretError

    try:
        # password_command may be slow or wait for a prompt, a token endpoint may be
        # slow to answer: never on the event loop.
        return await asyncio.to_thread(resolve_driver_secret, loaded)
    except SecretError as exc:
        if getattr(exc, "cause", None):
            raise _Early(_token_diagnosis(exc)) from None
        raise _Early(
            Diagnosis(
                Stage.AUTH,
                f"The secret {key} could not be obtained",
                evidence=str(exc),
                explanation=(
                    "Check smtp.password_command (run it by hand), the credentials file "
                    "beside the configuration, or the keyring."
                    if key == "smtp.password"
                    else "Check the credentials file beside the configuration, or the keyring."
                ),
                exit_code=getattr(exc, "exit_code", ExitCode.CONFIG),
            )
        ) from None


def _uses_token_store(settings: MailSettings) -> bool:
    """auth = xoauth2 with its token from `oauth2 login`'s store, and a login to use it for."""
    from tui_mailsetup.drivers import secret_key_for
    from tui_mailsetup.oauth2 import uses_token_store

    return secret_key_for(settings) is not None and uses_token_store(settings)


def _token_diagnosis(exc: Exception) -> Diagnosis:
    """An OAuth2 failure (oauth2.errors.OAuth2Error: its own cause, fix and exit code:
    69 unreachable, 75 timeout, 76 nonsense, 77 refused or sign in again, 78 settings)."""
    return Diagnosis(
        Stage.AUTH,
        f"The OAuth2 access token could not be obtained: {getattr(exc, 'cause', exc)}",
        evidence=str(exc),
        explanation=getattr(exc, "fix", "")
        or "The token endpoint is configured in the [oauth2] section (oauth2.token_url).",
        exit_code=getattr(exc, "exit_code", ExitCode.CONFIG),
    )


async def _obtain_token(loaded: LoadedConfig, emit: EventSink, *, renew: bool) -> str:
    """The OAuth2 token for a test: never the cached one. An unattended flow obtains a
    fresh token with the configured credentials (the test is about them); a person's
    sign-in is refreshed (the refresh token is what is tested). The exchange shares the
    send's deadline (smtp.timeout)."""
    from tui_mailsetup.oauth2.access import obtain
    from tui_mailsetup.secrets import SecretError

    deadline = time.monotonic() + loaded.settings.smtp.timeout
    try:
        got = await asyncio.to_thread(obtain, loaded, renew=renew, deadline=deadline)
    except SecretError as exc:
        raise _Early(_token_diagnosis(exc)) from None
    emit(TranscriptLine(Direction.NOTE, untrusted_text(got.note), False))
    return got.token


def _token_renewer(loaded: LoadedConfig) -> Callable[[float], Awaitable[tuple[str, str]]]:
    """For the SMTP driver: a new token when the server refused the one given (once)."""
    from tui_mailsetup.oauth2.access import obtain

    async def renew(seconds: float) -> tuple[str, str]:
        deadline = time.monotonic() + seconds
        got = await asyncio.to_thread(obtain, loaded, renew=True, deadline=deadline)
        return got.token, untrusted_text(got.note)

    return renew


def _validate(
    loaded: LoadedConfig, secret: str | None, *, typed: bool
) -> tuple[list[TranscriptLine], tuple[str, str] | None]:
    """The one validation, told which secret was obtained. Errors stop the run (78);
    warnings come back as transcript notes, with (key, where the secret came from)."""
    from tui_mailsetup.drivers import secret_key_for
    from tui_mailsetup.findings import Severity
    from tui_mailsetup.secrets import describe_source, secret_sources
    from tui_mailsetup.validation import validate

    sources = secret_sources(loaded)
    where: tuple[str, str] | None = None
    if (key := secret_key_for(loaded.settings)) is not None:
        source = TYPED_SECRET if typed else sources.get(key)
        sources[key] = (sources.get(key) or TYPED_SECRET) if secret else None
        if secret and source is not None:
            where = (key, describe_source(loaded, key, source))
    findings = validate(loaded.settings, secret_sources=sources)
    errors = [f for f in findings if f.severity is Severity.ERROR]
    if errors:
        raise _Early(finding_diagnosis(errors[0], Stage.CONFIG, ExitCode.CONFIG))
    lines = [
        TranscriptLine(Direction.NOTE, untrusted_text(f"warning: {f.field}: {f.message}"), False)
        for f in findings
        if f.severity is Severity.WARNING
    ]
    return lines, where


@dataclasses.dataclass(frozen=True)
class _RunContext:
    """What the runner knows and the driver does not, for the final diagnosis."""

    default_recipient: str | None = None
    """The sender address, when the test went there because no recipient was given."""
    secret_where: tuple[str, str] | None = None
    """The secret's key and where it came from, when one was used."""

    def amend(self, outcome: Outcome) -> Outcome:
        diagnosis = outcome.diagnosis
        if outcome.ok or diagnosis is None:
            return outcome  # a pass loads no diagnosis code (start-up: test_import_hygiene)
        from tui_mailsetup.engine.diagnosis.context import (
            default_recipient_refused,
            secret_source_named,
        )

        if self.default_recipient is not None:
            diagnosis = default_recipient_refused(diagnosis, self.default_recipient)
        if self.secret_where is not None:
            diagnosis = secret_source_named(diagnosis, *self.secret_where)
        return dataclasses.replace(outcome, diagnosis=diagnosis)


def _build_message(
    settings: MailSettings,
    recipients: list[str],
    stop_after: Stage | None,
    builder: MessageBuilder,
) -> EmailMessage | None:
    from tui_mailsetup.message import MessageError

    needs_message = stop_after is None or stop_after in MESSAGE_STAGES
    try:
        return builder(settings, recipients)
    except MessageError as exc:
        if not needs_message:
            # `check` stops before MAIL: the message is never used.
            return None
        stage = Stage.CONFIG if exc.exit_code == ExitCode.CONFIG else Stage.MAIL
        raise _Early(Diagnosis(stage, str(exc), exit_code=exc.exit_code)) from None


def _make_driver(settings: MailSettings, secret: str | None, factory: DriverFactory) -> MailDriver:
    try:
        return factory(settings, secret)
    except Exception as exc:  # a missing optional extra, a driver that cannot start
        raise _Early(
            Diagnosis(
                Stage.CONFIG,
                f"The {settings.driver.value} driver cannot be used: {type(exc).__name__}",
                evidence=str(exc),
                exit_code=ExitCode.CONFIG,
            )
        ) from None


async def _drive(
    driver: MailDriver,
    message: EmailMessage | None,
    recipients: list[str],
    stop_after: Stage | None,
    emit: EventSink,
    started: float,
    context: _RunContext | None = None,
) -> Outcome:
    outcome: Outcome | None = None
    count = 0
    try:
        async for event in driver.send(
            message if message is not None else EmailMessage(), recipients, stop_after=stop_after
        ):
            if isinstance(event, Outcome):
                if isinstance(driver, ChecksAccount) and driver.check_details:
                    # What a check learned (the SES account, the sender identity), for --json.
                    event = dataclasses.replace(event, driver_details=dict(driver.check_details))
                if context is not None:
                    event = context.amend(event)
                outcome = event
            emit(event)
            count += 1
            if count % 64 == 0:
                # A driver that yields faster than a screen draws must not starve its keyboard.
                await asyncio.sleep(0)
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # a driver broke its contract: say so, never crash the caller
        outcome = Outcome(
            False,
            Stage.SEND,
            time.monotonic() - started,
            Diagnosis(
                Stage.SEND,
                f"Internal error in the {getattr(driver, 'name', 'mail')} driver: "
                f"{type(exc).__name__}",
                evidence=untrusted_text(str(exc)),
                exit_code=ExitCode.TEMPFAIL,
            ),
            recipients=tuple(recipients),
        )
        emit(outcome)
    if outcome is None:
        outcome = Outcome(
            False,
            Stage.SEND,
            time.monotonic() - started,
            Diagnosis(Stage.SEND, "The driver ended without a result", exit_code=ExitCode.TEMPFAIL),
            recipients=tuple(recipients),
        )
        emit(outcome)
    return outcome


def _early_outcome(diagnosis: Diagnosis, started: float, recipients: list[str]) -> Outcome:
    # These texts come from files, commands and --to, not from a server: neutralised
    # here as the engine neutralises its own.
    clean = dataclasses.replace(
        diagnosis,
        cause=untrusted_text(diagnosis.cause),
        evidence=untrusted_text(diagnosis.evidence),
        explanation=untrusted_text(diagnosis.explanation),
    )
    return Outcome(
        False,
        clean.stage,
        time.monotonic() - started,
        clean,
        recipients=tuple(untrusted_text(r) for r in recipients),
    )


def _record(loaded: LoadedConfig, outcome: Outcome, kind: str) -> None:
    from tui_mailsetup.state import record_outcome

    smtp = loaded.settings.driver is Driver.SMTP
    record_outcome(
        loaded.path,
        outcome,
        kind=kind,
        host=loaded.settings.smtp.host if smtp else "",
        port=loaded.settings.smtp.port if smtp else None,
    )
