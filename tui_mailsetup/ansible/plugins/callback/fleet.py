# Copyright: tui-mailsetup maintainers. MIT License.
"""One line per host for tui-mailsetup's verdicts, and the same as JSON for CI."""

from __future__ import annotations

DOCUMENTATION = r"""
---
name: fleet
type: aggregate
short_description: One line per host with tui-mailsetup's verdict
description:
  - After the play, prints one line per host that ran C(tui_mailsetup.mail.check) - host,
    driver, relay, verdict, and for a failure the cause and the fix.
  - With I(json_path) set, also writes the same as a JSON document (for CI).
version_added: "0.1.0"
requirements:
  - enable in ansible.cfg (C(callbacks_enabled = tui_mailsetup.mail.fleet))
options:
  json_path:
    description: Where to write the JSON summary (nothing written when unset).
    env:
      - name: TUI_MAILSETUP_FLEET_JSON
    ini:
      - section: tui_mailsetup_fleet
        key: json_path
"""

import json
from typing import Any

from ansible.plugins.callback import CallbackBase

CHECK_ACTIONS = {"tui_mailsetup.mail.check", "check"}


class CallbackModule(CallbackBase):  # type: ignore[misc]
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "tui_mailsetup.mail.fleet"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self) -> None:
        super().__init__()
        self.rows: dict[str, dict[str, Any]] = {}

    def _record(self, result: Any, failed: bool) -> None:
        task = result._task
        action = getattr(task, "resolved_action", None) or task.action
        if action not in CHECK_ACTIONS:
            return
        data = result._result
        verdict = data.get("verdict") or {}
        diagnosis = verdict.get("diagnosis") or {}
        fix = diagnosis.get("fix") or {}
        self.rows[result._host.get_name()] = {
            "host": result._host.get_name(),
            "driver": data.get("driver", ""),
            "relay": data.get("relay", ""),
            "ok": not failed,
            "stage": verdict.get("stage", ""),
            "exit_code": data.get("exit_code"),
            "cause": diagnosis.get("cause") or (data.get("msg", "") if failed else ""),
            "fix": fix.get("label", ""),
        }

    def v2_runner_on_ok(self, result: Any) -> None:
        self._record(result, failed=False)

    def v2_runner_on_failed(self, result: Any, ignore_errors: bool = False) -> None:
        self._record(result, failed=True)

    def v2_playbook_on_stats(self, stats: Any) -> None:
        if not self.rows:
            return
        rows = [self.rows[name] for name in sorted(self.rows)]
        width = max(len(row["host"]) for row in rows)
        self._display.banner("TUI-MAILSETUP FLEET")
        for row in rows:
            verdict = "PASSED" if row["ok"] else f"FAILED at {row['stage'] or '?'}"
            line = (
                f"{row['host']:<{width}}  {row['driver'] or '-'}  {row['relay'] or '-'}  {verdict}"
            )
            if not row["ok"]:
                line += f"  {row['cause']}"
                if row["fix"]:
                    line += f"  fix: {row['fix']}"
            self._display.display(line, color="green" if row["ok"] else "red")
        path = self.get_option("json_path")
        if path:
            with open(path, "w", encoding="utf-8") as handle:
                json.dump({"hosts": rows}, handle, indent=2)
