"""The policy's vocabulary: a rule's outcome on a host, its evidence, waivers, stored runs."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Outcome(StrEnum):
    """A rule's result on one host. `error`: the evidence the rule needs is not there;
    `skip`: the rule does not apply (a kernel image has no running namespaces to check);
    `informational`: a fact for the assessor that is no verdict (a kernel release in a
    vulnerability's upstream range, which a distribution may have patched)."""

    PASS = "pass"
    FAIL = "fail"
    WAIVED = "waived"
    ERROR = "error"
    SKIP = "skip"
    INFORMATIONAL = "informational"


@dataclass(frozen=True)
class Evidence:
    """One fact behind a rule's result: a line of text and the values it names."""

    text: str
    namespace: str | None = None
    pid: int | None = None
    command: str | None = None
    parent_command: str | None = None
    cmdline: str | None = None
    user: str | None = None
    path: str | None = None
    sysctl: str | None = None
    value: str | None = None


@dataclass(frozen=True)
class WaiverNote:
    """A waiver that matched the host: in force, or expired (and so not applied)."""

    hosts: tuple[str, ...]
    reason: str
    expires: str
    expired: bool
    approved_by: str | None
    set_aside: str | None = None  # the outcome (fail or error) a waiver in force set aside


@dataclass(frozen=True)
class RuleResult:
    """One rule of a policy evaluated on one host."""

    rule_id: str
    title: str
    severity: str
    references: tuple[str, ...]
    outcome: Outcome
    summary: str
    evidence: tuple[Evidence, ...]
    waiver: WaiverNote | None
    identifiers: tuple[tuple[str, str], ...] = ()  # (family, value): policy/identifiers.py
    description: str | None = None  # the rule's, as the policy wrote it


@dataclass(frozen=True)
class EvaluationRecord:
    """A recorded evaluation of a policy: when, against which snapshot, each rule's outcome."""

    snapshot_seq: int
    policy_name: str
    checked_at: str
    outcomes: tuple[tuple[str, str, str], ...]  # (rule id, severity, outcome)
