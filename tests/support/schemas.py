"""The JSON Schema files shipped in ``tui_mailsetup/schemas``, and the check of one
command's ``--json`` document against them (its schema, the failure shape, the exit code)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import tui_mailsetup
from tests.support.cli_helpers import Result

jsonschema = pytest.importorskip("jsonschema", reason="jsonschema is in the test extra")
referencing = pytest.importorskip("referencing")

SCHEMAS = Path(tui_mailsetup.__file__).parent / "schemas"


def _registry() -> Any:
    resources = [
        (path.name, referencing.Resource.from_contents(json.loads(path.read_text())))
        for path in SCHEMAS.glob("*.json")
    ]
    return referencing.Registry().with_resources(resources)


REGISTRY = _registry()


def valid(schema: str, result: Result, code: int) -> dict[str, Any]:
    """The one JSON document ``result`` printed, checked against ``schema`` and its exit code."""
    assert result.returncode == code, result.stdout + result.stderr
    document = json.loads(result.stdout)  # exactly one document: anything else fails here
    assert isinstance(document, dict)
    jsonschema.Draft202012Validator(
        json.loads((SCHEMAS / schema).read_text()), registry=REGISTRY
    ).validate(document)
    assert document["ok"] is (code == 0)
    if code != 0:
        jsonschema.Draft202012Validator(
            json.loads((SCHEMAS / "failure.json").read_text()), registry=REGISTRY
        ).validate(document)
        assert document["exit_code"] == code
    return document
