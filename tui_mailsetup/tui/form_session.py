"""The form's decisions, without Textual: what is typed, what is wrong, what ctrl+s writes.

:class:`FormSession` is what the wizard and the settings screen edit. It holds the
values (:class:`~tui_mailsetup.tui.form.FormState`) and what was last saved, and
answers every question the screens used to answer themselves: the findings (the
engine's :func:`~tui_mailsetup.validation.evaluate`), the fix on offer, the save plan
(only the keys changed here are written; a key someone else changed in the file
meanwhile is kept, one changed on both sides is a conflict to ask about), whether a
test may start and with what, and the sentence saying where a secret comes from.
The screen draws the answers; ``tests/functional/test_form_session.py`` checks them without a
terminal. Nothing here imports Textual.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from tui_mailsetup.findings import Finding, Severity, has_errors
from tui_mailsetup.tui.form import FIELDS, FORM_SECRET_KEYS, FieldSpec, FormState, section_of

if TYPE_CHECKING:
    from tui_mailsetup.config_file import LoadedConfig
    from tui_mailsetup.engine.events import Outcome
    from tui_mailsetup.fixes import Fix
    from tui_mailsetup.presets import Preset
    from tui_mailsetup.settings import MailSettings

PASSWORD_KEYS = frozenset({"smtp.password", "smtp.password_command"})
"""The rows hidden when auth is xoauth2: a sign-in logs in, not a password."""

OVERRIDING_SOURCES = frozenset({"env", "secrets-dir", "cli"})
"""Layers above the file: a value saved while one of them sets it does not take effect."""


def source_words(source: str) -> str:
    """Where a value came from, in a sentence ("the environment")."""
    from tui_mailsetup.config_file import ValueSource

    try:
        return ValueSource(source).phrase
    except ValueError:
        return source


def display_for(spec: FieldSpec, value: Any) -> Any:
    """A value set by the program (a fix, a preset) as its widget holds it."""
    if spec.kind == "bool":
        return bool(value)
    if spec.kind == "float" and isinstance(value, float) and value.is_integer():
        return str(int(value))
    if hasattr(value, "value") and not isinstance(value, (str, int, float)):
        return str(value.value)
    return "" if value is None else str(value)


def key_shown(key: str) -> str:
    """A dotted key read from the file (another writer may have put any text in it)."""
    from tui_mailsetup.sanitize import untrusted_text

    return untrusted_text(key, limit=100)


def file_shown(value: Any) -> str:
    """A value as the file holds it (``3000``, ``"Ops"``); absent: back to its default.

    Whatever wrote the file, its text reaches the terminal with control characters escaped.
    """
    from tui_mailsetup.sanitize import untrusted_text

    if value is None:
        return "(removed: the default)"
    return untrusted_text(f'"{value}"' if isinstance(value, str) else str(value).lower(), limit=200)


def _shown(value: Any) -> str:
    text = "" if value is None else str(value)
    return f'"{text}"' if text else "(empty)"


def without_secrets(settings: MailSettings) -> MailSettings:
    return settings.model_copy(
        update={
            "smtp": settings.smtp.model_copy(update={"password": None}),
            "mailgun": settings.mailgun.model_copy(update={"api_key": None}),
            "ses": settings.ses.model_copy(update={"secret_access_key": None}),
            "oauth2": settings.oauth2.model_copy(update={"client_secret": None, "token": None}),
        }
    )


def describe_target(settings: MailSettings) -> str:
    """Where a test goes, in the diagnostics pane's first line."""
    from tui_mailsetup.settings import Driver

    if settings.driver is Driver.SMTP:
        return f"{settings.smtp.host}:{settings.smtp.port} ({settings.smtp.encryption.value})"
    if settings.driver is Driver.SENDMAIL:
        return settings.sendmail.path
    if settings.driver is Driver.MAILGUN:
        return f"Mailgun {settings.mailgun.domain} ({settings.mailgun.region.value})"
    if settings.driver is Driver.GRAPH:
        return f"Microsoft Graph as {settings.graph.mailbox or settings.sender.address}"
    return f"Amazon SES {settings.ses.region}"


@dataclass(frozen=True)
class SecretNote:
    """The credentials section's line about the secret: where it comes from, or why not."""

    text: str
    problem: str = ""
    """Why the stored secret cannot be used (the credentials file too open …), with the fix."""


@dataclass(frozen=True)
class TestRequest:
    """A test the form may start: the validated settings, who receives it, the secret held."""

    __test__ = False

    settings: MailSettings
    recipients: list[str]
    secret: str | None

    @property
    def heading(self) -> str:
        target = describe_target(self.settings)
        return f"test email to {', '.join(self.recipients)} via {target}"


@dataclass(frozen=True)
class Refusal:
    """Why an action did not happen, as the status line says it."""

    message: str
    title: str = ""


@dataclass
class SaveResult:
    """What ctrl+s did: saved, refused (invalid, the file layer said no), or asks first."""

    kind: Literal["saved", "invalid", "failed", "conflict"]
    message: str = ""
    severity: Literal["information", "warning", "error"] = "information"
    first_error: str = ""
    """The first field in error (kind ``invalid``), to show."""
    conflicts: dict[str, Any] = field(default_factory=dict)
    """Keys changed in the file and here, with the file's values (kind ``conflict``)."""
    ours: dict[str, Any] = field(default_factory=dict)
    others: list[str] = field(default_factory=list)
    """Keys changed in the file only (kept, whatever is chosen)."""
    overridden: list[str] = field(default_factory=list)
    """Keys saved that a layer above the file still sets (the environment …)."""
    taken: list[str] = field(default_factory=list)
    """Keys the form now shows from the file (changed there meanwhile)."""

    @property
    def conflict_rows(self) -> list[tuple[str, str, str]]:
        """(key, ours, the file's) for the conflict dialog, every text made safe to show."""
        return [
            (key_shown(k), file_shown(self.ours.get(k)), file_shown(v))
            for k, v in sorted(self.conflicts.items())
        ]

    @property
    def overridden_message(self) -> str:
        return "Still overridden by the environment: " + ", ".join(sorted(self.overridden))

    @property
    def declined_message(self) -> str:
        keys = ", ".join(key_shown(k) for k in sorted(self.conflicts))
        return f"Not saved: the file changed underneath ({keys})"


class FormSession:
    """One form's values and decisions, from the configuration loaded to the last save."""

    def __init__(self, state: FormState, config_path: Path | None = None) -> None:
        self.state = state
        self.config_path = config_path
        self.saved_raw, self.saved_secrets = state.snapshot()
        self.saved_base: dict[str, Any] = copy.deepcopy(state.base)
        self.disk_values: dict[str, Any] | None = None
        """What the file held when the form took its values: ctrl+s compares the file with
        it to find the keys someone else changed meanwhile (None: it could not be read)."""
        self.sources: Mapping[str, str] = {}
        """Where each loaded value came from (``ValueSource`` values)."""
        self.findings: list[Finding] = []
        self.settings: MailSettings | None = None
        """The settings as typed, once they validate (else None)."""
        self.validated = False

    @classmethod
    def provisional(cls, driver: str) -> FormSession:
        """Before the configuration is loaded: the driver the file names, nothing else."""
        return cls(FormState.provisional(driver))

    @classmethod
    def loaded(cls, loaded: LoadedConfig, secret_sources: Mapping[str, str | None]) -> FormSession:
        session = cls(FormState.from_settings(loaded.settings, secret_sources), loaded.path)
        session.settings = loaded.settings
        session.sources = dict(loaded.sources)
        session.disk_values = session._read_disk()
        return session

    def _read_disk(self) -> dict[str, Any] | None:
        from tui_mailsetup.config_file import file_values
        from tui_mailsetup.errors import MailSetupError

        if self.config_path is None:
            return None
        try:
            return file_values(self.config_path)
        except (MailSetupError, OSError):
            return None

    # ------------------------------------------------------------------ values

    def source(self, key: str) -> str:
        """Where a field's value came from ("" before the configuration is loaded)."""
        if FIELDS[key].kind == "secret":
            return self.state.known_secrets.get(key) or ""
        return self.sources.get(key, "")

    def set_field(self, key: str, value: Any) -> Any:
        """Set a value from the program (a fix, a preset); returns what its widget shows.

        A key without a field (``oauth2.provider``, …) goes to the loaded values; None.
        """
        spec = FIELDS.get(key)
        if spec is None:
            *parents, name = key.split(".")
            section = self.state.base
            for part in parents:
                section = section.setdefault(part, {})
            section[name] = value
            return None
        shown = display_for(spec, value)
        self.state.set(key, shown)
        return shown

    @property
    def uses_oauth2(self) -> bool:
        """auth = xoauth2 on SMTP: a sign-in, not a password, logs in."""
        return self.state.driver_name == "smtp" and str(self.state.get("smtp.auth")) == "xoauth2"

    def hidden_keys(self) -> frozenset[str]:
        """Rows of the driver that are not asked for (the password with OAuth2)."""
        return PASSWORD_KEYS if self.uses_oauth2 else frozenset()

    def shows(self, spec: FieldSpec) -> bool:
        return spec.applies_to(self.state.driver_name) and spec.key not in self.hidden_keys()

    def oauth2_provider_changes(
        self, preset: Preset | None, *, loading: bool = False
    ) -> dict[str, str]:
        """With xoauth2, the sign-in's provider follows the host's (Google for Gmail, …).

        At load only a provider the file does not name follows; ``custom`` (a provider of
        one's own) is never replaced. The changes are set in the form, written by ctrl+s.
        """
        if not self.uses_oauth2 or preset is None or not preset.oauth2:
            return {}
        oauth2 = self.state.base.get("oauth2", {})
        if oauth2.get("provider") in {preset.oauth2, "custom"}:
            return {}
        if loading and self.sources.get("oauth2.provider", "default") != "default":
            return {}
        changes = {"oauth2.provider": preset.oauth2}
        if preset.oauth2_tenant and not oauth2.get("tenant"):
            changes["oauth2.tenant"] = preset.oauth2_tenant
        return changes

    def identity_changes(
        self, query: str, preset: Preset | None, username_hint: str
    ) -> dict[str, str]:
        """Detect from an address also types the username and the sender (empty fields only)."""
        if "@" not in query:
            return {}
        username = ""
        if preset is not None and preset.username:
            username = preset.username
        elif not username_hint or "address" in username_hint.lower():
            # "your full … address", or no convention known: the address is the usual login.
            username = query
        changes = {}
        if username and not str(self.state.get("smtp.username") or "").strip():
            changes["smtp.username"] = username
        if not str(self.state.get("sender.address") or "").strip():
            changes["sender.address"] = query
        return changes

    def recipient_placeholder(self) -> str:
        address = str(self.state.get("sender.address") or "")
        return f"{address} (the sender)" if address else "the sender address"

    def recipients(self, typed: str = "") -> list[str]:
        """Who a test goes to: the address typed in "Send to", else the sender."""
        address = typed.strip() or str(self.state.get("sender.address") or "").strip()
        return [address] if address else []

    def secret_key(self) -> str | None:
        """The secret typed in the credentials section for this driver (None: sendmail)."""
        from tui_mailsetup.drivers import SECRET_KEY_FOR_DRIVER

        driver = self.state.driver
        return FORM_SECRET_KEYS.get(driver) or SECRET_KEY_FOR_DRIVER.get(driver)

    def secret_note(self, provider_name: str = "the provider") -> SecretNote:
        """Where the secret this driver needs comes from, in the credentials section's words."""
        key = self.secret_key()
        if key is None:
            return SecretNote("Sendmail hands the message to a local program: no credentials here.")
        if self.uses_oauth2:
            return SecretNote(
                f"OAuth2: no password. Sign in with {provider_name} below; the tokens go to the "
                "owner-only credentials file."
            )
        if self.state.secrets.get(key):
            source = "typed here: saved to the owner-only credentials file with ctrl+s"
        elif key == "smtp.password" and str(self.state.get("smtp.password_command") or "").strip():
            source = "from password_command (run at each test)"
        elif known := self.state.known_secrets.get(key):
            source = f"from {source_words(known)}; type to replace it"
        elif key == "smtp.password":
            source = "not set: type it below, or set password_command"
        else:
            source = "not set: type it below"
        problem = ""
        if source.startswith("not set") and self.config_path is not None:
            from tui_mailsetup.secrets import credentials_problem

            # Say why the stored one is not used, and the command that fixes it.
            problem = credentials_problem(self.config_path) or ""
        return SecretNote(f"{FIELDS[key].label}: {source}.", problem)

    # ------------------------------------------------------------------ validation

    def validate(self) -> bool:
        """Validate the values with the engine's function; True when the findings changed."""
        from tui_mailsetup.validation import evaluate

        settings, findings = evaluate(self.state.data(), secret_sources=self.state.secret_sources())
        self.settings = settings
        changed = findings != self.findings or not self.validated
        self.validated = True
        self.findings = findings
        return changed

    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity is Severity.ERROR]

    def sections_with_errors(self) -> set[str]:
        return {
            section.id
            for finding in self.errors()
            for key in finding.fields
            if (section := section_of(key)) is not None
        }

    def fix_on_offer(
        self, focused: Finding | None = None, outcome: Outcome | None = None
    ) -> tuple[Fix, bool] | None:
        """The fix F2 applies: the focused field's, else the last test's, else the first one.

        The flag says whether it came from a failed test (then "test again" follows). A
        test's fix already applied (its values are in the form) is no longer on offer.
        """
        if focused is not None and focused.fix is not None:
            return focused.fix, False
        if outcome is not None and outcome.diagnosis is not None:
            fix = outcome.diagnosis.fix
            if fix is not None and any(
                str(self.state.get(k) if k in FIELDS else "") != str(v)
                for k, v in fix.changes.items()
            ):
                return fix, True
        for finding in self.findings:
            if finding.fix is not None:
                return finding.fix, False
        return None

    def pin_to_confirm(self, fix: Fix) -> str:
        """The certificate fingerprint a fix would newly pin ("" when it pins nothing new)."""
        pin = str(fix.changes.get("smtp.fingerprint") or "")
        return pin if pin and pin != str(self.state.get("smtp.fingerprint") or "") else ""

    # ------------------------------------------------------------------ a test send

    def test_request(self, typed_recipient: str, loaded: LoadedConfig) -> TestRequest | Refusal:
        """ctrl+t: the test to start, or why none can (the values' first error, no recipient).

        Judged on the findings of the last :meth:`validate` (the screen validates first, to
        mark the fields)."""
        settings = self.settings
        if settings is None or has_errors(self.findings):
            errors = self.errors()
            return Refusal(
                f"{errors[0].field}: {errors[0].message}",
                title=f"Fix {len(errors)} error(s) before testing",
            )
        recipients = self.recipients(typed_recipient)
        if not recipients:
            return Refusal("Set the sender address (or a recipient) first.")
        return TestRequest(settings, recipients, self.held_secret(settings, loaded))

    def held_secret(self, settings: MailSettings, loaded: LoadedConfig) -> str | None:
        """The secret typed in the form, or given directly (environment); else the runner
        resolves it (password_command, credentials file, keyring)."""
        from tui_mailsetup.drivers import secret_key_for
        from tui_mailsetup.settings import get_value

        key = secret_key_for(settings)
        if key is None:
            return None
        if typed := self.state.secrets.get(key):
            return typed
        direct = get_value(loaded.settings, key)
        return None if direct is None else str(direct.get_secret_value())

    def dns_settings(self, loaded: MailSettings) -> MailSettings:
        """The settings the DNS check uses: what is typed, even while another field has an error."""
        settings = self.settings or loaded
        address = str(self.state.get("sender.address") or "").strip()
        host = str(self.state.get("smtp.host") or "").strip()
        return settings.model_copy(
            update={
                "sender": settings.sender.model_copy(update={"address": address}),
                "smtp": settings.smtp.model_copy(update={"host": host}),
            }
        )

    # ------------------------------------------------------------------ saving

    def base_changes(self) -> dict[str, tuple[Any, Any]]:
        """Keys without a field of their own (``oauth2.client_id``, …) that a fix, a preset or
        the sign-in set since the last save: ``{key: (before, after)}``."""
        from tui_mailsetup.config_file import flatten

        before, after = flatten(self.saved_base), flatten(self.state.base)
        return {
            key: (before.get(key), value)
            for key, value in after.items()
            if key not in FIELDS and before.get(key) != value
        }

    def changed_keys(self) -> list[str]:
        """The keys changed in this TUI since the last save, secrets apart: all ctrl+s writes."""
        from tui_mailsetup.settings import MailSettings

        keys = self.state.changed_keys(self.saved_raw)
        keys += [k for k in self.base_changes() if k not in keys]
        return [k for k in keys if k not in MailSettings.SECRET_KEYS]

    def changed_secrets(self) -> dict[str, str]:
        return {k: v for k, v in self.state.secrets.items() if self.saved_secrets.get(k) != v}

    def describe_changes(self) -> list[str]:
        """What changed since the last save, one line each; secrets by name only."""
        lines = []
        for key in self.state.changed_keys(self.saved_raw):
            before, after = self.saved_raw.get(key), self.state.raw.get(key)
            lines.append(f"{key}: {_shown(before)} → {_shown(after)}")
        for key, (before, after) in self.base_changes().items():
            lines.append(f"{key}: {_shown(before)} → {_shown(after)}")
        for key in self.changed_secrets():
            lines.append(f"{key}: typed (saved to the credentials file)")
        return lines

    @property
    def dirty(self) -> bool:
        return (
            self.state.raw != self.saved_raw
            or self.state.secrets != self.saved_secrets
            or bool(self.base_changes())
        )

    def changed_underneath(self, now: Mapping[str, Any]) -> set[str]:
        """The keys whose value in the file differs from what it held when the form loaded it."""
        before = self.disk_values
        if before is None:
            return set()
        return {k for k in before.keys() | now.keys() if before.get(k) != now.get(k)}

    def save(self, resolved: tuple[str, dict[str, Any]] | None = None) -> SaveResult:
        """ctrl+s: write the keys changed here, and only those; keep what others wrote meanwhile.

        When the file changed on disk since it was loaded, the keys changed there and not here
        are kept; a key changed on both sides is a conflict (kind ``conflict``): the person
        keeps theirs or takes the file's, and ``resolved`` is that choice with the file's
        values they were shown (a value changed again since is asked about again). After a
        save, :meth:`saved` takes the reloaded configuration. Judged on the findings of the
        last :meth:`validate`.
        """
        from tui_mailsetup import files
        from tui_mailsetup.config_file import file_values, flatten, save_settings
        from tui_mailsetup.errors import MailSetupError
        from tui_mailsetup.secrets import store_secret

        settings = self.settings
        if settings is None or has_errors(self.findings):
            errors = self.errors()
            return SaveResult(
                "invalid",
                f"{len(errors)} error(s) to fix first. {errors[0].field}: {errors[0].message}",
                "error",
                first_error=errors[0].field,
            )
        assert self.config_path is not None, "a loaded form knows its file"
        path = self.config_path
        mine = self.changed_keys()
        clean = without_secrets(settings)
        ours = flatten(clean.model_dump(mode="json"))
        choice, seen = resolved if resolved is not None else ("", {})
        try:
            # One lock from reading the file to writing it: no other writer comes in between.
            with files.locked(path):
                now = file_values(path)
                underneath = self.changed_underneath(now)
                conflicts = {
                    k: now.get(k) for k in mine if k in underneath and now.get(k) != ours.get(k)
                }
                others = sorted(underneath - set(mine))
                if conflicts and (
                    choice not in {"mine", "theirs"}
                    or any(k not in seen or seen[k] != v for k, v in conflicts.items())
                ):
                    return SaveResult("conflict", conflicts=conflicts, ours=ours, others=others)
                keys = [k for k in mine if not (choice == "theirs" and k in conflicts)]
                save_settings(path, clean, keys)
                for key, value in self.changed_secrets().items():
                    store_secret(path, key, value)
                written = file_values(path)
        except (MailSetupError, OSError, ValueError) as exc:
            # Any refusal of the file layer (a file or directory not safe to write, …) included.
            return SaveResult("failed", str(exc), "error")
        self.disk_values = written
        # What someone else wrote meanwhile (and a conflict settled for the file) now shows.
        taken = sorted(underneath - set(keys))
        # The path is in the header; with news from the file it gives way to the news.
        message = f"Saved to {path}" if not taken else "Saved"
        if taken:
            shown = ", ".join(f"{key_shown(k)} {file_shown(written.get(k))}" for k in taken)
            message += f". Changed in the file since it was loaded, and kept: {shown}"
        if choice == "mine" and conflicts:
            message += ". Yours replaced the file's: " + ", ".join(sorted(conflicts))
        return SaveResult(
            "saved",
            message,
            "warning" if taken else "information",
            overridden=[k for k in mine if self.sources.get(k) in OVERRIDING_SOURCES],
            taken=taken,
        )

    def saved(
        self,
        loaded: LoadedConfig | None,
        secret_sources: Mapping[str, str | None],
        taken: Iterable[str],
    ) -> dict[str, Any]:
        """After a save: take the reloaded configuration; the keys ``taken`` from the file show
        its values. Returns the widget values set that way (for the screen to show)."""
        shown: dict[str, Any] = {}
        if loaded is not None:
            from tui_mailsetup.config_file import flatten
            from tui_mailsetup.tui.form import display_value

            self.sources = dict(loaded.sources)
            effective = flatten(loaded.settings.model_dump(mode="json"))
            for key in taken:
                if key in FIELDS:
                    shown[key] = self.set_field(key, display_value(loaded.settings, FIELDS[key]))
                elif key in effective:
                    self.set_field(key, effective[key])
        self.saved_raw, self.saved_secrets = self.state.snapshot()
        self.saved_base = copy.deepcopy(self.state.base)
        self.state.known_secrets.update(secret_sources)
        return shown


__all__ = [
    "FormSession",
    "Refusal",
    "SaveResult",
    "SecretNote",
    "TestRequest",
    "display_for",
    "source_words",
]
