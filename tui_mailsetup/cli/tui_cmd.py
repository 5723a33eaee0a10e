"""Running without a command opens the TUI (placeholder until the TUI lands)."""

from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: Any, common: argparse.ArgumentParser) -> None:
    return None


def run_tui(args: argparse.Namespace) -> int:
    print("the TUI is not built yet")
    return 0
