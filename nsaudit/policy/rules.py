"""A policy: its rules, each with one check and any waivers."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from datetime import date

from nsaudit.policy.checks import Check

SEVERITIES = ("info", "low", "medium", "high", "critical")
# When a rule does not apply, in words: the STIG makes user namespaces N/A where containers run.
CONDITIONS = {"containers": "containers are in use"}


@dataclass(frozen=True)
class Waiver:
    """The rule does not count against matching hosts until `expires` (inclusive, UTC)."""

    hosts: tuple[str, ...]
    reason: str
    expires: date
    approved_by: str | None

    def covers(self, hostname: str) -> bool:
        return any(fnmatch.fnmatchcase(hostname, p) for p in self.hosts)


@dataclass(frozen=True)
class Rule:
    id: str
    title: str
    severity: str
    references: tuple[str, ...]
    description: str | None
    check: Check
    waivers: tuple[Waiver, ...]
    accept_partial: bool = False  # partial = "accept": a partial scan may still pass it
    identifiers: tuple[tuple[str, str], ...] = ()  # (family, value): identifiers.py
    not_applicable_if: tuple[str, ...] = ()  # conditions (CONDITIONS) that make it N/A


@dataclass(frozen=True)
class Policy:
    name: str
    title: str
    description: str | None
    source: str
    sha256: str
    rules: tuple[Rule, ...]
