#!/usr/bin/python
# Copyright: tui-mailsetup maintainers. MIT License.
"""Set tui-mailsetup's configuration keys and secrets on a host, idempotently."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: settings
short_description: Set tui-mailsetup's configuration keys and secrets
description:
  - Sets keys of the tui-mailsetup configuration (C(smtp.host), C(sender.address), ...) and
    its secrets (C(smtp.password), ...) on the host with the program's own C(set) and
    C(set-secret) commands, so every value is validated exactly as on the command line.
  - Changes only what differs; reports C(changed) only then. Supports check mode and diff
    mode; secrets never appear in the diff or the result.
  - The trust rules of the configuration files are the program's own (owner-only files,
    a secret only in the credentials file).
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
    default: user
  values:
    description: Keys in C(section.key) form and their values; lists as YAML lists.
    type: dict
    default: {}
  secrets:
    description: Secret keys (C(smtp.password), C(mailgun.api_key), C(ses.secret_access_key), ...) and their values.
    type: dict
    default: {}
notes:
  - Secrets are compared with what the program would use now (C(get-secret)); a secret that
    another source supplies first (an environment variable) is reported by the program.
"""

EXAMPLES = r"""
- name: Relay through the company's submission server
  tui_mailsetup.mail.settings:
    values:
      smtp.host: smtp.acme.example
      smtp.port: 587
      smtp.encryption: starttls
      smtp.username: alerts@acme.example
      sender.address: alerts@acme.example
      sender.name: "{{ inventory_hostname }} alerts"
    secrets:
      smtp.password: "{{ vault_smtp_password }}"
"""

RETURN = r"""
changed_keys:
  description: The keys whose value changed (secrets by name only).
  returned: always
  type: list
  elements: str
settings:
  description: The C(show --json) document after the change (secrets redacted).
  returned: always
  type: dict
"""

import json
from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.tui_mailsetup.mail.plugins.module_utils.program import (
    COMMON_OPTIONS,
    config_args,
    program,
    run_json,
)


def as_text(value: Any) -> str:
    """A value as the program's ``set`` takes it and as it compares: lists comma-separated."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return ",".join(as_text(item) for item in value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def current_value(settings: dict[str, Any], key: str) -> Any:
    node: Any = settings
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            **COMMON_OPTIONS,
            "values": {"type": "dict", "default": {}},
            "secrets": {"type": "dict", "default": {}, "no_log": True},
        },
        supports_check_mode=True,
    )
    where = config_args(module)
    _, shown, _ = run_json(module, ["show", *where], check_rc=True)
    settings = shown["settings"]
    before: dict[str, str] = {}
    after: dict[str, str] = {}
    changed_keys: list[str] = []
    for key, wanted in sorted(module.params["values"].items()):
        have = current_value(settings, key)
        if have is not None and as_text(have) == as_text(wanted):
            continue
        before[key] = "" if have is None else as_text(have)
        after[key] = as_text(wanted)
        changed_keys.append(key)
        if not module.check_mode:
            # "--": a value may start with "-" (a sender name such as "-Acme").
            run_json(module, ["set", *where, "--", key, as_text(wanted)], check_rc=True)
    for key, wanted in sorted(module.params["secrets"].items()):
        have = _secret(module, where, key)
        if have == str(wanted):
            continue
        before[key] = "(secret)" if have else "(not set)"
        after[key] = "(secret, changed)"
        changed_keys.append(key)
        if not module.check_mode:
            _, stored, _ = run_json(
                module, ["set-secret", *where, "--", key], data=str(wanted), check_rc=True
            )
            shadow = stored.get("shadowed_by") if isinstance(stored, dict) else None
            if shadow:
                # Stored, but another source wins: every run would report a change that
                # never takes effect. Say where the value in use comes from instead.
                module.fail_json(
                    msg=f"{key} was stored, but {shadow} supplies it first, so the value set "
                    "here is not used; remove that source (or set the secret there)",
                    changed=True,
                    changed_keys=changed_keys,
                )
    if changed_keys and not module.check_mode:
        _, shown, _ = run_json(module, ["show", *where], check_rc=True)
    result: dict[str, Any] = {
        "changed": bool(changed_keys),
        "changed_keys": changed_keys,
        "settings": shown["settings"],
    }
    if module._diff and changed_keys:
        result["diff"] = {
            "before": json.dumps(before, indent=2, sort_keys=True) + "\n",
            "after": json.dumps(after, indent=2, sort_keys=True) + "\n",
            "before_header": "tui-mailsetup settings",
            "after_header": "tui-mailsetup settings",
        }
    module.exit_json(**result)


def _secret(module: AnsibleModule, where: list[str], key: str) -> str | None:
    """The secret the program would use now (get-secret prints it bare, not as JSON)."""
    rc, out, _ = module.run_command([*program(module), "get-secret", *where, "--", key])
    return out.rstrip("\n") if rc == 0 else None


if __name__ == "__main__":
    main()
