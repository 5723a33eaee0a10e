#!/usr/bin/python
# Copyright: tui-mailsetup maintainers. MIT License.
"""Check sender domains' DNS (MX, SPF evaluated, DKIM, DMARC, MTA-STS, TLS-RPT) with tui-mailsetup."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: dns
short_description: Check sender domains' mail DNS records with tui-mailsetup
description:
  - Runs C(tui-mailsetup dns DOMAIN --json) for each domain and returns each document, as
    the program prints it, under C(domains). Runs well once on the controller
    (C(delegate_to=localhost), C(run_once=true)) for many domains.
  - A lookup that fails is "unknown", never "missing" (exit 75); a record in error is exit 65.
version_added: "0.1.0"
author:
  - tui-mailsetup maintainers
extends_documentation_fragment:
  - tui_mailsetup.mail.program
options:
  domains:
    description: The domains to check.
    type: list
    elements: str
    required: true
  nameservers:
    description: Name servers to ask (C(127.0.0.1:5353) style entries allowed); default, the system resolver.
    type: list
    elements: str
    default: []
  fail_on_error:
    description: Fail when a domain has a record in error (exit 65).
    type: bool
    default: true
  scope:
    description: Which default configuration to use when I(config) is not given.
    type: str
    choices: [user, system]
    default: user
"""

EXAMPLES = r"""
- name: Check every sender domain once
  run_once: true
  delegate_to: localhost
  tui_mailsetup.mail.dns:
    domains: [acme.example, mg.acme.example]
"""

RETURN = r"""
domains:
  description: Per domain, the C(dns --json) document and its C(exit_code).
  returned: always
  type: dict
"""

import json
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
            "domains": {"type": "list", "elements": "str", "required": True},
            "nameservers": {"type": "list", "elements": "str", "default": []},
            "fail_on_error": {"type": "bool", "default": True},
        },
        supports_check_mode=True,
    )
    environ: dict[str, str] = {}
    if module.params["nameservers"]:
        # The JSON form of a list setting, which every version of the program reads.
        environ["MAILSETUP_DNS__NAMESERVERS"] = json.dumps(module.params["nameservers"])
    where = config_args(module)
    documents: dict[str, Any] = {}
    errors: list[str] = []
    for domain in module.params["domains"]:
        # "--": a domain is never read as an option, whatever it starts with.
        rc, document, stderr = run_json(module, ["dns", *where, "--", domain], environ=environ)
        if not isinstance(document, dict):
            module.fail_json(msg=f"{domain}: {failure_message(document, stderr, rc)}", rc=rc)
        documents[domain] = {**document, "exit_code": rc}
        if rc == 65:
            errors.append(domain)
    if errors and module.params["fail_on_error"]:
        module.fail_json(
            msg="records in error for: " + ", ".join(errors), domains=documents, changed=False
        )
    module.exit_json(changed=False, domains=documents)


if __name__ == "__main__":
    main()
