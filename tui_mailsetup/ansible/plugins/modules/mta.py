#!/usr/bin/python
# Copyright: tui-mailsetup maintainers. MIT License.
"""Apply tui-mailsetup's settings to the host's MTA (Postfix, msmtp), or revert them."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: mta
short_description: Apply tui-mailsetup's settings to the machine's MTA, or revert them
description:
  - Runs C(tui-mailsetup mta apply) or C(mta revert) on the host. C(changed) only when the
    MTA's files changed; check mode runs C(mta apply --dry-run) and shows the diff it would make.
  - Needs root on the host (C(become)) except in check mode.
version_added: "0.1.0"
author:
  - tui-mailsetup maintainers
extends_documentation_fragment:
  - tui_mailsetup.mail.program
options:
  scope:
    description: Which default configuration to use when I(config) is not given.
    type: str
    choices: [user, system]
    default: system
  state:
    description: C(applied) writes the settings into the MTA; C(reverted) takes back the program's own change.
    type: str
    choices: [applied, reverted]
    default: applied
  mta:
    description: The MTA (default, the one that provides sendmail on the host).
    type: str
    choices: [postfix, msmtp]
  config_dir:
    description: The MTA's configuration directory (default C(/etc/postfix), or C(/etc) for msmtp).
    type: path
"""

EXAMPLES = r"""
- name: Let Postfix relay through the configured server
  become: true
  tui_mailsetup.mail.mta:
    mta: postfix
    state: applied
"""

RETURN = r"""
plan:
  description: What apply changes (C(changes), C(diff)), secrets masked.
  returned: when state is applied
  type: dict
done:
  description: What the program did, one line each.
  returned: always
  type: list
  elements: str
"""

from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.tui_mailsetup.mail.plugins.module_utils.program import (
    COMMON_OPTIONS,
    config_args,
    failure_message,
    run_json,
)


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            **COMMON_OPTIONS,
            "scope": {"type": "str", "choices": ["user", "system"], "default": "system"},
            "state": {"type": "str", "choices": ["applied", "reverted"], "default": "applied"},
            "mta": {"type": "str", "choices": ["postfix", "msmtp"]},
            "config_dir": {"type": "path"},
        },
        supports_check_mode=True,
    )
    target: list[str] = []
    if module.params["mta"]:
        target += ["--mta", module.params["mta"]]
    if module.params["config_dir"]:
        target += ["--config-dir", module.params["config_dir"]]
    where = config_args(module)
    if module.params["state"] == "reverted":
        if module.check_mode:
            module.exit_json(changed=False, skipped=True, msg="check mode: revert not simulated")
        rc, document, stderr = run_json(module, ["mta", "revert", *target])
        if rc != 0 or not isinstance(document, dict):
            module.fail_json(msg=failure_message(document, stderr, rc), rc=rc)
        done = list(document.get("done") or [])
        module.exit_json(changed=bool(done), done=done)
    command = ["mta", "apply", *where, *target]
    if module.check_mode:
        command.append("--dry-run")
    rc, document, stderr = run_json(module, command)
    if rc != 0 or not isinstance(document, dict):
        module.fail_json(msg=failure_message(document, stderr, rc), rc=rc, document=document)
    plan: dict[str, Any] = document.get("plan") or {}
    changed = bool(plan.get("changes"))
    result: dict[str, Any] = {
        "changed": changed,
        "plan": plan,
        "done": list(document.get("done") or []),
    }
    if module._diff and changed:
        result["diff"] = {"prepared": "\n".join(plan.get("diff") or []) + "\n"}
    module.exit_json(**result)


if __name__ == "__main__":
    main()
