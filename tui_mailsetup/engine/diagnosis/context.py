"""What only the runner knows, added to a driver's diagnosis: the run's own circumstances.

A driver judges the server's answer; it does not know that nobody chose the recipient
(a test to yourself, the default) or where the password it was handed came from. The
runner does, and adds it here, so the advice is right the first time:

- a recipient refused at RCPT when the test went to the sender address by default: the
  relay may well work, it just does not deliver to that address; offer ``--to``;
- an authentication failure: say which source supplied the secret, since a forgotten
  environment variable silently beats the password just stored with ``set-secret``.
"""

from __future__ import annotations

import dataclasses

from tui_mailsetup.engine.events import Diagnosis, Stage
from tui_mailsetup.exitcodes import ExitCode
from tui_mailsetup.sanitize import untrusted_text

_REFUSED_AT_RCPT = frozenset({ExitCode.NOUSER, ExitCode.NOPERM, ExitCode.UNAVAILABLE})
_ENVELOPE = frozenset({Stage.MAIL, Stage.RCPT, Stage.DATA})
"""A 77 here is a policy on the addresses (relaying denied), not the credentials."""


def default_recipient_refused(diagnosis: Diagnosis, address: str) -> Diagnosis:
    """``diagnosis`` for a test sent to ``address`` only because no recipient was given."""
    if diagnosis.stage is not Stage.RCPT or diagnosis.exit_code not in _REFUSED_AT_RCPT:
        return diagnosis
    advice = (
        f"No recipient was given, so the test went to the sender address "
        f"{untrusted_text(address)}: many relays accept mail only for other domains, or only "
        "for mailboxes that exist. Send the test to a mailbox you can read: "
        "`tui-mailsetup send-test --to ADDRESS` (in the TUI, the Send to field)."
    )
    explanation = f"{diagnosis.explanation} {advice}".strip()
    return dataclasses.replace(diagnosis, explanation=explanation)


def secret_source_named(diagnosis: Diagnosis, key: str, where: str) -> Diagnosis:
    """An authentication failure says where the secret that failed came from."""
    if diagnosis.exit_code is not ExitCode.NOPERM or diagnosis.stage in _ENVELOPE:
        return diagnosis
    note = f"The {key} used came from {untrusted_text(where)}."
    explanation = f"{diagnosis.explanation} {note}".strip()
    return dataclasses.replace(diagnosis, explanation=explanation)
