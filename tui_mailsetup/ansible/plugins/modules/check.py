#!/usr/bin/python
# Copyright: tui-mailsetup maintainers. MIT License.
"""Run tui-mailsetup's check, or a test send, on a host and return its verdict."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: check
short_description: Check tui-mailsetup's configuration, or send a test message, and return the verdict
description:
  - Runs C(tui-mailsetup check) (the diagnostics ladder up to AUTH, no message sent) or, with
    I(send_to), C(tui-mailsetup send-test --to ADDRESS) on the host, and returns the program's
    JSON verdict under C(verdict).
  - Fails with the diagnosis (stage, cause, fix) as the message when the verdict is a failure.
  - Never reports C(changed).
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
  send_to:
    description: Send a test message to this address; without it, C(check) runs and nothing is sent.
    type: str
  offline:
    description: Validate only, with no network (C(check --offline)).
    type: bool
    default: false
  dns:
    description: Include the sender domain's DNS checks in C(check).
    type: bool
    default: false
"""

EXAMPLES = r"""
- name: Prove every host can send
  tui_mailsetup.mail.check:
    send_to: ops@acme.example
"""

RETURN = r"""
verdict:
  description: The program's JSON document (C(ok), C(stage), C(elapsed), C(diagnosis), ...).
  returned: always
  type: dict
exit_code:
  description: The program's exit code (sysexits).
  returned: always
  type: int
driver:
  description: The configured driver.
  returned: when the configuration loads
  type: str
relay:
  description: Where the mail goes (host:port for SMTP, else the driver's service).
  returned: when the configuration loads
  type: str
"""

from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.tui_mailsetup.mail.plugins.module_utils.program import (
    COMMON_OPTIONS,
    config_args,
    failure_message,
    run_json,
)


def relay_of(settings: dict[str, Any]) -> str:
    driver = settings.get("driver", "smtp")
    if driver == "smtp":
        smtp = settings.get("smtp", {})
        return f"{smtp.get('host', '')}:{smtp.get('port', '')}"
    if driver == "sendmail":
        return str(settings.get("sendmail", {}).get("path", ""))
    if driver == "mailgun":
        mailgun = settings.get("mailgun", {})
        return mailgun.get("base_url") or f"mailgun {mailgun.get('region', '')}"
    if driver == "ses":
        return f"ses {settings.get('ses', {}).get('region', '')}"
    return str(driver)


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            **COMMON_OPTIONS,
            "send_to": {"type": "str"},
            "offline": {"type": "bool", "default": False},
            "dns": {"type": "bool", "default": False},
        },
        supports_check_mode=True,
    )
    where = config_args(module)
    result: dict[str, Any] = {"changed": False}
    _, shown, _ = run_json(module, ["show", *where])
    if isinstance(shown, dict) and isinstance(shown.get("settings"), dict):
        result["driver"] = shown["settings"].get("driver", "smtp")
        result["relay"] = relay_of(shown["settings"])
    if module.params["send_to"]:
        if module.check_mode:
            # A test send is an action with an effect (a message): not in check mode.
            module.exit_json(skipped=True, msg="check mode: no test message sent", **result)
        command = ["send-test", *where, f"--to={module.params['send_to']}"]
    else:
        command = ["check", *where]
        if module.params["offline"]:
            command.append("--offline")
        if not module.params["dns"] and not module.params["offline"]:
            command.append("--no-dns")
    rc, document, stderr = run_json(module, command)
    result["exit_code"] = rc
    result["verdict"] = document if isinstance(document, dict) else {}
    ok = rc == 0 and isinstance(document, dict) and document.get("ok", True) is not False
    if not ok:
        module.fail_json(msg=failure_message(document, stderr, rc), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
