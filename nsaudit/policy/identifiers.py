"""A rule's `identifiers` table read from a policy file, each value checked against its
family's spelling (nsaudit/model/identifiers.py)."""

from __future__ import annotations

from typing import Any

from nsaudit.model.identifiers import BY_KEY, FAMILIES
from nsaudit.policy.place import Place


def parse(at: Place, rule: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    """A rule's `identifiers` table: (family, value) pairs, in FAMILIES order, each checked
    against its family's spelling."""
    table = rule.get("identifiers", {})
    if not isinstance(table, dict):
        raise at.error(
            'identifiers is a table such as identifiers = { cce = "CCE-83956-3", '
            'cci = ["CCI-000366"] }',
            "identifiers",
        )
    for key in table:
        if key not in BY_KEY:
            raise at.error(
                f"unknown identifier family {key!r}; known: {', '.join(BY_KEY)}", "identifiers"
            )
    out: list[tuple[str, str]] = []
    for family in FAMILIES:
        raw = table.get(family.key)
        if raw is None:
            continue
        values = [raw] if isinstance(raw, str) else raw
        if not isinstance(values, list) or not values:
            raise at.error(
                f"identifiers.{family.key} is a string or a list of strings", "identifiers"
            )
        for value in values:
            if not isinstance(value, str) or not family.pattern.fullmatch(value):
                raise at.error(
                    f"identifiers.{family.key}: {value!r} is not a {family.label} identifier "
                    f"(e.g. {family.example})",
                    "identifiers",
                )
            if (family.key, value) not in out:
                out.append((family.key, value))
    return tuple(out)
