"""Where a value sits in a policy file, and the readers of its values: each mistake is an error
that names the file, the line, the rule and the waiver. Shared by the policy loader and by each
check kind, which reads its own keys."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from nsaudit.errors import UsageError
from nsaudit.policy.match import Allowlist, glob_problem
from nsaudit.tomlpos import line_of

_RULE_HEADER = re.compile(r"^\s*\[\[\s*rule\s*\]\]")
_WAIVER_HEADER = re.compile(r"^\s*\[\[\s*rule\s*\.\s*waiver\s*\]\]")
ALLOW_KEYS = frozenset(
    {"commands", "exes", "users", "paths", "parents", "runtimes", "images", "containers"}
)


class PolicyText:
    """The policy file's lines, to say where a key is."""

    def __init__(self, path: str, text: str) -> None:
        self.path = path
        self.lines = text.splitlines()
        self.rule_starts = [i for i, ln in enumerate(self.lines) if _RULE_HEADER.match(ln)]

    def rule_at(self, line: int) -> int | None:
        """The index of the rule whose block holds this (1-based) line."""
        found = None
        for n, start in enumerate(self.rule_starts):
            if start + 1 <= line:
                found = n
        return found

    def line_of(self, key: str, rule: int | None, waiver: int | None = None) -> int | None:
        if rule is None:
            lo, hi = 0, self.rule_starts[0] if self.rule_starts else len(self.lines)
        else:
            lo = self.rule_starts[rule] if rule < len(self.rule_starts) else 0
            hi = self.rule_starts[rule + 1] if rule + 1 < len(self.rule_starts) else len(self.lines)
        if waiver is not None:
            # Only the lines of the rule's waiver-th [[rule.waiver]] table.
            heads = [i for i in range(lo, hi) if _WAIVER_HEADER.match(self.lines[i])]
            if waiver < len(heads):
                lo = heads[waiver]
                hi = heads[waiver + 1] if waiver + 1 < len(heads) else hi
        found = line_of(self.lines, key, lo, hi)
        return found if found is not None or rule is None else lo + 1

    def error(
        self,
        problem: str,
        key: str | None = None,
        rule: int | None = None,
        rule_id: str | None = None,
        waiver: int | None = None,
        line: int | None = None,
    ) -> UsageError:
        if line is None and key is not None:
            line = self.line_of(key, rule, waiver)
        if line is None and rule is not None and rule < len(self.rule_starts):
            line = self.rule_starts[rule] + 1
        where = f"policy {self.path}"
        if line is not None:
            where += f", line {line}"
        if rule is not None:
            where += f", rule {rule_id}" if rule_id else f", rule #{rule + 1}"
        return UsageError(f"{where}: {problem}")


@dataclass(frozen=True)
class Place:
    """Where in the policy file a value sits: the file, the rule (its index and id), the
    waiver; errors name all that is known."""

    text: PolicyText
    rule: int | None = None
    rule_id: str | None = None
    waiver: int | None = None

    def error(self, problem: str, key: str | None = None) -> UsageError:
        return self.text.error(problem, key, self.rule, self.rule_id, self.waiver)


def optional_text(at: Place, d: Mapping[str, Any], key: str) -> str | None:
    value = d.get(key)
    if value is not None and (not isinstance(value, str) or not value.strip()):
        raise at.error(f"{key} must be a non-empty string", key)
    return value


def globs(at: Place, d: Mapping[str, Any], key: str) -> tuple[str, ...] | None:
    value = d.get(key)
    if value is None:
        return None
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(p, str) for p in items) or not items:
        raise at.error(f"{key} must be a glob or a list of globs", key)
    for p in items:
        problem = glob_problem(p)
        if problem:
            raise at.error(f"pattern {p!r} in {key} cannot be used: {problem}", key)
        if key == "exes" and not p.startswith(("/", "mnt:")):
            # '*sshd' would also match a container's or a detached mount's file.
            raise at.error(
                f"pattern {p!r} in exes would match files that are not the host's: give the "
                "absolute path of the host's file (/usr/sbin/sshd)",
                key,
            )
    return tuple(items)


def choices(at: Place, d: Mapping[str, Any], key: str, allowed: tuple[str, ...]) -> tuple[str, ...]:
    value = d.get(key)
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items or not all(v in allowed for v in items):
        raise at.error(f"check.{key} must be one or a list of: {', '.join(allowed)}", key)
    return tuple(items)


def whole(at: Place, d: Mapping[str, Any], key: str) -> int | None:
    value = d.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise at.error(f"check.{key} must be a whole number >= 0", key)
    return value


def allowlist(at: Place, d: Mapping[str, Any]) -> Allowlist | None:
    fields = {k: globs(at, d, k) for k in sorted(ALLOW_KEYS)}
    if all(v is None for v in fields.values()):
        return None
    return Allowlist(**fields)
