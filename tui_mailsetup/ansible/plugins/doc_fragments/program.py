# Copyright: tui-mailsetup maintainers. MIT License.
"""The options every module of the collection shares: which configuration, and which program."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  config:
    description: Path of the configuration file (default, the user's or, with I(scope=system), the system one).
    type: path
  executable:
    description: >-
      Path of the tui-mailsetup program on the host (default, found on C($PATH) or where the
      install role puts it).
    type: path
"""
