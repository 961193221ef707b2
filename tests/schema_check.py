"""Validation against nsaudit's published JSON Schemas, closed for the tests: every object
that lists its keys accepts no other (the published ones accept later additions)."""

from __future__ import annotations

import copy
import functools
from typing import Any

import jsonschema

from nsaudit.views.schemas import schema


def closed(node: Any) -> Any:
    if isinstance(node, dict):
        node = {k: closed(v) for k, v in node.items()}
        if node.get("type") == "object" and "properties" in node:
            node.setdefault("additionalProperties", False)
    elif isinstance(node, list):
        node = [closed(v) for v in node]
    return node


@functools.cache
def validator(name: str) -> jsonschema.Draft202012Validator:
    published = schema(name)
    jsonschema.Draft202012Validator.check_schema(published)
    return jsonschema.Draft202012Validator(
        closed(copy.deepcopy(published)), format_checker=jsonschema.FormatChecker()
    )


def validate(document: Any, name: str) -> None:
    errors = sorted(validator(name).iter_errors(document), key=lambda e: list(e.absolute_path))
    assert not errors, f"{name}: " + "; ".join(
        f"{'.'.join(map(str, e.absolute_path)) or '(top)'}: {e.message[:300]}" for e in errors[:5]
    )
